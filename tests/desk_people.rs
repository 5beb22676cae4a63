//! The desk's people in the ledger: users with roles (`users add … --ledger`, the admin
//! page), password logins on loopback too, roles enforced by the server, sessions that
//! outlive a desk restart and another tab's logout, a disabled user's sessions ended,
//! every change audited. The real binary, simulator and ledger.

mod common;

use common::desk::{self, Visitor, start};
use common::{Scenario, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_each_user_may_do_and_sessions_outlive_a_restart() {
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default());
    let results = desk::last_night(&ws, &sim);
    desk::add_to_ledger(&ws, "ana", "admin", "correct horse battery");
    desk::add_to_ledger(&ws, "vic", "viewer", "viewer's long password");
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    // Users in the ledger: no one-time link, even on loopback.
    assert!(
        !process.login_url.contains("token="),
        "{}",
        process.login_url
    );

    let vic = desk::logged_in_as(&process, "vic", "viewer's long password").await;
    let runs = vic.text("/").await;
    assert!(
        runs.contains("vic · 查看者") && !runs.contains("href=\"/submit\""),
        "{runs}"
    );
    for path in ["/submit", "/users"] {
        let refused = vic.get(path).await;
        assert_eq!(refused.status(), 403, "{path}");
        assert!(
            refused
                .text()
                .await
                .expect("page")
                .contains("你的角色不能做这件事")
        );
    }

    let ana = desk::logged_in_as(&process, "ana", "correct horse battery").await;
    let users = ana.text("/users").await;
    assert!(
        users.contains(">vic<") && users.contains("查看者"),
        "{users}"
    );
    let added = add_on_page(&ana, "bo", "clerk", "bo's long password").await;
    assert_eq!(added.status(), 303);
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    assert_eq!(bo.get("/submit").await.status(), 200, "a clerk may submit");
    assert_eq!(bo.get("/users").await.status(), 403, "not manage users");

    // A second session of ana's; logging out of it leaves the first.
    let mut again = desk::logged_in_as(&process, "ana", "correct horse battery").await;
    let csrf_again = again.csrf("/").await;
    let out = again.post("/logout", &[("csrf", &csrf_again)]).await;
    assert_eq!(out.status(), 303);
    again.cookie = None;
    assert_eq!(ana.get("/").await.status(), 200, "another tab's logout");

    // The desk restarts: the sessions go on.
    drop(process);
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    let moved = |v: &Visitor| {
        let mut visitor = Visitor::new(&process.base);
        visitor.cookie = v.cookie.clone();
        visitor
    };
    let (ana, bo) = (moved(&ana), moved(&bo));
    assert_eq!(
        ana.get("/").await.status(),
        200,
        "ana's session outlived the restart"
    );
    assert_eq!(bo.get("/submit").await.status(), 200);

    // Disabled: bo's sessions end at once, and bo cannot log in again.
    let csrf = ana.csrf("/users").await;
    let disabled = ana.post("/users/bo/disable", &[("csrf", &csrf)]).await;
    assert_eq!(disabled.status(), 303);
    assert_eq!(bo.get("/").await.status(), 303, "to the login page");
    let mut retry = Visitor::new(&process.base);
    assert_eq!(
        retry
            .password_login("bo", "bo's long password")
            .await
            .status(),
        401
    );
    // Nobody disables themself.
    let csrf = ana.csrf("/users").await;
    assert_eq!(
        ana.post("/users/ana/disable", &[("csrf", &csrf)])
            .await
            .status(),
        400
    );

    // Every change is in the audit log, its chain whole.
    let changes: Vec<serde_json::Value> = desk::audit_rows(&ws.ledger())
        .into_iter()
        .filter(|r| r["action"] == "user_change")
        .collect();
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(
        (&changes[2]["user"], &changes[2]["account"]),
        (&"ana".into(), &"bo".into())
    );
    assert_eq!(changes[3]["change"], "disable");
    let verify = assert_cmd::Command::new(common::binary())
        .args(["audit", "verify"])
        .arg(ws.ledger())
        .output()
        .expect("verify");
    assert_eq!(verify.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_time_link_makes_the_first_admin_then_passwords_take_over() {
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default());
    let results = desk::last_night(&ws, &sim);
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    assert!(process.login_url.contains("token="));
    let link = desk::logged_in(&process).await;
    let users = link.text("/users").await;
    assert!(users.contains("还没有用户"), "{users}");
    let made = add_on_page(&link, "root-admin", "admin", "the first admin's password").await;
    assert_eq!(made.status(), 303);
    // At once, and after a restart without any link.
    desk::logged_in_as(&process, "root-admin", "the first admin's password").await;
    drop(process);
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    assert!(!process.login_url.contains("token="));
    desk::logged_in_as(&process, "root-admin", "the first admin's password").await;
    let login = Visitor::new(&process.base).text("/login").await;
    assert!(login.contains("name=\"password\""), "{login}");
}

/// A user added on the Users page by `admin`.
async fn add_on_page(admin: &Visitor, name: &str, role: &str, password: &str) -> reqwest::Response {
    let csrf = admin.csrf("/users").await;
    admin
        .post(
            "/users",
            &[
                ("csrf", &csrf),
                ("name", name),
                ("role", role),
                ("password", password),
            ],
        )
        .await
}

fn corrected() -> String {
    format!(
        "{}\n4000000000000000009,,true,0000,ok,N2,\"{{\"\"firstChargeAmount\"\":\"\"100\"\"}}\"\n",
        common::HEADER,
    )
}

/// Uploads a correction as `visitor`: the submission's path.
async fn upload(visitor: &Visitor, name: &str) -> String {
    let csrf = visitor.csrf("/submit").await;
    let uploaded = visitor.upload(&csrf, name, corrected().into_bytes()).await;
    assert_eq!(uploaded.status(), 303);
    desk::location(&uploaded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_is_a_request_someone_else_approves() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    let night_calls = sim.stats().requests;
    desk::add_to_ledger(&ws, "ana", "admin", "correct horse battery");
    desk::add_to_ledger(&ws, "bo", "clerk", "bo's long password");
    desk::add_to_ledger(&ws, "cy", "approver", "cy's long password");
    let robot = common::hooks::HookServer::ok();
    let robot_url = format!("{}/robot/send?access_token=tok", robot.url);
    let process = start(
        &ws.ledger(),
        &results,
        &sim.url(),
        &["--notify-url", &robot_url, "--notify-format", "dingtalk"],
    );
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    let cy = desk::logged_in_as(&process, "cy", "cy's long password").await;
    let ana = desk::logged_in_as(&process, "ana", "correct horse battery").await;

    // The clerk's preview asks for a request; a direct confirmation is refused.
    let submission = upload(&bo, "更正.csv").await;
    let preview = bo.text(&submission).await;
    assert!(
        preview.contains("id=\"request\"") && !preview.contains("id=\"confirm\""),
        "{preview}"
    );
    let direct = bo.confirm(&submission).await;
    assert_eq!(direct.status(), 409);
    assert_eq!(sim.stats().requests, night_calls, "nothing sent");
    let made = bo.act(&submission, "request").await;
    assert_eq!(made.status(), 303);
    let request = desk::location(&made);
    assert!(request.starts_with("/requests/"), "{request}");
    // The request is announced to the robot.
    assert!(
        common::wait_until(std::time::Duration::from_secs(10), || !robot
            .seen()
            .is_empty()),
        "announced"
    );
    let body: serde_json::Value = serde_json::from_str(&robot.seen()[0].body).expect("json");
    let text = body["text"]["content"].as_str().expect("text");
    assert!(
        text.contains("待审批") && text.contains("更正.csv") && text.contains("bo"),
        "{text}"
    );
    let page = bo.text(&request).await;
    assert!(
        page.contains("待审批") && !page.contains("id=\"approve\""),
        "{page}"
    );
    // Nobody approves their own.
    let own = bo.act(&request, "approve").await;
    assert_eq!(own.status(), 403);
    // The approver sees the request (the rows, the amount) and approves: it is sent.
    let page = cy.text(&request).await;
    assert!(
        page.contains("id=\"approve\"") && page.contains("<dd id=\"amount\">100.00</dd>"),
        "{page}"
    );
    assert!(cy.text("/requests").await.contains("更正.csv"));
    let approved = cy.act(&request, "approve").await;
    assert_eq!(approved.status(), 303);
    let job = desk::location(&approved);
    let status = desk::finished(&cy, &job).await;
    assert_eq!(status["progress"]["delivered"], 1, "{status}");
    assert_eq!(sim.stats().requests, night_calls + 1);
    let page = bo.text(&request).await;
    assert!(page.contains("已完成") && page.contains("cy"), "{page}");
    // Approved once: a second approval is refused.
    let csrf = ana.csrf("/requests").await;
    assert_eq!(
        ana.post(&format!("{request}/approve"), &[("csrf", &csrf)])
            .await
            .status(),
        409
    );

    // Rejected, with a reason (none: refused); cancelled by its maker.
    let second = upload(&bo, "again.csv").await;
    let second = desk::location(&bo.act(&second, "request").await);
    let csrf = ana.csrf(&second).await;
    assert_eq!(
        ana.post(
            &format!("{second}/reject"),
            &[("csrf", &csrf), ("reason", " ")]
        )
        .await
        .status(),
        400
    );
    let rejected = ana
        .post(
            &format!("{second}/reject"),
            &[("csrf", &csrf), ("reason", "amount looks wrong")],
        )
        .await;
    assert_eq!(rejected.status(), 303);
    let page = bo.text(&second).await;
    assert!(
        page.contains("已驳回") && page.contains("amount looks wrong"),
        "{page}"
    );
    let third = upload(&bo, "third.csv").await;
    let third = desk::location(&bo.act(&third, "request").await);
    assert_eq!(bo.act(&third, "cancel").await.status(), 303);
    assert!(bo.text(&third).await.contains("已撤回"));
    assert_eq!(
        sim.stats().requests,
        night_calls + 1,
        "only the approved one was sent"
    );
    // The order's story names the request that sent it: who asked, who approved.
    let story = bo.text("/orders/N2").await;
    let requests = &story[story
        .find("<table class=\"requests\">")
        .expect("its requests")..];
    assert!(
        requests.contains(&format!("href=\"{request}\""))
            && requests.contains("已完成")
            && requests.contains(">bo<")
            && requests.contains(">cy<"),
        "{requests}"
    );

    let actions: Vec<String> = desk::audit_rows(&ws.ledger())
        .iter()
        .filter_map(|r| r["action"].as_str().map(str::to_owned))
        .filter(|a| {
            ["request", "approve", "reject", "cancel", "send", "sent"].contains(&a.as_str())
        })
        .collect();
    assert_eq!(
        actions,
        [
            "request", "approve", "send", "sent", "request", "reject", "request", "cancel"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_person_shop_sends_at_once_with_approvals_none() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    desk::add_to_ledger(&ws, "bo", "clerk", "bo's long password");
    let process = start(&ws.ledger(), &results, &sim.url(), &["--approvals", "none"]);
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    let submission = upload(&bo, "更正.csv").await;
    let confirmed = bo.confirm(&submission).await;
    assert_eq!(confirmed.status(), 303);
    let status = desk::finished(&bo, &desk::location(&confirmed)).await;
    assert_eq!(status["progress"]["delivered"], 1, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_closed_with_a_reason_as_a_request_someone_else_approves() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    desk::add_to_ledger(&ws, "bo", "clerk", "bo's long password");
    desk::add_to_ledger(&ws, "cy", "approver", "cy's long password");
    desk::add_to_ledger(&ws, "vic", "viewer", "viewer's long password");
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    let cy = desk::logged_in_as(&process, "cy", "cy's long password").await;
    let vic = desk::logged_in_as(&process, "vic", "viewer's long password").await;
    let story = bo.text("/orders/N2").await;
    assert!(story.contains("id=\"close\""), "{story}");
    let csrf = bo.csrf("/orders/N2").await;
    let no_reason = bo
        .post(
            "/close",
            &[("csrf", &csrf), ("orders", "N2"), ("reason", "")],
        )
        .await;
    assert_eq!(no_reason.status(), 400);
    let csrf_vic = vic.csrf("/orders/N2").await;
    let viewer = vic
        .post(
            "/close",
            &[("csrf", &csrf_vic), ("orders", "N2"), ("reason", "x")],
        )
        .await;
    assert_eq!(viewer.status(), 403);
    let made = bo
        .post(
            "/close",
            &[
                ("csrf", &csrf),
                ("orders", "N2"),
                ("reason", "refunded by phone"),
            ],
        )
        .await;
    assert_eq!(made.status(), 303);
    let request = desk::location(&made);
    let state = || {
        common::ledger_query(&ws.ledger(), "SELECT state FROM orders WHERE req_id = 'N2'")[0][0]
            .clone()
    };
    assert_eq!(state(), "rejected", "not before the approval");
    let approved = cy.act(&request, "approve").await;
    assert_eq!(approved.status(), 303);
    assert_eq!(state(), "closed");
    let page = bo.text(&request).await;
    assert!(
        page.contains("已完成") && page.contains("refunded by phone"),
        "{page}"
    );
    let closed_by = common::ledger_query(
        &ws.ledger(),
        "SELECT closed_by, closed_reason FROM orders WHERE req_id = 'N2'",
    );
    assert_eq!(closed_by[0], ["desk:cy (asked by bo)", "refunded by phone"]);
    let story = bo.text("/orders/N2").await;
    let requests = &story[story
        .find("<table class=\"requests\">")
        .expect("its requests")..];
    assert!(
        requests.contains(&format!("href=\"{request}\"")) && requests.contains("refunded by phone"),
        "{requests}"
    );
    // `ledger show` tells the same: who asked, who decided.
    let shown = assert_cmd::Command::new(common::binary())
        .args(["ledger", "show", "--json"])
        .arg(ws.ledger())
        .arg("N2")
        .output()
        .expect("ledger show");
    let docs: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    let asked = &docs[0]["requests"][0];
    assert_eq!(
        (&asked["kind"], &asked["made_by"], &asked["decided_by"]),
        (
            &serde_json::json!("close"),
            &serde_json::json!("bo"),
            &serde_json::json!("cy")
        ),
        "{docs}"
    );
    assert!(
        asked["note"]
            .as_str()
            .is_some_and(|note| note.starts_with("refunded by phone")),
        "{docs}"
    );
    let text = assert_cmd::Command::new(common::binary())
        .args(["ledger", "show"])
        .arg(ws.ledger())
        .arg("N2")
        .output()
        .expect("ledger show");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("(close, finished): by bo") && text.contains("decided by cy"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_person_desk_closes_the_matching_orders_at_once() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    desk::add_to_ledger(&ws, "bo", "clerk", "bo's long password");
    let process = start(&ws.ledger(), &results, &sim.url(), &["--approvals", "none"]);
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    let worklist = bo.text("/work?code=B0107").await;
    assert!(worklist.contains("id=\"close-all\""), "{worklist}");
    // The form names the filter, not a list the page carried: the server finds the
    // matching orders again.
    let filter = desk::value_after(&worklist, "name=\"filter\" value=\"").expect("the filter");
    assert_eq!(filter, "code=B0107");
    let csrf = bo.csrf("/work").await;
    let closed = bo
        .post(
            "/close",
            &[
                ("csrf", &csrf),
                ("filter", &filter),
                ("reason", "too late (21011)"),
            ],
        )
        .await;
    assert_eq!(closed.status(), 200);
    assert!(closed.text().await.expect("page").contains("已关闭: 1"));
    assert!(bo.text("/work").await.contains("符合条件 0 笔"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_made_before_a_desk_restart_is_approved_after_it() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    let night_calls = sim.stats().requests;
    desk::add_to_ledger(&ws, "bo", "clerk", "bo's long password");
    desk::add_to_ledger(&ws, "cy", "approver", "cy's long password");
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    let submission = upload(&bo, "更正.csv").await;
    let made = bo.act(&submission, "request").await;
    assert_eq!(made.status(), 303);
    let request = desk::location(&made);

    // The desk restarts (killed): the request is in the ledger, its upload on disk.
    drop(process);
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    let cy = desk::logged_in_as(&process, "cy", "cy's long password").await;
    let page = cy.text(&request).await;
    assert!(
        page.contains("id=\"approve\"") && !page.contains("上传已不在工作台上"),
        "the upload is checked again, the request can be approved: {page}"
    );
    let approved = cy.act(&request, "approve").await;
    assert_eq!(approved.status(), 303);
    let status = desk::finished(&cy, &desk::location(&approved)).await;
    assert_eq!(status["progress"]["delivered"], 1, "{status}");
    assert_eq!(sim.stats().requests, night_calls + 1);
    let restored = desk::audit_rows(&ws.ledger())
        .into_iter()
        .any(|row| row["action"] == "preview" && row["restored"] == true);
    assert!(restored, "the check made again is audited");

    // An upload older than --upload-ttl is gone after a restart: said, nothing sent,
    // its file put away.
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    let submission = upload(&bo, "再次.csv").await;
    let request = desk::location(&bo.act(&submission, "request").await);
    let id = submission.trim_start_matches("/submissions/").to_owned();
    let kept = || {
        std::fs::read_dir(results.join("uploads"))
            .expect("uploads")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&id))
    };
    assert!(kept());
    drop(process);
    let process = start(&ws.ledger(), &results, &sim.url(), &["--upload-ttl", "1ms"]);
    let cy = desk::logged_in_as(&process, "cy", "cy's long password").await;
    let page = cy.text(&request).await;
    assert!(page.contains("上传已不在工作台上"), "{page}");
    assert!(
        common::wait_until(std::time::Duration::from_secs(10), || !kept()),
        "swept at start"
    );
    assert_eq!(sim.stats().requests, night_calls + 1, "nothing more sent");
}
