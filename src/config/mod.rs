//! Settings for `send`, checked once, here: command-line flags, then the environment,
//! then a `--config` TOML file (`file`), then defaults — one precedence table,
//! `layers`, that reads as data. Nothing after this sees clap or the environment.
//! Secrets are read only from the environment or the file, and only ever held as
//! `Secret`.

mod derived;
pub mod envfile;
mod file;

pub use derived::{SendTemplate, build_check, build_desk_send, desk_paths};

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::FileConfig;

use crate::cli::SendArgs;
use crate::input::InputOptions;
use crate::roles::{RoleError, Roles};
use crate::send::policy::{Backoff, BreakerPolicy, Policy};
use crate::send::{ClientTuning, Mode, SendConfig};
use crate::simulator::{Scenario, ScenarioError};
use crate::top::{Credentials, Overrides, Secret, SignMethod};

/// The real gateway.
pub const DEFAULT_GATEWAY: &str = "https://eco.taobao.com/router/rest";

/// Reads an environment variable; injected so tests need not touch the process's.
/// Every variable the tool reads goes through it.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Settings that cannot be used; nothing was read, written or sent.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read --config {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--config {}{place}: {message}", path.display())]
    Parse {
        path: PathBuf,
        place: String,
        message: String,
    },
    #[error(
        "no credentials: set {missing} in the environment (or app_key/secret/session in a --config file); \
         to try the tool without them, add --simulate or --dry-run"
    )]
    NoCredentials { missing: String },
    #[error("--backoff-cap ({cap:?}) is smaller than --backoff-base ({base:?})")]
    BackoffCapBelowBase { cap: Duration, base: Duration },
    #[error("--max-failure-rate {0} must be a percentage from 0 to 100")]
    FailureRate(f64),
    #[error("--batch {0}: a batch request carries at most 50 calls")]
    Batch(usize),
    #[error("--timeout must be more than zero")]
    ZeroTimeout,
    #[error(transparent)]
    Roles(#[from] RoleError),
    #[error("{0} is set but empty; set it to the value, or remove it")]
    Empty(&'static str),
    #[error("--gateway '{url}' is not a usable URL: {reason}")]
    Gateway { url: String, reason: String },
    #[error(
        "--gateway '{0}' is plain http to another machine: the session key would travel unencrypted; use https, or add --allow-insecure-http if this network is trusted"
    )]
    InsecureHttp(String),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Proxy(#[from] crate::top::proxy::ProxyError),
    #[error("{flag} is not given, and no config file names it ({key} = \"…\")")]
    MissingPath {
        flag: &'static str,
        key: &'static str,
    },
    #[error(
        "notify_secret in --config signs a DingTalk or Feishu robot or a JSON webhook; a WeCom group robot has no signing — remove notify_secret, or use another --notify-format"
    )]
    NotifySecretForWecom,
    #[error(
        "notify_secret in --config is set but empty; set it to the robot's secret (SEC…), or remove it"
    )]
    EmptyNotifySecret,
    #[error("session_expires in --config is '{0}', not a date like 2027-03-01")]
    SessionExpires(String),
    #[error("{origin} {}: {error}", path.display())]
    CaCert {
        origin: &'static str,
        path: PathBuf,
        error: crate::top::tls::CaCertError,
    },
}

/// A text setting and the layer it came from (for messages).
type Named = Option<(String, &'static str)>;

/// Every setting, resolved from its layers.
struct Layers {
    gateway: Named,
    ca_cert: Option<(PathBuf, &'static str)>,
    app_key: Named,
    secret: Named,
    session: Named,
    sign_method: SignMethod,
    concurrency: NonZeroUsize,
    batch: NonZeroUsize,
    qps: Option<NonZeroU32>,
    timeout: Duration,
    connect_timeout: Duration,
    max_attempts: NonZeroU32,
    backoff_base: Duration,
    backoff_cap: Duration,
    max_ban_wait: Duration,
    max_failure_rate: f64,
}

/// The precedence table: each setting's flag, environment variable, file key and
/// default, highest first. A value absent from one layer falls to the next.
#[rustfmt::skip]
fn layers(args: &SendArgs, env: Env<'_>, file: &FileConfig) -> Layers {
    let var = |name: &'static str| env(name).map(|v| (v, name));
    let key = |value: &Option<String>, name: &'static str| value.clone().map(|v| (v, name));
    let retry = &file.retry;
    let path = |value: &Option<PathBuf>, name: &'static str| value.clone().map(|v| (v, name));
    let path_var = |name: &'static str| env(name).filter(|v| !v.is_empty()).map(|v| (PathBuf::from(v), name));
    Layers {
        //                  flag                       environment              file                                     default
        gateway:         first([key(&args.gateway, "--gateway"), var("TOP_GATEWAY"), key(&file.gateway, "gateway in --config")]).or(Some((DEFAULT_GATEWAY.into(), "the default"))),
        ca_cert:         first([path(&args.ca_cert, "--ca-cert"), path_var("TOP_CA_CERT"), path(&file.ca_cert, "ca_cert in --config")]),
        app_key:         first([None,                  var("TOP_APP_KEY"),      key(&file.app_key, "app_key in --config")]),
        secret:          first([None,                  var("TOP_APP_SECRET"),   key(&file.secret, "secret in --config")]),
        session:         first([None,                  var("TOP_SESSION"),      key(&file.session, "session in --config")]),
        sign_method:     first([args.sign_method,      None,                    file.sign_method])          .unwrap_or_default(),
        concurrency:     first([args.concurrency,      None,                    file.concurrency])          .unwrap_or(NonZeroUsize::new(8).expect("8 > 0")),
        batch:           first([args.batch,            None,                    file.batch])                .unwrap_or(NonZeroUsize::MIN),
        qps:             first([args.qps,              None,                    file.qps]),
        timeout:         first([args.timeout,          None,                    file.timeout])              .unwrap_or(Duration::from_secs(10)),
        connect_timeout: first([args.connect_timeout,  None,                    file.connect_timeout])      .unwrap_or(Duration::from_secs(5)),
        max_attempts:    first([args.max_attempts,     None,                    retry.max_attempts])        .unwrap_or(NonZeroU32::new(5).expect("5 > 0")),
        backoff_base:    first([args.backoff_base,     None,                    retry.backoff_base])        .unwrap_or(Duration::from_millis(500)),
        backoff_cap:     first([args.backoff_cap,      None,                    retry.backoff_cap])         .unwrap_or(Duration::from_secs(30)),
        max_ban_wait:    first([args.max_ban_wait,     None,                    retry.max_ban_wait])        .unwrap_or(Duration::from_secs(300)),
        max_failure_rate: first([args.max_failure_rate, None,                   retry.max_failure_rate])    .unwrap_or(50.0),
    }
}

/// The first layer that has a value.
fn first<T, const N: usize>(layers: [Option<T>; N]) -> Option<T> {
    layers.into_iter().flatten().next()
}

/// Builds the checked configuration of `send`.
pub fn build_send(args: SendArgs, env: Env<'_>) -> Result<SendConfig, ConfigError> {
    // Every role the command line names is claimed before anything is read.
    let mut roles = claim_roles(&args, args.ledger.as_deref(), args.out.as_deref())?;
    // OPENTRADE_CONFIG names the config when --config does not.
    let config_path = config_path(args.config.as_deref(), env);
    if args.config.is_none()
        && let Some(path) = &config_path
    {
        roles.claim("OPENTRADE_CONFIG", path)?;
    }
    // The config may name the ledger and the results: their roles are claimed as soon
    // as it is read, still before anything else is touched.
    let file = match &config_path {
        Some(path) => file::load(path)?,
        None => FileConfig::default(),
    };
    let ledger =
        args.ledger
            .clone()
            .or_else(|| file.ledger.clone())
            .ok_or(ConfigError::MissingPath {
                flag: "--ledger",
                key: "ledger",
            })?;
    let out = args
        .out
        .clone()
        .or_else(|| file.out.clone())
        .ok_or(ConfigError::MissingPath {
            flag: "--out",
            key: "out",
        })?;
    if args.ledger.is_none() {
        roles.claim("ledger in --config", &ledger)?;
        roles.claim(
            "ledger in --config's lock",
            &crate::ledger::lock::lock_path(&ledger),
        )?;
    }
    if args.out.is_none() {
        roles.claim("out in --config", &out)?;
    }
    let set = layers(&args, env, &file);
    let mode = mode(&args, &set)?;
    let extra_roots = match (&set.ca_cert, &mode) {
        (Some((path, origin)), Mode::Live { .. }) => {
            roles.claim(origin, path)?;
            crate::top::tls::load_roots(path).map_err(|error| ConfigError::CaCert {
                origin,
                path: path.clone(),
                error,
            })?
        }
        _ => Vec::new(),
    };
    let proxy = match &mode {
        Mode::Live { gateway, .. } => match reqwest::Url::parse(gateway) {
            Ok(url) => crate::top::proxy::tunnel_for(&url, env)?,
            Err(_) => None,
        },
        _ => None,
    };
    notify_secret(&args, &file)?;
    let session_expires = match &file.session_expires {
        Some(text) => Some(
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map_err(|_| ConfigError::SessionExpires(text.clone()))?,
        ),
        None => None,
    };
    if set.backoff_cap < set.backoff_base {
        return Err(ConfigError::BackoffCapBelowBase {
            cap: set.backoff_cap,
            base: set.backoff_base,
        });
    }
    if !(0.0..=100.0).contains(&set.max_failure_rate) {
        return Err(ConfigError::FailureRate(set.max_failure_rate));
    }
    if set.timeout.is_zero() {
        return Err(ConfigError::ZeroTimeout);
    }
    if set.batch.get() > crate::top::batch::MAX_CALLS {
        return Err(ConfigError::Batch(set.batch.get()));
    }
    let policy = Policy {
        concurrency: set.concurrency,
        batch: set.batch,
        qps: set.qps,
        max_attempts: set.max_attempts,
        backoff: Backoff {
            base: set.backoff_base,
            cap: set.backoff_cap,
        },
        max_ban_wait: set.max_ban_wait,
        unknown_ban: Duration::from_secs(10),
        breaker: BreakerPolicy {
            window: 100,
            max_percent: set.max_failure_rate,
        },
        seed: args.jitter_seed,
    };
    Ok(SendConfig {
        inputs: args.inputs,
        input: InputOptions {
            encoding: args.encoding,
            delimiter: args.delimiter,
            map: args.map,
            sheet: args.sheet,
            labels: Vec::new(),
        },
        ledger,
        out,
        summary_json: args.summary_json,
        metrics_file: args.metrics_file,
        mode,
        client: ClientTuning {
            sign_method: set.sign_method,
            timeout: set.timeout,
            connect_timeout: set.connect_timeout,
            overrides: Overrides::new(file.classify)
                .with_retry_business_codes(file.retry_business_codes),
            extra_roots,
            proxy,
        },
        policy,
        retry_rejected: args.retry_rejected,
        progress: args.progress,
        progress_every: args.progress_every,
        excel: args.excel,
        session_expires,
        expect_plan: None,
    })
}

/// The robot's signing secret, when the config has one for the notification in use.
fn notify_secret(args: &SendArgs, file: &FileConfig) -> Result<Option<Secret>, ConfigError> {
    let Some(secret) = &file.notify_secret else {
        return Ok(None);
    };
    if secret.trim().is_empty() {
        return Err(ConfigError::EmptyNotifySecret);
    }
    if args.notify_url.is_some() && args.notify_format == crate::send::hooks::NotifyFormat::Wecom {
        return Err(ConfigError::NotifySecretForWecom);
    }
    Ok(Some(Secret::new(secret.clone())))
}

/// The hooks of a `send` (`--ping-url`, `--notify-url`), known before its settings are
/// checked, so even a run that never starts says so. The robot's secret comes from the
/// config file when it can be read (a file that cannot be is the run's own error).
pub fn hooks(args: &SendArgs, env: Env<'_>) -> crate::send::hooks::Hooks {
    let secret = config_path(args.config.as_deref(), env)
        .and_then(|path| file::load_quietly(&path).ok())
        .and_then(|file| notify_secret(args, &file).ok().flatten());
    crate::send::hooks::Hooks {
        ping: args.ping_url.clone(),
        notify: args
            .notify_url
            .clone()
            .map(|url| crate::send::hooks::Notify {
                url,
                format: args.notify_format,
                on: args.notify_on,
                secret,
            }),
    }
}

/// `--config`, else `OPENTRADE_CONFIG`.
pub(super) fn config_path(flag: Option<&Path>, env: Env<'_>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        env("OPENTRADE_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Where the calls go, and with which credentials.
fn mode(args: &SendArgs, set: &Layers) -> Result<Mode, ConfigError> {
    if args.dry_run {
        return Ok(Mode::DryRun);
    }
    if args.simulate {
        let scenario = match &args.scenario {
            Some(path) => Scenario::load(path)?,
            None => Scenario::default(),
        };
        return Ok(Mode::Simulate { scenario });
    }
    let (Some(app_key), Some(secret), Some(session)) = (&set.app_key, &set.secret, &set.session)
    else {
        let missing: Vec<&str> = [
            ("TOP_APP_KEY", set.app_key.is_none()),
            ("TOP_APP_SECRET", set.secret.is_none()),
            ("TOP_SESSION", set.session.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        return Err(ConfigError::NoCredentials {
            missing: missing.join(", "),
        });
    };
    let gateway = set.gateway.clone().expect("the gateway has a default");
    for (value, origin) in [&gateway, app_key, secret, session] {
        if value.trim().is_empty() {
            return Err(ConfigError::Empty(origin));
        }
    }
    check_transport(&gateway.0, args.allow_insecure_http)?;
    Ok(Mode::Live {
        gateway: gateway.0,
        credentials: Credentials {
            app_key: app_key.0.clone(),
            secret: Secret::new(secret.0.clone()),
            session: Secret::new(session.0.clone()),
        },
    })
}

/// The session key travels in every request: plain `http://` only to this machine,
/// unless `--allow-insecure-http` says otherwise.
fn check_transport(gateway: &str, allow_insecure_http: bool) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::Gateway {
        url: crate::mask::url(gateway),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(gateway).map_err(|e| bad(&e.to_string()))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("it has no host")),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_insecure_http => Ok(()),
        "http" => Err(ConfigError::InsecureHttp(crate::mask::url(gateway))),
        _ => Err(bad("the scheme must be https (or http to this machine)")),
    }
}

/// Every file `send` reads or writes, in its one role; found before any is touched.
fn claim_roles(
    args: &SendArgs,
    ledger: Option<&Path>,
    out: Option<&Path>,
) -> Result<Roles, RoleError> {
    let mut roles = Roles::default();
    for input in args.inputs.iter().filter(|p| p.as_os_str() != "-") {
        roles.claim("INPUT", input)?;
    }
    if let Some(ledger) = ledger {
        roles.claim("--ledger", ledger)?;
        roles.claim("--ledger's lock", &crate::ledger::lock::lock_path(ledger))?;
    }
    if let Some(out) = out {
        roles.claim("--out", out)?;
    }
    let optional = [
        ("--env-file", &args.env_file),
        ("--summary-json", &args.summary_json),
        ("--metrics-file", &args.metrics_file),
        ("--config", &args.config),
        ("--scenario", &args.scenario),
    ];
    for (role, path) in optional {
        if let Some(path) = path {
            roles.claim(role, path)?;
        }
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::policy::{Backoff, BreakerPolicy};
    use clap::Parser as _;
    use std::os::unix::fs::PermissionsExt as _;

    fn args(extra: &[&str]) -> SendArgs {
        let mut argv = vec![
            "opentrade-callback",
            "send",
            "in.csv",
            "--ledger",
            "l.csv",
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

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
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
        assert_eq!(config.client.timeout, Duration::from_secs(10));
        assert_eq!(config.policy.max_ban_wait, Duration::from_secs(300));
        assert_eq!(
            config.policy.breaker,
            BreakerPolicy {
                window: 100,
                max_percent: 50.0
            }
        );
        assert!(matches!(&config.mode, Mode::Live { gateway, .. } if gateway == DEFAULT_GATEWAY));
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
        assert_eq!(config.client.timeout, Duration::from_secs(2));
        assert_eq!(config.policy.max_attempts.get(), 9);
        assert_eq!(
            config.policy.backoff,
            Backoff {
                base: Duration::from_millis(5),
                cap: Duration::from_millis(50)
            }
        );
        match &config.mode {
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
        a.out = Some(PathBuf::from("./l.csv"));
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
            matches!(&config.mode, Mode::Live { gateway, .. } if gateway == "http://127.0.0.1:9/router/rest")
        );
    }

    #[test]
    fn an_empty_credential_from_any_source_is_refused() {
        for (name, empty) in [
            ("TOP_APP_KEY", "TOP_APP_KEY"),
            ("TOP_APP_SECRET", "TOP_APP_SECRET"),
            ("TOP_SESSION", "TOP_SESSION"),
        ] {
            let env = |var: &str| {
                CREDENTIALS.iter().find(|(k, _)| *k == var).map(|(k, v)| {
                    if *k == name {
                        " ".to_owned()
                    } else {
                        v.to_string()
                    }
                })
            };
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
            let env = move |var: &str| {
                if var == "TOP_GATEWAY" {
                    return Some(gateway.to_owned());
                }
                CREDENTIALS
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            };
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
}
