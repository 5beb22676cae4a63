//! The standalone `simulate` command: its first stdout line, credentials, stopping.

mod common;

use std::process::Command;

use common::{binary, block_on, client, order, settings, signal};
use opentrade_callback::top::{Secret, Verdict};

fn start(envs: &[(&str, &str)]) -> (std::process::Child, String, Vec<String>) {
    let (child, base, lines) = common::start_simulate(&[], envs);
    let rest: Vec<String> = lines.take(2).map(|l| l.expect("utf-8")).collect();
    (child, base, rest)
}

#[test]
fn first_line_names_the_address_and_demo_credentials_work() {
    let (mut child, base, rest) = start(&[]);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(
        rest[0].contains("TOP_APP_SECRET=helloworld"),
        "demo credentials are shown: {rest:?}"
    );
    let reply =
        block_on(client(settings(&format!("{base}/router/rest"))).call(&order("cmd-1").payload()));
    assert_eq!(reply.verdict, Verdict::Delivered);
    signal(child.id(), "-TERM");
    assert!(child.wait().expect("exits").success());
}

#[test]
fn credentials_from_the_environment_are_enforced_and_never_printed() {
    let (child, base, rest) = start(&[
        ("TOP_APP_KEY", "777"),
        ("TOP_APP_SECRET", "s3cr3t-value"),
        ("TOP_SESSION", "session-value"),
    ]);
    let url = format!("{base}/router/rest");
    let demo = block_on(client(settings(&url)).call(&order("env-1").payload()));
    assert_eq!(demo.error_code, "29", "demo app key is refused: {demo:?}");
    let mut s = settings(&url);
    s.credentials.app_key = "777".into();
    s.credentials.secret = Secret::new("s3cr3t-value");
    s.credentials.session = Secret::new("session-value");
    assert_eq!(
        block_on(client(s).call(&order("env-1").payload())).verdict,
        Verdict::Delivered
    );
    signal(child.id(), "-INT");
    let output = child.wait_with_output().expect("exits");
    let all = format!(
        "{}{}{}",
        rest.join("\n"),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !all.contains("s3cr3t-value") && !all.contains("session-value"),
        "{all}"
    );
}

#[test]
fn partial_credentials_are_a_usage_error() {
    let output = Command::new(binary())
        .args(["simulate", "--listen", "127.0.0.1:0"])
        .env_remove("TOP_APP_SECRET")
        .env_remove("TOP_SESSION")
        .env("TOP_APP_KEY", "1")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("TOP_APP_SECRET"));
}
