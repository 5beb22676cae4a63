//! `build_send` from flags, environment and file: the precedence table and its checks.
use super::*;
use crate::send::Mode;
use crate::send::policy::{Backoff, BreakerPolicy};
use clap::Parser as _;
use std::os::unix::fs::PermissionsExt as _;

fn args(extra: &[&str]) -> SendArgs {
    let mut argv = vec![
        "opentrade-callback",
        "send",
        "in.csv",
        "--ledger",
        "l.db",
        "--out",
        "o.csv",
    ];
    argv.extend_from_slice(extra);
    match crate::cli::Cli::try_parse_from(argv)
        .expect("valid args")
        .command
    {
        crate::cli::Command::Send(args) => *args,
        other => panic!("expected send, got {other:?}"),
    }
}

fn env_of(pairs: &[(&str, &str)]) -> Environment {
    Environment::of(pairs.iter().copied())
}

const CREDENTIALS: &[(&str, &str)] = &[
    ("TOP_APP_KEY", "k"),
    ("TOP_APP_SECRET", "s"),
    ("TOP_SESSION", "t"),
];

#[test]
fn defaults_are_the_documented_ones() {
    let config = build_send(args(&[]), &env_of(CREDENTIALS)).expect("builds");
    assert_eq!(config.policy.concurrency.get(), 8);
    assert_eq!(config.policy.max_attempts.get(), 5);
    assert_eq!(config.policy.qps, None);
    assert_eq!(config.connection.client.timeout, Duration::from_secs(10));
    assert_eq!(config.policy.max_ban_wait, Duration::from_secs(300));
    assert_eq!(
        config.policy.breaker,
        BreakerPolicy {
            window: 100,
            max_percent: 50.0
        }
    );
    assert!(
        matches!(&config.connection.mode, Mode::Live { gateway, .. } if gateway == DEFAULT_GATEWAY)
    );
}

#[test]
fn missing_credentials_are_named() {
    let err = build_send(args(&[]), &env_of(&[("TOP_APP_KEY", "k")])).expect_err("no secret");
    let text = err.to_string();
    assert!(text.contains("TOP_APP_SECRET, TOP_SESSION"), "{text}");
    assert!(!text.contains("TOP_APP_KEY,"), "{text}");
}

#[test]
fn dry_run_and_simulate_need_no_credentials() {
    assert!(build_send(args(&["--dry-run"]), &env_of(&[])).is_ok());
    assert!(matches!(
        build_send(args(&["--simulate"]), &env_of(&[]))
            .expect("builds")
            .connection
            .mode,
        Mode::Simulate { .. }
    ));
}

#[test]
fn flags_beat_the_file_and_the_environment_beats_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "app_key = \"file-key\"\nsecret = \"file-secret\"\nsession = \"file-session\"\nconcurrency = 3\ntimeout = \"2s\"\n\
         [retry]\nmax_attempts = 9\nbackoff_base = \"5ms\"\nbackoff_cap = \"50ms\"\n[classify]\n\"isv.busy\" = \"transient\"\n",
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config_arg = path.to_str().expect("utf-8 path");
    let config = build_send(
        args(&["--config", config_arg, "--concurrency", "5"]),
        &env_of(&[("TOP_APP_KEY", "env-key")]),
    )
    .expect("builds");
    assert_eq!(config.policy.concurrency.get(), 5, "flag beats file");
    assert_eq!(config.connection.client.timeout, Duration::from_secs(2));
    assert_eq!(config.policy.max_attempts.get(), 9);
    assert_eq!(
        config.policy.backoff,
        Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(50)
        }
    );
    match &config.connection.mode {
        Mode::Live { credentials, .. } => {
            assert_eq!(credentials.app_key, "env-key", "environment beats file");
            assert_eq!(credentials.secret.expose(), "file-secret");
        }
        other => panic!("expected live, got {other:?}"),
    }
}

#[test]
fn the_ca_file_comes_from_the_flag_then_the_environment_then_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "ca_cert = \"/nonexistent/file.pem\"\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = path.to_str().expect("utf-8 path");
    const CREDS: &[(&str, &str)] = &[
        ("TOP_APP_KEY", "k"),
        ("TOP_APP_SECRET", "s"),
        ("TOP_SESSION", "x"),
    ];
    const WITH_ENV: &[(&str, &str)] = &[
        ("TOP_APP_KEY", "k"),
        ("TOP_APP_SECRET", "s"),
        ("TOP_SESSION", "x"),
        ("TOP_CA_CERT", "/nonexistent/env.pem"),
    ];
    type Vars = &'static [(&'static str, &'static str)];
    let cases: [(&[&str], Vars, &str); 3] = [
        (
            &["--config", config],
            CREDS,
            "ca_cert in --config /nonexistent/file.pem",
        ),
        (
            &["--config", config],
            WITH_ENV,
            "TOP_CA_CERT /nonexistent/env.pem",
        ),
        (
            &["--config", config, "--ca-cert", "/nonexistent/flag.pem"],
            WITH_ENV,
            "--ca-cert /nonexistent/flag.pem",
        ),
    ];
    for (extra, env, expected) in cases {
        let err = build_send(args(extra), &env_of(env)).expect_err("no such file");
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    // Not read at all when no call goes out.
    let mut dry = vec!["--dry-run"];
    dry.extend(["--ca-cert", "/nonexistent/flag.pem"]);
    build_send(args(&dry), &env_of(&[])).expect("a dry run needs no CA file");
}

#[test]
fn unknown_config_keys_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "secrett = \"x\"\n").expect("write");
    let err = build_send(
        args(&["--config", path.to_str().expect("utf-8")]),
        &env_of(CREDENTIALS),
    )
    .expect_err("typo");
    assert!(err.to_string().contains("secrett"), "{err}");
}

#[test]
fn config_syntax_errors_name_the_place_but_not_the_value() {
    let dir = tempfile::tempdir().expect("dir");
    for text in [
        "app_key = \"k\"\nsecret = \"TOPSECRET-1\n",
        "app_key = \"k\"\nconcurrency = \"TOPSECRET-1\"\n",
    ] {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).expect("write");
        let err = build_send(
            args(&["--config", path.to_str().expect("utf-8")]),
            &env_of(CREDENTIALS),
        )
        .expect_err("bad file");
        let shown = format!("{err:#}");
        assert!(shown.contains("line 2"), "{shown}");
        assert!(!shown.contains("TOPSECRET"), "{shown}");
    }
}

#[test]
fn out_and_ledger_must_differ() {
    let mut a = args(&["--dry-run"]);
    a.out = Some(PathBuf::from("./l.db"));
    assert!(build_send(a, &env_of(&[])).is_err());
}

#[test]
fn the_gateway_comes_from_the_environment_through_env() {
    let config = build_send(
        args(&[]),
        &env_of(&[
            ("TOP_APP_KEY", "k"),
            ("TOP_APP_SECRET", "s"),
            ("TOP_SESSION", "t"),
            ("TOP_GATEWAY", "http://127.0.0.1:9/router/rest"),
        ]),
    )
    .expect("builds");
    assert!(
        matches!(&config.connection.mode, Mode::Live { gateway, .. } if gateway == "http://127.0.0.1:9/router/rest")
    );
}

#[test]
fn an_empty_credential_from_any_source_is_refused() {
    for (name, empty) in [
        ("TOP_APP_KEY", "TOP_APP_KEY"),
        ("TOP_APP_SECRET", "TOP_APP_SECRET"),
        ("TOP_SESSION", "TOP_SESSION"),
    ] {
        let env = Environment::of(
            CREDENTIALS
                .iter()
                .map(|(k, v)| (*k, if *k == name { " " } else { *v })),
        );
        let err = build_send(args(&[]), &env).expect_err("empty");
        assert!(err.to_string().starts_with(empty), "{err}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "app_key = \"k\"\nsecret = \"\"\nsession = \"s\"\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = build_send(
        args(&["--config", path.to_str().expect("utf-8")]),
        &env_of(&[]),
    )
    .expect_err("empty secret in the file");
    assert!(err.to_string().contains("secret in --config"), "{err}");
}

#[test]
fn plain_http_only_to_this_machine_unless_allowed() {
    let with = |gateway: &'static str, extra: &[&str]| {
        let mut pairs = CREDENTIALS.to_vec();
        pairs.push(("TOP_GATEWAY", gateway));
        let env = env_of(&pairs);
        build_send(args(extra), &env)
    };
    assert!(with("http://127.0.0.1:8080/router/rest", &[]).is_ok());
    assert!(with("http://localhost/router/rest", &[]).is_ok());
    assert!(with("http://[::1]:9/router/rest", &[]).is_ok());
    assert!(with("https://eco.taobao.com/router/rest", &[]).is_ok());
    let err = with("http://gw.example.com/router/rest", &[]).expect_err("insecure");
    assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
    assert!(
        with(
            "http://gw.example.com/router/rest",
            &["--allow-insecure-http"]
        )
        .is_ok()
    );
    assert!(with("ftp://gw.example.com/", &[]).is_err());
}

#[test]
fn failure_rate_must_be_a_percentage() {
    assert!(
        build_send(
            args(&["--dry-run", "--max-failure-rate", "150"]),
            &env_of(&[])
        )
        .is_err()
    );
}

#[test]
fn the_desk_s_send_is_the_send_of_the_same_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let (input, ledger, out) = (
        dir.path().join("upload.csv"),
        dir.path().join("ledger.db"),
        dir.path().join("out.csv"),
    );
    let env = env_of(CREDENTIALS);
    let template = SendTemplate {
        gateway: Some("http://127.0.0.1:9/router/rest".into()),
        ..SendTemplate::default()
    };
    for dry_run in [true, false] {
        let desk =
            build_desk_send(&template, &input, &ledger, &out, dry_run, &env).expect("the desk's");
        let mut argv = vec![
            "opentrade-callback".to_owned(),
            "send".to_owned(),
            input.display().to_string(),
            "--ledger".to_owned(),
            ledger.display().to_string(),
            "--out".to_owned(),
            out.display().to_string(),
            "--gateway".to_owned(),
            "http://127.0.0.1:9/router/rest".to_owned(),
            "--retry-rejected".to_owned(),
            "--progress".to_owned(),
            "off".to_owned(),
        ];
        if dry_run {
            argv.push("--dry-run".to_owned());
        }
        let crate::cli::Command::Send(args) = crate::cli::Cli::try_parse_from(argv)
            .expect("valid")
            .command
        else {
            panic!("send");
        };
        let shell = build_send(*args, &env).expect("the shell's");
        assert_eq!(
            format!("{desk:?}"),
            format!("{shell:?}"),
            "dry run {dry_run}"
        );
    }
}

#[test]
fn check_builds_the_connection_of_a_live_send_from_its_flags() {
    let args = crate::cli::CheckArgs {
        connect: crate::cli::ConnectArgs {
            config: None,
            gateway: Some("http://gw.example.com/router/rest".into()),
            ca_cert: None,
            allow_insecure_http: false,
        },
        sign_method: None,
        timeout: Duration::from_secs(3),
        warn_days: 30,
        ledger: None,
        out: None,
        json: false,
    };
    let err = build_check(&args, &env_of(CREDENTIALS)).expect_err("plain http away");
    assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
    let args = crate::cli::CheckArgs {
        connect: crate::cli::ConnectArgs {
            allow_insecure_http: true,
            ..args.connect
        },
        ..args
    };
    let connection = build_check(&args, &env_of(CREDENTIALS)).expect("builds");
    assert_eq!(connection.client.timeout, Duration::from_secs(3));
    assert!(matches!(connection.mode, Mode::Live { .. }));
    let err = build_check(&args, &env_of(&[])).expect_err("no credentials");
    assert!(err.to_string().contains("TOP_APP_KEY"), "{err}");
}
