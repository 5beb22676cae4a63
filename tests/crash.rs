//! Crash safety (issue: crash-safe, interruptible, lock-protected runs): SIGKILL at
//! random moments, SIGINT and SIGTERM, the ledger lock, damaged ledgers, the failure
//! breaker and write failures — always against the simulator over loopback.

mod common;

use common::{Fault, Matcher, Scenario};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{
    Workspace, columns, exits_with, ids, ledger_integrity, ledger_outcomes, ledger_state,
    orders_of, outcome_count, read_csv, send_cmd, send_process, signal, simulator, wait_until,
};
use opentrade_callback::ledger;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Every outcome in the ledger, in the order committed: (req_id, status), after
/// SQLite's own check that the database is whole.
fn ledger_lines(ws: &Workspace) -> Vec<(String, String)> {
    // A run killed while making the ledger leaves no table yet.
    if common::outcome_count(&ws.ledger()) == 0 {
        return Vec::new();
    }
    assert_eq!(ledger_integrity(&ws.ledger()), "ok", "the ledger is whole");
    ledger_outcomes(&ws.ledger())
        .into_iter()
        .map(|(req_id, status, _)| (req_id, status))
        .collect()
}

#[test]
fn sigkill_at_random_moments_never_loses_or_duplicates_an_outcome() {
    // Enough orders that thirty rounds can never finish the work (at most ~30 outcomes
    // a round), so every round is killed mid-way, however fast the machine.
    kill_at_random_moments(1200, 1);
}

#[test]
fn sigkill_mid_batch_never_loses_or_duplicates_an_outcome() {
    // Batches of twenty answer twenty outcomes at once: more orders, so work is left.
    kill_at_random_moments(6000, 20);
}

/// Thirty runs killed at random moments, then one to the end: every req_id delivered
/// exactly once in the ledger, and no call the gateway sees twice but those it had
/// accepted and the ledger lacked at a kill.
fn kill_at_random_moments(orders: usize, batch: usize) {
    const ROUNDS: usize = 30;
    const CONCURRENCY: usize = 8;
    let sim = simulator(Scenario::default().latency_ms(15).jitter_ms(10, 3));
    let ws = Workspace::new();
    let all = ids(orders);
    let input = ws.write("in.csv", orders_of(&all));
    let flags = [
        "--concurrency".to_owned(),
        CONCURRENCY.to_string(),
        "--batch".to_owned(),
        batch.to_string(),
    ];
    let mut rng = StdRng::seed_from_u64(20_261_125);
    let mut kills = 0;
    let mut previous: Vec<(String, String)> = Vec::new();
    let mut unrecorded = 0u64;
    for round in 0..ROUNDS {
        let mut child = send_process(&ws, &sim.url(), &[&input])
            .args(&flags)
            .spawn()
            .expect("starts");
        if round % 4 == 0 {
            // Early: while starting, locking, planning or opening connections.
            std::thread::sleep(Duration::from_millis(rng.random_range(2..60)));
        } else {
            // Mid-sending: once a few more outcomes are on disk, plus a random instant,
            // so kills land between, during and just after ledger appends.
            let target = outcome_count(&ws.ledger()) + rng.random_range(1..=15);
            wait_until(Duration::from_secs(20), || {
                outcome_count(&ws.ledger()) >= target
            });
            std::thread::sleep(Duration::from_micros(rng.random_range(0..15_000)));
        }
        signal(child.id(), "-KILL");
        let status = child.wait().expect("reaped");
        if status.code().is_none() {
            kills += 1;
        }
        // Whatever was on disk is still there, whole, in the same order.
        let now = ledger_lines(&ws);
        assert!(
            now.starts_with(&previous),
            "round {round}: earlier lines were rewritten"
        );
        // Calls the gateway accepted that the ledger does not hold: the next run sends
        // them again, and only them may the gateway see twice.
        let recorded = now.iter().map(|(id, _)| id).collect::<BTreeSet<_>>().len() as u64;
        unrecorded += settled_accepted(&sim).saturating_sub(recorded);
        previous = now;
    }
    assert!(kills >= ROUNDS - 2, "only {kills} runs were killed mid-way");
    assert!(
        previous.len() < orders,
        "work was left for the final run ({} lines)",
        previous.len()
    );

    send_cmd(&ws, &sim, &[&input]).args(&flags).assert().code(0);
    let lines = ledger_lines(&ws);
    assert!(
        lines.starts_with(&previous),
        "the final run rewrote nothing"
    );
    let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
    for (req_id, status) in &lines {
        assert_eq!(status, "delivered", "{req_id}");
        *delivered.entry(req_id.clone()).or_default() += 1;
    }
    assert_eq!(delivered.len(), orders, "every req_id ends delivered");
    assert!(
        delivered.values().all(|&n| n == 1),
        "each delivered exactly once in the ledger"
    );
    assert!(
        ledger_state(&ws.ledger())
            .values()
            .all(|s| s == "delivered"),
        "no order left pending"
    );

    let stats = sim.stats();
    assert_eq!(stats.accepted, orders as u64);
    // A call answered by the gateway but not yet in the ledger at a kill (in flight, or
    // its outcome on the way to the recorder) is sent again by the next run, and the
    // gateway recognises it. Nothing the ledger held is ever sent again: every
    // duplicate is one of those counted after a kill (one not re-sent before the next
    // kill is counted twice, so this is a bound, not an equality).
    assert!(
        stats.duplicates <= unrecorded,
        "{} duplicates after {kills} kills, but only {unrecorded} accepted calls were unrecorded at them",
        stats.duplicates
    );
    assert!(
        columns(&ws.out(), ["req_id", "status"])
            .iter()
            .all(|[_, s]| s == "delivered" || s == "skipped_delivered")
    );
}

/// The gateway's count of accepted calls once a killed run's last requests have
/// arrived: the same for several polls in a row.
fn settled_accepted(sim: &common::TestSimulator) -> u64 {
    let mut last = sim.stats().accepted;
    let mut same = 0;
    while same < 5 {
        std::thread::sleep(Duration::from_millis(10));
        let now = sim.stats().accepted;
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}

fn interrupt_mid_run(sig: &str, expected: i32) {
    let sim = simulator(Scenario::default().latency_ms(400));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(40)));
    let child = send_process(&ws, &sim.url(), &[&input])
        .args(["--concurrency", "4"])
        .spawn()
        .expect("starts");
    assert!(
        wait_until(Duration::from_secs(10), || outcome_count(&ws.ledger()) >= 5),
        "some outcomes recorded"
    );
    signal(child.id(), sig);
    let output = child.wait_with_output().expect("exits");
    assert_eq!(output.status.code(), Some(expected));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("stopping: letting calls in flight finish"),
        "{stderr}"
    );
    assert!(
        stderr.contains("halted: "),
        "the summary is printed: {stderr}"
    );

    let rows = read_csv(&ws.out());
    assert_eq!(rows.len(), 40, "every row has a result");
    let delivered: Vec<&str> = rows
        .iter()
        .filter(|r| r["status"] == "delivered")
        .map(|r| r["req_id"].as_str())
        .collect();
    let others: Vec<&str> = rows
        .iter()
        .filter(|r| r["status"] != "delivered")
        .map(|r| r["status"].as_str())
        .collect();
    assert!(others.iter().all(|s| *s == "not_attempted"), "{others:?}");
    assert!(!others.is_empty() && delivered.len() >= 4);
    // The calls in flight at the signal finished and were recorded; what was about to
    // go out stays pending, for the next run to send.
    let ledger = ledger_state(&ws.ledger());
    let in_state = |state: &str| {
        ledger
            .iter()
            .filter(|(_, s)| *s == state)
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(in_state("delivered"), {
        let mut sorted = delivered.clone();
        sorted.sort_unstable();
        sorted
    });
    assert_eq!(
        in_state("delivered").len() + in_state("pending").len(),
        ledger.len(),
        "{ledger:?}"
    );
    assert_eq!(
        sim.stats().accepted as usize,
        delivered.len(),
        "nothing accepted that the ledger lacks"
    );
}

#[test]
fn sigint_finishes_calls_in_flight_flushes_and_exits_130() {
    interrupt_mid_run("-INT", 130);
}

#[test]
fn sigterm_finishes_calls_in_flight_flushes_and_exits_143() {
    interrupt_mid_run("-TERM", 143);
}

#[test]
fn a_second_ctrl_c_quits_at_once_and_the_ledger_stays_readable() {
    let sim = simulator(Scenario::default().latency_ms(5000));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(10)));
    let started = std::time::Instant::now();
    let child = send_process(&ws, &sim.url(), &[&input])
        .spawn()
        .expect("starts");
    assert!(
        wait_until(Duration::from_secs(5), || sim.stats().requests >= 8),
        "calls in flight"
    );
    signal(child.id(), "-INT");
    std::thread::sleep(Duration::from_millis(200));
    signal(child.id(), "-INT");
    let output = child.wait_with_output().expect("exits");
    assert_eq!(output.status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "did not wait for the 5 s calls"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("quitting at once"));
    assert_eq!(ledger_integrity(&ws.ledger()), "ok", "the ledger is whole");
    assert!(!ws.out().exists(), "no half-written result file at --out");
}

#[test]
fn a_second_run_on_the_same_ledger_exits_4_naming_the_first() {
    let sim = simulator(Scenario::default().latency_ms(300));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(30)));
    let mut first = send_process(&ws, &sim.url(), &[&input])
        .args(["--concurrency", "1"])
        .spawn()
        .expect("starts");
    let lock = ledger::lock::lock_path(&ws.ledger());
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid"))
    }));
    let stderr = exits_with(&mut send_cmd(&ws, &sim, &[&input]), 4);
    assert!(
        stderr.contains(&format!("pid {}", first.id())) && stderr.contains("started"),
        "{stderr}"
    );

    // The lock of a dead run never blocks the next one.
    signal(first.id(), "-KILL");
    first.wait().expect("reaped");
    send_cmd(&ws, &sim, &[&input])
        .args(["--concurrency", "8"])
        .assert()
        .code(0);
    assert!(
        ledger_state(&ws.ledger())
            .values()
            .all(|s| s == "delivered")
    );
}

#[test]
fn a_damaged_ledger_stops_the_run_before_sending() {
    // A disk error in the dedup index, which planning reads: refused before any call
    // (exit 2), the file as it was. Anywhere else: the first write that meets it
    // halts the run (exit 3) — the orders to send are written before they are sent,
    // so nothing was.
    for (damaged, code) in [("order_keys", 2), ("orders", 3)] {
        let sim = simulator(Scenario::default());
        let ws = Workspace::new();
        let input = ws.write("in.csv", orders_of(&ids(300)));
        send_cmd(&ws, &sim, &[&input]).assert().code(0);
        let root: i64 = rusqlite::Connection::open(ws.ledger())
            .expect("ledger")
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = ?1",
                [damaged],
                |row| row.get(0),
            )
            .expect("root page");
        let mut bytes = std::fs::read(ws.ledger()).expect("ledger");
        let root = usize::try_from(root).expect("a page");
        let page = (root - 1) * 4096..root * 4096;
        assert!(bytes.len() >= page.end, "{} bytes", bytes.len());
        bytes[page].fill(0x5a);
        std::fs::write(ws.ledger(), &bytes).expect("damage");
        // Tonight's export: last night's orders and new ones.
        let input = ws.write("in2.csv", orders_of(&ids(400)));
        let calls = sim.stats().requests;
        let stderr = exits_with(&mut send_cmd(&ws, &sim, &[&input]), code);
        assert!(
            stderr.contains("ledger") && stderr.contains("malformed"),
            "{damaged}: {stderr}"
        );
        assert_eq!(sim.stats().requests, calls, "{damaged}: nothing sent");
        if code == 2 {
            assert!(
                std::fs::read(ws.ledger()).expect("ledger") == bytes,
                "{damaged}: the file was rewritten"
            );
        }
    }
}

#[test]
fn a_file_that_is_not_a_ledger_is_refused() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    std::fs::copy(&input, ws.ledger()).expect("copy");
    let stderr = exits_with(&mut send_cmd(&ws, &sim, &[&input]), 2);
    assert!(
        stderr.contains("is not a ledger (not this tool's SQLite database)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(ws.ledger()).expect("ledger"),
        std::fs::read(&input).expect("input"),
        "left byte for byte"
    );
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn orders_a_killed_run_left_pending_are_sent_by_the_next_even_from_another_export() {
    // Slow answers: the run is killed with orders handed out and unanswered.
    let sim = simulator(Scenario::default().latency_ms(2000));
    let ws = Workspace::new();
    let tonight = ws.write("tonight.csv", orders_of(&ids(6)));
    let mut child = send_process(&ws, &sim.url(), &[&tonight])
        .args(["--concurrency", "2"])
        .spawn()
        .expect("starts");
    assert!(
        wait_until(Duration::from_secs(10), || sim.stats().requests >= 2),
        "calls in flight"
    );
    signal(child.id(), "-KILL");
    child.wait().expect("reaped");
    let pending: Vec<String> = ledger_state(&ws.ledger())
        .into_iter()
        .filter(|(_, state)| state == "pending")
        .map(|(id, _)| id)
        .collect();
    assert!(pending.len() >= 2, "{pending:?}");
    // Tomorrow's export holds none of them: they are sent from the ledger, with the
    // payload they went out with (the gateway sees the same request: no conflict).
    let tomorrow = ws.write("tomorrow.csv", orders_of(&["other".to_owned()]));
    send_cmd(&ws, &sim, &[&tomorrow])
        .args(["--concurrency", "8"])
        .assert()
        .code(0);
    let rows = columns(&ws.out(), ["req_id", "status", "source"]);
    let resent: Vec<&str> = rows
        .iter()
        .filter(|[_, _, source]| source == "ledger")
        .map(|[id, status, _]| {
            assert_eq!(status, "delivered", "{id}");
            id.as_str()
        })
        .collect();
    assert_eq!(resent, pending);
    assert_eq!(sim.stats().conflicts, 0);
    assert!(
        ledger_state(&ws.ledger())
            .iter()
            .all(|(id, s)| s == "delivered" || !pending.contains(id)),
    );
}

#[test]
fn the_failure_breaker_halts_a_run_against_a_dead_gateway() {
    let sim = simulator(Scenario::default().on(Matcher::prefix("r"), Fault::transient(1000)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(200)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args(["--concurrency", "4"]),
        3,
    );
    assert!(stderr.contains("of the last 100 calls failed"), "{stderr}");
    let requests = sim.stats().requests;
    assert!(
        (100..200).contains(&requests),
        "stopped soon after 100 calls, made {requests}"
    );
    let rows = read_csv(&ws.out());
    assert!(
        rows.iter()
            .all(|r| r["status"] == "failed" || r["status"] == "not_attempted")
    );
    assert!(
        rows.iter()
            .filter(|r| r["status"] == "not_attempted")
            .count()
            > 100
    );
}

#[test]
fn the_breaker_threshold_is_configurable() {
    let sim = simulator(Scenario::default().on(Matcher::prefix("r"), Fault::transient(1000)));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(40)));
    send_cmd(&ws, &sim, &[&input])
        .args([
            "--concurrency",
            "4",
            "--max-attempts",
            "3",
            "--max-failure-rate",
            "100",
        ])
        .assert()
        .code(1);
    assert!(
        columns(&ws.out(), ["req_id", "status"])
            .iter()
            .all(|[_, s]| s == "failed")
    );
    assert_eq!(sim.stats().requests, 120);
}

#[test]
fn an_unwritable_ledger_stops_before_sending() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    std::fs::create_dir(ws.ledger()).expect("a directory where the ledger should be");
    let stderr = exits_with(&mut send_cmd(&ws, &sim, &[&input]), 2);
    assert!(stderr.contains("ledger"), "{}", stderr);
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn a_full_disk_for_the_ledger_stops_before_sending() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    // Room for nothing (ulimit -f): the new ledger's header cannot be written.
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--fsize=10").arg("--").arg(common::binary());
    let base = send_process(&ws, &sim.url(), &[&input]);
    cmd.args(base.get_args())
        .envs(base.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    let output = cmd.output().expect("runs under prlimit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write ledger") && stderr.contains("File too large"),
        "{stderr}"
    );
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn a_device_is_never_a_ledger() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    for device in ["/dev/null", "/dev/full", "/dev/zero"] {
        let stderr = exits_with(
            &mut common::send_cmd_with(&sim, &[&input], Path::new(device), &ws.out()),
            2,
        );
        assert!(
            stderr.contains("is not a regular file"),
            "{device}: {stderr}"
        );
    }
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn a_write_failure_mid_run_halts_with_exit_3_and_keeps_the_ledger_whole() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    // Last night's ledger: about 60 KB of lines.
    let old = ids(500);
    send_cmd(&ws, &sim, &[&ws.write("old.csv", orders_of(&old))])
        .assert()
        .code(0);
    let size = std::fs::metadata(ws.ledger()).expect("ledger").len();
    // Tonight the ledger may grow by ~2 KB only (ulimit -f): a disk filling up.
    let tonight: Vec<String> = (0..200).map(|i| format!("new{i:04}")).collect();
    let input = ws.write("new.csv", orders_of(&tonight));
    let limit = size + 2048;
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg(format!("--fsize={limit}"))
        .arg("--")
        .arg(common::binary());
    let base = send_process(&ws, &sim.url(), &[&input]);
    cmd.args(base.get_args())
        .envs(base.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    let output = cmd
        .args(["--concurrency", "1"])
        .output()
        .expect("runs under prlimit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write ledger") && stderr.contains("File too large"),
        "{stderr}"
    );
    assert!(stderr.contains("sent again by the next run"), "{stderr}");
    // The ledger is whole, its files within the limit, holding what it committed.
    for file in [ws.ledger(), ws.path("ledger.db-wal")] {
        assert!(std::fs::metadata(&file).map_or(0, |m| m.len()) <= limit);
    }
    let lines = ledger_lines(&ws);
    assert!(lines.len() >= 500 && lines.len() < 700, "{}", lines.len());
    // The results were written, and a rerun (with room) finishes the job.
    assert_eq!(read_csv(&ws.out()).len(), 200);
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    assert_eq!(ledger_state(&ws.ledger()).len(), 700);
    assert_eq!(sim.stats().accepted, 700);
}
