//! The desk under test: the real binary's `serve` on 127.0.0.1 port 0, and a small
//! HTTP client that keeps its session cookie and sends the desk's own Origin.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use opentrade_callback::simulator;

use super::{Fault, Matcher, Scenario, Workspace};

/// A running `serve`; killed when dropped.
pub struct DeskProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// What it printed to log in with.
    pub login_url: String,
}

impl Drop for DeskProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve --ledger LEDGER --results-dir DIR --gateway GATEWAY` with the demo credentials,
/// and `extra` flags; waits for the login line.
pub fn start(
    ledger: &std::path::Path,
    results: &std::path::Path,
    gateway: &str,
    extra: &[&str],
) -> DeskProcess {
    let mut command = Command::new(super::binary());
    command
        .arg("serve")
        .arg("--ledger")
        .arg(ledger)
        .arg("--results-dir")
        .arg(results)
        .args(["--listen", "127.0.0.1:0", "--gateway", gateway])
        .args(extra)
        .env_remove("RUST_LOG")
        .env("TOP_APP_KEY", simulator::DEMO_APP_KEY)
        .env("TOP_APP_SECRET", simulator::DEMO_SECRET)
        .env("TOP_SESSION", simulator::DEMO_SESSION)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut stdout = std::io::BufReader::new(stdout);
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the address line");
    assert!(
        first.starts_with("listening on http"),
        "serve printed {first:?} first"
    );
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the login line");
    let login_url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        login_url.starts_with("http://127.0.0.1:") || login_url.starts_with("https://127.0.0.1:"),
        "serve printed {line:?}"
    );
    let base = login_url
        .split("/login")
        .next()
        .unwrap_or_default()
        .to_owned();
    DeskProcess {
        child,
        base,
        login_url,
    }
}

/// A visitor: the session cookie once logged in, the desk's Origin on every POST.
pub struct Visitor {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
}

impl Visitor {
    pub fn new(base: &str) -> Visitor {
        Visitor {
            client: super::http()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookie: None,
        }
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        }
    }

    /// Follows the login link; keeps the session cookie.
    pub async fn login(&mut self, url: &str) -> reqwest::Response {
        let response = self.client.get(url).send().await.expect("login");
        self.keep_cookie(&response);
        response
    }

    /// Keeps the session cookie an answer sets.
    fn keep_cookie(&mut self, response: &reqwest::Response) {
        if let Some(cookie) = response.headers().get("set-cookie") {
            let pair = cookie
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .unwrap_or_default();
            self.cookie = Some(pair.to_owned());
        }
    }

    /// Confirms the send of the submission at `path` (`/submissions/ID`).
    pub async fn confirm(&self, path: &str) -> reqwest::Response {
        self.act(path, "send").await
    }

    /// Logs in with a name and password; keeps the session cookie.
    pub async fn password_login(&mut self, name: &str, password: &str) -> reqwest::Response {
        let response = self
            .post("/login", &[("name", name), ("password", password)])
            .await;
        self.keep_cookie(&response);
        response
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.with_cookie(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("GET")
    }

    pub async fn text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.expect("body")
    }

    /// A form POST from the desk's own page.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_from(Some(&self.base), path, form).await
    }

    /// A form POST that says it comes from `origin` (none: no Origin header).
    pub async fn post_from(
        &self,
        origin: Option<&str>,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.with_cookie(self.client.post(format!("{}{path}", self.base)));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.form(form).send().await.expect("POST")
    }

    /// Uploads `bytes` as `name` with the CSRF token first, as the page's form does.
    pub async fn upload(&self, csrf: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
            );
        self.with_cookie(self.client.post(format!("{}/submit", self.base)))
            .header("origin", &self.base)
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    /// `POST {path}/{action}` from the page at `path`, with that page's CSRF token
    /// (a request's approve, reject or cancel; a submission's request or send).
    pub async fn act(&self, path: &str, action: &str) -> reqwest::Response {
        let csrf = self.csrf(path).await;
        self.post(&format!("{path}/{action}"), &[("csrf", &csrf)])
            .await
    }

    /// The CSRF token of the page at `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.text(path).await;
        value_after(&page, "name=\"csrf\" value=\"").expect("a csrf field")
    }
}

/// The text between `marker` and the next `"`.
pub fn value_after(page: &str, marker: &str) -> Option<String> {
    let start = page.find(marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_owned())
}

/// Where a redirect points.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub const REJECTED_ORDER: u64 = 4_000_000_000_000_000_002;

/// Last night: N1..N3 sent, N2 rejected by the platform, one row without a req_id.
pub fn last_night(ws: &Workspace, sim: &super::TestSimulator) -> std::path::PathBuf {
    let results = ws.path("results");
    std::fs::create_dir(&results).expect("results dir");
    let mut text = super::orders(&["N1", "N2", "N3"]);
    text.push_str("4000000000000000004,,true,0000,ok,,\n");
    let input = ws.write("night.csv", text);
    let mut cmd = super::send_cmd_with(
        sim,
        &[&input],
        &ws.ledger(),
        &results.join("night-1201.csv"),
    );
    super::exits_with(&mut cmd, 1);
    results
}

pub fn rejecting() -> Scenario {
    Scenario::default().on(
        Matcher::order_no(REJECTED_ORDER),
        Fault::reject("B0107", "订单号不存在"),
    )
}

/// Last night done, and the desk started on its files (with `extra` flags).
pub struct Night {
    pub ws: Workspace,
    pub sim: super::TestSimulator,
    pub results: std::path::PathBuf,
    /// The simulator's requests after the night.
    pub calls: u64,
    pub process: DeskProcess,
}

pub fn after_last_night(extra: &[&str]) -> Night {
    let ws = Workspace::new();
    let sim = super::simulator(rejecting());
    let results = last_night(&ws, &sim);
    let calls = sim.stats().requests;
    let process = start(&ws.ledger(), &results, &sim.url(), extra);
    Night {
        ws,
        sim,
        results,
        calls,
        process,
    }
}

/// `users add ana` with a good password, into `users`.
pub fn add_ana(users: &std::path::Path) {
    assert_cmd::Command::new(super::binary())
        .args(["users", "add", "ana", "--users"])
        .arg(users)
        .write_stdin("correct horse battery\n")
        .assert()
        .success();
}

/// `users add NAME` with `password`, into `users`.
pub fn add_user(users: &std::path::Path, name: &str, password: &str) {
    assert_cmd::Command::new(super::binary())
        .args(["users", "add", name, "--users"])
        .arg(users)
        .write_stdin(format!("{password}\n"))
        .assert()
        .success();
}

/// `users add NAME --role ROLE --ledger` the workspace's ledger, with `password`.
pub fn add_to_ledger(ws: &Workspace, name: &str, role: &str, password: &str) {
    assert_cmd::Command::new(super::binary())
        .args(["users", "add", name, "--role", role, "--ledger"])
        .arg(ws.ledger())
        .write_stdin(format!("{password}\n"))
        .assert()
        .success();
}

/// A visitor logged in as `name` with `password` (asserted).
pub async fn logged_in_as(process: &DeskProcess, name: &str, password: &str) -> Visitor {
    let mut visitor = Visitor::new(&process.base);
    let response = visitor.password_login(name, password).await;
    assert_eq!(response.status(), 303, "{name} logs in");
    visitor
}

pub async fn logged_in(process: &DeskProcess) -> Visitor {
    let mut visitor = Visitor::new(&process.base);
    let response = visitor.login(&process.login_url).await;
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    visitor
}

/// Polls a job until it ends; its last status.
pub async fn finished(visitor: &Visitor, job: &str) -> serde_json::Value {
    for _ in 0..600 {
        let status: serde_json::Value =
            serde_json::from_str(&visitor.text(&format!("{job}/status")).await).expect("json");
        if status["running"] == false {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the send did not finish");
}

/// The audit log's rows in `ledger`, oldest first, each as one object: `time`, `user`,
/// `action` and what the action touched.
pub fn audit_rows(ledger: &std::path::Path) -> Vec<serde_json::Value> {
    super::ledger_query(
        ledger,
        "SELECT at, user, action, detail FROM audit ORDER BY id",
    )
    .into_iter()
    .map(|row| {
        let mut event = serde_json::json!({"time": row[0], "user": row[1], "action": row[2]});
        if let (Some(event), Ok(serde_json::Value::Object(detail))) = (
            event.as_object_mut(),
            serde_json::from_str::<serde_json::Value>(&row[3]),
        ) {
            event.extend(detail);
        }
        event
    })
    .collect()
}

/// `audit_rows` as text, one JSON object a line.
pub fn audit_text(ledger: &std::path::Path) -> String {
    audit_rows(ledger)
        .iter()
        .map(|row| format!("{row}\n"))
        .collect()
}
