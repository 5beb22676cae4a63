//! `reconcile` against the real simulator's trades API and a ledger made by real
//! `send` runs: every bucket, deadlines stored, the paging rules (the minimum of calls,
//! a trade modified mid-walk), the daily quota, the missing trade permission, and
//! `send --from-reconcile`.

mod common;

use std::collections::HashMap;

use common::hooks::HookServer;
use common::*;

const BASE: u64 = 4_000_000_000_000_000_000;

fn tid(n: u64) -> u64 {
    BASE + n
}

/// `reconcile` for the binary against `sim`, with the demo credentials.
fn reconcile(ws: &Workspace, sim: &TestSimulator, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(binary());
    cmd.arg("reconcile")
        .arg("--ledger")
        .arg(ws.ledger())
        .args(extra)
        .env("TOP_GATEWAY", sim.url())
        .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
        .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
        .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION)
        .env_remove("RUST_LOG")
        .timeout(std::time::Duration::from_secs(120));
    cmd
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

/// The rows of a reconcile file by order number.
fn by_order(path: &std::path::Path) -> HashMap<String, HashMap<String, String>> {
    read_csv(path)
        .into_iter()
        .map(|row| (row["order_no"].clone(), row))
        .collect()
}

/// A CSV of `(n, req_id)` rows: order number `BASE + n`.
fn export(rows: &[(u64, &str)]) -> String {
    let mut text = format!("{HEADER}\n");
    for (n, req_id) in rows {
        text.push_str(&line(*n, req_id));
        text.push('\n');
    }
    text
}

fn trades_scenario() -> Scenario {
    let waits = "WAIT_SELLER_SEND_GOODS";
    Scenario::default()
        .on(
            Matcher::req_id("R3"),
            Fault::reject("21011", "订单号已关闭"),
        )
        .on(Matcher::req_id("R6"), Fault::reject("B0107", "订单已退款"))
        .on(Matcher::req_id("R9"), Fault::reject("B0107", "订单已退款"))
        .on(Matcher::req_id("R4"), Fault::transient(1))
        .trade(tid(1), waits, "-3h", Some("+10h"), None)
        .trade(tid(2), "TRADE_FINISHED", "-3h", Some("+10h"), None)
        .trade(tid(3), waits, "-3h", Some("+5h"), None)
        .trade(tid(4), waits, "-3h", Some("+30h"), None)
        .trade(tid(5), waits, "-3h", Some("+30h"), Some("SUCCESS"))
        .trade(tid(6), "TRADE_FINISHED", "-3h", None, None)
        .trade(tid(7), waits, "-3h", Some("+2h"), None)
        .trade(tid(9), waits, "-3h", Some("+1h"), None)
        .trade(tid(10), "WAIT_BUYER_PAY", "-3h", None, None)
}

#[test]
fn every_bucket_its_deadline_and_the_retry_due_sent_again_from_the_ledger() {
    let ws = Workspace::new();
    let sim = simulator(trades_scenario());
    let input = ws.write(
        "orders.csv",
        export(&[
            (1, "R1"),
            (2, "R2"),
            (3, "R3"),
            (4, "R4"),
            (5, "R5"),
            (6, "R6"),
            (8, "R8"),
            (9, "R9"),
        ]),
    );
    let mut send = send_cmd(&ws, &sim, &[&input]);
    send.args(["--max-attempts", "1"]);
    exits_with(&mut send, 1);
    let mut close = assert_cmd::Command::new(binary());
    close
        .args(["ledger", "close"])
        .arg(ws.ledger())
        .args(["R9", "--reason", "refunded by phone"]);
    close.assert().success();

    let out = ws.path("reconcile.csv");
    let summary = ws.path("reconcile.json");
    let metrics = ws.path("reconcile.prom");
    let mut cmd = reconcile(
        &ws,
        &sim,
        &[
            "--since",
            "2d",
            "--out",
            out.to_str().expect("utf-8"),
            "--summary-json",
        ],
    );
    cmd.arg(&summary).arg("--metrics-file").arg(&metrics);
    let stderr = exits_with(&mut cmd, 1);
    assert!(stderr.contains("missing_callback"), "{stderr}");

    let rows = by_order(&out);
    let bucket = |n: u64| rows[&tid(n).to_string()]["bucket"].clone();
    assert_eq!(bucket(1), "platform_pending");
    assert_eq!(bucket(2), "done");
    assert_eq!(bucket(3), "data_fix");
    assert_eq!(bucket(4), "retry_due");
    assert_eq!(bucket(5), "closed");
    assert_eq!(bucket(6), "finished_without_us");
    assert_eq!(bucket(7), "missing_callback");
    assert_eq!(bucket(8), "unknown_to_platform");
    assert_eq!(bucket(9), "data_fix");
    assert!(
        !rows.contains_key(&tid(10).to_string()),
        "not paid: not listed"
    );
    // The 19 digits come through exactly, and the Chinese names and advice with them.
    assert_eq!(
        rows[&tid(7).to_string()]["sub_order_no"],
        tid(7).to_string()
    );
    assert_eq!(rows[&tid(7).to_string()]["bucket_zh"], "漏回调");
    assert!(rows[&tid(3).to_string()]["advice"].contains("订单号已关闭"));
    // Due within 24h: the missing callback (+2h) and the rejection (+5h); not the
    // retry (+30h), nor the order a person closed (+1h).
    let due: Vec<u64> = (1..=9)
        .filter(|n| {
            rows.get(&tid(*n).to_string())
                .is_some_and(|r| r["due"] == "是")
        })
        .collect();
    assert_eq!(due, [3, 7]);
    // What needs us comes first, soonest due first.
    let order: Vec<String> = read_csv(&out).iter().map(|r| r["bucket"].clone()).collect();
    assert_eq!(order[0], "missing_callback");
    assert_eq!(order[1], "retry_due");

    let doc = json(&summary);
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["buckets"]["data_fix"], 2);
    assert_eq!(doc["due_total"], 2);
    assert_eq!(doc["not_paid"], 1);
    assert_eq!(doc["window_calls"], doc["minimum_calls"]);
    let prom = std::fs::read_to_string(&metrics).expect("metrics");
    assert!(prom.contains("opentrade_callback_reconcile_orders{bucket=\"missing_callback\"} 1\n"));

    // Deadlines are in the ledger, as Beijing-time stamps.
    let deadlines = ledger_query(
        &ws.ledger(),
        "SELECT req_id, deadline FROM orders WHERE deadline IS NOT NULL ORDER BY req_id",
    );
    let named: Vec<&str> = deadlines.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(named, ["R1", "R2", "R3", "R4", "R5", "R9"]);
    assert!(
        deadlines.iter().all(|r| r[1].ends_with("+08:00")),
        "{deadlines:?}"
    );
    // The calls count toward the day, with the send's.
    let calls = ledger_query(&ws.ledger(), "SELECT sum(calls) FROM calls_per_day");
    let made = doc["calls_made"].as_u64().expect("calls");
    assert_eq!(calls[0][0], (8 + made).to_string());

    // The retry_due order is sent again from its stored payload, without an export.
    let results = ws.path("again.csv");
    let mut again = assert_cmd::Command::new(binary());
    again
        .args(["send", "--from-reconcile"])
        .arg(&out)
        .arg("--no-resend-failed")
        .arg("--ledger")
        .arg(ws.ledger())
        .arg("--out")
        .arg(&results)
        .arg("--summary-json")
        .arg(ws.path("again.json"))
        .env("TOP_GATEWAY", sim.url())
        .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
        .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
        .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION)
        .env_remove("RUST_LOG");
    again.assert().success();
    let sent = read_csv(&results);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["req_id"], "R4");
    assert_eq!(sent[0]["status"], "delivered");
    assert_eq!(sent[0]["source"], "ledger");
    // The night's summary names the order still rejected whose deadline is within a
    // day (R3, +5h) — not the closed one, nor one delivered now.
    let warnings = json(&ws.path("again.json"))["warnings"].to_string();
    assert!(
        warnings.contains("1 orders that still need attention fall due within a day"),
        "{warnings}"
    );
    assert!(
        warnings.contains(&tid(3).to_string()) && warnings.contains("R3"),
        "{warnings}"
    );
}

#[test]
fn a_walk_takes_the_minimum_of_calls_and_a_trade_modified_mid_walk_misses_nobody() {
    let ws = Workspace::new();
    let first = tid(100_000);
    // 1,050 trades over two days: the windows of the last three days hold about
    // 0, 525 and 525. Window 3's first page is its call 8; after it, trade `first+50`
    // (on that page) is modified and leaves the window.
    let sim = simulator(
        Scenario::default()
            .generate_trades(1050, 2, first)
            .modify_during_walk(first + 50, 8, "TRADE_FINISHED"),
    );
    let input = ws.write("orders.csv", export(&[(1, "R1")]));
    exits_with(&mut send_cmd(&ws, &sim, &[&input]), 0);
    let out = ws.path("reconcile.csv");
    let summary = ws.path("reconcile.json");
    let mut cmd = reconcile(
        &ws,
        &sim,
        &[
            "--since",
            "3d",
            "--out",
            out.to_str().expect("utf-8"),
            "--summary-json",
        ],
    );
    cmd.arg(&summary);
    exits_with(&mut cmd, 0);
    let rows = read_csv(&out);
    let mut seen: HashMap<u64, String> = HashMap::new();
    for row in &rows {
        let n: u64 = row["order_no"].parse().expect("digits");
        assert!(
            seen.insert(n, row["platform_status"].clone()).is_none(),
            "{n} twice"
        );
    }
    for i in 0..1050 {
        assert!(
            seen.contains_key(&(first + i)),
            "trade {} missed",
            first + i
        );
    }
    assert_eq!(
        seen[&(first + 50)],
        "TRADE_FINISHED",
        "its new state, from the last window"
    );
    let doc = json(&summary);
    assert_eq!(doc["rereads"], 1, "{doc}");
    // One call a page, plus the one page 1 read again; the last window's one call.
    assert_eq!(
        doc["window_calls"].as_u64(),
        doc["minimum_calls"].as_u64().map(|m| m + 1)
    );
    let stats = sim.stats();
    let pages = stats.by_outcome.get("trades_page").copied().unwrap_or(0);
    assert_eq!(
        pages,
        doc["window_calls"].as_u64().expect("calls")
            + doc["catch_up_calls"].as_u64().expect("calls")
    );
}

#[test]
fn a_still_window_is_walked_in_exactly_one_call_a_page() {
    let ws = Workspace::new();
    let sim = simulator(Scenario::default().generate_trades(1050, 2, tid(200_000)));
    let input = ws.write("orders.csv", export(&[(1, "R1")]));
    exits_with(&mut send_cmd(&ws, &sim, &[&input]), 0);
    // The newest trade is modified at the simulator's start, within this second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let now = chrono::Utc::now().with_timezone(&opentrade_callback::clock::beijing());
    let from = (now - chrono::TimeDelta::days(3))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let to = (now + chrono::TimeDelta::seconds(-1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let summary = ws.path("reconcile.json");
    let mut cmd = reconcile(&ws, &sim, &["--from", &from, "--to", &to, "--summary-json"]);
    cmd.arg(&summary);
    exits_with(&mut cmd, 0);
    let doc = json(&summary);
    assert_eq!(doc["trades"], 1050);
    assert_eq!(doc["windows"], serde_json::Value::Null);
    assert_eq!(doc["window"]["windows"], 3);
    // 0, 525, 525 (give or take one at the edges): 1 + 6 + 6.
    assert_eq!(doc["window_calls"], 13, "{doc}");
    assert_eq!(doc["minimum_calls"], 13);
    assert_eq!(
        doc["catch_up_calls"], 0,
        "a window that ends in the past needs none"
    );
    assert_eq!(sim.stats().by_outcome.get("trades_page").copied(), Some(13));
}

#[test]
fn the_daily_quota_is_said_before_the_first_call_and_never_passed() {
    let ws = Workspace::new();
    let sim = simulator(Scenario::default().generate_trades(1050, 2, tid(300_000)));
    let input = ws.write("orders.csv", export(&[(1, "R1")]));
    exits_with(&mut send_cmd(&ws, &sim, &[&input]), 0);
    // Seven days need at least eight calls: refused before the first.
    let small = ws.write("small.toml", "daily_quota = 5\n");
    let summary = ws.path("s.json");
    let mut cmd = reconcile(
        &ws,
        &sim,
        &[
            "--since",
            "7d",
            "--config",
            small.to_str().expect("utf-8"),
            "--summary-json",
        ],
    );
    cmd.arg(&summary);
    let stderr = exits_with(&mut cmd, 3);
    assert!(
        stderr.contains("daily_quota 5: 1 calls made today, 4 left"),
        "{stderr}"
    );
    assert_eq!(json(&summary)["halt_reason"], "daily_quota");
    assert_eq!(sim.stats().by_outcome.get("trades_page"), None);
    // Enough to start, not to finish: it stops at the quota, the day's count at it.
    let ten = ws.write("ten.toml", "daily_quota = 10\n");
    let mut cmd = reconcile(
        &ws,
        &sim,
        &["--since", "3d", "--config", ten.to_str().expect("utf-8")],
    );
    let stderr = exits_with(&mut cmd, 3);
    assert!(
        stderr.contains("would pass today's daily_quota of 10"),
        "{stderr}"
    );
    assert_eq!(
        ledger_query(&ws.ledger(), "SELECT sum(calls) FROM calls_per_day")[0][0],
        "10"
    );
    // `check` says so (a warning: past 70 % of the day's quota).
    let mut check = assert_cmd::Command::new(binary());
    check
        .arg("check")
        .arg("--ledger")
        .arg(ws.ledger())
        .arg("--config")
        .arg(&ten)
        .env("TOP_GATEWAY", sim.url())
        .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
        .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
        .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION);
    let out = check.assert().code(1).get_output().stdout.clone();
    let said = String::from_utf8_lossy(&out);
    assert!(
        said.contains("10 calls made today") && said.contains("daily_quota 10: past 70%"),
        "{said}"
    );
    // A send the same day stops before its first call, and says why.
    let more = ws.write("more.csv", export(&[(2, "R2"), (3, "R3")]));
    let mut send = send_cmd(&ws, &sim, &[&more]);
    send.arg("--config")
        .arg(&ten)
        .arg("--summary-json")
        .arg(ws.path("send.json"));
    let stderr = exits_with(&mut send, 3);
    assert!(stderr.contains("daily_quota"), "{stderr}");
    let doc = json(&ws.path("send.json"));
    assert_eq!(doc["halt_reason"], "daily_quota");
    assert_eq!(doc["calls_today"], 10);
}

#[test]
fn a_send_stops_at_the_quota_with_its_rest_not_attempted() {
    let ws = Workspace::new();
    let sim = simulator(Scenario::default());
    let quota = ws.write("q.toml", "daily_quota = 3\n");
    let input = ws.write("orders.csv", orders(&["A", "B", "C", "D", "E"]));
    let mut send = send_cmd(&ws, &sim, &[&input]);
    send.arg("--config")
        .arg(&quota)
        .args(["--concurrency", "1"]);
    exits_with(&mut send, 3);
    let statuses: Vec<String> = read_csv(&ws.out())
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "delivered").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(sim.stats().accepted, 3);
}

#[test]
fn without_the_trade_permission_reconcile_halts_and_check_says_so() {
    let ws = Workspace::new();
    let sim = simulator(Scenario::default().deny_trades());
    let input = ws.write("orders.csv", export(&[(1, "R1")]));
    exits_with(&mut send_cmd(&ws, &sim, &[&input]), 0);
    let stderr = exits_with(&mut reconcile(&ws, &sim, &["--since", "1d"]), 3);
    assert!(stderr.contains("lacks the trade permission"), "{stderr}");
    let mut check = assert_cmd::Command::new(binary());
    check
        .arg("check")
        .env("TOP_GATEWAY", sim.url())
        .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
        .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
        .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION);
    let output = check.assert().code(1).get_output().stdout.clone();
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("lacks the trade permission"), "{text}");
}

#[test]
fn a_missing_ledger_or_a_window_too_old_is_a_usage_error() {
    let ws = Workspace::new();
    let sim = simulator(Scenario::default());
    sim.unused();
    let stderr = exits_with(&mut reconcile(&ws, &sim, &["--since", "1d"]), 2);
    assert!(stderr.contains("no ledger at"), "{stderr}");
    let stderr = exits_with(&mut reconcile(&ws, &sim, &["--since", "100d"]), 2);
    assert!(stderr.contains("90 days"), "{stderr}");
}

#[test]
fn orders_falling_due_ping_the_check_as_a_failure_and_the_robot_names_them() {
    let ws = Workspace::new();
    let sim = simulator(trades_scenario());
    let input = ws.write("orders.csv", export(&[(1, "R1"), (3, "R3")]));
    exits_with(&mut send_cmd(&ws, &sim, &[&input]), 1);
    let check = HookServer::ok();
    let robot = HookServer::ok();
    let mut cmd = reconcile(&ws, &sim, &["--since", "1d", "--notify-format", "dingtalk"]);
    cmd.arg("--notify-url")
        .arg(format!("{}/robot/send?access_token=tok", robot.url))
        .env(
            "OPENTRADE_RECONCILE_PING_URL",
            format!("{}/ping/rec", check.url),
        )
        // The nightly send's check is not reconcile's.
        .env("OPENTRADE_PING_URL", format!("{}/ping/send", check.url));
    exits_with(&mut cmd, 1);
    assert_eq!(check.lines(), ["POST /ping/rec/start", "POST /ping/rec/1"]);
    let posts = robot.seen();
    assert_eq!(posts.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&posts[0].body).expect("json");
    let text = body["text"]["content"].as_str().expect("text");
    assert!(text.contains("漏回调 missing_callback"), "{text}");
    assert!(
        text.contains(&tid(7).to_string()),
        "the due order named: {text}"
    );
    assert!(text.contains(&tid(3).to_string()), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_lists_the_outstanding_orders_soonest_deadline_first() {
    use common::desk::{REJECTED_ORDER, last_night, logged_in, rejecting, start};
    let ws = Workspace::new();
    let sim = simulator(rejecting().trade(
        REJECTED_ORDER,
        "WAIT_SELLER_SEND_GOODS",
        "-1h",
        Some("+3h"),
        None,
    ));
    let results = last_night(&ws, &sim);
    let mut cmd = reconcile(&ws, &sim, &["--since", "1d"]);
    exits_with(&mut cmd, 1);
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    let visitor = logged_in(&process).await;
    let page = visitor.text("/work").await;
    assert!(page.contains("平台截止时间"), "{page}");
    let due = page
        .split("<table class=\"due\">")
        .nth(1)
        .expect("the deadlines' table");
    assert!(due.contains(&REJECTED_ORDER.to_string()), "{due}");
}
