//! `send --batch N`: many calls per HTTP request to `/router/batch`, against the
//! simulator's batch endpoint. Each call's answer is its own; retries re-batch only the
//! calls that need one; whole-request answers apply to every call in the request.

mod common;

use common::{BatchAnswers, Fault, Matcher, Scenario};

use common::{
    HEADER, Workspace, columns, exits_with, ids, line, orders, orders_of, read_csv, send_cmd,
    simulator,
};

#[test]
fn every_status_is_reachable_in_batch_mode() {
    let sim = simulator(
        Scenario::default()
            .on(Matcher::req_id("B"), Fault::reject("B0107", "订单已退款"))
            .on(Matcher::req_id("C"), Fault::transient(99))
            .on(
                Matcher::req_id("F"),
                Fault::reject("BIZ_REJECTED", "订单状态不允许回调"),
            )
            .on(Matcher::req_id("H"), Fault::transient(2)),
    );
    let ws = Workspace::new();
    let last_night = ws.write("last.csv", orders(&["E", "F", "G"]));
    send_cmd(&ws, &sim, &[&last_night])
        .args(["--batch", "5"])
        .assert()
        .code(1);
    let g_changed = line(3, "G").replace("充值成功", "充值成功(补)");
    let a_changed = line(1, "A").replace("true,0000", "false,E1");
    let tonight = format!(
        "{HEADER}\n{}\n{}\n{}\nabc,,true,,,D,\n{}\n{}\n{g_changed}\n{}\n{}\n{}\n{a_changed}\n",
        line(10, "I"),
        line(2, "B"),
        line(3, "C"),
        line(1, "E"),
        line(2, "F"),
        line(4, "H"),
        line(10, "I"),
        line(1, "A"),
    );
    let input = ws.write("tonight.csv", tonight);
    send_cmd(&ws, &sim, &[&input])
        .args(["--batch", "5", "--max-attempts", "3"])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code", "attempts"]),
        [
            ["I", "delivered", "0000", "1"],
            ["B", "rejected", "B0107", "1"],
            ["C", "failed", "15", "3"],
            ["D", "invalid", "input.bad_number", "0"],
            ["E", "skipped_delivered", "dedup.already_delivered", "0"],
            ["F", "skipped_rejected", "dedup.already_rejected", "0"],
            ["G", "conflict", "dedup.ledger_conflict", "0"],
            ["H", "delivered", "0000", "3"],
            ["I", "duplicate_in_input", "dedup.duplicate_in_input", "0"],
            ["A", "conflict", "dedup.input_conflict", "0"],
            ["A", "conflict", "dedup.input_conflict", "0"],
        ]
    );
    let stats = sim.stats();
    assert!(
        stats.batches >= 2 && stats.batch_calls == stats.requests,
        "{stats:?}"
    );
    // Last night's three; tonight I, B, C, H in one batch, then C and H twice more.
    assert_eq!(stats.requests, 3 + 4 + 2 + 2, "{stats:?}");
}

#[test]
fn retries_re_batch_only_the_calls_that_need_one() {
    let sim = simulator(
        Scenario::default()
            .on(Matcher::req_id("r0003"), Fault::transient(1))
            .on(Matcher::req_id("r0011"), Fault::transient(1)),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(20)));
    send_cmd(&ws, &sim, &[&input])
        .args(["--batch", "20", "--concurrency", "1"])
        .assert()
        .code(0);
    let stats = sim.stats();
    // One batch of 20, then the 2 retried (together, or apart when their jittered
    // backoffs end apart); a delivered call is never sent again.
    assert!((2..=3).contains(&stats.batches), "{stats:?}");
    assert_eq!(
        (stats.requests, stats.accepted, stats.duplicates),
        (22, 20, 0)
    );
    let attempts: Vec<String> = read_csv(&ws.out())
        .into_iter()
        .filter(|r| r["attempts"] != "1")
        .map(|r| r["req_id"].clone())
        .collect();
    assert_eq!(attempts, ["r0003", "r0011"]);
}

#[test]
fn mixed_outcomes_inside_one_batch_are_recorded_per_order() {
    let sim = simulator(
        Scenario::default()
            .on(
                Matcher::req_id("r0001"),
                Fault::reject("B1", "订单状态不允许回调"),
            )
            .on(
                Matcher::req_id("r0002"),
                Fault::invalid("isv.bad-order", "非法参数"),
            )
            .on(Matcher::req_id("r0003"), Fault::WrongReqId),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(5)));
    send_cmd(&ws, &sim, &[&input])
        .args(["--batch", "10", "--max-attempts", "2"])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code", "sub_code"]),
        [
            ["r0000", "delivered", "0000", ""],
            ["r0001", "rejected", "B1", ""],
            ["r0002", "rejected", "15", "isv.bad-order"],
            ["r0003", "failed", "net.wrong_req_id", ""],
            ["r0004", "delivered", "0000", ""],
        ]
    );
    assert_eq!(
        common::ledger_state(&ws.ledger()),
        [
            ("r0000", "delivered"),
            ("r0001", "rejected"),
            ("r0002", "rejected"),
            ("r0003", "failed"),
            ("r0004", "delivered"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
    );
}

#[test]
fn a_ban_of_the_whole_batch_pauses_and_every_call_is_answered_after_it() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0002"), Fault::ban(1)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(30)));
    let started = std::time::Instant::now();
    send_cmd(&ws, &sim, &[&input])
        .args(["--batch", "10", "--concurrency", "1"])
        .assert()
        .code(0);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.duplicates), (30, 0), "{stats:?}");
    assert_eq!(stats.bans_started, 1);
    // Only the seven calls after r0002 in the batch that started the ban met it: no
    // request was made while it lasted.
    assert_eq!(stats.calls_during_ban, 7, "{stats:?}");
    assert_eq!(stats.requests, 10 + 8 + 20, "{stats:?}");
}

#[test]
fn a_bad_signature_of_the_batch_is_fatal_for_the_run() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(25)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input])
            .env("TOP_APP_SECRET", "not-the-secret")
            .args(["--batch", "10", "--concurrency", "1"]),
        3,
    );
    assert!(stderr.contains("25"), "{stderr}");
    let rows = columns(&ws.out(), ["status", "error_code"]);
    assert_eq!(
        rows[..10],
        vec![["failed".to_owned(), "25".to_owned()]; 10][..]
    );
    assert!(
        rows[10..]
            .iter()
            .all(|[status, _]| status == "not_attempted")
    );
    assert_eq!(sim.stats().accepted, 0);
}

#[test]
fn a_batch_over_the_gateway_limit_halts_with_advice() {
    let sim = simulator(Scenario::default().max_batch(5));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(12)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--batch", "10", "--concurrency", "1"]),
        3,
    );
    assert!(stderr.contains("lower --batch"), "{stderr}");
    assert_eq!(sim.stats().accepted, 0);
}

#[test]
fn a_reset_mid_batch_retries_every_call_and_each_is_accepted_once() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0005"), Fault::drop(1)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(10)));
    send_cmd(&ws, &sim, &[&input])
        .args(["--batch", "10", "--concurrency", "1"])
        .assert()
        .code(0);
    assert_eq!(
        read_csv(&ws.out())
            .iter()
            .map(|r| r["attempts"].as_str())
            .collect::<Vec<_>>(),
        ["2"; 10]
    );
    let stats = sim.stats();
    // r0000..r0004 were processed before the connection was cut: answered again as
    // duplicates, accepted once.
    assert_eq!((stats.accepted, stats.duplicates), (10, 5), "{stats:?}");
}

#[test]
fn the_rate_cap_counts_calls_not_requests() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(40)));
    send_cmd(&ws, &sim, &[&input])
        .args(["--batch", "10", "--qps", "20"])
        .assert()
        .code(0);
    let stats = sim.stats();
    assert_eq!(stats.accepted, 40);
    assert!(stats.max_calls_in_one_second <= 20, "{stats:?}");
    assert!(stats.batches <= 5, "{stats:?}");
}

#[test]
fn reordered_answer_parts_without_req_ids_are_never_taken_for_another_calls() {
    // A proxy that reverses the parts of each batch answer and strips their req_ids:
    // matched by position, rejections and deliveries would land on other calls, and
    // the next run would skip those rows for good.
    let sim = simulator(
        Scenario::default()
            .batch_answers(BatchAnswers::ReversedUnnamed)
            .on(
                Matcher::prefix("r000"),
                Fault::reject("B0107", "订单状态不允许回调"),
            )
            .on(
                Matcher::prefix("r001"),
                Fault::invalid("isv.invalid-parameter", "非法参数"),
            ),
    );
    let ws = Workspace::new();
    let all = ids(40);
    let input = ws.write("in.csv", orders_of(&all));
    send_cmd(&ws, &sim, &[&input])
        .args(["--batch", "10", "--max-attempts", "3"])
        .assert()
        .code(1);
    let rows = columns(&ws.out(), ["req_id", "status", "error_code"]);
    assert_eq!(rows.len(), 40);
    for [req_id, status, code] in &rows {
        let expected = if req_id.starts_with("r000") {
            ("rejected", "B0107")
        } else if req_id.starts_with("r001") {
            ("rejected", "15")
        } else {
            ("delivered", "0000")
        };
        assert_eq!((status.as_str(), code.as_str()), expected, "{req_id}");
    }
    let ledger = common::ledger_state(&ws.ledger());
    assert_eq!(ledger.len(), 40);
    for (req_id, status) in &ledger {
        let own = if req_id.starts_with("r000") || req_id.starts_with("r001") {
            "rejected"
        } else {
            "delivered"
        };
        assert_eq!(status, own, "{req_id} recorded on another call's answer");
    }
    // Each was accepted once at the gateway, whatever the answers' order.
    assert_eq!(sim.stats().accepted, 20);
}
