//! The ledger as the shop's database (issue: SQLite ledger): failed orders sent again
//! the next night from their stored payload, closed orders skipped, the CSV ledgers
//! of earlier versions imported once, exported, and an order's story told — through
//! the binary, against the simulator.

mod common;

use std::process::Output;

use common::{
    Fault, Matcher, Workspace, binary, columns, ids, ledger_query, ledger_state, orders_of,
    send_cmd, simulator,
};
use opentrade_callback::simulator::Scenario;

fn ledger(args: &[&str], ws: &Workspace) -> Output {
    std::process::Command::new(binary())
        .current_dir(ws.dir.path())
        .arg("ledger")
        .args(args)
        .env("USER", "ops-anna")
        .output()
        .expect("runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn summary(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(ws.path("summary.json")).expect("summary"))
        .expect("json")
}

#[test]
fn failed_orders_are_sent_again_the_next_night_from_the_ledger_even_when_the_export_lost_them() {
    // r0001 fails tonight (one attempt); tomorrow's export no longer holds it.
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0001"), Fault::transient(1)));
    let ws = Workspace::new();
    let tonight = ws.write("tonight.csv", orders_of(&ids(3)));
    send_cmd(&ws, &sim, &[&tonight])
        .args(["--max-attempts", "1"])
        .assert()
        .code(1);
    assert_eq!(ledger_state(&ws.ledger())["r0001"], "failed");
    let tomorrow = ws.write("tomorrow.csv", orders_of(&["r0100".to_owned()]));
    send_cmd(&ws, &sim, &[&tomorrow])
        .arg("--summary-json")
        .arg(ws.path("summary.json"))
        .assert()
        .code(0);
    // The ledger's row comes after the export's; its line is its place among the
    // night's resends.
    let shown = tomorrow.display().to_string();
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "source", "line"]),
        [
            ["r0100", "delivered", shown.as_str(), "2"],
            ["r0001", "delivered", "ledger", "1"],
        ]
    );
    assert_eq!(summary(&ws)["resent_from_ledger"], 1);
    // Sent from the param0 it was first sent with: the same payload, byte for byte.
    assert_eq!(
        ledger_query(
            &ws.ledger(),
            "SELECT x.status, hex(x.payload_md5) = hex(o.payload_md5) FROM outcomes x \
             JOIN orders o ON o.id = x.order_id WHERE o.req_id = 'r0001' ORDER BY x.id"
        ),
        [["failed", "1"], ["delivered", "1"]]
    );
    assert_eq!(ledger_state(&ws.ledger())["r0001"], "delivered");
    // Delivered now: the next night sends it no more.
    send_cmd(&ws, &sim, &[&tomorrow]).assert().code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [["r0100", "skipped_delivered"]]
    );
}

#[test]
fn resending_stops_after_the_resend_days_and_when_told_not_to() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0001"), Fault::transient(100)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "1"])
        .assert()
        .code(1);
    let other = ws.write("other.csv", orders_of(&["r0100".to_owned()]));
    // Told not to: only the export's rows.
    send_cmd(&ws, &sim, &[&other])
        .arg("--no-resend-failed")
        .assert()
        .code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [["r0100", "delivered"]]
    );
    // Its first failure 8 days ago: past the default 7 days, it waits for a person
    // (the worklist), and the night's run is clean.
    let conn = rusqlite::Connection::open(ws.ledger()).expect("open");
    conn.execute(
        "UPDATE orders SET first_failed_at = '2020-01-01T01:00:00.000+08:00' WHERE req_id = 'r0001'",
        [],
    )
    .expect("age it");
    drop(conn);
    send_cmd(&ws, &sim, &[&other]).assert().code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [["r0100", "skipped_delivered"]]
    );
    // In its export again, it is sent as any failed row is.
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "1", "--resend-failed-days", "30"])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "source"]),
        [
            ["r0000", "skipped_delivered", input.to_str().expect("utf-8")],
            ["r0001", "failed", input.to_str().expect("utf-8")],
        ]
    );
    let bad = send_cmd(&ws, &sim, &[&other])
        .args(["--resend-failed-days", "many"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--resend-failed-days"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_closed_order_is_skipped_needs_no_attention_and_tells_who_closed_it() {
    let sim = simulator(
        Scenario::default().on(Matcher::req_id("r0001"), Fault::reject("B0107", "已退款")),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    send_cmd(&ws, &sim, &[&input]).assert().code(1);
    let db = ws.ledger();
    let db = db.to_str().expect("utf-8");
    // No reason, no closing.
    let output = ledger(&["close", db, "r0001", "--reason", "  "], &ws);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(ledger_state(&ws.ledger())["r0001"], "rejected");
    let output = ledger(
        &[
            "close",
            db,
            "r0001",
            "r0002",
            "nope",
            "--reason",
            "refunded by the shop",
        ],
        &ws,
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "an unknown req_id: {output:?}"
    );
    let text = stdout(&output);
    assert!(text.contains("closed 1 order(s) by os:ops-anna"), "{text}");
    assert!(text.contains("not in the ledger: nope"), "{text}");
    assert!(
        text.contains("delivered already, left as they are: r0002"),
        "{text}"
    );
    assert_eq!(ledger_state(&ws.ledger())["r0001"], "closed");
    assert_eq!(ledger_state(&ws.ledger())["r0002"], "delivered");
    // The next run skips it, and nothing needs attention.
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        [
            ["r0000", "skipped_delivered", "dedup.already_delivered"],
            ["r0001", "skipped_closed", "dedup.closed"],
            ["r0002", "skipped_delivered", "dedup.already_delivered"],
        ]
    );
    // Closing again changes nothing.
    let output = ledger(&["close", db, "r0001", "--reason", "again"], &ws);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("closed already: r0001"));
    // Its story says who, when and why.
    let output = ledger(&["show", db, "r0001"], &ws);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("closed")
            && text.contains("os:ops-anna")
            && text.contains("refunded by the shop"),
        "{text}"
    );
    let report = std::process::Command::new(binary())
        .arg("report")
        .arg(ws.ledger())
        .output()
        .expect("runs");
    assert_eq!(
        report.status.code(),
        Some(0),
        "closed needs no attention: {report:?}"
    );
    assert!(
        stdout(&report).contains("skipped_closed"),
        "{}",
        stdout(&report)
    );
}

#[test]
fn show_tells_an_orders_whole_story_by_req_id_or_order_number() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0001"), Fault::transient(1)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "1"])
        .assert()
        .code(1);
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    let db = ws.ledger();
    let db = db.to_str().expect("utf-8");
    let output = ledger(&["show", db, "r0001", "--json"], &ws);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let docs: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let story = &docs[0];
    assert_eq!(story["req_id"], "r0001");
    assert_eq!(story["state"], "delivered");
    let outcomes: Vec<&str> = story["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "outcome")
        .map(|e| e["status"].as_str().expect("status"))
        .collect();
    assert_eq!(outcomes, ["failed", "delivered"], "{story}");
    assert!(
        story["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["source"] == input.to_str().expect("utf-8") && e["line"] == 3),
        "{story}"
    );
    assert!(
        story["param0"]
            .as_str()
            .is_some_and(|p| p.contains("\"req_id\":\"r0001\"")),
        "{story}"
    );
    // By the order number: the same order.
    let order_no = story["order_no"].as_str().expect("order_no").to_owned();
    let output = ledger(&["show", db, &order_no], &ws);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("r0001"), "{}", stdout(&output));
    // Nothing by that name: exit 1, said on stderr.
    let output = ledger(&["show", db, "nobody"], &ws);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no order with req_id or order number nobody"));
}

#[test]
fn a_csv_ledger_is_refused_with_its_import_as_the_fix_and_imported_once() {
    let ws = Workspace::new();
    let old = ws.write(
        "ledger.csv",
        std::fs::read(common::fixture("../../samples/ledger.csv")).expect("sample ledger"),
    );
    let before = std::fs::read(&old).expect("read");
    let input = ws.write(
        "orders.csv",
        std::fs::read(common::fixture("../../samples/orders.csv")).expect("sample orders"),
    );
    let refused = std::process::Command::new(binary())
        .arg("send")
        .arg(&input)
        .arg("--ledger")
        .arg(&old)
        .arg("--out")
        .arg(ws.out())
        .arg("--dry-run")
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        stderr(&refused).contains("ledger import"),
        "{}",
        stderr(&refused)
    );
    let output = ledger(&["import", "ledger.csv", "--into", "ledger.db"], &ws);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        stdout(&output).contains("10 lines → 10 outcomes added"),
        "{}",
        stdout(&output)
    );
    let again = ledger(&["import", "ledger.csv", "--into", "ledger.db"], &ws);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        stdout(&again).contains("nothing added"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        ledger_query(&ws.ledger(), "SELECT count(*) FROM outcomes"),
        [["10"]]
    );
    assert_eq!(
        std::fs::read(&old).expect("read"),
        before,
        "the CSV is unchanged"
    );
    // The imported ledger decides as the CSV did: what it delivered is skipped.
    let delivered = before
        .split(|&b| b == b'\n')
        .filter(|line| line.windows(11).any(|w| w == b",delivered,"))
        .count();
    let out = common::dry_run(&ws, &[&input]).output().expect("runs");
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let skipped = columns(&ws.out(), ["status"])
        .iter()
        .filter(|[s]| s == "skipped_delivered")
        .count();
    assert_eq!(skipped, delivered);
    // Exported back: the same lines as the CSV (one per req_id there).
    let output = ledger(&["export", "ledger.db", "--out", "back.csv"], &ws);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let mut original: Vec<String> = String::from_utf8(before)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect();
    let mut exported: Vec<String> = std::fs::read_to_string(ws.path("back.csv"))
        .expect("export")
        .lines()
        .map(str::to_owned)
        .collect();
    original.sort();
    exported.sort();
    assert_eq!(exported, original);
}

#[test]
fn the_ledger_commands_refuse_what_is_no_ledger_and_wait_for_no_run() {
    let ws = Workspace::new();
    for (name, text) in [
        ("notes.db", "req_id,status\na,delivered\n"),
        ("empty.db", ""),
    ] {
        let path = ws.write(name, text);
        for args in [
            &["export", name, "--out", "x.csv"][..],
            &["show", name, "a"],
            &["close", name, "a", "--reason", "r"],
        ] {
            let output = ledger(args, &ws);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
            assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        }
    }
    assert!(!ws.path("x.csv").exists());
    // A run holds the ledger: closing waits for no one (exit 4), reading goes on.
    let sim = simulator(Scenario::default());
    let input = ws.write("in.csv", orders_of(&ids(1)));
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    let _held = opentrade_callback::ledger::acquire(&ws.ledger()).expect("lock");
    let output = ledger(&["close", "ledger.db", "r0000", "--reason", "r"], &ws);
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    let output = ledger(&["show", "ledger.db", "r0000"], &ws);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}
