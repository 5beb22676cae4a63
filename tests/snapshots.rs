//! What people read, pinned: the stderr summary of a run, `report` of a result file
//! and of a ledger, the `--summary-json` document and `--help`. Times, rates and
//! temporary paths are redacted; everything else must stay as it is unless the change
//! is meant (then `cargo insta review`, or INSTA_UPDATE=always, and a look at the diff).

mod common;

use common::{Fault, Matcher, Scenario};

use common::{Workspace, binary, line, send_cmd, simulator};

/// A run with every kind of row: delivered, rejected, failed, invalid, duplicate.
fn run(ws: &Workspace) -> (String, String) {
    let sim = simulator(
        Scenario::default()
            .on(Matcher::req_id("B"), Fault::reject("B0107", "订单已退款"))
            .on(Matcher::req_id("C"), Fault::transient(99))
            .on(
                Matcher::req_id("D"),
                Fault::invalid("isv.invalid-parameter", "非法参数"),
            ),
    );
    let input = ws.write(
        "export.csv",
        format!(
            "{}\n{}\n{}\n{}\n{}\nabc,,true,,,E,\n{}\n",
            common::HEADER,
            line(1, "A"),
            line(2, "B"),
            line(3, "C"),
            line(4, "D"),
            line(1, "A"),
        ),
    );
    let summary = ws.path("summary.json");
    let output = send_cmd(ws, &sim, &[&input])
        .args(["--max-attempts", "2", "--progress", "off"])
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = std::fs::read_to_string(&summary).expect("summary");
    (stderr, json)
}

/// Redacts what changes from run to run: the temporary directory, times and rates.
fn settings(ws: &Workspace) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let dir = ws.dir.path().display().to_string();
    settings.add_filter(&regex_escape(&dir), "[dir]");
    settings.add_filter(r"in \d+\.\ds", "in [s]s");
    settings.add_filter(r"\(\d+(\.\d+)?/s\)", "([rate]/s)");
    settings.add_filter(
        r#""elapsed_seconds": [0-9.]+"#,
        r#""elapsed_seconds": "[s]""#,
    );
    settings.add_filter(
        r#""calls_per_second": [0-9.]+"#,
        r#""calls_per_second": "[rate]""#,
    );
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00", "[time]");
    settings.add_filter(r"sim[0-9a-f]{8}", "[request_id]");
    settings.add_filter(r"\d{8}T\d{6}-\d+", "[run_id]");
    settings.add_filter(r#""version": "[^"]*""#, r#""version": "[version]""#);
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn the_run_summary_on_stderr_and_in_json() {
    let ws = Workspace::new();
    let (stderr, json) = run(&ws);
    settings(&ws).bind(|| {
        insta::assert_snapshot!("stderr_summary", stderr);
        insta::assert_snapshot!("summary_json", json);
    });
}

#[test]
fn report_of_a_result_file_and_of_a_ledger() {
    let ws = Workspace::new();
    run(&ws);
    for (name, path) in [("report_results", ws.out()), ("report_ledger", ws.ledger())] {
        let output = std::process::Command::new(binary())
            .arg("report")
            .arg(&path)
            .output()
            .expect("report");
        assert_eq!(output.status.code(), Some(1), "rows need attention");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        settings(&ws).bind(|| insta::assert_snapshot!(name, stdout));
    }
}

#[test]
fn help_texts() {
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_send", &["send", "--help"][..]),
    ] {
        let output = std::process::Command::new(binary())
            .args(args)
            .env("COLUMNS", "100")
            .output()
            .expect("help");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        insta::assert_snapshot!(name, stdout);
    }
}
