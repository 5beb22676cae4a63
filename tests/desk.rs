//! The finance desk (`serve`) as finance and an attacker meet it: the real binary on
//! 127.0.0.1, the real simulator, real files. The browser's own walk through it is
//! `tests/desk_browser.rs`.

mod common;

use std::time::Duration;

use common::desk::{
    self, Night, Visitor, add_ana, after_last_night, finished, location, logged_in, value_after,
};
use common::{Scenario, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_is_corrected_and_sent_again_from_the_desk() {
    let Night {
        ws,
        sim,
        calls: night_calls,
        process,
        ..
    } = after_last_night(&[]);
    let visitor = logged_in(&process).await;
    // The link works once.
    let again = Visitor::new(&process.base).login(&process.login_url).await;
    assert_eq!(again.status(), 403);

    let runs = visitor.text("/").await;
    assert!(runs.contains("night-1201.csv"), "{runs}");
    let run = value_after(&runs, "href=\"/runs/").expect("a run link");
    let page = visitor.text(&format!("/runs/{run}")).await;
    for expected in ["N2", "B0107", "订单号不存在", "input.missing_field"] {
        assert!(page.contains(expected), "{expected} on the run page");
    }
    // The tool's own reasons in Chinese too, the English beside them.
    assert!(page.contains("外部请求流水为空：这是必填栏位"), "{page}");
    let attention = visitor.get(&format!("/runs/{run}/attention.xlsx")).await;
    assert_eq!(attention.status(), 200);
    assert!(
        attention.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains("attachment")
    );
    assert!(
        attention
            .bytes()
            .await
            .expect("body")
            .starts_with(b"PK\x03\x04")
    );
    let outstanding = visitor.text("/work").await;
    assert!(
        outstanding.contains("N2") && !outstanding.contains(">N1<"),
        "{outstanding}"
    );
    let export = visitor.get("/work.xlsx").await;
    assert_eq!(export.status(), 200);
    // Filtered: by status, by code, by part of a number; the download takes the filter.
    let failed = visitor.text("/work?status=failed").await;
    assert!(failed.contains("符合条件 0 笔，共 1 笔未完成"), "{failed}");
    let by_code = visitor.text("/work?code=B0107&q=0000000002").await;
    assert!(
        by_code.contains("符合条件 1 笔")
            && by_code.contains("/work.xlsx?code=B0107&amp;q=0000000002"),
        "{by_code}"
    );
    assert_eq!(visitor.get("/work?status=delivered").await.status(), 400);

    // The clerk corrects N2's order number, adds the missing req_id, keeps N1 as it was.
    let corrected = format!(
        "{}\n4000000000000000009,,true,0000,ok,N2,\"{{\"\"firstChargeAmount\"\":\"\"100\"\"}}\"\n4000000000000000004,,true,0000,ok,N4,\"{{\"\"firstChargeAmount\"\":\"\"20.50\"\"}}\"\n{}\n",
        common::HEADER,
        common::line(1, "N1"),
    );
    let csrf = visitor.csrf("/submit").await;
    let uploaded = visitor
        .upload(&csrf, "更正.csv", corrected.into_bytes())
        .await;
    assert_eq!(uploaded.status(), 303);
    let submission = location(&uploaded);
    let preview = visitor.text(&submission).await;
    assert!(preview.contains("<dd id=\"calls\">2</dd>"), "{preview}");
    assert!(
        preview.contains("<dd id=\"amount\">120.50</dd>"),
        "{preview}"
    );
    assert!(preview.contains("更正.csv"));
    // The corrected row says what it changes against what was sent; each row its amount.
    assert!(preview.contains("与上次发送的内容相比改动了"), "{preview}");
    assert!(
        preview.contains("订单号: <del>4000000000000000002</del> → <ins>4000000000000000009</ins>"),
        "{preview}"
    );
    assert!(
        preview.contains("<td class=\"num\">100.00</td>"),
        "{preview}"
    );
    assert_eq!(sim.stats().requests, night_calls, "a preview sends nothing");

    let confirmed = visitor
        .post(&format!("{submission}/send"), &[("csrf", &csrf)])
        .await;
    assert_eq!(confirmed.status(), 303);
    let job = location(&confirmed);
    let status = finished(&visitor, &job).await;
    assert_eq!(status["exit_code"], 0, "{status}");
    // Last night's page: what needed attention then, and what it is now.
    let then = visitor.text(&format!("/runs/{run}")).await;
    assert!(then.contains("现在: 已送达"), "{then}");
    assert_eq!(status["progress"]["delivered"], 2, "{status}");
    let ledger = common::ledger_state(&ws.ledger());
    assert_eq!(ledger.get("N2").map(String::as_str), Some("delivered"));
    assert_eq!(ledger.get("N4").map(String::as_str), Some("delivered"));
    assert_eq!(sim.stats().accepted, 4);

    // Confirming again starts nothing new.
    let twice = visitor
        .post(&format!("{submission}/send"), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&twice), job);
    let page = visitor.text(&job).await;
    assert!(
        page.contains("desk-"),
        "the new result file is linked: {page}"
    );
    let runs = visitor.text("/").await;
    assert_eq!(
        runs.matches("href=\"/runs/").count(),
        2,
        "the desk's run joins the runs"
    );
    assert!(visitor.text("/work").await.contains("没有未完成的订单"));

    let audit = desk::audit_text(&ws.ledger());
    for action in [
        "\"login\"",
        "\"download\"",
        "\"upload\"",
        "\"preview\"",
        "\"send\"",
        "\"sent\"",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    for secret in [
        opentrade_callback::simulator::DEMO_SECRET,
        opentrade_callback::simulator::DEMO_SESSION,
    ] {
        assert!(!audit.contains(secret));
        assert!(!page.contains(secret) && !preview.contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_security_rule_refuses_and_changes_nothing() {
    let Night {
        ws,
        sim,
        results,
        calls,
        process,
    } = after_last_night(&["--max-upload-mib", "64"]);
    let ledger_before = std::fs::read(ws.ledger()).expect("ledger");
    let anonymous = Visitor::new(&process.base);
    // No login.
    let home = anonymous.get("/").await;
    assert_eq!(
        (home.status().as_u16(), location(&home)),
        (303, "/login".into())
    );
    assert_eq!(anonymous.get("/work.xlsx").await.status(), 303);
    assert_eq!(
        anonymous.post("/logout", &[("csrf", "x")]).await.status(),
        401
    );
    let visitor = logged_in(&process).await;
    let csrf = visitor.csrf("/submit").await;
    let good = common::orders(&["Z1"]).into_bytes();
    // A wrong CSRF token.
    let forged = visitor
        .upload("0".repeat(64).as_str(), "a.csv", good.clone())
        .await;
    assert_eq!(forged.status(), 403);
    // A foreign Origin, or none.
    let form = [("csrf", csrf.as_str())];
    let foreign = visitor
        .post_from(
            Some("http://evil.example"),
            "/submissions/0123456789abcdef/send",
            &form,
        )
        .await;
    assert_eq!(foreign.status(), 403);
    // Refusals are the desk's error page, in words, like every other.
    let said = foreign.text().await.expect("page");
    assert!(said.contains("请求不是来自本服务台的页面"), "{said}");
    let none = visitor.post_from(None, "/logout", &form).await;
    assert_eq!(none.status(), 403);
    // A foreign Host (DNS rebinding).
    let rebound = visitor
        .client
        .get(format!("{}/", process.base))
        .header("host", "evil.example")
        .header("cookie", visitor.cookie.clone().expect("cookie"))
        .send()
        .await
        .expect("get");
    assert_eq!(rebound.status(), 421);
    let said = rebound.text().await.expect("page");
    assert!(said.contains("--allow-host"), "{said}");
    // 70 MiB.
    let huge = visitor
        .upload(&csrf, "huge.csv", vec![b'a'; 70 << 20])
        .await;
    assert_eq!(huge.status(), 413);
    // Not a table.
    let binary = visitor.upload(&csrf, "x.xlsx", vec![0u8, 1, 2, 3]).await;
    assert_eq!(binary.status(), 415);
    // Path-like and unknown ids.
    for path in [
        "/runs/..%2F..%2Fetc%2Fpasswd",
        "/runs/../../etc/passwd",
        "/runs/0123456789abcdef/results.xlsx",
        "/submissions/..%2Fledger.csv",
        "/jobs/0123456789abcdef",
    ] {
        let response = visitor.get(path).await;
        assert!(
            matches!(response.status().as_u16(), 404),
            "{path}: {}",
            response.status()
        );
    }
    // Headers on every answer.
    let page = visitor.get("/").await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    // Nothing stored, nothing sent, the ledger as it was.
    let stored: Vec<_> = std::fs::read_dir(results.join("uploads"))
        .expect("uploads")
        .collect();
    assert!(stored.is_empty(), "{stored:?}");
    assert_eq!(sim.stats().requests, calls);
    assert_eq!(std::fs::read(ws.ledger()).expect("ledger"), ledger_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_held_by_another_process_is_said_and_nothing_is_queued() {
    let Night {
        ws,
        sim,
        calls,
        process,
        ..
    } = after_last_night(&[]);
    let visitor = logged_in(&process).await;
    let csrf = visitor.csrf("/submit").await;
    let uploaded = visitor
        .upload(&csrf, "a.csv", common::orders(&["L1", "L2"]).into_bytes())
        .await;
    let submission = location(&uploaded);
    // The nightly run, as far as the lock tells: another process holding it.
    let lock = format!("{}.lock", ws.ledger().display());
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl,os,sys,time\nf=open(sys.argv[1],'r+')\nfcntl.flock(f,fcntl.LOCK_EX)\nf.seek(0);f.truncate();f.write('pid %d (started 2026-12-02 00:30:00 +08:00)\\n'%os.getpid());f.flush()\nprint('held',flush=True)\ntime.sleep(60)",
            &lock,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("held");
    let ledger_before = std::fs::read(ws.ledger()).expect("ledger");
    let refused = visitor
        .post(&format!("{submission}/send"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status(), 409);
    let page = refused.text().await.expect("page");
    assert!(page.contains("账本正被另一个任务使用"), "{page}");
    assert!(
        page.contains("2026-12-02 00:30:00"),
        "says since when: {page}"
    );
    let home = visitor.text("/").await;
    assert!(home.contains("00:30:00"), "the runs page says so too");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(sim.stats().requests, calls, "nothing sent");
    assert_eq!(std::fs::read(ws.ledger()).expect("ledger"), ledger_before);
    // Once the lock is free, the same upload can be confirmed.
    let confirmed = visitor
        .post(&format!("{submission}/send"), &[("csrf", &csrf)])
        .await;
    assert_eq!(confirmed.status(), 303);
    let status = finished(&visitor, &location(&confirmed)).await;
    // L2 has the order number the platform refuses.
    assert_eq!(status["exit_code"], 1, "{status}");
    assert_eq!(status["progress"]["delivered"], 1, "{status}");
    assert_eq!(status["progress"]["rejected"], 1, "{status}");
}

#[test]
fn an_exposed_desk_needs_tls_and_users_and_credentials_are_checked_at_start() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.path("results")).expect("dir");
    let serve = |extra: &[&str], with_credentials: bool| {
        let mut cmd = assert_cmd::Command::new(common::binary());
        cmd.arg("serve")
            .arg("--ledger")
            .arg(ws.ledger())
            .arg("--results-dir")
            .arg(ws.path("results"))
            .args(["--gateway", "http://127.0.0.1:9/router/rest"])
            .args(extra)
            .env_remove("TOP_APP_KEY")
            .env_remove("TOP_APP_SECRET")
            .env_remove("TOP_SESSION")
            .timeout(Duration::from_secs(30));
        if with_credentials {
            cmd.env("TOP_APP_KEY", "k")
                .env("TOP_APP_SECRET", "s")
                .env("TOP_SESSION", "t");
        }
        cmd
    };
    let exposed = common::exits_with(&mut serve(&["--listen", "0.0.0.0:0"], true), 2);
    assert!(
        exposed.contains("--tls-cert") && exposed.contains("--users"),
        "{exposed}"
    );
    let bare = common::exits_with(&mut serve(&["--listen", "127.0.0.1:0"], false), 2);
    assert!(bare.contains("TOP_APP_SECRET"), "{bare}");
    let missing = common::exits_with(
        &mut serve(
            &["--listen", "127.0.0.1:0", "--users", "/nonexistent/users"],
            true,
        ),
        2,
    );
    assert!(missing.contains("--users"), "{missing}");
    // Paths from the config file: one it does not name is asked for by flag and key.
    let config = ws.write(
        "config.toml",
        format!("ledger = \"{}\"\n", ws.ledger().display()),
    );
    let mut from_config = assert_cmd::Command::new(common::binary());
    from_config
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .timeout(Duration::from_secs(30));
    let no_dir = common::exits_with(&mut from_config, 2);
    assert!(
        no_dir.contains("--results-dir") && no_dir.contains("results_dir"),
        "{no_dir}"
    );
    assert!(!ws.ledger().exists() || desk::audit_text(&ws.ledger()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_with_passwords_and_failures_are_slowed() {
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default());
    sim.unused();
    std::fs::create_dir(ws.path("results")).expect("dir");
    let users = ws.path("desk-users");
    add_ana(&users);
    let text = std::fs::read_to_string(&users).expect("users");
    assert!(text.starts_with("ana:$argon2id$"), "{text}");
    assert!(!text.contains("correct horse"));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&users)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let process = desk::start(
        &ws.ledger(),
        &ws.path("results"),
        &sim.url(),
        &["--users", users.to_str().expect("utf-8")],
    );
    assert!(
        process.login_url.ends_with("/login"),
        "no token with --users"
    );
    let visitor = Visitor::new(&process.base);
    let page = visitor.text("/login").await;
    assert!(page.contains("type=\"password\""));
    let started = std::time::Instant::now();
    let wrong = visitor
        .post("/login", &[("name", "ana"), ("password", "wrong")])
        .await;
    assert_eq!(wrong.status(), 401);
    let wrong = visitor
        .post("/login", &[("name", "ana"), ("password", "wrong again")])
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the second failure waited"
    );
    let right = visitor
        .post(
            "/login",
            &[("name", "ana"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(right.status(), 303);
    assert!(
        right.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .starts_with("desk_session=")
    );
    let audit = desk::audit_text(&ws.ledger());
    assert!(
        audit.contains("\"login_failed\"") && audit.contains("\"user\":\"ana\""),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_cookie_is_secure_and_transport_strict() {
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default());
    sim.unused();
    std::fs::create_dir(ws.path("results")).expect("dir");
    let pki = common::certs::issue(ws.dir.path(), &["127.0.0.1"]);
    let users = ws.path("desk-users");
    add_ana(&users);
    let process = desk::start(
        &ws.ledger(),
        &ws.path("results"),
        &sim.url(),
        &[
            "--tls-cert",
            pki.cert.to_str().expect("utf-8"),
            "--tls-key",
            pki.key.to_str().expect("utf-8"),
            "--users",
            users.to_str().expect("utf-8"),
        ],
    );
    assert!(process.base.starts_with("https://"), "{}", process.base);
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(&pki.root).expect("root")).expect("pem");
    let mut visitor = Visitor::new(&process.base);
    visitor.client = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([root])
        .build()
        .expect("client");
    let login = visitor.get("/login").await;
    assert_eq!(login.status(), 200);
    assert!(
        login.headers()["strict-transport-security"]
            .to_str()
            .expect("ascii")
            .contains("max-age")
    );
    let right = visitor
        .post(
            "/login",
            &[("name", "ana"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(right.status(), 303);
    let cookie = right.headers()["set-cookie"].to_str().expect("ascii");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // Plain HTTP on the TLS port gets nowhere.
    let plain = common::http()
        .build()
        .expect("client")
        .get(process.base.replace("https://", "http://") + "/login")
        .send()
        .await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_order_s_story_is_found_by_req_id_or_order_number() {
    // The workspace lives as long as the desk that uses it.
    let Night {
        ws: _ws,
        sim: _sim,
        process,
        ..
    } = after_last_night(&[]);
    let visitor = logged_in(&process).await;
    // One order: straight to its page.
    let found = visitor.get("/orders?q=N2").await;
    assert_eq!(found.status(), 303);
    assert_eq!(location(&found), "/orders/N2");
    let page = visitor.text("/orders/N2").await;
    for expected in [
        "N2",
        "B0107",
        "订单号不存在",
        "night.csv : 3",
        "被拒绝",
        "sim0000",
    ] {
        assert!(
            page.contains(expected),
            "{expected} on the order's page: {page}"
        );
    }
    assert!(!page.contains("/tmp"), "no server path: {page}");
    // By order number; an unknown one says so; nothing that is no id is looked up.
    let by_number = visitor.get("/orders?q=4000000000000000001").await;
    assert_eq!(location(&by_number), "/orders/N1");
    let none = visitor.text("/orders?q=NOPE").await;
    assert!(none.contains("没有找到这笔订单"), "{none}");
    let bad = visitor.text("/orders?q=..%2F..%2Fetc").await;
    assert!(bad.contains("请输入外部请求流水或订单号"), "{bad}");
    assert_eq!(visitor.get("/orders/NOPE").await.status(), 404);
    // Signed out, nothing.
    let anonymous = Visitor::new(&process.base);
    assert_eq!(anonymous.get("/orders/N2").await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_read_filtered_downloaded_and_its_chain_verified() {
    let Night {
        ws: ws_kept,
        sim: _sim,
        process,
        ..
    } = after_last_night(&[]);
    let visitor = logged_in(&process).await;
    let runs = visitor.text("/").await;
    let run = value_after(&runs, "href=\"/runs/").expect("a run");
    assert_eq!(
        visitor
            .get(&format!("/runs/{run}/results.xlsx"))
            .await
            .status(),
        200
    );
    let page = visitor.text("/audit").await;
    assert!(
        page.contains("审计日志") && page.contains(">login<") && page.contains(">download<"),
        "{page}"
    );
    let logins = visitor.text("/audit?action=login&from=2000-01-01").await;
    assert!(
        logins.contains(">login<") && !logins.contains(">download<"),
        "{logins}"
    );
    assert_eq!(visitor.get("/audit?from=yesterday").await.status(), 400);
    let csv = visitor.get("/audit.csv?action=download").await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.expect("csv");
    assert!(
        text.starts_with("id,at,user,action,detail,hash\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "the one download before: {text}");
    // The same rows as a workbook: headings in both languages, every row, text cells.
    let book = visitor.get("/audit.xlsx?action=download").await;
    assert_eq!(book.status(), 200);
    let saved = ws_kept.write("audit.xlsx", book.bytes().await.expect("workbook"));
    let actions = common::workbook_column(&saved, "action");
    assert_eq!(
        actions,
        ["download", "download"],
        "the two downloads before"
    );
    assert_eq!(common::workbook_column(&saved, "hash")[0].len(), 64);
    // The download of the log is in the log.
    let rows = desk::audit_rows(&ws_kept.ledger());
    assert!(
        rows.iter()
            .any(|r| r["action"] == "download" && r["what"] == "audit.xlsx"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["action"] == "download" && r["what"] == "audit"),
        "{rows:?}"
    );
    let verify = |ledger: &std::path::Path| {
        assert_cmd::Command::new(common::binary())
            .args(["audit", "verify"])
            .arg(ledger)
            .output()
            .expect("verify")
    };
    let fine = verify(&ws_kept.ledger());
    assert_eq!(fine.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&fine.stdout).contains("the audit log holds"));
    // A row changed afterwards: named.
    common::ledger_query(
        &ws_kept.ledger(),
        "UPDATE audit SET user = 'mallory' WHERE id = 2",
    );
    let broken = verify(&ws_kept.ledger());
    assert_eq!(broken.status.code(), Some(1));
    let said = String::from_utf8_lossy(&broken.stdout);
    assert!(
        said.contains("broken at row 2") && said.contains("changed"),
        "{said}"
    );
}
