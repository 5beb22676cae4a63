#!/usr/bin/env python3
"""The desk's measurements (issue: the finance desk, "Performance"), side by side in one run:

1. Preview of an N-row workbook uploaded to the desk, against `send --dry-run` on the
   same file (the preview is that dry run, plus the upload and reading the rows back).
2. The desk's peak RSS before and after uploading a large file (never held in memory).
3. Progress updates during a 10,000-callback send: the longest time the status page
   went without a new count.

    python3 bench/desk.py BIN GEN OUT [--smoke] [--runs N]
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

BIN, GEN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
SMOKE = "--smoke" in sys.argv
RUNS = 1 if SMOKE else int(os.environ.get("RUNS", "5"))
N_SHEET = 2000 if SMOKE else 100_000
N_SEND = 500 if SMOKE else 10_000
BIG_MIB = 8 if SMOKE else 60
ENV = dict(os.environ, TOP_APP_KEY="12345678", TOP_APP_SECRET="helloworld", TOP_SESSION="demo-session")
ENV.pop("RUST_LOG", None)


def say(text):
    print(f"\n== {text}", file=sys.stderr, flush=True)


def line_of(proc, pattern):
    while True:
        line = proc.stdout.readline().decode()
        if not line:
            raise SystemExit(f"process ended before printing {pattern!r}")
        if re.search(pattern, line):
            return line.strip()


def start_sim(latency_ms):
    scenario = os.path.join(OUT, "desk-scenario.json")
    with open(scenario, "w") as f:
        json.dump({"latency_ms": latency_ms}, f)
    sim = subprocess.Popen([BIN, "simulate", "--listen", "127.0.0.1:0", "--scenario", scenario],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    base = line_of(sim, "^listening on").split()[-1]
    return sim, base + "/router/rest"


def start_desk(gateway, ledger, results):
    os.makedirs(results, exist_ok=True)
    desk = subprocess.Popen([BIN, "serve", "--ledger", ledger, "--results-dir", results,
                             "--listen", "127.0.0.1:0", "--gateway", gateway],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    url = line_of(desk, "login").split()[-1]
    base = url.split("/login")[0]
    jar = os.path.join(OUT, "desk-cookies")
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-c", jar, url], check=True)
    page = subprocess.run(["curl", "-s", "-b", jar, base + "/submit"], check=True,
                          capture_output=True, text=True).stdout
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    return desk, base, jar, csrf


def upload(base, jar, csrf, path):
    """Seconds until the preview is ready, and where it is."""
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                          "-b", jar, "-H", f"Origin: {base}", "-F", f"csrf={csrf}",
                          "-F", f"file=@{path}", base + "/submit"],
                         check=True, capture_output=True, text=True).stdout
    took = time.monotonic() - t0
    code, location = out.split(" ", 1)
    if code != "303":
        raise SystemExit(f"upload of {path} answered {code}")
    return took, location


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def timed_dry_run(path, ledger):
    t0 = time.monotonic()
    subprocess.run([BIN, "send", path, "--ledger", ledger, "--out", os.path.join(OUT, "desk-dry.csv"),
                    "--dry-run", "--progress", "off", "-q"], env=ENV, check=False)
    return time.monotonic() - t0


os.makedirs(OUT, exist_ok=True)
sheet = os.path.join(OUT, f"orders-{N_SHEET}.xlsx")
if not os.path.exists(sheet):
    subprocess.run([GEN, "orders", str(N_SHEET), sheet], check=True)
send_csv = os.path.join(OUT, f"desk-orders-{N_SEND}.csv")
if not os.path.exists(send_csv):
    subprocess.run([GEN, "orders", str(N_SEND), send_csv], check=True)
big = os.path.join(OUT, f"desk-big-{BIG_MIB}.csv")
if not os.path.exists(big):
    # The send's orders over and over: a large, valid CSV (its repeats are duplicates).
    with open(send_csv) as src:
        header, *lines = src.read().splitlines()
    with open(big, "w") as f:
        f.write(header + "\n")
        size, i = 0, 0
        while size < BIG_MIB << 20:
            f.write(lines[i % len(lines)] + "\n")
            size += len(lines[i % len(lines)]) + 1
            i += 1

ledger = os.path.join(OUT, "desk-ledger.db")
results = os.path.join(OUT, "desk-results")
for leftover in (ledger, ledger + ".lock", ledger + "-wal", ledger + "-shm"):
    if os.path.exists(leftover):
        os.remove(leftover)
subprocess.run(["rm", "-rf", results], check=True)
sim, gateway = start_sim(20)
desk, base, jar, csrf = start_desk(gateway, ledger, results)
rows = []
try:
    say(f"preview of a {N_SHEET}-row workbook against send --dry-run, {RUNS} runs each")
    dry, preview = [], []
    for _ in range(RUNS):
        dry.append(timed_dry_run(sheet, ledger))
        preview.append(upload(base, jar, csrf, sheet)[0])
    d, p = statistics.median(dry), statistics.median(preview)
    rows.append((f"preview of {N_SHEET} rows (.xlsx): wall", f"{p:.2f}s",
                 f"preview/dry-run {p / d:.2f} (target <= 1.5); dry run {d:.2f}s; runs {[round(x, 2) for x in preview]}"))

    say(f"peak RSS of the desk around a {BIG_MIB} MiB upload")
    before = rss_kb(desk.pid, "VmHWM")
    upload(base, jar, csrf, big)
    after = rss_kb(desk.pid, "VmHWM")
    rows.append((f"desk peak RSS before / after a {BIG_MIB} MiB upload (MiB)", f"{after // 1024}",
                 f"before {before // 1024} MiB; growth {(after - before) // 1024} MiB"))

    say(f"progress during a {N_SEND}-callback send (20 ms latency)")
    _, location = upload(base, jar, csrf, send_csv)
    confirm = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{redirect_url}", "-b", jar,
                              "-H", f"Origin: {base}", "-d", f"csrf={csrf}", location + "/send"],
                             check=True, capture_output=True, text=True).stdout
    status_url = confirm + "/status"
    opener = urllib.request.build_opener()
    cookie = [l.split("\t") for l in open(jar) if "desk_session" in l][0]
    opener.addheaders = [("Cookie", f"desk_session={cookie[-1].strip()}")]
    changes, last_done, t0 = [], -1, time.monotonic()
    while True:
        status = json.load(opener.open(status_url))
        now = time.monotonic() - t0
        done = (status.get("progress") or {}).get("done", 0)
        if done != last_done:
            changes.append(now)
            last_done = done
        if not status["running"]:
            break
        time.sleep(0.05)
    gaps = [b - a for a, b in zip(changes, changes[1:])]
    took = changes[-1] if changes else 0
    rows.append((f"send of {N_SEND} callbacks from the desk: longest time without new progress",
                 f"{max(gaps, default=0):.2f}s",
                 f"{len(changes)} updates in {took:.1f}s ({len(changes) / max(took, 0.001):.1f}/s); exit {status['exit_code']}"))
finally:
    desk.terminate()
    sim.terminate()
    desk.wait()
    sim.wait()

print(f"\n{'measurement (median of %d)' % RUNS:<72} {'value':>10}   ratio / notes")
for name, value, notes in rows:
    print(f"{name:<72} {value:>10}   {notes}")
