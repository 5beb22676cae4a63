//! The desk against a careless operator and an attacker, round four: its files play
//! one role each (a users file others may write, a FIFO, its audit in the ledger and
//! no file beside), passwords that are not ones, what a send from the desk may differ from its
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

/// `serve` on `ledger` and `results` with demo-shaped credentials and a gateway nobody
/// answers (a desk that starts would run until killed: callers expect a refusal).
fn serve_refused(
    ledger: &std::path::Path,
    results: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> std::process::Output {
    assert_cmd::Command::new(common::binary())
        .arg("serve")
        .arg("--ledger")
        .arg(ledger)
        .arg("--results-dir")
        .arg(results)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .args(["--gateway", "http://127.0.0.1:9/router/rest"])
        .env("TOP_APP_KEY", "k")
        .env("TOP_APP_SECRET", "s")
        .env("TOP_SESSION", "t")
        .timeout(Duration::from_secs(10))
        .output()
        .expect("serve runs")
}

#[test]
fn a_csv_ledger_is_refused_at_start_with_the_import_as_the_fix() {
    let ws = Workspace::new();
    let results = ws.path("results");
    std::fs::create_dir(&results).expect("dir");
    let old = ws.write("ledger.csv", "req_id,order_no\n");
    for ledger in [old.clone(), ws.path("new.csv")] {
        let output = serve_refused(&ledger, &results, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("ledger import"), "{stderr}");
    }
    assert_eq!(std::fs::read(&old).expect("old"), b"req_id,order_no\n");
    assert!(!ws.path("new.csv").exists());
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
        let output = serve_refused(
            &ws.ledger(),
            &results,
            &["--users".as_ref(), users.as_os_str()],
        );
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

use common::desk::{self, Night, Visitor, after_last_night, finished, location, logged_in};

/// A corrected N2 (a new order number) and a new order N4: two calls, 120.50 yuan.
fn corrected() -> String {
    format!(
        "{}\n4000000000000000009,,true,0000,ok,N2,\"{{\"\"firstChargeAmount\"\":\"\"100\"\"}}\"\n4000000000000000004,,true,0000,ok,N4,\"{{\"\"firstChargeAmount\"\":\"\"20.50\"\"}}\"\n",
        common::HEADER,
    )
}

/// Uploads `text` as `name`; the submission's path (`/submissions/ID`).
async fn upload(visitor: &Visitor, name: &str, text: String) -> String {
    let csrf = visitor.csrf("/submit").await;
    let uploaded = visitor.upload(&csrf, name, text.into_bytes()).await;
    assert_eq!(uploaded.status(), 303);
    location(&uploaded)
}

fn audit_actions(ledger: &std::path::Path) -> Vec<serde_json::Value> {
    desk::audit_rows(ledger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_after_its_preview_is_never_sent() {
    let Night {
        ws,
        sim,
        results,
        calls,
        process,
    } = after_last_night(&[]);
    let visitor = logged_in(&process).await;
    let submission = upload(&visitor, "更正.csv", corrected()).await;
    let preview = visitor.text(&submission).await;
    assert!(preview.contains("<dd id=\"calls\">2</dd>"), "{preview}");
    // The stored upload is rewritten under the desk: five other orders.
    let id = submission.rsplit('/').next().expect("id");
    let stored = results.join("uploads").join(format!("{id}.csv"));
    std::fs::write(&stored, common::orders(&["X1", "X2", "X3", "X4", "X5"])).expect("rewrite");
    let confirmed = visitor.confirm(&submission).await;
    assert_eq!(confirmed.status(), 409);
    let page = confirmed.text().await.expect("page");
    assert!(page.contains("文件在预检之后被改动过"), "{page}");
    assert_eq!(sim.stats().requests, calls, "nothing sent");
    let ledger = common::ledger_state(&ws.ledger());
    assert!(!ledger.contains_key("X1") && !ledger.contains_key("N4"));
    let audit = audit_actions(&ws.ledger());
    assert!(
        audit.iter().any(|a| a["action"] == "send_refused"),
        "{audit:?}"
    );
    assert!(!audit.iter().any(|a| a["action"] == "send"), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_changed_since_the_preview_sends_nothing_and_is_checked_again() {
    let Night {
        ws, sim, process, ..
    } = after_last_night(&[]);
    let visitor = logged_in(&process).await;
    let submission = upload(&visitor, "更正.csv", corrected()).await;
    assert!(
        visitor
            .text(&submission)
            .await
            .contains("<dd id=\"calls\">2</dd>")
    );
    // Meanwhile the nightly run delivers N4 from another export.
    let other = ws.write(
        "late.csv",
        format!(
            "{}\n4000000000000000004,,true,0000,ok,N4,\"{{\"\"firstChargeAmount\"\":\"\"20.50\"\"}}\"\n",
            common::HEADER
        ),
    );
    common::send_cmd_with(&sim, &[&other], &ws.ledger(), &ws.path("late-out.csv"))
        .assert()
        .code(0);
    let calls = sim.stats().requests;
    let confirmed = visitor.confirm(&submission).await;
    assert_eq!(confirmed.status(), 409);
    let page = confirmed.text().await.expect("page");
    assert!(page.contains("要发送的内容已经变化"), "{page}");
    // Checked again: now one call, N4 skipped as delivered.
    assert!(page.contains("<dd id=\"calls\">1</dd>"), "{page}");
    assert_eq!(sim.stats().requests, calls, "nothing sent");
    // Confirming the new preview sends exactly it.
    let confirmed = visitor.confirm(&submission).await;
    assert_eq!(confirmed.status(), 303);
    let status = finished(&visitor, &location(&confirmed)).await;
    assert_eq!(status["progress"]["delivered"], 1, "{status}");
    assert_eq!(sim.stats().requests, calls + 1);
    // The audit: the first confirmation refused, the second sent exactly its plan.
    let actions: Vec<serde_json::Value> = audit_actions(&ws.ledger())
        .into_iter()
        .filter(|a| a["action"].as_str().is_some_and(|a| a.starts_with("sen")))
        .collect();
    let names: Vec<&str> = actions
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(
        names,
        ["send", "send_refused", "send", "sent"],
        "{actions:?}"
    );
    assert_eq!(actions[2]["plan_digest"], actions[3]["plan_digest"]);
    assert_ne!(actions[0]["plan_digest"], actions[2]["plan_digest"]);
    assert!(actions[3]["sha256"].as_str().is_some_and(|s| s.len() == 64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_is_its_uploaders_alone_and_pages_name_files_not_server_paths() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    let users = ws.path("desk-users");
    desk::add_user(&users, "ana", "correct horse battery");
    desk::add_user(&users, "bob", "another staple horse");
    let process = desk::start(
        &ws.ledger(),
        &results,
        &sim.url(),
        &["--users", users.to_str().expect("utf-8")],
    );
    let ana = desk::logged_in_as(&process, "ana", "correct horse battery").await;
    let bob = desk::logged_in_as(&process, "bob", "another staple horse").await;
    let submission = upload(&ana, "更正.csv", corrected()).await;
    assert_eq!(bob.get(&submission).await.status(), 404);
    let csrf = bob.csrf("/submit").await;
    let stolen = bob
        .post(&format!("{submission}/send"), &[("csrf", &csrf)])
        .await;
    assert_eq!(stolen.status(), 404);
    // Ana's own send, and its job page hers alone.
    let preview = ana.text(&submission).await;
    let server = results.display().to_string();
    assert!(!preview.contains(&server), "{preview}");
    let csrf = ana.csrf(&submission).await;
    let confirmed = ana
        .post(&format!("{submission}/send"), &[("csrf", &csrf)])
        .await;
    assert_eq!(confirmed.status(), 303);
    let job = location(&confirmed);
    finished(&ana, &job).await;
    assert_eq!(bob.get(&job).await.status(), 404);
    assert_eq!(bob.get(&format!("{job}/status")).await.status(), 404);
    // A file the engine refuses: the message names the upload, not the server's files.
    let bad = upload(&ana, "坏.csv", "order_no,success\n1,true\n".into()).await;
    let page = ana.text(&bad).await;
    assert!(page.contains("坏.csv") && page.contains("req_id"), "{page}");
    assert!(
        !page.contains(&server) && !page.contains("/uploads/"),
        "{page}"
    );
    // Downloads name each row's file, never its path.
    let runs = ana.text("/").await;
    for run in runs.split("href=\"/runs/").skip(1) {
        let id = &run[..16];
        let bytes = ana
            .get(&format!("/runs/{id}/results.xlsx"))
            .await
            .bytes()
            .await
            .expect("body");
        let path = ws.path(&format!("{id}.xlsx"));
        std::fs::write(&path, &bytes).expect("write");
        let sources = common::workbook_column(&path, "source");
        assert!(!sources.is_empty());
        for source in sources {
            assert!(!source.contains('/'), "{source}");
        }
    }
    sim.stats();
}

#[test]
fn the_desk_writes_no_file_but_its_own_and_its_audit_into_the_ledger() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    let serve = || {
        assert_cmd::Command::new(common::binary())
            .arg("serve")
            .arg("--ledger")
            .arg(ws.ledger())
            .arg("--results-dir")
            .arg(&results)
            .args(["--listen", "127.0.0.1:0", "--gateway", &sim.url()])
            .env("TOP_APP_KEY", "k")
            .env("TOP_APP_SECRET", "s")
            .env("TOP_SESSION", "t")
            .timeout(Duration::from_secs(10))
            .output()
            .expect("serve runs")
    };
    // A file named like the old audit log is nobody's business of the desk's now.
    std::fs::write(results.join("audit.log"), "{\"earlier\":1}\n").expect("old log");
    // Uploads are written only into a directory of the desk's own.
    let elsewhere = ws.path("elsewhere");
    std::fs::create_dir(&elsewhere).expect("dir");
    std::fs::remove_dir_all(results.join("uploads")).ok();
    std::os::unix::fs::symlink(&elsewhere, results.join("uploads")).expect("symlink");
    let output = serve();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("uploads/"));
    std::fs::remove_file(results.join("uploads")).expect("rm");
    assert_eq!(
        std::fs::read_to_string(results.join("audit.log")).expect("old log"),
        "{\"earlier\":1}\n"
    );
    // A ledger that is not one (another program's file) is refused, not written.
    let other = ws.write("other.db", "not a ledger at all");
    let output = assert_cmd::Command::new(common::binary())
        .arg("serve")
        .arg("--ledger")
        .arg(&other)
        .arg("--results-dir")
        .arg(&results)
        .args(["--listen", "127.0.0.1:0", "--gateway", &sim.url()])
        .env("TOP_APP_KEY", "k")
        .env("TOP_APP_SECRET", "s")
        .env("TOP_SESSION", "t")
        .timeout(Duration::from_secs(10))
        .output()
        .expect("serve runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&other).expect("other"),
        "not a ledger at all"
    );
    // The nightly run still finds its ledger whole.
    let input = ws.write("tonight.csv", common::orders(&["T1"]));
    common::send_cmd_with(&sim, &[&input], &ws.ledger(), &ws.path("tonight-out.csv"))
        .assert()
        .code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_row_that_cannot_be_written_refuses_the_action() {
    let Night {
        ws,
        sim,
        calls,
        process,
        ..
    } = after_last_night(&[]);
    let visitor = logged_in(&process).await;
    let runs = visitor.text("/").await;
    let run = desk::value_after(&runs, "href=\"/runs/").expect("a run");
    assert_eq!(
        visitor
            .get(&format!("/runs/{run}/results.xlsx"))
            .await
            .status(),
        200
    );
    assert!(desk::audit_text(&ws.ledger()).contains("\"download\""));
    // The ledger refuses the audit's rows (as a full disk would): every action refused.
    let submission = upload(&visitor, "更正.csv", corrected()).await;
    let full = "CREATE TRIGGER full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;";
    common::ledger_query(&ws.ledger(), full);
    let download = visitor.get(&format!("/runs/{run}/attention.xlsx")).await;
    assert_eq!(download.status(), 503);
    assert!(
        download
            .text()
            .await
            .expect("page")
            .contains("审计日志无法写入")
    );
    let confirmed = visitor.confirm(&submission).await;
    assert_eq!(confirmed.status(), 503);
    assert_eq!(sim.stats().requests, calls, "no audit, no send");
    let csrf = visitor.csrf("/submit").await;
    let refused = visitor
        .upload(&csrf, "again.csv", corrected().into_bytes())
        .await;
    assert_eq!(refused.status(), 503);
    let new_login = Visitor::new(&process.base).login(&process.login_url).await;
    assert_ne!(new_login.status(), 303, "no audit, no login");
    // Room again: the desk writes again, and the chain holds.
    common::ledger_query(&ws.ledger(), "DROP TRIGGER full");
    assert_eq!(
        visitor
            .get(&format!("/runs/{run}/results.xlsx"))
            .await
            .status(),
        200
    );
    let verify = assert_cmd::Command::new(common::binary())
        .args(["audit", "verify"])
        .arg(ws.ledger())
        .output()
        .expect("verify");
    assert_eq!(verify.status.code(), Some(0), "{verify:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_note_left_by_a_finished_run_does_not_stop_a_send() {
    let Night {
        ws,
        sim,
        results: _results,
        calls,
        process,
    } = after_last_night(&[]);
    // The note of a run that ended; its pid is now another process, which holds no lock.
    let other = Command::new("sleep").arg("30").spawn().expect("sleep");
    let lock = opentrade_callback::ledger::lock::lock_path(&ws.ledger());
    std::fs::write(
        &lock,
        format!("pid {} (started 2026-12-01 00:30:00 +08:00)\n", other.id()),
    )
    .expect("note");
    let visitor = logged_in(&process).await;
    let runs = visitor.text("/").await;
    assert!(!runs.contains(&format!("pid {}", other.id())), "{runs}");
    let submission = upload(&visitor, "更正.csv", corrected()).await;
    let confirmed = visitor.confirm(&submission).await;
    assert_eq!(confirmed.status(), 303, "sent, not refused as locked");
    finished(&visitor, &location(&confirmed)).await;
    assert_eq!(sim.stats().requests, calls + 2);
    let mut other = other;
    let _ = other.kill();
    let _ = other.wait();
}

/// A raw HTTP/1.1 request to the desk; the answer's status line.
fn raw(base: &str, request: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_are_refused() {
    let Night {
        ws: _ws,
        sim,
        process,
        ..
    } = after_last_night(&[]);
    sim.stats();
    let addr = process.base.trim_start_matches("http://").to_owned();
    let one = raw(
        &process.base,
        &format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    assert!(one.contains(" 200"), "{one}");
    let two = raw(
        &process.base,
        &format!(
            "GET /login HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(two.contains(" 400"), "{two}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_tls_proxy_the_public_url_is_the_origin_checked() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    sim.stats();
    let process = desk::start(
        &ws.ledger(),
        &results,
        &sim.url(),
        &["--public-url", "https://desk.example.com"],
    );
    // What the proxy forwards: the public Host, the browser's https Origin.
    let token = process
        .login_url
        .rsplit('=')
        .next()
        .expect("token")
        .to_owned();
    let client = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = client
        .get(format!("{}/login?token={token}", process.base))
        .header("host", "desk.example.com")
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    let session = cookie.split(';').next().expect("pair").to_owned();
    let page = client
        .get(format!("{}/submit", process.base))
        .header("host", "desk.example.com")
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    let csrf = desk::value_after(&page, "name=\"csrf\" value=\"").expect("csrf");
    let post = |origin: &'static str| {
        client
            .post(format!("{}/logout", process.base))
            .header("host", "desk.example.com")
            .header("origin", origin)
            .header("cookie", &session)
            .form(&[("csrf", csrf.as_str())])
            .send()
    };
    let local = post("http://desk.example.com").await.expect("post");
    assert_eq!(local.status(), 403, "not the public origin");
    let public = post("https://desk.example.com").await.expect("post");
    assert_eq!(public.status(), 303);
    // Only https, and it lets a desk listen off loopback without a certificate of its own.
    let refused = assert_cmd::Command::new(common::binary())
        .arg("serve")
        .arg("--ledger")
        .arg(ws.ledger())
        .arg("--results-dir")
        .arg(&results)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "http://desk.example.com",
        ])
        .env("TOP_APP_KEY", "k")
        .env("TOP_APP_SECRET", "s")
        .env("TOP_SESSION", "t")
        .timeout(Duration::from_secs(10))
        .output()
        .expect("serve");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https://"));
}
