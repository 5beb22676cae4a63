//! Signals always work: a run whose input, output or report is a FIFO — with no
//! reader, no writer, or a reader that stopped reading — ends within a few seconds of
//! SIGTERM (or refuses at once), with the documented exit code and the ledger's lock
//! released, so the next night finds the ledger free.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Scenario, Workspace, ids, orders_of, simulator};

fn mkfifo(ws: &Workspace, name: &str) -> PathBuf {
    let path = ws.path(name);
    let made = Command::new("mkfifo").arg(&path).status().expect("mkfifo");
    assert!(made.success());
    path
}

/// `send` of `input` with `extra` arguments, started in the background.
fn start(
    ws: &Workspace,
    sim: &common::TestSimulator,
    input: &Path,
    extra: &[&std::ffi::OsStr],
) -> Child {
    Command::new(common::binary())
        .arg("send")
        .arg(input)
        .arg("--ledger")
        .arg(ws.ledger())
        .args(extra)
        .env("TOP_GATEWAY", sim.url())
        .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
        .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
        .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("send starts")
}

/// Waits at most `limit` for `child`; its exit code and stderr.
fn wait(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            return (status.code(), stderr);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ledger is free: a run on it does not exit 4.
fn assert_ledger_free(ws: &Workspace, sim: &common::TestSimulator) {
    let input = ws.write("next.csv", orders_of(&["next1".to_owned()]));
    common::send_cmd_with(sim, &[&input], &ws.ledger(), &ws.path("next-out.csv"))
        .assert()
        .code(0);
}

#[test]
fn an_output_fifo_nobody_reads_is_refused_at_once_and_sends_nothing() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    for flag in ["--out", "--summary-json", "--metrics-file"] {
        let fifo = mkfifo(&ws, &format!("{}.fifo", flag.trim_start_matches('-')));
        let mut extra: Vec<&std::ffi::OsStr> = vec![flag.as_ref(), fifo.as_os_str()];
        let out = ws.path("out.csv");
        if flag != "--out" {
            extra.extend([std::ffi::OsStr::new("--out"), out.as_os_str()]);
        }
        let (code, stderr) = wait(start(&ws, &sim, &input, &extra), Duration::from_secs(10));
        assert_eq!(code, Some(2), "{flag}: {stderr}");
        assert!(stderr.contains("nobody reads"), "{flag}: {stderr}");
    }
    assert_eq!(sim.stats().requests, 0, "nothing sent");
    assert_ledger_free(&ws, &sim);
}

#[test]
fn sigterm_ends_a_run_waiting_for_an_input_fifo_that_nobody_writes() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = mkfifo(&ws, "in.fifo");
    let out = ws.path("out.csv");
    let child = start(&ws, &sim, &input, &["--out".as_ref(), out.as_os_str()]);
    std::thread::sleep(Duration::from_millis(500));
    common::signal(child.id(), "-TERM");
    let (code, stderr) = wait(child, Duration::from_secs(5));
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_ledger_free(&ws, &sim);
}

#[test]
fn sigterm_ends_a_run_whose_report_reader_stopped_reading() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    let fifo = mkfifo(&ws, "summary.fifo");
    // A reader that opens the pipe and never reads.
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .expect("reader");
    let out = ws.path("out.csv");
    // The summary of 3 rows is small; a large pipe buffer would hold it. Fill the pipe
    // first so the run's write blocks.
    let mut filler = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("filler");
    fill(&mut filler);
    let child = start(
        &ws,
        &sim,
        &input,
        &[
            "--out".as_ref(),
            out.as_os_str(),
            "--summary-json".as_ref(),
            fifo.as_os_str(),
        ],
    );
    // The run delivers, then blocks writing the summary.
    let started = Instant::now();
    while sim.stats().accepted < 3 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    common::signal(child.id(), "-TERM");
    let (code, stderr) = wait(child, Duration::from_secs(6));
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert_eq!(code, Some(143), "{stderr}");
    // The outcomes are in the ledger: the next run sends none of them again.
    let again = common::send_cmd_with(&sim, &[&input], &ws.ledger(), &ws.path("again.csv"))
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(sim.stats().accepted, 3, "nothing sent twice");
}

/// Writes into a pipe until its buffer is full.
fn fill(pipe: &mut std::fs::File) {
    use std::io::Write as _;
    let flags = rustix::fs::fcntl_getfl(&*pipe).expect("flags");
    rustix::fs::fcntl_setfl(&*pipe, flags | rustix::fs::OFlags::NONBLOCK).expect("nonblock");
    let chunk = [b'x'; 4096];
    while pipe.write(&chunk).is_ok() {}
}

/// `custom_flags(O_NONBLOCK)` for OpenOptions.
trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            self,
            rustix::fs::OFlags::NONBLOCK.bits() as i32,
        )
    }
}

#[test]
fn a_config_or_env_file_that_is_a_fifo_is_refused_not_waited_for() {
    let ws = Workspace::new();
    let fifo = mkfifo(&ws, "config.fifo");
    let input = ws.write("in.csv", orders_of(&ids(1)));
    for args in [
        vec![
            "--env-file".into(),
            fifo.clone().into_os_string(),
            "send".into(),
        ],
        vec![
            "send".into(),
            "--config".into(),
            fifo.clone().into_os_string(),
        ],
    ] {
        let output = Command::new(common::binary())
            .args(&args)
            .arg(&input)
            .arg("--ledger")
            .arg(ws.ledger())
            .arg("--out")
            .arg(ws.out())
            .arg("--dry-run")
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("FIFO"), "{stderr}");
    }
}
