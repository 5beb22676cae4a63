//! Shared by the integration tests: simulators on 127.0.0.1 port 0, clients for them,
//! the binary under test, temp dirs and CSV helpers.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod certs;
pub mod desk;
pub mod hooks;

use std::time::Duration;

use opentrade_callback::order::Order;
use opentrade_callback::simulator::{self, BackgroundSimulator, SimulatorConfig};
use opentrade_callback::top::{self, ClientSettings, Credentials, Secret, SignMethod, TopClient};

#[allow(unused_imports, reason = "each test binary uses a different subset")]
pub use opentrade_callback::simulator::{BatchAnswers, Fault, Matcher, Scenario};

/// A simulator with the demo credentials and `scenario`. A test that starts one and
/// neither calls it nor looks at its counters fails: call `unused()` if that is meant.
pub fn simulator(scenario: Scenario) -> TestSimulator {
    simulator_with(SimulatorConfig::demo().with_scenario(scenario))
}

/// A simulator with settings of the test's own (other credentials, say).
pub fn simulator_with(config: SimulatorConfig) -> TestSimulator {
    let inner = simulator::spawn_background(config).expect("simulator starts");
    TestSimulator {
        inner,
        looked: std::cell::Cell::new(false),
    }
}

/// A simulator for one test; derefs to the `BackgroundSimulator` it wraps.
pub struct TestSimulator {
    inner: BackgroundSimulator,
    looked: std::cell::Cell<bool>,
}

impl TestSimulator {
    /// The counters, read: a test that checks them has used the simulator.
    pub fn stats(&self) -> simulator::Stats {
        self.looked.set(true);
        self.inner.stats()
    }

    /// Says the test means to start a simulator it never calls.
    pub fn unused(&self) {
        self.looked.set(true);
    }
}

impl std::ops::Deref for TestSimulator {
    type Target = BackgroundSimulator;

    fn deref(&self) -> &BackgroundSimulator {
        &self.inner
    }
}

impl Drop for TestSimulator {
    fn drop(&mut self) {
        if std::thread::panicking() || self.looked.get() {
            return;
        }
        assert!(
            self.inner.stats().requests > 0,
            "the test started a simulator and never called it: a wrong --gateway? (call unused() if that is meant)"
        );
    }
}

/// Client settings for the demo credentials against `url`.
pub fn settings(url: &str) -> ClientSettings {
    ClientSettings {
        gateway: url.to_owned(),
        credentials: Credentials {
            app_key: simulator::DEMO_APP_KEY.into(),
            secret: Secret::new(simulator::DEMO_SECRET),
            session: Secret::new(simulator::DEMO_SESSION),
        },
        sign_method: SignMethod::Hmac,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        pool_size: 8,
        overrides: Default::default(),
        clock: top::system_clock(),
        extra_roots: Vec::new(),
        proxy: None,
    }
}

pub fn client(settings: ClientSettings) -> TopClient {
    TopClient::new(settings).expect("client builds")
}

/// A valid order with the given req_id.
pub fn order(req_id: &str) -> Order {
    Order {
        sub_order_no: None,
        order_no: 4_012_345_678_901_234_567,
        success: true,
        result_code: Some("0000".into()),
        result_desc: Some("充值成功".into()),
        req_id: req_id.into(),
        ext: Some(r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#.into()),
    }
}

/// A current-thread runtime for driving the async client from a plain #[test].
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Sends a signal (`-INT`, `-TERM`, `-KILL`) to a child process by pid.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {name} {pid} failed");
}

/// The path of the binary under test.
pub fn binary() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin!("opentrade-callback").to_path_buf()
}

/// A reqwest client builder for tests: the process's TLS provider (*ring*, the one the
/// tool is built with) installed first, as reqwest is built without one.
pub fn http() -> reqwest::ClientBuilder {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// A temp dir holding one scenario's files.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    pub fn ledger(&self) -> std::path::PathBuf {
        self.path("ledger.db")
    }

    pub fn out(&self) -> std::path::PathBuf {
        self.path("results.csv")
    }
}

/// The canonical input header.
pub const HEADER: &str = "order_no,sub_order_no,success,result_code,result_desc,req_id,ext";

/// An input line for `req_id` with order number `n`.
pub fn line(n: u64, req_id: &str) -> String {
    format!(
        "{},,true,0000,充值成功,{req_id},\"{{\"\"firstChargeAmount\"\":\"\"100\"\"}}\"",
        4_000_000_000_000_000_000 + n
    )
}

/// A CSV with the canonical header and one line per req_id.
pub fn orders(req_ids: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    for (i, req_id) in req_ids.iter().enumerate() {
        text.push_str(&line(i as u64 + 1, req_id));
        text.push('\n');
    }
    text
}

/// `send` for the binary, pointed at `sim` with the demo credentials, quick retries
/// and no progress output. Extra arguments follow.
pub fn send_cmd(
    ws: &Workspace,
    sim: &BackgroundSimulator,
    inputs: &[&std::path::Path],
) -> assert_cmd::Command {
    send_cmd_with(sim, inputs, &ws.ledger(), &ws.out())
}

/// `send_cmd` with another `--ledger` and `--out` (each flag may be given once).
pub fn send_cmd_with(
    sim: &BackgroundSimulator,
    inputs: &[&std::path::Path],
    ledger: &std::path::Path,
    out: &std::path::Path,
) -> assert_cmd::Command {
    let mut cmd =
        assert_cmd::Command::from_std(with_credentials(send_args(inputs, ledger, out), &sim.url()));
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// A CSV file as rows of column → value.
pub fn read_csv(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The named columns of each row of a CSV, in order; compares with literal arrays:
/// `assert_eq!(columns(&out, ["req_id", "status"]), [["a", "delivered"]])`.
pub fn columns<const N: usize>(path: &std::path::Path, names: [&str; N]) -> Vec<[String; N]> {
    read_csv(path)
        .into_iter()
        .map(|row| names.map(|name| row.get(name).cloned().unwrap_or_default()))
        .collect()
}

/// The latest ledger status per req_id.
pub fn ledger_state(path: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    ledger_query(
        path,
        "SELECT req_id, state FROM orders WHERE sim = 0 OR NOT EXISTS (SELECT 1 FROM orders WHERE sim = 0) ORDER BY id",
    )
    .into_iter()
    .map(|row| (row[0].clone(), row[1].clone()))
    .collect()
}

/// The rows of a query on the ledger database at `path`, as text (read only: a test
/// looks, as `sqlite3` would).
pub fn ledger_query(path: &std::path::Path, query: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut statement = conn.prepare(query).expect("a query");
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    let value: rusqlite::types::Value = row.get(i)?;
                    Ok(match value {
                        rusqlite::types::Value::Null => String::new(),
                        rusqlite::types::Value::Integer(n) => n.to_string(),
                        rusqlite::types::Value::Real(x) => x.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Blob(b) => faster_hex::hex_string(&b),
                    })
                })
                .collect()
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Every outcome in the ledger, in the order recorded: (req_id, status, run_id).
pub fn ledger_outcomes(path: &std::path::Path) -> Vec<(String, String, String)> {
    ledger_query(
        path,
        "SELECT o.req_id, x.status, x.run_id FROM outcomes x JOIN orders o ON o.id = x.order_id ORDER BY x.id",
    )
    .into_iter()
    .map(|row| (row[0].clone(), row[1].clone(), row[2].clone()))
    .collect()
}

/// Outcomes in the ledger at `path` so far: 0 while there is none (or it is being
/// made), for waiting on a run.
pub fn outcome_count(path: &std::path::Path) -> usize {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM outcomes", [], |row| {
        row.get::<_, i64>(0)
    })
    .map_or(0, |n| n as usize)
}

/// `PRAGMA integrity_check` of the ledger at `path`: "ok" when whole.
pub fn ledger_integrity(path: &std::path::Path) -> String {
    ledger_query(path, "PRAGMA integrity_check")
        .into_iter()
        .map(|row| row.join(" "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `send --dry-run` of `inputs`: no gateway, no credentials needed.
pub fn dry_run(ws: &Workspace, inputs: &[&std::path::Path]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(send_args(inputs, &ws.ledger(), &ws.out()));
    cmd.arg("--dry-run").timeout(Duration::from_secs(60));
    cmd
}

/// `send INPUTS --ledger … --out …` in the workspace, no log filter inherited. Progress
/// is left to `auto` (a line every 10 s off a terminal), so a test may ask for its own.
fn send_args(
    inputs: &[&std::path::Path],
    ledger: &std::path::Path,
    out: &std::path::Path,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("send")
        .args(inputs)
        .arg("--ledger")
        .arg(ledger)
        .arg("--out")
        .arg(out)
        .env_remove("RUST_LOG");
    cmd
}

/// A committed fixture file.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Like `send_cmd`, as a plain `std::process::Command` to spawn and signal.
pub fn send_process(
    ws: &Workspace,
    gateway: &str,
    inputs: &[&std::path::Path],
) -> std::process::Command {
    with_credentials(send_args(inputs, &ws.ledger(), &ws.out()), gateway)
}

/// Quick retries, a fixed jitter seed, `gateway` and the demo credentials.
fn with_credentials(mut cmd: std::process::Command, gateway: &str) -> std::process::Command {
    cmd.args([
        "--backoff-base",
        "1ms",
        "--backoff-cap",
        "5ms",
        "--jitter-seed",
        "1",
    ])
    .env("TOP_GATEWAY", gateway)
    .env("TOP_APP_KEY", simulator::DEMO_APP_KEY)
    .env("TOP_APP_SECRET", simulator::DEMO_SECRET)
    .env("TOP_SESSION", simulator::DEMO_SESSION)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    cmd
}

/// Runs `cmd`, checks it exits with `code`, and returns its stderr.
pub fn exits_with(cmd: &mut assert_cmd::Command, code: i32) -> String {
    let output = cmd.assert().code(code).get_output().clone();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts `simulate --listen 127.0.0.1:0` with `extra` arguments and `envs` (the
/// credential variables removed first); returns the process, the origin from its first
/// line (`http://…` or `https://…`) and its stdout lines after that — keep those alive
/// while it runs: it prints more lines at start, and a closed stdout ends it.
pub fn start_simulate(
    extra: &[&std::ffi::OsStr],
    envs: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(binary())
        .args(["simulate", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("TOP_APP_KEY")
        .env_remove("TOP_APP_SECRET")
        .env_remove("TOP_SESSION")
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("simulate starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    let origin = first
        .strip_prefix("listening on ")
        .expect("the first line announces the address")
        .to_owned();
    (child, origin, lines)
}

/// Polls until `done` holds or `limit` passes; false on timeout.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

/// req_ids r0000 … r{n-1}.
pub fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r{i:04}")).collect()
}

/// `orders` for owned req_ids.
pub fn orders_of(ids: &[String]) -> String {
    orders(&ids.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Runs `script` (Python) with `args`, the PyPI package `requirement` importable as
/// `module` — installed under target/ on first use unless python3 already has it — and
/// returns its stdout; the script failing fails the test, with its stderr.
pub fn python_with(
    module: &str,
    requirement: &str,
    script: &str,
    args: &[&std::ffi::OsStr],
) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/python")
        .join(module);
    // A probe: its traceback when the module is missing is no news.
    let has = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .env("PYTHONPATH", &dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        let installed = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target"])
            .arg(&dir)
            .arg(requirement)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "{requirement} installs (PyPI)");
    }
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .args(args)
        .env("PYTHONPATH", &dir)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The cells of the column whose header ends with `name` (`来源文件 source`), in the
/// first sheet of the workbook at `path`, below the header.
pub fn workbook_column(path: &std::path::Path, name: &str) -> Vec<String> {
    use calamine::{Reader as _, Xlsx, open_workbook};
    let mut workbook: Xlsx<_> = open_workbook(path).expect("a workbook");
    let range = workbook
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    let mut rows = range.rows();
    let header = rows.next().expect("a header");
    let at = header
        .iter()
        .position(|cell| cell.to_string().split_whitespace().last() == Some(name))
        .unwrap_or_else(|| panic!("no column {name}"));
    rows.map(|row| row.get(at).map(ToString::to_string).unwrap_or_default())
        .collect()
}
