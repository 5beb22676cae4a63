// The desk's only script: while a send runs, its page polls the progress once a
// second and updates the figures; at the end it reloads to show the summary. On the
// worklist, the box in the table's heading ticks every order listed, or none.
"use strict";
(function () {
  var section = document.getElementById("progress");
  if (!section || section.dataset.running !== "1") return;
  var url = section.dataset.status;
  function set(id, text) {
    var node = document.getElementById(id);
    if (node) node.textContent = text;
  }
  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        var p = s.progress;
        if (p) {
          var bar = document.getElementById("bar");
          bar.max = Math.max(p.total, 1);
          bar.value = p.done;
          set("done", p.done + " / " + p.total);
          set("rate", Math.round(p.rate));
          set("eta", p.eta_seconds == null ? "—" : Math.round(p.eta_seconds) + " s");
          set("delivered", p.delivered);
          set("rejected", p.rejected);
          set("failed", p.failed);
        }
        if (s.running) setTimeout(tick, 1000);
        else window.location.reload();
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 500);
})();
(function () {
  var all = document.getElementById("pick-all");
  if (!all) return;
  all.addEventListener("change", function () {
    var boxes = document.querySelectorAll(
      'input[name="orders"][form="' + all.dataset.form + '"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
  });
})();
