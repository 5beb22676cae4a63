//! The desk against a careless operator and an attacker, round four: its files play
//! one role each (a users file others may write, a FIFO, an audit log that is the
//! ledger), passwords that are not ones, what a send from the desk may differ from its
//! preview, and the desk under load. The real binary, simulator and files.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Workspace;

/// `users add NAME --users FILE` with `stdin`; its exit code and stderr, within 10 s.
fn users_add(users: &std::path::Path, stdin: &[u8]) -> (Option<i32>, String) {
    let output = assert_cmd::Command::new(common::binary())
        .args(["users", "add", "ana", "--users"])
        .arg(users)
        .write_stdin(stdin.to_vec())
        .timeout(Duration::from_secs(10))
        .output()
        .expect("users add runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn passwords_that_are_not_ones_are_refused_not_cut_or_taken() {
    let ws = Workspace::new();
    let users = ws.path("users");
    for (password, why) in [
        ("          \n".to_owned(), "only spaces"),
        (format!("{}\n", "p".repeat(5000)), "5000 characters"),
        ("short\n".to_owned(), "at least 10"),
    ] {
        let (code, stderr) = users_add(&users, password.as_bytes());
        assert_eq!(code, Some(2), "{why}: {stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(!users.exists(), "nothing written for {why}");
    }
    let (code, stderr) = users_add(&users, b"correct horse battery\n");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_users_file_others_may_write_or_a_fifo_is_refused_at_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let ws = Workspace::new();
    let users = ws.path("users");
    assert_eq!(users_add(&users, b"correct horse battery\n").0, Some(0));
    let results = ws.path("results");
    std::fs::create_dir(&results).expect("dir");
    let serve = |users: &std::path::Path| {
        let started = Instant::now();
        let output = assert_cmd::Command::new(common::binary())
            .arg("serve")
            .arg("--ledger")
            .arg(ws.ledger())
            .arg("--results-dir")
            .arg(&results)
            .args(["--listen", "127.0.0.1:0", "--users"])
            .arg(users)
            .args(["--gateway", "http://127.0.0.1:9/router/rest"])
            .env("TOP_APP_KEY", "k")
            .env("TOP_APP_SECRET", "s")
            .env("TOP_SESSION", "t")
            .timeout(Duration::from_secs(10))
            .output()
            .expect("serve runs");
        assert!(started.elapsed() < Duration::from_secs(5));
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let (code, stderr) = serve(&users);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("mode 666") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    // `users add` refuses it too, rather than add a user to a file anyone may change.
    let (code, stderr) = users_add(&users, b"another good password\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    // A FIFO: refused, never waited on.
    let fifo = ws.path("users.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .stdout(Stdio::null())
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let (code, stderr) = serve(&fifo);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("FIFO"), "{stderr}");
    let (code, stderr) = users_add(&fifo, b"correct horse battery\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("FIFO"), "{stderr}");
}
