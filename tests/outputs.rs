//! Nothing lost on the way out: no output ever replaces a ledger or anything that is not
//! a regular file (streams are written in place), a flag given twice is a usage error,
//! a closed stream is never a panic and never stops the results or the summary, SIGHUP
//! drains like SIGTERM, and the secret and session never leave in any encoding.

mod common;

use common::{Fault, Matcher};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{Workspace, binary, columns, exits_with, ids, orders_of, send_cmd, simulator};
use opentrade_callback::simulator::{Scenario, SimulatorConfig};

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// No temporary file left in the workspace.
fn assert_no_temporaries(ws: &Workspace) {
    let left: Vec<_> = std::fs::read_dir(ws.dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A ledger written by a real run of its own, beside the workspace's.
fn other_ledger(ws: &Workspace) -> PathBuf {
    let sim = simulator(Scenario::default());
    let input = ws.write(
        "other-in.csv",
        orders_of(&["o1".to_owned(), "o2".to_owned()]),
    );
    let ledger = ws.path("other-ledger.db");
    common::send_cmd_with(&sim, &[&input], &ledger, &ws.path("other-out.csv"))
        .assert()
        .code(0);
    ledger
}

#[test]
fn no_output_of_any_command_replaces_a_ledger() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r0001"),
        Fault::reject("BIZ_REJECTED", "订单状态不允许回调"),
    ));
    let ws = Workspace::new();
    let ledger = other_ledger(&ws);
    let before = bytes(&ledger);
    let input = ws.write("in.csv", orders_of(&ids(3)));
    send_cmd(&ws, &sim, &[&input]).assert().code(1);
    let requests = sim.stats().requests;
    // report --failed-only --out naming a ledger.
    let report = std::process::Command::new(binary())
        .arg("report")
        .arg(ws.out())
        .args(["--failed-only", "--out"])
        .arg(&ledger)
        .output()
        .expect("report runs");
    assert_eq!(report.status.code(), Some(2), "{report:?}");
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(stderr.contains("it is a ledger"), "{stderr}");
    // send --out / --summary-json naming another run's ledger, live and dry.
    for dry in [false, true] {
        let mut out = common::send_cmd_with(&sim, &[&input], &ws.ledger(), &ledger);
        if dry {
            out.arg("--dry-run");
        }
        let stderr = exits_with(&mut out, 2);
        assert!(
            stderr.contains("--out") && stderr.contains("it is a ledger"),
            "{stderr}"
        );
        let mut summary = send_cmd(&ws, &sim, &[&input]);
        summary.arg("--summary-json").arg(&ledger);
        if dry {
            summary.arg("--dry-run");
        }
        let stderr = exits_with(&mut summary, 2);
        assert!(
            stderr.contains("--summary-json") && stderr.contains("it is a ledger"),
            "{stderr}"
        );
    }
    assert_eq!(bytes(&ledger), before, "the other ledger is untouched");
    assert_eq!(sim.stats().requests, requests, "nothing sent");
}

#[test]
fn a_flag_that_takes_one_value_given_twice_is_a_usage_error() {
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(1)));
    let stderr = exits_with(
        assert_cmd::Command::new(binary())
            .arg("send")
            .arg(&input)
            .arg("--ledger")
            .arg(ws.path("a.csv"))
            .arg("--ledger")
            .arg(ws.path("b.csv"))
            .arg("--out")
            .arg(ws.out())
            .arg("--dry-run"),
        2,
    );
    assert!(stderr.contains("cannot be used multiple times"), "{stderr}");
    assert!(!ws.path("a.csv").exists() && !ws.path("b.csv").exists());
}

#[test]
fn a_pipe_or_a_symlink_to_a_stream_is_written_in_place_never_replaced() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    // A named pipe with a reader at the other end.
    let fifo = ws.path("results.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for dry in [true, false] {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the pipe"))
        };
        let mut cmd = common::send_cmd_with(&sim, &[&input], &ws.ledger(), &fifo);
        if dry {
            cmd.arg("--dry-run");
        }
        cmd.assert().code(0);
        let text = reader.join().expect("reader");
        assert!(text.starts_with("req_id,order_no"), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
        let kind = std::fs::symlink_metadata(&fifo).expect("meta").file_type();
        assert!(
            std::os::unix::fs::FileTypeExt::is_fifo(&kind),
            "still a pipe"
        );
    }
    // A symlink to this process's stdout: the results arrive there, the link stays.
    let link = ws.path("stdout-link.csv");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).expect("symlink");
    let output = common::send_cmd_with(
        &sim,
        &[&ws.write("more.csv", orders_of(&ids(2)))],
        &ws.ledger(),
        &link,
    )
    .arg("--dry-run")
    .output()
    .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("req_id,order_no"));
    assert!(std::fs::symlink_metadata(&link).expect("meta").is_symlink());
    // Nothing left beside them.
    assert_no_temporaries(&ws);
}

#[test]
fn a_symlink_to_a_regular_file_keeps_the_link() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    std::fs::create_dir(ws.path("real")).expect("mkdir");
    let real = ws.write("real/results.csv", "old");
    let link = ws.path("results-link.csv");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    common::send_cmd_with(&sim, &[&input], &ws.ledger(), &link)
        .assert()
        .code(0);
    assert!(std::fs::symlink_metadata(&link).expect("meta").is_symlink());
    assert_eq!(columns(&real, ["status"]).len(), 2);
}

#[test]
fn a_closed_stderr_is_no_panic_and_the_outputs_are_written() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r0001"),
        Fault::reject("BIZ_REJECTED", "订单状态不允许回调"),
    ));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(4)));
    let summary = ws.path("summary.json");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut cmd = common::send_process(&ws, &sim.url(), &[&input]);
    cmd.arg("--summary-json")
        .arg(&summary)
        .args(["-v", "--progress", "log", "--progress-every", "1ms"])
        .stderr(Stdio::from(writer))
        .stdout(Stdio::null());
    let status = cmd.status().expect("runs");
    assert_eq!(status.code(), Some(1), "finished, one row needs attention");
    assert_eq!(columns(&ws.out(), ["status"]).len(), 4);
    assert!(bytes(&summary).starts_with(b"{"));
    assert_eq!(common::ledger_state(&ws.ledger()).len(), 4);
}

#[test]
fn a_closed_stdout_ends_generated_text_quietly() {
    for args in [&["completions", "bash"][..], &["man"][..], &["--help"][..]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let output = std::process::Command::new(binary())
            .args(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(output.status.code(), Some(101), "{args:?}: {stderr}");
    }
}

#[test]
fn sighup_drains_like_sigterm_and_writes_everything() {
    let sim = simulator(Scenario::default().latency_ms(40));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(400)));
    let summary = ws.path("summary.json");
    let mut cmd = common::send_process(&ws, &sim.url(), &[&input]);
    cmd.arg("--summary-json")
        .arg(&summary)
        .args(["--concurrency", "2"]);
    let mut child = cmd.spawn().expect("starts");
    assert!(common::wait_until(Duration::from_secs(20), || {
        common::outcome_count(&ws.ledger()) > 5
    }));
    common::signal(child.id(), "-HUP");
    let status = child.wait().expect("ends");
    assert_eq!(status.code(), Some(129));
    let statuses = columns(&ws.out(), ["status"]);
    assert_eq!(statuses.len(), 400, "one result row per input row");
    assert!(statuses.iter().any(|[s]| s == "not_attempted"));
    let json: serde_json::Value = serde_json::from_slice(&bytes(&summary)).expect("summary");
    assert_eq!(json["exit_code"], 129);
    assert_no_temporaries(&ws);
}

/// A session with a space, `+`, `=`, `é` and `%`, as a real one may hold.
const SESSION: &str = "6100e+b a=c%41é-session";
const SECRET: &str = "s3cret é+/value";

/// Every way an echoing gateway may carry `value`.
fn encodings(value: &str) -> Vec<String> {
    let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let json = serde_json::to_string(value).expect("json");
    let json = &json[1..json.len() - 1];
    let ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    let decoded: String = form_urlencoded::parse(format!("x={value}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .collect();
    vec![
        value.to_owned(),
        form.clone(),
        form.replace('+', "%20"),
        form.to_lowercase(),
        ascii,
        decoded,
    ]
}

#[test]
fn the_secret_and_session_never_leave_in_any_encoding() {
    let scenario = Scenario::default().on(Matcher::prefix("r000"), Fault::EchoRequest);
    let config = SimulatorConfig {
        secret: SECRET.into(),
        session: SESSION.into(),
        ..SimulatorConfig::demo().with_scenario(scenario)
    };
    let sim = opentrade_callback::simulator::spawn_background(config).expect("simulator");
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(12)));
    let summary = ws.path("summary.json");
    let failed = ws.path("failed.csv");
    let mut cmd = send_cmd(&ws, &sim, &[&input]);
    cmd.env("TOP_APP_SECRET", SECRET)
        .env("TOP_SESSION", SESSION)
        .env("RUST_LOG", "trace")
        .arg("--summary-json")
        .arg(&summary);
    let send = cmd.output().expect("runs");
    assert_eq!(send.status.code(), Some(1), "{send:?}");
    let rows = columns(&ws.out(), ["status", "sub_msg"]);
    assert!(
        rows.iter()
            .any(|[s, m]| s == "rejected" && m.contains("request: ")),
        "the gateway did echo: {rows:?}"
    );
    let report = std::process::Command::new(binary())
        .arg("report")
        .arg(ws.out())
        .args(["--failed-only", "--out"])
        .arg(&failed)
        .output()
        .expect("report");
    let mut text = String::new();
    for output in [&send, &report] {
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        text.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    for file in [ws.out(), summary, failed, ws.ledger()] {
        text.push_str(&String::from_utf8_lossy(&bytes(&file)));
    }
    for (name, value) in [("session", SESSION), ("secret", SECRET)] {
        for form in encodings(value) {
            assert!(!text.contains(&form), "the {name} leaked as '{form}'");
        }
    }
}

/// A container whose root filesystem is read-only (Kubernetes' `readOnlyRootFilesystem`)
/// has no writable `/tmp`: every output — the result workbook, the summary, the
/// metrics, a ledger export, an input read from stdin — is written without it.
#[test]
fn no_output_needs_a_writable_tmpdir() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    // A TMPDIR that cannot be written (root ignores modes, so: not a directory).
    let tmpdir = ws.write("not-a-dir", "");
    let input = ws.write("in.csv", orders_of(&ids(40)));
    let out = ws.path("results.xlsx");
    let mut cmd = common::send_cmd_with(&sim, &[&input], &ws.ledger(), &out);
    cmd.env("TMPDIR", &tmpdir)
        .args([
            "--summary-json",
            &ws.path("summary.json").display().to_string(),
        ])
        .args([
            "--metrics-file",
            &ws.path("metrics.prom").display().to_string(),
        ])
        .assert()
        .code(0);
    let mut table = opentrade_callback::results::table::TableReader::open(&out).expect("workbook");
    let mut rows = 0;
    while table.next_row().expect("row").is_some() {
        rows += 1;
    }
    assert_eq!(rows, 40);
    assert!(ws.path("summary.json").exists() && ws.path("metrics.prom").exists());

    // An input on stdin is kept for its second pass without TMPDIR too.
    let stdin_out = ws.path("stdin-results.xlsx");
    common::send_cmd_with(&sim, &[Path::new("-")], &ws.ledger(), &stdin_out)
        .env("TMPDIR", &tmpdir)
        .write_stdin(std::fs::read(&input).expect("input"))
        .assert()
        .code(0);
    assert!(stdin_out.exists());

    // The ledger as a workbook.
    let export = ws.path("ledger.xlsx");
    assert_cmd::Command::new(binary())
        .env("TMPDIR", &tmpdir)
        .args(["ledger", "export"])
        .arg(ws.ledger())
        .arg("--out")
        .arg(&export)
        .assert()
        .code(0);
    assert!(export.exists());
    assert_no_temporaries(&ws);
}

/// `--out results/{date}-{run}.csv`: named by the run's Beijing date (whatever the
/// host's time zone) and its run id, so a rerun the same night writes its own file and
/// the night's first keeps its rows.
#[test]
fn out_names_the_file_by_the_beijing_date_and_the_run() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    let template = ws.path("{date}-{run}.csv");
    let beijing = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+8"))
            .format("%Y-%m-%d")
            .to_string()
    };
    let mut names = Vec::new();
    for _ in 0..2 {
        let before = beijing(chrono::Utc::now());
        let summary = ws.path("summary.json");
        common::send_cmd_with(&sim, &[&input], &ws.ledger(), &template)
            .env("TZ", "America/Los_Angeles")
            .arg("--summary-json")
            .arg(&summary)
            .assert()
            .code(0);
        let after = beijing(chrono::Utc::now());
        let doc: serde_json::Value = serde_json::from_slice(&bytes(&summary)).expect("the summary");
        let run = doc["run_id"].as_str().expect("run id").to_owned();
        let name = [before, after]
            .iter()
            .map(|date| format!("{date}-{run}.csv"))
            .find(|name| ws.path(name).exists())
            .unwrap_or_else(|| panic!("no results named by the date and {run}"));
        assert_eq!(doc["results"], ws.path(&name).display().to_string());
        names.push(name);
    }
    assert_ne!(names[0], names[1], "each run its own file");
    // An unknown placeholder is a usage error naming it; nothing is sent.
    let calls = sim.stats().requests;
    let stderr = exits_with(
        &mut common::send_cmd_with(&sim, &[&input], &ws.ledger(), &ws.path("{day}.csv")),
        2,
    );
    assert!(stderr.contains("{day} is not a placeholder"), "{stderr}");
    assert_eq!(sim.stats().requests, calls);
}
