//! The nightly job as ops see it: the platform's own limits told apart (the daily quota
//! and an API not open to the app halt at once and say why; a short ban is waited out),
//! an expired session named, business codes that mean "later" retried, and `report` as
//! a monitor reads it (`--json`, exit 1 when rows need attention).

mod common;

use common::{Fault, Matcher, Scenario};
use common::{Workspace, binary, columns, exits_with, ids, orders_of, send_cmd, simulator};

#[test]
fn the_daily_quota_halts_at_once_saying_when_it_resets() {
    let sim = simulator(Scenario::default().on(Matcher::prefix("r"), Fault::daily_quota()));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(30)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "2", "--max-attempts", "5"]),
        3,
    );
    assert!(
        stderr.contains("daily call quota") && stderr.contains("00:00 Beijing"),
        "{stderr}"
    );
    assert!(stderr.contains("from now"), "{stderr}");
    let rows = columns(&ws.out(), ["status", "attempts"]);
    let tried: Vec<_> = rows.iter().filter(|[s, _]| s == "failed").collect();
    assert!(!tried.is_empty() && tried.len() <= 2, "{rows:?}");
    assert!(
        tried.iter().all(|[_, a]| a == "1"),
        "never retried: {rows:?}"
    );
    assert_eq!(
        rows.iter().filter(|[s, _]| s == "not_attempted").count(),
        30 - tried.len()
    );
    assert!(sim.stats().requests <= 2);
}

#[test]
fn an_api_not_open_to_the_app_and_an_expired_session_halt_with_the_fix() {
    for (fault, expected) in [
        (Fault::api_not_open(), "not open to the app"),
        (Fault::session_expired(), "authorize the app again"),
    ] {
        let sim = simulator(Scenario::default().on(Matcher::prefix("r"), fault));
        let ws = Workspace::new();
        let input = ws.write("in.csv", orders_of(&ids(10)));
        let stderr = exits_with(
            send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "1"]),
            3,
        );
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert_eq!(
            sim.stats().requests,
            1,
            "{expected}: halted at the first answer"
        );
    }
}

#[test]
fn a_short_ban_is_still_waited_out() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0002"), Fault::ban(1)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(5)));
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    assert_eq!(sim.stats().bans_started, 1);
}

#[test]
fn business_codes_listed_in_the_config_are_retried_not_rejected() {
    let sim = simulator(
        Scenario::default()
            .on(Matcher::req_id("r0001"), Fault::reject("B0107", "系统繁忙"))
            .on(Matcher::req_id("r0002"), Fault::reject("E9", "订单不存在")),
    );
    let ws = Workspace::new();
    let config = ws.write(
        "config.toml",
        "retry_business_codes = [\"B01*\", \"SYSTEM_BUSY\"]\n",
    );
    let input = ws.write("in.csv", orders_of(&ids(3)));
    send_cmd(&ws, &sim, &[&input])
        .arg("--config")
        .arg(&config)
        .args(["--max-attempts", "3"])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code", "attempts"]),
        [
            ["r0000", "delivered", "0000", "1"],
            ["r0001", "failed", "B0107", "3"],
            ["r0002", "rejected", "E9", "1"],
        ]
    );
    // Failed, not rejected: the next run sends it again without --retry-rejected.
    assert_eq!(common::ledger_state(&ws.ledger())["r0001"], "failed");
}

#[test]
fn report_exits_1_when_rows_need_attention_and_speaks_json() {
    let sim = simulator(
        Scenario::default().on(Matcher::req_id("r0001"), Fault::reject("B0107", "已退款")),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    send_cmd(&ws, &sim, &[&input]).assert().code(1);
    let report = |path: &std::path::Path, json: bool| {
        let mut cmd = std::process::Command::new(binary());
        cmd.arg("report").arg(path);
        if json {
            cmd.arg("--json");
        }
        cmd.output().expect("report")
    };
    let text = report(&ws.out(), false);
    assert_eq!(text.status.code(), Some(1), "a row needs attention");
    let json = report(&ws.out(), true);
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["kind"], "results");
    assert_eq!(doc["rows"], 3);
    assert_eq!(doc["need_attention"], 1);
    assert_eq!(doc["errors"][0]["error_code"], "B0107");
    assert_eq!(doc["attention"][0]["req_id"], "r0001");
    let delivered = doc["by_status"]
        .as_array()
        .expect("statuses")
        .iter()
        .find(|s| s["status"] == "delivered")
        .expect("delivered");
    assert_eq!(delivered["rows"], 2);
    assert_eq!(
        delivered["first_charge_amount"], "200.00",
        "exact yuan as text"
    );
    // All delivered: exit 0.
    let clean = ws.write("clean.csv", orders_of(&["z1".to_owned()]));
    let out = ws.path("clean-out.csv");
    common::send_cmd_with(&sim, &[&clean], &ws.ledger(), &out)
        .assert()
        .code(0);
    assert_eq!(report(&out, false).status.code(), Some(0));
    assert_eq!(
        report(&ws.ledger(), true).status.code(),
        Some(1),
        "the ledger has r0001 rejected"
    );
}
