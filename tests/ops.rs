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
fn a_ban_of_seconds_under_the_apps_quota_code_is_waited_out_not_taken_for_the_day() {
    // TOP: limited-by-app-access-count is "应用调用次数超限，包含调用频率超限" — the
    // frequency limit too. Its "3 more seconds" is believed.
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r0003"),
        Fault::ban_as(2, "accesscontrol.limited-by-app-access-count"),
    ));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(25)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "4"]),
        0,
    );
    assert!(!stderr.contains("00:00"), "{stderr}");
    let rows = columns(&ws.out(), ["status"]);
    assert!(rows.iter().all(|[s]| s == "delivered"), "{rows:?}");
    let stats = sim.stats();
    assert_eq!(stats.bans_started, 1);
    // Only calls already on their way when the ban began may reach it.
    assert!(
        stats.calls_during_ban <= 3,
        "every worker waited: {stats:?}"
    );
}

#[test]
fn a_ban_longer_than_the_wait_allowed_halts_naming_when_it_ends_and_which_limit() {
    for (seconds, which) in [
        (600, "call frequency limit"),
        (6 * 3600, "daily call quota"),
    ] {
        let sim = simulator(Scenario::default().on(
            Matcher::req_id("r0001"),
            Fault::ban_as(seconds, "accesscontrol.limited-by-app-access-count"),
        ));
        let ws = Workspace::new();
        let input = ws.write("in.csv", orders_of(&ids(10)));
        let before = chrono::Utc::now();
        let stderr = exits_with(
            send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "1", "--max-ban-wait", "1m"]),
            3,
        );
        assert!(stderr.contains(which), "{seconds}: {stderr}");
        // The minute the ban ends, read before the run and a little after (a minute
        // may turn between the two).
        let ends: Vec<String> = [0, 5]
            .into_iter()
            .map(|late| {
                (before + chrono::Duration::seconds(seconds as i64 + late))
                    .with_timezone(&opentrade_callback::clock::beijing())
                    .format("until %Y-%m-%d %H:%M")
                    .to_string()
            })
            .collect();
        assert!(
            ends.iter().any(|e| stderr.contains(e.as_str())) && stderr.contains("Beijing time"),
            "{ends:?}: {stderr}"
        );
        let rows = columns(&ws.out(), ["status"]);
        assert_eq!(rows[0], ["delivered"]);
        assert!(rows[2..].iter().all(|[s]| s == "not_attempted"), "{rows:?}");
        sim.stats();
    }
}

#[test]
fn an_api_not_open_to_the_app_and_an_expired_session_halt_with_the_fix() {
    for (fault, expected, reason) in [
        (Fault::api_not_open(), "not open to the app", "permission"),
        (
            Fault::session_expired(),
            "authorize the app again",
            "session",
        ),
    ] {
        let sim = simulator(Scenario::default().on(Matcher::prefix("r"), fault));
        let ws = Workspace::new();
        let input = ws.write("in.csv", orders_of(&ids(10)));
        let summary = ws.path("summary.json");
        let metrics = ws.path("opentrade.prom");
        let stderr = exits_with(
            send_cmd(&ws, &sim, &[&input])
                .args([
                    "--concurrency",
                    "1",
                    "--retryable-exit-code",
                    "75",
                    "--summary-json",
                ])
                .arg(&summary)
                .arg("--metrics-file")
                .arg(&metrics),
            3,
        );
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert_eq!(
            sim.stats().requests,
            1,
            "{expected}: halted at the first answer"
        );
        // Said for a machine too: a person must act, a retry would not help (the
        // retryable code is not used for it).
        let doc = summary_of(&summary);
        assert_eq!(doc["halt_reason"], reason);
        assert_eq!(doc["halt_retryable"], false);
        let samples = parse_metrics(&metrics);
        assert_eq!(
            sample(
                &samples,
                &format!("opentrade_callback_halted{{reason=\"{reason}\",retryable=\"false\"}}")
            ),
            1.0
        );
    }
}

#[test]
fn a_halt_worth_retrying_exits_with_the_code_a_unit_retries() {
    // Every call fails: the gateway looks down (halt_reason gateway_down).
    let sim = simulator(Scenario::default().on(Matcher::prefix("r"), Fault::transient(1000)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(200)));
    let summary = ws.path("summary.json");
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input])
            .args(["--concurrency", "4", "--max-attempts", "1"])
            .args(["--retryable-exit-code", "75", "--summary-json"])
            .arg(&summary),
        75,
    );
    assert!(stderr.contains("exit 75"), "{stderr}");
    let doc = summary_of(&summary);
    assert_eq!(doc["exit_code"], 75);
    assert_eq!(doc["halt_reason"], "gateway_down");
    assert_eq!(doc["halt_retryable"], true);
    // Without the flag: 3, as documented.
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(200)));
    exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "4", "--max-attempts", "1"]),
        3,
    );
    // A code of another outcome is refused.
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--retryable-exit-code", "3"]),
        2,
    );
    assert!(stderr.contains("5 to 125"), "{stderr}");
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

fn summary_of(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("a summary")).expect("JSON")
}

#[test]
fn the_summary_json_is_written_on_every_exit() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r0003"),
        Fault::error(25, "Invalid signature"),
    ));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(6)));
    let summary = ws.path("summary.json");
    let with_summary = |cmd: &mut assert_cmd::Command| {
        cmd.arg("--summary-json").arg(&summary);
    };
    // Exit 2: an input that is not there. Nothing ran; the document says why.
    std::fs::write(&summary, "last night's").expect("stale file");
    let mut missing =
        common::send_cmd_with(&sim, &[&ws.path("missing.csv")], &ws.ledger(), &ws.out());
    with_summary(&mut missing);
    exits_with(&mut missing, 2);
    let doc = summary_of(&summary);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(doc["rows"], 0);
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("missing.csv")),
        "{doc}"
    );
    assert_eq!(
        doc["inputs"][0]["given"],
        ws.path("missing.csv").display().to_string()
    );
    assert!(doc["run_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    // Exit 4: another run holds the ledger.
    let lock = opentrade_callback::ledger::acquire(&ws.ledger()).expect("lock");
    let mut locked = send_cmd(&ws, &sim, &[&input]);
    with_summary(&mut locked);
    exits_with(&mut locked, 4);
    assert_eq!(summary_of(&summary)["exit_code"], 4);
    drop(lock);
    // Exit 3: a fatal answer; the document has the rows, the amounts and the error.
    let mut fatal = send_cmd(&ws, &sim, &[&input]);
    with_summary(&mut fatal);
    fatal.args(["--concurrency", "1"]);
    exits_with(&mut fatal, 3);
    let doc = summary_of(&summary);
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["rows"], 6);
    assert!(
        doc["error"].as_str().is_some_and(|e| e.contains("25")),
        "{doc}"
    );
    assert_eq!(
        doc["amounts"]["delivered"], "300.00",
        "r0000..r0002 at 100 each: {doc}"
    );
    assert!(
        doc["started_at"]
            .as_str()
            .is_some_and(|t| t.ends_with("+08:00"))
    );
    // Exit 1 (the rest resent): no error, amounts of what was sent.
    let healthy = simulator(Scenario::default());
    let mut again = send_cmd(&ws, &healthy, &[&input]);
    with_summary(&mut again);
    again.assert().code(0);
    let doc = summary_of(&summary);
    assert_eq!(
        (doc["exit_code"].as_u64(), doc["error"].is_null()),
        (Some(0), true)
    );
}

/// The samples of a Prometheus text file as a real parser reads them (the
/// prometheus_client package's, installed under target/ on first use):
/// `name{label="value",…} value`, one per line.
fn parse_metrics(path: &std::path::Path) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    assert family.type == "gauge", family
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %s" % (s.name, labels, s.value))
"#;
    common::python_with(
        "prometheus_client",
        "prometheus-client==0.26.0",
        script,
        &[path.as_os_str()],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

fn sample(samples: &[String], name: &str) -> f64 {
    samples
        .iter()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {samples:?}"))
}

#[test]
fn the_metrics_file_is_valid_prometheus_text_and_keeps_the_last_success() {
    let sim = simulator(
        Scenario::default().on(Matcher::req_id("r0001"), Fault::reject("B\"0107\n", "x")),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(4)));
    let metrics = ws.path("opentrade.prom");
    send_cmd(&ws, &sim, &[&input])
        .arg("--metrics-file")
        .arg(&metrics)
        .assert()
        .code(1);
    let first = parse_metrics(&metrics);
    assert_eq!(sample(&first, "opentrade_callback_exit_code{}"), 1.0);
    assert_eq!(
        sample(&first, r#"opentrade_callback_rows{status="delivered"}"#),
        3.0
    );
    assert_eq!(
        sample(&first, r#"opentrade_callback_rows{status="rejected"}"#),
        1.0
    );
    assert_eq!(sample(&first, "opentrade_callback_calls{}"), 4.0);
    let success = sample(
        &first,
        "opentrade_callback_last_success_timestamp_seconds{}",
    );
    assert_eq!(
        success,
        sample(&first, "opentrade_callback_last_run_timestamp_seconds{}")
    );
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("opentrade_callback_errors{error_code=\"B\"0107")),
        "the gateway's code, escaped in the file, read back: {first:?}"
    );
    // A run that never starts: exit 2, the last success kept.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut missing =
        common::send_cmd_with(&sim, &[&ws.path("missing.csv")], &ws.ledger(), &ws.out());
    missing.arg("--metrics-file").arg(&metrics);
    exits_with(&mut missing, 2);
    let second = parse_metrics(&metrics);
    assert_eq!(sample(&second, "opentrade_callback_exit_code{}"), 2.0);
    assert_eq!(
        sample(
            &second,
            "opentrade_callback_last_success_timestamp_seconds{}"
        ),
        success
    );
    assert!(sample(&second, "opentrade_callback_last_run_timestamp_seconds{}") > success);
}

#[test]
fn the_metrics_file_is_readable_by_the_collector_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let metrics = ws.path("opentrade.prom");
    let mut send = common::send_process(&ws, &sim.url(), &[&input]);
    send.arg("--metrics-file").arg(&metrics);
    // As under systemd's UMask=0027: the same command, through a shell that sets it.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "umask 027 && exec \"$@\"", "sh"])
        .arg(send.get_program())
        .args(send.get_args());
    for (key, value) in send.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    assert_eq!(cmd.status().expect("runs").code(), Some(0));
    let mode = std::fs::metadata(&metrics)
        .expect("metrics")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644, "{mode:o}");
    // The other outputs keep the umask's say.
    let out = std::fs::metadata(ws.out())
        .expect("results")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(out, 0o640, "{out:o}");
}

#[test]
fn a_run_that_finds_the_ledger_held_reports_as_itself_not_over_the_running_one() {
    let sim = simulator(Scenario::default().latency_ms(300));
    let hooks = common::hooks::HookServer::ok();
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(20)));
    let metrics = ws.path("opentrade.prom");
    let ping = format!("{}/ping/abc", hooks.url);
    let mut first = common::send_process(&ws, &sim.url(), &[&input]);
    first
        .args(["--concurrency", "1", "--metrics-file"])
        .arg(&metrics)
        .arg("--ping-url")
        .arg(&ping);
    let mut first = first.spawn().expect("starts");
    let lock = opentrade_callback::ledger::lock::lock_path(&ws.ledger());
    assert!(common::wait_until(
        std::time::Duration::from_secs(5),
        || { std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid")) }
    ));
    let mut second = send_cmd(&ws, &sim, &[&input]);
    second
        .arg("--metrics-file")
        .arg(&metrics)
        .arg("--ping-url")
        .arg(&ping);
    exits_with(&mut second, 4);
    assert!(
        !metrics.exists(),
        "the running run's metrics file is left to it"
    );
    assert!(
        hooks.lines().contains(&"POST /ping/abc/log".to_owned()),
        "{:?}",
        hooks.lines()
    );
    assert!(!hooks.lines().iter().any(|l| l.ends_with("/4")));
    common::signal(first.id(), "-TERM");
    first.wait().expect("reaped");
    assert!(metrics.exists(), "the running run wrote its own");
}

#[test]
fn the_hooks_may_come_from_the_environment_for_units_that_keep_them_out_of_argv() {
    let sim = simulator(Scenario::default());
    let hooks = common::hooks::HookServer::ok();
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let env_file = ws.write(
        "alerts.env",
        format!(
            "OPENTRADE_PING_URL={0}/ping/env\nOPENTRADE_NOTIFY_URL={0}/robot\nOPENTRADE_NOTIFY_FORMAT=feishu\n",
            hooks.url
        ),
    );
    let cmd = common::send_process(&ws, &sim.url(), &[&input]);
    let mut args: Vec<std::ffi::OsString> = vec!["--env-file".into(), env_file.into()];
    args.extend(cmd.get_args().map(std::ffi::OsStr::to_owned));
    let mut with_env = std::process::Command::new(cmd.get_program());
    with_env.args(&args);
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            with_env.env(key, value);
        }
    }
    with_env.args(["--notify-on", "always"]);
    assert_eq!(with_env.output().expect("runs").status.code(), Some(0));
    let lines = hooks.lines();
    assert_eq!(
        lines,
        ["POST /ping/env/start", "POST /ping/env", "POST /robot"],
        "{lines:?}"
    );
    let robot: serde_json::Value =
        serde_json::from_str(&hooks.seen()[2].body).expect("a robot message");
    assert_eq!(
        robot["msg_type"], "text",
        "Feishu's shape, from the environment"
    );
    // A variable that is not a URL is refused, naming it; nothing is sent.
    let calls = sim.stats().requests;
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).env("OPENTRADE_PING_URL", "hc-ping.com/uuid"),
        2,
    );
    assert!(stderr.contains("OPENTRADE_PING_URL"), "{stderr}");
    assert_eq!(sim.stats().requests, calls);
}

#[test]
fn the_nightly_run_warns_of_the_session_s_end_a_month_ahead() {
    let sim = simulator(Scenario::default());
    let hooks = common::hooks::HookServer::ok();
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let soon = (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y-%m-%d");
    let config = ws.write("config.toml", format!("session_expires = \"{soon}\"\n"));
    let summary = ws.path("summary.json");
    let metrics = ws.path("opentrade.prom");
    let output = send_cmd(&ws, &sim, &[&input])
        .arg("-q")
        .arg("--config")
        .arg(&config)
        .arg("--summary-json")
        .arg(&summary)
        .arg("--metrics-file")
        .arg(&metrics)
        .arg("--notify-url")
        .arg(format!("{}/hook", hooks.url))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0), "a clean night");
    // Said even under -q: cron mails it.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("the session ends on {soon}")),
        "{stderr}"
    );
    let doc = summary_of(&summary);
    assert_eq!(doc["session_expires"], soon.to_string());
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(1));
    let samples = parse_metrics(&metrics);
    assert!(
        sample(
            &samples,
            "opentrade_callback_session_expires_timestamp_seconds{}"
        ) > 0.0
    );
    // Notified although the night went well (notifications default to problems).
    assert_eq!(hooks.lines(), ["POST /hook"]);
}

#[test]
fn check_looks_at_the_ledger_and_the_results_the_night_will_use() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    std::fs::create_dir(ws.path("results")).expect("dir");
    let check = |extra: &[&std::ffi::OsStr]| {
        let output = std::process::Command::new(binary())
            .args(["check", "--json"])
            .args(extra)
            .env("TOP_GATEWAY", sim.url())
            .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
            .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
            .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION)
            .env_remove("OPENTRADE_CONFIG")
            .output()
            .expect("check runs");
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let outcome = |name: &str| {
            doc["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .find(|c| c["check"] == name)
                .map(|c| c["outcome"].as_str().unwrap_or_default().to_owned())
        };
        (output.status.code(), outcome("ledger"), outcome("results"))
    };
    let template = ws.path("results/{date}-{run}.xlsx");
    let (code, ledger, results) = check(&[
        "--ledger".as_ref(),
        ws.ledger().as_os_str(),
        "--out".as_ref(),
        template.as_os_str(),
    ]);
    assert_eq!(
        (code, ledger.as_deref(), results.as_deref()),
        (Some(0), Some("ok"), Some("ok"))
    );
    // An old CSV ledger and a results directory that is not there: exit 2, both named.
    let old = ws.write("ledger.csv", "req_id,order_no\n");
    let missing = ws.path("nowhere/results.xlsx");
    let (code, ledger, results) = check(&[
        "--ledger".as_ref(),
        old.as_os_str(),
        "--out".as_ref(),
        missing.as_os_str(),
    ]);
    assert_eq!(
        (code, ledger.as_deref(), results.as_deref()),
        (Some(2), Some("failed"), Some("failed"))
    );
    // Nothing was made or left: no ledger, no probe file.
    assert!(!ws.ledger().exists());
    assert_eq!(
        std::fs::read_dir(ws.path("results")).expect("dir").count(),
        0
    );
}

#[test]
fn pings_and_notifications_tell_how_the_run_went_and_never_change_it() {
    let sim = simulator(
        Scenario::default().on(Matcher::req_id("r0001"), Fault::reject("B0107", "已退款")),
    );
    let hooks = common::hooks::HookServer::ok();
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    // Exit 1: start ping, end ping at the plain URL (a success with a note: the
    // summary names the rows), a DingTalk message.
    send_cmd(&ws, &sim, &[&input])
        .arg("--ping-url")
        .arg(format!("{}/ping/abc", hooks.url))
        .arg("--notify-url")
        .arg(format!("{}/robot/send?access_token=t", hooks.url))
        .args(["--notify-format", "dingtalk"])
        .assert()
        .code(1);
    let seen: Vec<(String, String)> = hooks
        .seen()
        .into_iter()
        .map(|s| (s.line(), s.body))
        .collect();
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "POST /ping/abc/start",
            "POST /ping/abc",
            "POST /robot/send?access_token=t"
        ]
    );
    let summary: serde_json::Value = serde_json::from_str(&seen[1].1).expect("the summary");
    assert_eq!(summary["exit_code"], 1);
    let robot: serde_json::Value = serde_json::from_str(&seen[2].1).expect("a robot message");
    assert_eq!(robot["msgtype"], "text");
    let text = robot["text"]["content"].as_str().expect("text");
    assert!(text.contains("exit 1") && text.contains("B0107"), "{text}");
    for (_, body) in &seen {
        assert!(
            !body.contains(opentrade_callback::simulator::DEMO_SESSION),
            "{body}"
        );
        assert!(
            !body.contains(opentrade_callback::simulator::DEMO_SECRET),
            "{body}"
        );
    }
    // Exit 0: the plain ping URL; no notification (only problems, by default).
    let before = hooks.seen().len();
    let clean = ws.write("clean.csv", orders_of(&["z1".to_owned()]));
    common::send_cmd_with(&sim, &[&clean], &ws.ledger(), &ws.path("clean-out.csv"))
        .arg("--ping-url")
        .arg(format!("{}/ping/abc", hooks.url))
        .arg("--notify-url")
        .arg(format!("{}/hook", hooks.url))
        .assert()
        .code(0);
    let after: Vec<String> = hooks.lines()[before..].to_vec();
    assert_eq!(after, ["POST /ping/abc/start", "POST /ping/abc"]);
    // Rows needing attention counted as a failure, when the monitor is to say so.
    let before = hooks.seen().len();
    let rejected = ws.write("rejected.csv", orders_of(&["r0001".to_owned()]));
    common::send_cmd_with(
        &sim,
        &[&rejected],
        &ws.ledger(),
        &ws.path("rejected-out.csv"),
    )
    .arg("--ping-url")
    .arg(format!("{}/ping/abc", hooks.url))
    .args(["--ping-attention", "fail", "--retry-rejected"])
    .assert()
    .code(1);
    assert_eq!(
        hooks.lines()[before..],
        ["POST /ping/abc/start", "POST /ping/abc/1"]
    );
    // Exit 2: the run never started, the ping says so.
    let before = hooks.seen().len();
    let mut missing =
        common::send_cmd_with(&sim, &[&ws.path("missing.csv")], &ws.ledger(), &ws.out());
    missing
        .arg("--ping-url")
        .arg(format!("{}/ping/abc", hooks.url));
    exits_with(&mut missing, 2);
    assert_eq!(hooks.lines()[before + 1], "POST /ping/abc/2");
    // A ping URL nobody answers: the run is the same, and not held up for long.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}/ping", closed.local_addr().expect("addr"));
    drop(closed);
    let started = std::time::Instant::now();
    let again = ws.write("again.csv", orders_of(&["z2".to_owned()]));
    common::send_cmd_with(&sim, &[&again], &ws.ledger(), &ws.path("again-out.csv"))
        .arg("--ping-url")
        .arg(&dead)
        .assert()
        .code(0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn credentials_come_from_an_env_file_and_the_config_from_opentrade_config() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let env_file = ws.write(
        "opentrade.env",
        format!(
            "# as systemd's EnvironmentFile reads it\nTOP_APP_KEY={}\nexport TOP_APP_SECRET=\"{}\"\nTOP_SESSION='{}'\n",
            opentrade_callback::simulator::DEMO_APP_KEY,
            opentrade_callback::simulator::DEMO_SECRET,
            opentrade_callback::simulator::DEMO_SESSION
        ),
    );
    let config = ws.write(
        "config.toml",
        "concurrency = 1\n[retry]\nmax_attempts = 2\n",
    );
    let mut cmd = send_cmd(&ws, &sim, &[&input]);
    cmd.env_remove("TOP_APP_KEY")
        .env_remove("TOP_APP_SECRET")
        .env_remove("TOP_SESSION")
        .env("OPENTRADE_CONFIG", &config)
        .arg("--env-file")
        .arg(&env_file);
    cmd.assert().code(0);
    assert_eq!(sim.stats().accepted, 2);
    // A line that is not KEY=VALUE is named, and nothing is sent.
    let broken = ws.write("broken.env", "TOP_APP_KEY=1\nthis is not a variable\n");
    let mut cmd = send_cmd(&ws, &sim, &[&input]);
    cmd.arg("--env-file").arg(&broken);
    let stderr = exits_with(&mut cmd, 2);
    assert!(stderr.contains("broken.env line 2"), "{stderr}");
    // OPENTRADE_CONFIG naming a file that is not there: named too.
    let mut cmd = send_cmd(&ws, &sim, &[&input]);
    cmd.env("OPENTRADE_CONFIG", ws.path("nowhere.toml"));
    let stderr = exits_with(&mut cmd, 2);
    assert!(stderr.contains("nowhere.toml"), "{stderr}");
}

#[test]
fn json_logs_are_one_object_a_line_in_beijing_time_with_the_run_id() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0001"), Fault::transient(1)));
    let ws = Workspace::new();
    // One invalid row too: its line on stderr is JSON as well.
    let mut text = orders_of(&ids(3));
    text.push_str("4000000000000000009,,maybe,0000,ok,r0009,\n");
    let input = ws.write("in.csv", text);
    let output = send_cmd(&ws, &sim, &[&input])
        .args([
            "--log-format",
            "json",
            "-v",
            "--progress",
            "log",
            "--progress-every",
            "1ms",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Every line on stderr is one object: the log, the invalid rows, the summary.
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let summary = logs
        .iter()
        .find(|l| l["fields"]["message"] == "run summary")
        .expect("the summary as an event");
    assert_eq!(summary["fields"]["exit_code"], 1);
    assert_eq!(summary["fields"]["counts"]["delivered"], 3);
    assert_eq!(summary["fields"]["counts"]["invalid"], 1);
    assert!(
        logs.iter().any(|l| l["fields"]["message"] == "invalid row"
            && l["fields"]["row"]
                .as_str()
                .is_some_and(|r| r.contains("input.bad_success"))),
        "{stderr}"
    );
    // A run that never starts: its `error:` line is an object too.
    let failed = send_cmd(&ws, &sim, &[&ws.path("missing.csv")])
        .args(["--log-format", "json"])
        .output()
        .expect("runs");
    assert_eq!(failed.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&failed.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("missing.csv"))),
        "{lines:?}"
    );
    assert!(logs.len() >= 2, "{stderr}");
    // The lines of the run carry its run id, the one the summary and the ledger have.
    let runs = common::ledger_query(&ws.ledger(), "SELECT id FROM runs");
    let run_id = &runs[0][0];
    assert!(
        logs.iter()
            .filter(|l| l["span"]["run_id"] == run_id.as_str())
            .count()
            >= 2,
        "run id {run_id} in the lines: {stderr}"
    );
    for log in &logs {
        assert!(
            log["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with("+08:00")),
            "{log}"
        );
        assert!(
            log["level"].is_string() && log["fields"]["message"].is_string(),
            "{log}"
        );
    }
}

#[test]
fn check_proves_the_setup_without_sending_anything() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let check = |secret: &str, session: &str, extra: &[&str]| {
        std::process::Command::new(binary())
            .arg("check")
            .args(extra)
            .env("TOP_GATEWAY", sim.url())
            .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
            .env("TOP_APP_SECRET", secret)
            .env("TOP_SESSION", session)
            .env_remove("OPENTRADE_CONFIG")
            .output()
            .expect("check runs")
    };
    let good = check(
        opentrade_callback::simulator::DEMO_SECRET,
        opentrade_callback::simulator::DEMO_SESSION,
        &[],
    );
    let text = String::from_utf8_lossy(&good.stdout);
    assert_eq!(good.status.code(), Some(0), "{text}");
    assert!(
        text.contains("✓ credentials") && text.contains("✓ clock"),
        "{text}"
    );
    // A wrong secret, a wrong session: named, exit 3.
    for (secret, session, expected) in [
        (
            "wrong",
            opentrade_callback::simulator::DEMO_SESSION,
            "signature refused",
        ),
        (
            opentrade_callback::simulator::DEMO_SECRET,
            "expired",
            "session refused",
        ),
    ] {
        let bad = check(secret, session, &[]);
        let text = String::from_utf8_lossy(&bad.stdout);
        assert_eq!(bad.status.code(), Some(3), "{text}");
        assert!(
            text.contains("✗ credentials") && text.contains(expected),
            "{text}"
        );
        assert!(!text.contains(secret) || secret == opentrade_callback::simulator::DEMO_SECRET);
    }
    // The session's end date from the config: warned 30 days ahead, exit 1; as JSON.
    let soon = (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y-%m-%d");
    let config = ws.write("config.toml", format!("session_expires = \"{soon}\"\n"));
    let warned = check(
        opentrade_callback::simulator::DEMO_SECRET,
        opentrade_callback::simulator::DEMO_SESSION,
        &["--json", "--config", config.to_str().expect("utf-8")],
    );
    assert_eq!(warned.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&warned.stdout).expect("JSON");
    let session = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == "session")
        .expect("a session line");
    assert_eq!(session["outcome"], "warning");
    assert_eq!(doc["exit_code"], 1);
    // Nothing was sent: a probe has no param0, so no callback reached the gateway.
    assert_eq!(sim.stats().accepted, 0);
    // No credentials at all: exit 2.
    let none = std::process::Command::new(binary())
        .arg("check")
        .env_remove("TOP_APP_KEY")
        .env_remove("TOP_APP_SECRET")
        .env_remove("TOP_SESSION")
        .env_remove("OPENTRADE_CONFIG")
        .output()
        .expect("runs");
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn the_config_may_name_the_ledger_and_the_results() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let ledger = ws.path("from-config-ledger.db");
    let out = ws.path("from-config-results.csv");
    let config = ws.write(
        "config.toml",
        format!(
            "ledger = \"{}\"\nout = \"{}\"\n",
            ledger.display(),
            out.display()
        ),
    );
    let mut cmd = assert_cmd::Command::new(binary());
    cmd.arg("send")
        .arg(&input)
        .arg("--config")
        .arg(&config)
        .env("TOP_GATEWAY", sim.url())
        .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
        .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
        .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION);
    cmd.assert().code(0);
    assert_eq!(common::ledger_state(&ledger).len(), 2);
    assert_eq!(columns(&out, ["status"]).len(), 2);
    // Neither a flag nor the config: named, nothing sent.
    let mut bare = assert_cmd::Command::new(binary());
    bare.arg("send")
        .arg(&input)
        .arg("--dry-run")
        .env_remove("OPENTRADE_CONFIG");
    let stderr = exits_with(&mut bare, 2);
    assert!(stderr.contains("--ledger is not given"), "{stderr}");
    assert_eq!(sim.stats().accepted, 2);
}
