//! An export that changes under the run: pass two sends what pass one planned — the
//! rows pass one kept, when the export is small; otherwise it reads the file again, row
//! by row, and stops before sending anything pass one did not plan.

mod common;

use common::Scenario;

use std::io::{Seek as _, SeekFrom, Write as _};
use std::time::Duration;

use common::{HEADER, Workspace, line};

#[test]
fn rows_overwritten_during_the_run_are_never_sent() {
    // Other req_ids in the later rows.
    overwritten_rows_are_never_sent(|text| text.replace("充值成功,r", "充值成功,x"));
}

#[test]
fn rows_whose_content_changed_under_the_same_req_id_are_never_sent() {
    // The same req_ids, another result: the same length in bytes.
    overwritten_rows_are_never_sent(|text| text.replace("充值成功", "充值失败"));
}

fn overwritten_rows_are_never_sent(change: impl Fn(&str) -> String) {
    // Paced sends hold pass two back (it reads ahead a bounded queue of calls and a
    // 256 KiB buffer: a few thousand rows here), so the rows past row 10,000 are read
    // after the file has changed.
    let (sim, ws) = (common::simulator(Scenario::default()), Workspace::new());
    let from = 10_000u64;
    let text = export(20_000);
    // Pass one's rows are kept for pass two when the export is small (then nothing is
    // read twice, and nothing can change in between): blank lines past the rows make
    // this one large enough to be read again. They are no rows, and change no offset.
    let padded = format!("{text}{}", "\n".repeat(25 << 20));
    let input = ws.write("export.csv", &padded);
    let child = sending(&ws, &sim, &input, 2000);
    // Overwrite the last rows in place, same length: other req_ids.
    let at = text.find(&line(from, &format!("r{from:06}"))).expect("row");
    let changed = change(&text[at..]);
    assert_eq!(
        changed.len(),
        text.len() - at,
        "overwritten in place, same length"
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .expect("open");
    file.seek(SeekFrom::Start(at as u64)).expect("seek");
    file.write_all(changed.as_bytes()).expect("overwrite");
    drop(file);
    let output = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("changed while it was being read"),
        "{stderr}"
    );
    let ledger = common::ledger_state(&ws.ledger());
    assert!(!ledger.is_empty(), "{stderr}");
    assert!(
        ledger.keys().all(|req_id| req_id.starts_with('r')),
        "a row pass one never read was sent"
    );
    let first_changed = format!("r{from:06}");
    assert!(
        ledger.keys().all(|req_id| *req_id < first_changed),
        "a changed row was sent"
    );
    let accepted = sim.stats().accepted;
    assert!(accepted <= from, "only rows pass one planned: {accepted}");
    // It stopped at once: the calls queued behind the changed row were not made.
    let statuses = common::columns(&ws.out(), ["status"]);
    assert!(
        statuses.iter().any(|[s]| s == "not_attempted"),
        "{}",
        statuses.len()
    );
}

#[test]
fn a_small_export_changed_during_the_run_is_sent_as_pass_one_read_it() {
    // Small enough for pass one's rows to be kept: pass two never reads the file again,
    // so what changes in it after pass one is neither sent nor an error.
    let (sim, ws) = (common::simulator(Scenario::default()), Workspace::new());
    let rows = 2_000u64;
    let text = export(rows);
    let input = ws.write("export.csv", &text);
    let child = sending(&ws, &sim, &input, 1000);
    std::fs::write(&input, text.replace("充值成功,r", "充值成功,x")).expect("overwritten");
    let output = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let ledger = common::ledger_state(&ws.ledger());
    assert_eq!(ledger.len() as u64, rows);
    assert!(ledger.keys().all(|req_id| req_id.starts_with('r')));
    assert_eq!(sim.stats().accepted, rows);
}

/// An export of `rows` orders, req_ids `r000000` on.
fn export(rows: u64) -> String {
    let mut text = format!("{HEADER}\n");
    for n in 0..rows {
        text.push_str(&line(n, &format!("r{n:06}")));
        text.push('\n');
    }
    text
}

/// A paced run of `input`, once its first outcomes are in the ledger.
fn sending(
    ws: &Workspace,
    sim: &common::TestSimulator,
    input: &std::path::Path,
    qps: u32,
) -> std::process::Child {
    let child = common::send_process(ws, &sim.url(), &[input])
        .args(["--qps", &qps.to_string(), "--concurrency", "8"])
        .spawn()
        .expect("starts");
    assert!(
        common::wait_until(Duration::from_secs(60), || common::outcome_count(
            &ws.ledger()
        ) > 20),
        "sending started"
    );
    child
}
