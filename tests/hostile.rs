//! Nothing lost, nothing clobbered: the binary against operator mistakes (one file in
//! two roles, a file that is not a ledger, outputs that cannot be written, endless
//! inputs) and a misbehaving gateway (answers about other req_ids, endless bans, huge
//! bodies, escape sequences, echoed secrets). Every file the run must not touch is
//! compared byte for byte.

mod common;

use common::{Fault, Matcher, Scenario};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    Workspace, binary, columns, exits_with, ids, orders_of, read_csv, send_cmd, simulator,
};

/// The bytes of each file, to compare after a run.
fn contents(paths: &[&Path]) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    paths
        .iter()
        .map(|p| (p.to_path_buf(), std::fs::read(p).ok()))
        .collect()
}

fn assert_unchanged(before: &[(PathBuf, Option<Vec<u8>>)]) {
    for (path, bytes) in before {
        assert_eq!(
            &std::fs::read(path).ok(),
            bytes,
            "{} changed",
            path.display()
        );
    }
}

/// A ledger with one delivered order `a`, written by a first run.
fn ledger_with_one_order(ws: &Workspace) -> PathBuf {
    let sim = simulator(Scenario::default());
    let input = ws.write("first.csv", orders_of(&["a".to_owned()]));
    send_cmd(ws, &sim, &[&input]).assert().code(0);
    ws.ledger()
}

#[test]
fn two_roles_on_one_file_are_refused_before_anything_is_touched() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let ledger = ledger_with_one_order(&ws);
    let input = ws.write("in.csv", orders_of(&ids(3)));
    let link = ws.path("link.csv");
    std::os::unix::fs::symlink(&ledger, &link).expect("symlink");
    let before = contents(&[&input, &ledger]);
    let requests = sim.stats().requests;
    for (extra, first, second) in [
        (
            vec!["--summary-json", "LEDGER"],
            "--ledger",
            "--summary-json",
        ),
        (
            vec!["--summary-json", "LINK", "--dry-run"],
            "--ledger",
            "--summary-json",
        ),
        (vec!["--out", "INPUT"], "INPUT", "--out"),
        (vec!["--out", "LEDGER.lock"], "--ledger's lock", "--out"),
        (vec!["--config", "LEDGER"], "--ledger", "--config"),
    ] {
        let args: Vec<String> = extra
            .iter()
            .map(|a| match *a {
                "LEDGER" => ledger.display().to_string(),
                "LINK" => link.display().to_string(),
                "INPUT" => format!(
                    "./{}",
                    input.file_name().and_then(|n| n.to_str()).unwrap_or("")
                ),
                "LEDGER.lock" => format!("{}.lock", ledger.display()),
                other => other.to_owned(),
            })
            .collect();
        // `--out` may be given once: the row's own replaces the workspace's.
        let mut cmd = match args.split_first() {
            Some((flag, rest)) if flag == "--out" => {
                let mut cmd =
                    common::send_cmd_with(&sim, &[&input], &ws.ledger(), Path::new(&rest[0]));
                cmd.args(&rest[1..]);
                cmd
            }
            _ => {
                let mut cmd = send_cmd(&ws, &sim, &[&input]);
                cmd.args(&args);
                cmd
            }
        };
        let stderr = exits_with(cmd.current_dir(ws.dir.path()), 2);
        assert!(
            stderr.contains(&format!("{first} (")) && stderr.contains(&format!("{second} (")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("are the same file"), "{stderr}");
        assert_unchanged(&before);
    }
    assert_eq!(sim.stats().requests, requests, "nothing sent");
}

#[test]
fn the_env_file_is_a_role_no_output_ever_replaces() {
    use std::os::unix::fs::PermissionsExt as _;
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    // Saved by a Windows editor: a BOM first. The credentials come from it.
    let env = ws.write(
        "opentrade.env",
        format!(
            "\u{feff}TOP_APP_KEY={}\nTOP_APP_SECRET={}\nTOP_SESSION={}\nTOP_GATEWAY={}\n",
            opentrade_callback::simulator::DEMO_APP_KEY,
            opentrade_callback::simulator::DEMO_SECRET,
            opentrade_callback::simulator::DEMO_SESSION,
            sim.url()
        ),
    );
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let before = contents(&[&env]);
    let base = |extra: &[&std::ffi::OsStr]| {
        let mut cmd = assert_cmd::Command::new(binary());
        cmd.arg("--env-file")
            .arg(&env)
            .arg("send")
            .arg(&input)
            .arg("--ledger")
            .arg(ws.ledger())
            .args(extra)
            .env_remove("TOP_APP_KEY")
            .env_remove("TOP_APP_SECRET")
            .env_remove("TOP_SESSION")
            .env_remove("TOP_GATEWAY");
        cmd
    };
    let out = ws.out();
    for flag in ["--summary-json", "--metrics-file"] {
        let stderr = exits_with(
            &mut base(&[
                flag.as_ref(),
                env.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ]),
            2,
        );
        assert!(stderr.contains("--env-file"), "{flag}: {stderr}");
    }
    let stderr = exits_with(&mut base(&["--out".as_ref(), env.as_os_str()]), 2);
    assert!(stderr.contains("--env-file"), "{stderr}");
    assert_unchanged(&before);
    let mode = std::fs::metadata(&env).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(sim.stats().requests, 0, "nothing sent");
    // The same file read with its BOM: a run with it works.
    base(&["--out".as_ref(), out.as_os_str()]).assert().code(0);
    // Any other command's output too.
    let report = exits_with(
        assert_cmd::Command::new(binary())
            .arg("--env-file")
            .arg(&env)
            .arg("report")
            .arg(&out)
            .args(["--failed-only", "--out"])
            .arg(&env),
        2,
    );
    assert!(report.contains("--env-file"), "{report}");
    assert_unchanged(&before);
}

#[test]
fn report_refuses_to_write_over_the_file_it_reads() {
    let ws = Workspace::new();
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r0001"),
        Fault::reject("BIZ_REJECTED", "订单状态不允许回调"),
    ));
    let input = ws.write("in.csv", orders_of(&ids(3)));
    send_cmd(&ws, &sim, &[&input]).assert().code(1);
    let results = ws.out();
    let hard = ws.path("hard.db");
    std::fs::hard_link(&results, &hard).expect("hard link");
    let before = contents(&[&results]);
    for out in [&results, &hard] {
        let mut report = assert_cmd::Command::new(binary());
        report
            .arg("report")
            .arg(&results)
            .args(["--failed-only", "--out"])
            .arg(out);
        let stderr = exits_with(&mut report, 2);
        assert!(stderr.contains("are the same file"), "{stderr}");
        assert_unchanged(&before);
    }
}

#[test]
fn two_runs_through_a_symlink_or_a_hard_link_share_one_lock() {
    let sim = simulator(Scenario::default().latency_ms(100));
    let ws = Workspace::new();
    ledger_with_one_order(&ws);
    let input = ws.write("in.csv", orders_of(&ids(60)));
    let mut first = common::send_process(&ws, &sim.url(), &[&input])
        .args(["--concurrency", "1"])
        .spawn()
        .expect("first run");
    assert!(common::wait_until(Duration::from_secs(10), || {
        sim.stats().requests > 1
    }));
    let soft = ws.path("soft.db");
    std::os::unix::fs::symlink(ws.ledger(), &soft).expect("symlink");
    let hard = ws.path("hard.db");
    std::fs::hard_link(ws.ledger(), &hard).expect("hard link");
    for other in [&soft, &hard] {
        let second_out = ws.path("second.csv");
        let stderr = exits_with(
            &mut common::send_cmd_with(&sim, &[&input], other, &second_out),
            4,
        );
        assert!(stderr.contains("is in use by"), "{stderr}");
    }
    first.kill().expect("kill");
    let _ = first.wait();
}

#[test]
fn a_file_that_is_not_a_ledger_is_never_modified() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    for notes in ["remember: call the bank", "remember\n", "req_id,order_no"] {
        let ledger = ws.write("notes.txt", notes);
        let before = contents(&[&ledger]);
        let stderr = exits_with(
            &mut common::send_cmd_with(&sim, &[&input], &ledger, &ws.out()),
            2,
        );
        assert!(stderr.contains("is not a ledger"), "{stderr}");
        assert_unchanged(&before);
    }
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn outputs_that_cannot_be_written_are_found_before_the_first_call() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    let dir = ws.path("a-directory");
    std::fs::create_dir(&dir).expect("mkdir");
    for (flag, path) in [
        ("--summary-json", dir.clone()),
        ("--summary-json", ws.path("missing/dir/summary.json")),
        ("--out", dir.clone()),
    ] {
        let mut cmd = match flag {
            "--out" => common::send_cmd_with(&sim, &[&input], &ws.ledger(), &path),
            _ => {
                let mut cmd = send_cmd(&ws, &sim, &[&input]);
                cmd.arg(flag).arg(&path);
                cmd
            }
        };
        let stderr = exits_with(&mut cmd, 2);
        assert!(stderr.contains(flag), "{flag} {}: {stderr}", path.display());
    }
    assert_eq!(sim.stats().requests, 0, "nothing sent");
    assert!(!ws.ledger().exists(), "no ledger left behind");
}

#[test]
fn an_answer_about_another_req_id_is_not_a_delivery() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0001"), Fault::WrongReqId));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "2"])
        .assert()
        .code(1);
    let rows = read_csv(&ws.out());
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        [
            ["r0000", "delivered", "0000"],
            ["r0001", "failed", "net.wrong_req_id"],
            ["r0002", "delivered", "0000"],
        ]
    );
    assert!(
        rows[1]["error_msg"].contains("'r0001-other'") && rows[1]["error_msg"].contains("'r0001'"),
        "{}",
        rows[1]["error_msg"]
    );
    assert_eq!(
        common::ledger_state(&ws.ledger())["r0001"],
        "failed",
        "resent by the next run"
    );
}

#[test]
fn bans_add_up_and_no_ban_length_makes_a_run_wait_for_ever() {
    for (length, max_wait) in [
        ("1", "2500ms"),
        ("0", "2500ms"),
        ("-5", "9s"),
        ("999999999999999999999999999999", "1h"),
    ] {
        let sim = simulator(Scenario::default().on(
            Matcher::prefix("r"),
            Fault::Error {
                code: 7,
                msg: "App Call Limited".into(),
                sub_code: "accesscontrol.limited-by-api-access-count".into(),
                sub_msg: format!("This ban will last for {length} more seconds"),
                times: None,
            },
        ));
        let ws = Workspace::new();
        let input = ws.write("in.csv", orders_of(&ids(4)));
        let started = Instant::now();
        let stderr = exits_with(
            send_cmd(&ws, &sim, &[&input]).args(["--max-ban-wait", max_wait]),
            3,
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(15), "{length}: {took:?}");
        assert!(stderr.contains("--max-ban-wait"), "{length}: {stderr}");
        assert!(stderr.contains("in all"), "{length}: {stderr}");
        // Every call was a ban: none of them was a delivery.
        assert_eq!(sim.stats().accepted, 0);
    }
}

#[test]
fn a_huge_answer_is_not_read_whole() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r0000"),
        Fault::HugeAnswer { bytes: 300000000 },
    ));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let started = Instant::now();
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "1"])
        .assert()
        .code(1);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        [
            ["r0000", "failed", "net.answer_too_large"],
            ["r0001", "delivered", "0000"],
        ]
    );
    let served = sim.stats().huge_bytes_served;
    assert!(served < 64 << 20, "the client kept reading: {served} bytes");
}

#[test]
fn gateway_text_is_shown_with_its_control_characters_visible() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r0000"),
        Fault::reject("B\u{1b}[2J", "bad\r\nexit 0\u{1b}]0;owned\u{07}"),
    ));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let stderr = exits_with(&mut send_cmd(&ws, &sim, &[&input]), 1);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("bad\\r\\nexit 0\\x1b]0;owned\\x07"),
        "{stderr}"
    );
    assert!(stderr.contains("B\\x1b[2J"), "{stderr}");
    let report = assert_cmd::Command::new(binary())
        .arg("report")
        .arg(ws.out())
        .output()
        .expect("report");
    let shown = String::from_utf8_lossy(&report.stdout);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\r'),
        "{shown:?}"
    );
    assert!(shown.contains("bad\\r\\nexit 0"), "{shown}");
}

#[test]
fn a_gateway_echoing_the_request_never_carries_the_secrets_anywhere() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("r0000"), Fault::EchoRequest));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let summary = ws.path("summary.json");
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input])
            .arg("--summary-json")
            .arg(&summary)
            .arg("-vv"),
        1,
    );
    let rows = read_csv(&ws.out());
    assert!(
        rows[0]["sub_msg"].contains("session=***"),
        "{}",
        rows[0]["sub_msg"]
    );
    let report = assert_cmd::Command::new(binary())
        .arg("report")
        .arg(ws.out())
        .output()
        .expect("report");
    let secrets = [
        opentrade_callback::simulator::DEMO_SECRET,
        opentrade_callback::simulator::DEMO_SESSION,
    ];
    // The ledger's bytes too (its text is UTF-8 inside), its log included.
    let files = [ws.out(), ws.ledger(), ws.path("ledger.db-wal"), summary];
    for secret in secrets {
        assert!(!stderr.contains(secret), "stderr: {stderr}");
        assert!(!String::from_utf8_lossy(&report.stdout).contains(secret));
        for file in &files {
            let bytes = std::fs::read(file).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(secret), "{}: {text}", file.display());
        }
    }
}

/// A session with a space, a plus, a slash, `=`, a non-ASCII letter and a `%`.
const AWKWARD_SESSION: &str = "Sess i0n+/QWE=é%88";

#[test]
fn a_half_decoded_echo_of_an_awkward_session_leaks_nowhere() {
    let sim = common::simulator_with(
        opentrade_callback::simulator::SimulatorConfig {
            session: AWKWARD_SESSION.into(),
            ..opentrade_callback::simulator::SimulatorConfig::demo()
        }
        .with_scenario(Scenario::default().on(Matcher::req_id("r0000"), Fault::EchoRequest)),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input])
            .env("TOP_SESSION", AWKWARD_SESSION)
            .arg("-vv"),
        1,
    );
    let rows = read_csv(&ws.out());
    // The gateway echoed it half-decoded (`%xx` decoded, `+` kept), named and bare.
    assert!(
        rows[0]["sub_msg"].contains("session=***"),
        "{}",
        rows[0]["sub_msg"]
    );
    assert_eq!(rows[1]["status"], "delivered");
    let failed = ws.path("failed.csv");
    assert_cmd::Command::new(binary())
        .arg("report")
        .arg(ws.out())
        .args(["--failed-only", "--out"])
        .arg(&failed)
        .assert()
        .code(1);
    let half = "Sess+i0n+/QWE=é%88";
    for text in [
        stderr,
        std::fs::read_to_string(ws.out()).expect("results"),
        std::fs::read_to_string(&failed).expect("failed-only"),
    ] {
        for form in [AWKWARD_SESSION, half, "Sess+i0n", "QWE=é"] {
            assert!(!text.contains(form), "{form} in {text}");
        }
    }
}

#[test]
fn endless_or_oversize_inputs_end_with_a_message() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(2)));
    for (args, expected) in [
        (vec!["/dev/zero".to_owned()], "is a device"),
        (
            vec![
                input.display().to_string(),
                "--config".into(),
                "/dev/zero".into(),
            ],
            "larger than 1024 KiB",
        ),
    ] {
        let started = Instant::now();
        let mut cmd = send_cmd(&ws, &sim, &[]);
        cmd.args(&args);
        let stderr = exits_with(&mut cmd, 2);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let mut scenario = assert_cmd::Command::new(binary());
    scenario
        .arg("send")
        .arg(&input)
        .arg("--ledger")
        .arg(ws.ledger())
        .arg("--out")
        .arg(ws.out())
        .args(["--simulate", "--scenario", "/dev/zero"]);
    let stderr = exits_with(&mut scenario, 2);
    assert!(stderr.contains("larger than 1024 KiB"), "{stderr}");
    // A row far longer than any callback is invalid, and the run goes on.
    let long = format!(
        "{}\n{}\n4000000000000000009,,true,0000,{},big,\n",
        common::HEADER,
        common::line(1, "ok"),
        "x".repeat(200_000)
    );
    let input = ws.write("long.csv", long);
    send_cmd(&ws, &sim, &[&input]).assert().code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        [
            ["ok", "delivered", "0000"],
            ["", "invalid", "input.row_too_long"]
        ]
    );
    assert_eq!(sim.stats().requests, 1);
}

#[test]
fn an_empty_secret_in_the_config_file_is_refused() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(1)));
    let config = ws.write(
        "config.toml",
        "app_key = \"12345678\"\nsecret = \"\"\nsession = \"demo-session\"\n",
    );
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input])
            .env_remove("TOP_APP_KEY")
            .env_remove("TOP_APP_SECRET")
            .env_remove("TOP_SESSION")
            .arg("--config")
            .arg(&config),
        2,
    );
    assert!(
        stderr.contains("secret in --config is set but empty"),
        "{stderr}"
    );
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn plain_http_to_another_machine_is_refused() {
    let ws = Workspace::new();
    let sim = simulator(Scenario::default());
    let input = ws.write("in.csv", orders_of(&ids(1)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input])
            .env("TOP_GATEWAY", "http://gateway.example.invalid/router/rest"),
        2,
    );
    assert!(stderr.contains("--allow-insecure-http"), "{stderr}");
    // The simulator only gives send_cmd its other settings: it is never the gateway.
    sim.unused();
    assert!(!ws.ledger().exists(), "nothing written");
}

#[test]
fn a_second_signal_leaves_no_temporary_file_behind() {
    let sim = simulator(Scenario::default().latency_ms(200));
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(40)));
    let mut child = common::send_process(&ws, &sim.url(), &[&input])
        .args(["--concurrency", "1"])
        .spawn()
        .expect("spawn");
    assert!(common::wait_until(Duration::from_secs(10), || {
        sim.stats().requests > 0
    }));
    common::signal(child.id(), "-INT");
    std::thread::sleep(Duration::from_millis(50));
    common::signal(child.id(), "-INT");
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(ws.dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
