//! The `send` job end to end: the binary against the simulated gateway over loopback,
//! checking the result CSV and the ledger row by row, and the simulator's counters
//! for exactly-once acceptance.

mod common;

use common::{Fault, Matcher, Scenario};

use std::time::{Duration, Instant};

use common::{
    HEADER, Workspace, columns, exits_with, ledger_state, line, orders, read_csv, send_cmd,
    simulator,
};

#[test]
fn every_status_of_a_live_run_is_reported_row_by_row() {
    let sim = simulator(
        Scenario::default()
            .on(Matcher::req_id("B"), Fault::reject("B0107", "订单已退款"))
            .on(Matcher::req_id("C"), Fault::transient(99))
            .on(Matcher::req_id("F"), Fault::reject("B0101", "订单不存在"))
            .on(Matcher::req_id("H"), Fault::transient(2)),
    );
    let ws = Workspace::new();
    // Last night: E delivered, F rejected, G delivered.
    let last_night = ws.write("last.csv", orders(&["E", "F", "G"]));
    send_cmd(&ws, &sim, &[&last_night]).assert().code(1);

    let a_changed = line(1, "A").replace("true,0000", "false,E1");
    let g_changed = line(3, "G").replace("充值成功", "充值成功(补)");
    let tonight = format!(
        "{HEADER}\n{}\n{}\n{}\nabc,,true,,,D,\n{}\n{}\n{}\n{g_changed}\n{a_changed}\n{}\n{}\n{}\n",
        line(1, "A"),
        line(2, "B"),
        line(3, "C"),
        line(1, "E"),
        line(2, "F"),
        line(1, "A"),
        line(4, "H"),
        line(5, "I"),
        line(5, "I"),
    );
    let input = ws.write("tonight.csv", tonight);
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--max-attempts", "3"]),
        1,
    );

    let rows = read_csv(&ws.out());
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code", "attempts"]),
        [
            // A's rows contradict each other: none of them is sent.
            ["A", "conflict", "dedup.input_conflict", "0"],
            ["B", "rejected", "B0107", "1"],
            ["C", "failed", "15", "3"],
            ["D", "invalid", "input.bad_number", "0"],
            ["E", "skipped_delivered", "dedup.already_delivered", "0"],
            ["F", "skipped_rejected", "dedup.already_rejected", "0"],
            ["A", "conflict", "dedup.input_conflict", "0"],
            ["G", "conflict", "dedup.ledger_conflict", "0"],
            ["A", "conflict", "dedup.input_conflict", "0"],
            ["H", "delivered", "0000", "3"],
            ["I", "delivered", "0000", "1"],
            ["I", "duplicate_in_input", "dedup.duplicate_in_input", "0"],
        ]
    );
    assert_eq!(rows[1]["error_msg"], "订单已退款");
    assert_eq!(rows[2]["sub_code"], "isp.remote-service-error");
    assert!(
        rows[0]["error_msg"].contains("tonight.csv row 8 (same content), ")
            && rows[0]["error_msg"].contains("tonight.csv row 10 (success, result_code differ)"),
        "{}",
        rows[0]["error_msg"]
    );
    assert!(
        rows[11]["error_msg"].contains("tonight.csv row 12"),
        "{}",
        rows[11]["error_msg"]
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            (row["source"].as_str(), row["line"].as_str()),
            // The row Excel shows: the header is row 1.
            (input.to_str().expect("utf-8"), (i + 2).to_string().as_str())
        );
    }
    assert!(
        rows[10]["top_request_id"].starts_with("sim")
            && rows[10]["finished_at"].ends_with("+08:00")
    );

    // The ledger: last night's three outcomes, then tonight's B, C, H, I.
    let lines = common::ledger_query(
        &ws.ledger(),
        "SELECT o.req_id, x.status, x.error_code, x.sub_code, x.attempts FROM outcomes x \
         JOIN orders o ON o.id = x.order_id ORDER BY x.id",
    );
    assert_eq!(lines.len(), 7, "{lines:?}");
    let mut tonight_lines: Vec<[&str; 2]> = lines[3..]
        .iter()
        .map(|l| [l[0].as_str(), l[1].as_str()])
        .collect();
    tonight_lines.sort();
    assert_eq!(
        tonight_lines,
        [
            ["B", "rejected"],
            ["C", "failed"],
            ["H", "delivered"],
            ["I", "delivered"]
        ]
    );
    let c = lines.iter().find(|l| l[0] == "C").expect("C in ledger");
    assert_eq!(
        (c[2].as_str(), c[3].as_str(), c[4].as_str()),
        ("15", "isp.remote-service-error", "3")
    );

    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.duplicates, stats.rejected),
        (4, 0, 2),
        "{stats:?}"
    );
    assert!(
        stderr.contains("tonight.csv row 5: input.bad_number"),
        "{stderr}"
    );
}

#[test]
fn dry_run_sends_nothing_and_writes_no_ledger() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write(
        "in.csv",
        format!(
            "{HEADER}\n{}\n{}\n{}\n",
            line(1, "a"),
            line(2, "b"),
            line(1, "a")
        ),
    );
    send_cmd(&ws, &sim, &[&input])
        .arg("--dry-run")
        .assert()
        .code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [
            ["a", "would_send"],
            ["b", "would_send"],
            ["a", "duplicate_in_input"]
        ]
    );
    assert!(!ws.ledger().exists());
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn retries_reuse_the_req_id_and_end_delivered() {
    let sim = simulator(
        Scenario::default()
            .on(Matcher::req_id("t"), Fault::transient(2))
            .on(Matcher::req_id("h"), Fault::html_502(2))
            .on(Matcher::req_id("d"), Fault::drop(1))
            .on(Matcher::req_id("s"), Fault::slow_first(1500)),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders(&["t", "h", "d", "s", "ok"]));
    send_cmd(&ws, &sim, &[&input])
        .args(["--timeout", "300ms"])
        .assert()
        .code(0);
    assert_eq!(
        columns(&ws.out(), ["status", "attempts"]),
        [
            ["delivered", "3"],
            ["delivered", "3"],
            ["delivered", "2"],
            ["delivered", "2"],
            ["delivered", "1"]
        ]
    );
    let stats = sim.stats();
    // The slow first call was processed; its retry was recognised, not accepted again.
    assert_eq!((stats.accepted, stats.duplicates), (5, 1), "{stats:?}");
    assert!(
        ledger_state(&ws.ledger())
            .values()
            .all(|s| s == "delivered")
    );
}

#[test]
fn a_ban_pauses_the_run_and_the_gateway_sees_no_call_during_it() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r2"), Fault::ban(1)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders(&["r1", "r2", "r3", "r4", "r5", "r6"]));
    let started = Instant::now();
    send_cmd(&ws, &sim, &[&input])
        .args(["--concurrency", "1"])
        .assert()
        .code(0);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let stats = sim.stats();
    assert_eq!(
        (stats.bans_started, stats.calls_during_ban),
        (1, 0),
        "{stats:?}"
    );
    assert_eq!((stats.accepted, stats.duplicates), (6, 0));
    let rows = read_csv(&ws.out());
    assert_eq!(
        rows[1]["attempts"], "2",
        "the banned call is made again after the ban"
    );
    assert!(rows.iter().all(|r| r["status"] == "delivered"));
}

#[test]
fn a_ban_pauses_every_worker_not_just_the_banned_one() {
    let sim = simulator(
        Scenario::default()
            .latency_ms(20)
            .on(Matcher::req_id("r03"), Fault::ban(1)),
    );
    let ws = Workspace::new();
    let ids: Vec<String> = (1..=40).map(|i| format!("r{i:02}")).collect();
    let input = ws.write(
        "in.csv",
        orders(&ids.iter().map(String::as_str).collect::<Vec<_>>()),
    );
    let started = Instant::now();
    send_cmd(&ws, &sim, &[&input])
        .args(["--concurrency", "4"])
        .assert()
        .code(0);
    let elapsed = started.elapsed();
    let stats = sim.stats();
    // Only calls already in flight when the ban began can arrive during it.
    assert!(stats.calls_during_ban <= 3, "{stats:?}");
    assert_eq!((stats.accepted, stats.duplicates), (40, 0));
    // Paused once, for the ban's length: not once per worker.
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[test]
fn after_a_ban_a_rate_capped_run_resumes_at_its_cap_not_in_a_burst() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r05"), Fault::ban(1)));
    let ws = Workspace::new();
    let ids: Vec<String> = (1..=50).map(|i| format!("r{i:02}")).collect();
    let input = ws.write(
        "in.csv",
        orders(&ids.iter().map(String::as_str).collect::<Vec<_>>()),
    );
    send_cmd(&ws, &sim, &[&input])
        .args(["--concurrency", "16", "--qps", "20"])
        .assert()
        .code(0);
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.bans_started), (50, 1), "{stats:?}");
    // The calls that held slots when the ban began take new ones after it.
    assert!(stats.max_calls_in_one_second <= 20, "{stats:?}");
}

#[test]
fn a_ban_longer_than_max_ban_wait_halts_with_exit_3() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r2"), Fault::ban(3600)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders(&["r1", "r2", "r3"]));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "1"]),
        3,
    );
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [
            ["r1", "delivered"],
            ["r2", "failed"],
            ["r3", "not_attempted"]
        ]
    );
    assert!(stderr.contains("--max-ban-wait"));
}

#[test]
fn a_fatal_answer_halts_with_exit_3_and_the_rest_not_attempted() {
    let sim = simulator(
        Scenario::default().on(Matcher::req_id("r05"), Fault::error(27, "Invalid session")),
    );
    let ws = Workspace::new();
    let ids: Vec<String> = (1..=20).map(|i| format!("r{i:02}")).collect();
    let input = ws.write(
        "in.csv",
        orders(&ids.iter().map(String::as_str).collect::<Vec<_>>()),
    );
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "1"]),
        3,
    );
    let rows = read_csv(&ws.out());
    assert_eq!(rows.len(), 20);
    for (i, row) in rows.iter().enumerate() {
        let expected = match i {
            0..=3 => "delivered",
            4 => "failed",
            _ => "not_attempted",
        };
        assert_eq!(row["status"], expected, "row {}", i + 1);
    }
    assert_eq!(rows[4]["error_code"], "27");
    assert!(
        rows[5]["error_msg"].contains("stopped early"),
        "{}",
        rows[5]["error_msg"]
    );
    // What was handed out and never answered stays pending: the next run sends it.
    let ledger = ledger_state(&ws.ledger());
    assert_eq!(ledger["r05"], "failed");
    assert_eq!(
        ledger.values().filter(|s| *s == "delivered").count(),
        4,
        "{ledger:?}"
    );
    assert!(
        ledger.iter().all(|(id, s)| s != "pending"
            || rows
                .iter()
                .any(|r| r["req_id"] == *id && r["status"] == "not_attempted")),
        "{ledger:?}"
    );
    assert!(
        stderr.contains("halted: the gateway answered 27 Invalid session"),
        "{stderr}"
    );
    assert!(stderr.contains("TOP_SESSION"), "{stderr}");
}

#[test]
fn wrong_credentials_halt_after_the_first_calls() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders(&["a", "b", "c", "d"]));
    send_cmd(&ws, &sim, &[&input])
        .env("TOP_APP_SECRET", "wrong")
        .args(["--concurrency", "1"])
        .assert()
        .code(3);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [
            ["a", "failed"],
            ["b", "not_attempted"],
            ["c", "not_attempted"],
            ["d", "not_attempted"]
        ]
    );
    assert_eq!(read_csv(&ws.out())[0]["error_code"], "25");
}

#[test]
fn a_rerun_of_the_same_input_sends_nothing() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders(&["a", "b", "c", "d", "e"]));
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    let calls = sim.stats().requests;
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    assert_eq!(sim.stats().requests, calls, "nothing sent the second time");
    assert!(
        columns(&ws.out(), ["req_id", "status"])
            .iter()
            .all(|[_, s]| s == "skipped_delivered")
    );
    assert_eq!(
        common::ledger_outcomes(&ws.ledger()).len(),
        5,
        "the rerun adds no outcomes"
    );
    assert_eq!((sim.stats().accepted, sim.stats().duplicates), (5, 0));
}

#[test]
fn a_rerun_after_failures_sends_only_the_failed_rows() {
    let sim = simulator(Scenario::default().on(Matcher::prefix("x"), Fault::transient(3)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders(&["a", "x1", "b", "x2", "c"]));
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "2"])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [
            ["a", "delivered"],
            ["x1", "failed"],
            ["b", "delivered"],
            ["x2", "failed"],
            ["c", "delivered"]
        ]
    );
    let before = sim.stats().requests;
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "2"])
        .assert()
        .code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [
            ["a", "skipped_delivered"],
            ["x1", "delivered"],
            ["b", "skipped_delivered"],
            ["x2", "delivered"],
            ["c", "skipped_delivered"]
        ]
    );
    // x1 and x2: one more transient failure each, then success.
    assert_eq!(sim.stats().requests - before, 4);
    let ledger = ledger_state(&ws.ledger());
    assert!(ledger.values().all(|s| s == "delivered"), "{ledger:?}");
    assert_eq!((sim.stats().accepted, sim.stats().duplicates), (5, 0));
}

#[test]
fn several_inputs_and_stdin_are_read_in_order() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let first = ws.write("first.csv", orders(&["a", "b"]));
    send_cmd(&ws, &sim, &[&first, std::path::Path::new("-")])
        .write_stdin(format!("{HEADER}\n{}\n{}\n", line(3, "c"), line(1, "a")))
        .assert()
        .code(0);
    let first_name = first.to_str().expect("utf-8");
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "source", "line"]),
        [
            ["a", "delivered", first_name, "2"],
            ["b", "delivered", first_name, "3"],
            ["c", "delivered", "<stdin>", "2"],
            ["a", "duplicate_in_input", "<stdin>", "3"]
        ]
    );
}

#[test]
fn results_are_in_input_order_under_concurrency() {
    let sim = simulator(Scenario::default().latency_ms(1).jitter_ms(30, 9));
    let ws = Workspace::new();
    let ids: Vec<String> = (0..200).map(|i| format!("o{i:03}")).collect();
    let input = ws.write(
        "in.csv",
        orders(&ids.iter().map(String::as_str).collect::<Vec<_>>()),
    );
    send_cmd(&ws, &sim, &[&input])
        .args(["--concurrency", "32"])
        .assert()
        .code(0);
    let got: Vec<String> = columns(&ws.out(), ["req_id", "status"])
        .into_iter()
        .map(|[id, _]| id)
        .collect();
    assert_eq!(got, ids);
    assert_eq!((sim.stats().accepted, sim.stats().duplicates), (200, 0));
}

#[test]
fn missing_credentials_are_a_usage_error() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders(&["a"]));
    let stderr = exits_with(send_cmd(&ws, &sim, &[&input]).env_remove("TOP_SESSION"), 2);
    assert!(stderr.contains("TOP_SESSION"));
    assert_eq!(sim.stats().requests, 0);
}
