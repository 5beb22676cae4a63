//! The desk's people in the ledger: users with roles (`users add … --ledger`, the admin
//! page), password logins on loopback too, roles enforced by the server, sessions that
//! outlive a desk restart and another tab's logout, a disabled user's sessions ended,
//! every change audited. The real binary, simulator and ledger.

mod common;

use common::desk::{self, Visitor, start};
use common::{Scenario, Workspace};

fn add(ws: &Workspace, name: &str, role: &str, password: &str) {
    assert_cmd::Command::new(common::binary())
        .args(["users", "add", name, "--role", role, "--ledger"])
        .arg(ws.ledger())
        .write_stdin(format!("{password}\n"))
        .assert()
        .success();
}

async fn logged_in(base: &str, name: &str, password: &str) -> Visitor {
    let mut visitor = Visitor::new(base);
    let response = visitor.password_login(name, password).await;
    assert_eq!(response.status(), 303, "{name} logs in");
    visitor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_each_user_may_do_and_sessions_outlive_a_restart() {
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default());
    let results = desk::last_night(&ws, &sim);
    add(&ws, "ana", "admin", "correct horse battery");
    add(&ws, "vic", "viewer", "viewer's long password");
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    // Users in the ledger: no one-time link, even on loopback.
    assert!(
        !process.login_url.contains("token="),
        "{}",
        process.login_url
    );

    let vic = logged_in(&process.base, "vic", "viewer's long password").await;
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

    let ana = logged_in(&process.base, "ana", "correct horse battery").await;
    let users = ana.text("/users").await;
    assert!(
        users.contains(">vic<") && users.contains("查看者"),
        "{users}"
    );
    let csrf = ana.csrf("/users").await;
    let added = ana
        .post(
            "/users",
            &[
                ("csrf", &csrf),
                ("name", "bo"),
                ("role", "clerk"),
                ("password", "bo's long password"),
            ],
        )
        .await;
    assert_eq!(added.status(), 303);
    let bo = logged_in(&process.base, "bo", "bo's long password").await;
    assert_eq!(bo.get("/submit").await.status(), 200, "a clerk may submit");
    assert_eq!(bo.get("/users").await.status(), 403, "not manage users");

    // A second session of ana's; logging out of it leaves the first.
    let mut again = logged_in(&process.base, "ana", "correct horse battery").await;
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
    let csrf = link.csrf("/users").await;
    let made = link
        .post(
            "/users",
            &[
                ("csrf", &csrf),
                ("name", "root-admin"),
                ("role", "admin"),
                ("password", "the first admin's password"),
            ],
        )
        .await;
    assert_eq!(made.status(), 303);
    // At once, and after a restart without any link.
    logged_in(&process.base, "root-admin", "the first admin's password").await;
    drop(process);
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    assert!(!process.login_url.contains("token="));
    logged_in(&process.base, "root-admin", "the first admin's password").await;
    let login = Visitor::new(&process.base).text("/login").await;
    assert!(login.contains("name=\"password\""), "{login}");
}
