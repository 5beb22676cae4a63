//! The desk under load, as an attacker or a careless script would load it: logins
//! guessed in parallel, many at once from many addresses, more idle connections than
//! the file limit, bodies that stall, uploads that pile up, one user's endless logins.
//! The real binary; memory read from /proc.

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::Workspace;
use common::desk::{self, Visitor};

const PASSWORD: &str = "correct horse battery";

/// A desk with password logins for ana and bob, and `extra` flags.
fn desk_with_users(ws: &Workspace, extra: &[&str]) -> (common::TestSimulator, desk::DeskProcess) {
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(ws, &sim);
    let users = ws.path("desk-users");
    desk::add_user(&users, "ana", PASSWORD);
    desk::add_user(&users, "bob", "another staple horse");
    let mut flags = vec!["--users", users.to_str().expect("utf-8")];
    flags.extend_from_slice(extra);
    let process = desk::start(&ws.ledger(), &results, &sim.url(), &flags);
    (sim, process)
}

/// Peak resident memory of a process, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_for_one_name_are_no_faster_than_one_after_another() {
    let ws = Workspace::new();
    let (sim, process) = desk_with_users(&ws, &[]);
    sim.stats();
    let client = common::http()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    let started = Instant::now();
    let guesses = (0..100).map(|i| {
        let client = client.clone();
        let base = process.base.clone();
        async move {
            let sent = client
                .post(format!("{base}/login"))
                .header("origin", &base)
                .form(&[("name", "ana"), ("password", &format!("guess {i:04}"))])
                .send()
                .await;
            sent.map(|r| r.status().as_u16()).unwrap_or(0)
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|&&s| s == 401).count();
    let busy = answers.iter().filter(|&&s| s == 429).count();
    // One after another, in 3 s: the first at once, then 0.5 s, 1 s, 2 s waits.
    assert!(
        checked <= 4,
        "{checked} guesses checked in 3 s: {answers:?}"
    );
    assert!(busy >= 80, "the rest told to come back: {answers:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The right password, later, still works.
    tokio::time::sleep(Duration::from_secs(1)).await;
    desk::logged_in_as(&process, "bob", "another staple horse").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_logins_at_once_from_many_addresses_keep_the_desk_small() {
    let ws = Workspace::new();
    let (sim, process) = desk_with_users(&ws, &[]);
    sim.stats();
    let logins = (0..200u32).map(|i| {
        let base = process.base.clone();
        async move {
            // Each from an address of its own (127.0.0.0/8 is all loopback).
            let local = std::net::Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8);
            let client = common::http()
                .local_address(std::net::IpAddr::V4(local))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client");
            client
                .post(format!("{base}/login"))
                .header("origin", &base)
                .form(&[
                    ("name", format!("user{i}")),
                    ("password", format!("password number {i}")),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    });
    let answers = futures::future::join_all(logins).await;
    assert!(answers.iter().all(|&s| s == 401 || s == 429), "{answers:?}");
    assert!(
        answers.contains(&429),
        "some told to come back: {answers:?}"
    );
    let peak = peak_mib(process.child.id());
    assert!(peak < 200, "the desk peaked at {peak} MiB");
}

#[test]
fn more_idle_connections_than_the_file_limit_never_lock_a_client_out() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    sim.unused();
    let results = ws.path("results");
    std::fs::create_dir(&results).expect("dir");
    // A hard limit of 256 open files: the desk raises its soft limit to it and keeps
    // at most 192 connections.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 100 && ulimit -Hn 256 && exec {} serve --ledger {} --results-dir {} --listen 127.0.0.1:0 --gateway {}",
            common::binary().display(),
            ws.ledger().display(),
            results.display(),
            sim.url()
        ))
        .env("TOP_APP_KEY", "k")
        .env("TOP_APP_SECRET", "s")
        .env("TOP_SESSION", "t")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    // `listening on …`, then the login link.
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    for _ in 0..2 {
        line.clear();
        std::io::BufRead::read_line(&mut stdout, &mut line).expect("the login line");
    }
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("addr")
        .to_owned();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("limits");
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a line");
    let numbers: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["256", "256"], "the soft limit raised: {files}");
    // 400 connections that say nothing (some with half a request).
    let mut idle = Vec::new();
    for i in 0..400 {
        if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
            if i % 2 == 0 {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: ");
            }
            idle.push(stream);
        }
    }
    // A new client is served, promptly.
    let started = Instant::now();
    let target = url.split_once(&addr).map(|(_, path)| path).expect("a path");
    let mut client = std::net::TcpStream::connect(&addr).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    client
        .write_all(
            format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("send");
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut client, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_cut_off() {
    let ws = Workspace::new();
    let (sim, process) = desk_with_users(&ws, &["--body-idle-timeout", "300ms"]);
    sim.stats();
    let addr = process.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=ana&pass",
        process.base
    );
    stream.write_all(head.as_bytes()).expect("send");
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_expire_and_stay_within_their_budget_as_the_page_says() {
    let ws = Workspace::new();
    let (sim, process) = desk_with_users(&ws, &["--upload-budget-mib", "1", "--upload-ttl", "2s"]);
    sim.stats();
    let mut ana = Visitor::new(&process.base);
    assert_eq!(ana.password_login("ana", PASSWORD).await.status(), 303);
    let page = ana.text("/submit").await;
    assert!(
        page.contains("保留 2s") && page.contains("/ 1 MiB"),
        "{page}"
    );
    // Rows enough for 600 KiB.
    let mut big = format!("{}\n", common::HEADER);
    let mut n = 0;
    while big.len() < 600 * 1024 {
        n += 1;
        big.push_str(&common::line(n, &format!("B{n:06}")));
        big.push('\n');
    }
    let csrf = ana.csrf("/submit").await;
    let first = ana
        .upload(&csrf, "big1.csv", big.clone().into_bytes())
        .await;
    assert_eq!(first.status(), 303);
    let submission = desk::location(&first);
    let full = ana
        .upload(&csrf, "big2.csv", big.clone().into_bytes())
        .await;
    assert_eq!(full.status(), 507);
    assert!(full.text().await.expect("page").contains("上传空间已满"));
    // After the time to live, the first is gone, files and all, and there is room.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ana.get(&submission).await.status(), 404);
    let again = ana.upload(&csrf, "big3.csv", big.into_bytes()).await;
    assert_eq!(again.status(), 303);
    let uploads: Vec<String> = std::fs::read_dir(ws.path("results/uploads"))
        .expect("uploads")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let first_id = submission.rsplit('/').next().expect("id");
    assert!(
        uploads.iter().all(|name| !name.starts_with(first_id)),
        "{uploads:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_many_logins_never_log_another_user_out() {
    let ws = Workspace::new();
    let (sim, process) = desk_with_users(&ws, &[]);
    sim.stats();
    let bob = desk::logged_in_as(&process, "bob", "another staple horse").await;
    let mut first = Visitor::new(&process.base);
    assert_eq!(first.password_login("ana", PASSWORD).await.status(), 303);
    for _ in 0..40 {
        let mut ana = Visitor::new(&process.base);
        assert_eq!(ana.password_login("ana", PASSWORD).await.status(), 303);
    }
    assert_eq!(bob.get("/").await.status(), 200, "bob is still logged in");
    assert_eq!(
        first.get("/").await.status(),
        303,
        "ana's oldest session made room"
    );
}
