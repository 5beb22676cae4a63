//! Operators' experience (issue: cron, finance re-submission, configuration, reports):
//! secrets, config files, summaries, logging, progress lines, `report`,
//! the `ledger` commands and help — through the binary.

mod common;

use common::{Fault, Matcher};

use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;

use common::{Workspace, binary, exits_with, ids, orders_of, read_csv, send_cmd, simulator};
use opentrade_callback::simulator::{Scenario, SimulatorConfig};

const SECRET: &str = "S3cr3t-value-4d9f0c";
const SESSION: &str = "sess-value-8a1e77";

fn all_text(outputs: &[Output], ws: &Workspace) -> String {
    let mut text = String::new();
    for output in outputs {
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        text.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    for entry in std::fs::read_dir(ws.dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            text.push_str(&String::from_utf8_lossy(
                &std::fs::read(&path).expect("read"),
            ));
        }
    }
    text
}

#[test]
fn the_secret_and_session_never_appear_in_any_output_log_or_file() {
    let scenario = Scenario::default()
        .latency_ms(30)
        .on(
            Matcher::req_id("r0001"),
            Fault::reject("BIZ_REJECTED", "订单状态不允许回调"),
        )
        .on(Matcher::req_id("r0002"), Fault::transient(2));
    let config = SimulatorConfig {
        app_key: "777".into(),
        secret: SECRET.into(),
        session: SESSION.into(),
        ..SimulatorConfig::demo().with_scenario(scenario)
    };
    let sim = opentrade_callback::simulator::spawn_background(config).expect("simulator");
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(12)));
    let mut outputs = Vec::new();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = send_cmd(&ws, &sim, &[&input]);
        cmd.env("TOP_APP_KEY", "777")
            .env("TOP_APP_SECRET", SECRET)
            .env("TOP_SESSION", SESSION)
            .env("RUST_LOG", "trace")
            .args(["-vv", "--summary-json"])
            .arg(ws.path("summary.json"))
            .args(["--progress", "log", "--progress-every", "50ms"])
            .args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("runs")
    };
    // Deliveries, a rejection, retries.
    let first = run(&[], &[]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    outputs.push(first);
    // A fatal answer: the halt message quotes the gateway.
    let fatal_input = ws.write("more.csv", orders_of(&["x1".to_owned(), "x2".to_owned()]));
    let mut cmd = send_cmd(&ws, &sim, &[&fatal_input]);
    cmd.env("TOP_APP_KEY", "777")
        .env("TOP_APP_SECRET", SECRET)
        .env("TOP_SESSION", "expired-session")
        .args(["-vv"]);
    let fatal = cmd.output().expect("runs");
    assert_eq!(fatal.status.code(), Some(3));
    outputs.push(fatal);
    // Credentials from a config file; report and compact afterwards.
    let config = ws.write(
        "config.toml",
        format!("app_key = \"777\"\nsecret = \"{SECRET}\"\nsession = \"{SESSION}\"\n"),
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut cmd = send_cmd(&ws, &sim, &[&input]);
    cmd.env_remove("TOP_APP_KEY")
        .env_remove("TOP_APP_SECRET")
        .env_remove("TOP_SESSION")
        .env("RUST_LOG", "trace");
    cmd.arg("--config").arg(&config);
    let from_file = cmd.output().expect("runs");
    assert_eq!(
        from_file.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    outputs.push(from_file);
    for (command, rest) in [
        (&["report"][..], &[][..]),
        (&["ledger", "export"], &["--out", "export.csv"]),
        (&["ledger", "show"], &["r0001", "--json"]),
    ] {
        outputs.push(
            std::process::Command::new(binary())
                .current_dir(ws.dir.path())
                .args(command)
                .arg(ws.ledger())
                .args(rest)
                .output()
                .expect("runs"),
        );
    }
    std::fs::remove_file(&config).expect("the file holding the secret itself is not an output");
    let text = all_text(&outputs, &ws);
    assert!(
        text.contains("r0001") && text.contains("progress: "),
        "the outputs were collected"
    );
    assert!(!text.contains(SECRET), "the secret leaked");
    assert!(!text.contains(SESSION), "the session leaked");
}

#[test]
fn a_config_file_readable_by_others_is_warned_about() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let config = ws.write(
        "config.toml",
        "app_key = \"12345678\"\nsecret = \"helloworld\"\nsession = \"demo-session\"\nconcurrency = 2\n[retry]\nmax_attempts = 2\n",
    );
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let mut cmd = send_cmd(&ws, &sim, &[&input]);
        cmd.env_remove("TOP_APP_KEY")
            .env_remove("TOP_APP_SECRET")
            .env_remove("TOP_SESSION");
        let output = cmd.arg("--config").arg(&config).output().expect("runs");
        assert_eq!(output.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.contains("chmod 600"),
            warned,
            "mode {mode:o}: {stderr}"
        );
    }
}

#[test]
fn the_summary_json_carries_counts_errors_and_the_exit_code() {
    let sim =
        simulator(Scenario::default().on(Matcher::req_id("r0001"), Fault::reject("B9", "no")));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(5)));
    send_cmd(&ws, &sim, &[&input])
        .arg("--summary-json")
        .arg(ws.path("s.json"))
        .assert()
        .code(1);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("s.json")).expect("json"))
            .expect("valid");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["rows"], 5);
    assert_eq!(doc["calls"], 5);
    assert_eq!(doc["counts"]["delivered"], 4);
    assert_eq!(doc["counts"]["rejected"], 1);
    assert_eq!(doc["errors"][0]["error_code"], "B9");
    assert_eq!(doc["ledger_lines_appended"], 5);
    assert!(doc["halted"].is_null());
    assert!(doc["calls_per_second"].as_f64().is_some_and(|r| r > 0.0));
}

#[test]
fn under_cron_a_successful_run_prints_only_its_summary() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(5)));
    // No --progress: auto, and stderr is not a terminal here.
    let mut cmd = assert_cmd::Command::new(binary());
    cmd.arg("send")
        .arg(&input)
        .arg("--ledger")
        .arg(ws.ledger())
        .arg("--out")
        .arg(ws.out());
    cmd.env("TOP_GATEWAY", sim.url())
        .env("TOP_APP_KEY", "12345678")
        .env("TOP_APP_SECRET", "helloworld")
        .env("TOP_SESSION", "demo-session")
        .env_remove("RUST_LOG");
    let output = cmd.assert().code(0).get_output().clone();
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("5 rows in ") && lines[0].ends_with("exit 0"),
        "{stderr}"
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["delivered", "5"]
    );
    assert!(lines[2].starts_with("results: "), "{stderr}");
    assert_eq!(lines.len(), 3, "{stderr}");
}

#[test]
fn quiet_is_silent_on_success_and_verbose_logs_the_plan() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    let quiet = send_cmd(&ws, &sim, &[&input])
        .arg("-q")
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let verbose = send_cmd(&ws, &sim, &[&input])
        .arg("-v")
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&verbose.stderr).contains("plan: 0 calls to make"));
    let overridden = send_cmd(&ws, &sim, &[&input])
        .arg("-v")
        .env("RUST_LOG", "error")
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(
        !String::from_utf8_lossy(&overridden.stderr).contains("plan:"),
        "RUST_LOG wins"
    );
    // Trouble is loud even with -q.
    let bad = ws.write("bad.csv", "order_no,success,req_id\nx,true,a\n");
    let loud = send_cmd(&ws, &sim, &[&bad])
        .arg("-q")
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&loud.stderr).contains("input.bad_number"));
}

#[test]
fn log_progress_prints_a_plain_line_every_interval() {
    let sim = simulator(Scenario::default().latency_ms(40));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(12)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args([
            "--concurrency",
            "1",
            "--progress",
            "log",
            "--progress-every",
            "100ms",
        ]),
        0,
    );
    // Each line says when, in Beijing time: `2026-12-02T15:16:58.393+08:00 progress: …`.
    let progress: Vec<&str> = stderr
        .lines()
        .filter_map(|l| {
            let (time, rest) = l.split_once(' ')?;
            (time.ends_with("+08:00") && rest.starts_with("progress: ")).then_some(rest)
        })
        .collect();
    assert!(progress.len() >= 2, "{stderr}");
    assert!(
        progress[0].contains("/12 (")
            && progress[0].contains("delivered")
            && progress[0].contains("ETA"),
        "{}",
        progress[0]
    );
}

#[test]
fn report_counts_amounts_errors_and_attention_of_a_result_file() {
    let sim = simulator(
        Scenario::default().on(Matcher::req_id("r0001"), Fault::reject("B0107", "已退款")),
    );
    let ws = Workspace::new();
    let mut text = orders_of(&ids(3));
    text.push_str("oops,,true,,,bad-1,\n");
    let input = ws.write("in.csv", text);
    send_cmd(&ws, &sim, &[&input]).assert().code(1);
    let output = std::process::Command::new(binary())
        .arg("report")
        .arg(ws.out())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "two rows need attention");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("result CSV, 4 rows"), "{stdout}");
    let delivered = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("delivered"))
        .expect("delivered line");
    assert_eq!(
        delivered.split_whitespace().collect::<Vec<_>>(),
        ["delivered", "2", "200.00"],
        "amounts to the cent"
    );
    assert!(stdout.contains("B0107  已退款"), "{stdout}");
    assert!(stdout.contains("need attention (2):"), "{stdout}");
    // A business refusal (result.success = false) gets no isv advice: only its words.
    assert!(!stdout.contains("→ the platform refused"), "{stdout}");
    assert!(
        stdout.contains("r0001  rejected  B0107")
            && stdout.contains("bad-1  invalid  input.bad_number"),
        "{stdout}"
    );

    let ledger = std::process::Command::new(binary())
        .arg("report")
        .arg(ws.ledger())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&ledger.stdout);
    assert!(stdout.contains("ledger, 3 orders"), "{stdout}");

    let fix = ws.path("fix.csv");
    let failed = std::process::Command::new(binary())
        .arg("report")
        .arg(ws.out())
        .args(["--failed-only", "--out"])
        .arg(&fix)
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&failed.stdout).contains("wrote 2 rows"));
    let rows = read_csv(&fix);
    assert_eq!(
        rows.iter()
            .map(|r| r["req_id"].as_str())
            .collect::<Vec<_>>(),
        ["r0001", "bad-1"]
    );
}

#[test]
fn report_refuses_what_it_cannot_read() {
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(1)));
    let output = std::process::Command::new(binary())
        .arg("report")
        .arg(&input)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("neither a result CSV nor a ledger"));
    let sim = simulator(Scenario::default());
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    let output = std::process::Command::new(binary())
        .arg("report")
        .arg(ws.ledger())
        .args(["--failed-only", "--out"])
        .arg(ws.path("x.csv"))
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "a ledger has no order contents to write"
    );
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["send", "--help"],
        &["report", "--help"],
        &["simulate", "--help"],
        &["ledger", "import", "--help"],
        &["ledger", "export", "--help"],
        &["ledger", "show", "--help"],
        &["ledger", "close", "--help"],
    ] {
        let output = std::process::Command::new(binary())
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("opentrade-callback "), "{args:?}: {text}");
        assert!(
            text.contains("Examples:") || text.contains("Try it"),
            "{args:?}: {text}"
        );
    }
}
