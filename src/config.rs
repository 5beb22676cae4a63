//! Settings for `send`: command-line flags, then the environment, then a `--config`
//! TOML file, then defaults — checked once, here, into one `SendConfig`. Nothing after
//! this sees clap or the environment. Secrets are read only from the environment or
//! the file, and only ever held as `Secret`.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::cli::SendArgs;
use crate::dispatch::{Backoff, BreakerPolicy, Policy};
use crate::input::InputOptions;
use crate::progress::ProgressMode;
use crate::simulator::Scenario;
use crate::top::{ClientSettings, Credentials, ErrorClass, Overrides, Secret, SignMethod};

/// The real gateway.
pub const DEFAULT_GATEWAY: &str = "https://eco.taobao.com/router/rest";

/// Reads an environment variable; injected so tests need not touch the process's.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where the callbacks go.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `--dry-run`: nowhere.
    DryRun,
    /// `--simulate`: an in-process simulated gateway, demo credentials.
    Simulate { scenario: Scenario },
    /// The gateway.
    Live {
        gateway: String,
        credentials: Credentials,
    },
}

/// How calls are made, whatever the gateway.
#[derive(Debug, Clone)]
pub struct ClientTuning {
    pub sign_method: SignMethod,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub overrides: Overrides,
}

/// Everything `send` needs, checked.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub inputs: Vec<PathBuf>,
    pub input: InputOptions,
    pub ledger: PathBuf,
    pub out: PathBuf,
    pub summary_json: Option<PathBuf>,
    pub mode: Mode,
    pub client: ClientTuning,
    pub policy: Policy,
    pub retry_rejected: bool,
    pub progress: ProgressMode,
    pub progress_every: Duration,
    pub excel: bool,
}

impl SendConfig {
    pub fn is_dry_run(&self) -> bool {
        matches!(self.mode, Mode::DryRun)
    }

    /// Client settings for `gateway` with `credentials`.
    pub fn client_settings(&self, gateway: String, credentials: Credentials) -> ClientSettings {
        ClientSettings {
            gateway,
            credentials,
            sign_method: self.client.sign_method,
            connect_timeout: self.client.connect_timeout,
            request_timeout: self.client.timeout,
            pool_size: self.policy.concurrency.get(),
            overrides: self.client.overrides.clone(),
            clock: crate::top::system_clock(),
        }
    }
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub gateway: Option<String>,
    pub app_key: Option<String>,
    pub secret: Option<String>,
    pub session: Option<String>,
    pub sign_method: Option<String>,
    pub concurrency: Option<NonZeroUsize>,
    pub qps: Option<NonZeroU32>,
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    #[serde(default)]
    pub retry: RetryFile,
    /// sub_code (or result error_code) → rejected | transient | fatal.
    #[serde(default)]
    pub classify: HashMap<String, ErrorClass>,
}

/// `[retry]` of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    pub max_attempts: Option<NonZeroU32>,
    pub backoff_base: Option<String>,
    pub backoff_cap: Option<String>,
    pub max_ban_wait: Option<String>,
    pub max_failure_rate: Option<f64>,
}

/// Reads a `--config` file, warning when others can read the secret in it.
pub fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --config {}", path.display()))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| config_error(path, &text, &e))?;
    if file.secret.is_some() || file.session.is_some() {
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            tracing::warn!(
                "--config {} holds the secret but other users may read it (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(file)
}

/// A config file error that names the place but never quotes the file: the line
/// could hold the secret.
fn config_error(path: &Path, text: &str, error: &toml::de::Error) -> anyhow::Error {
    let place = match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" line {line}, column {column}")
        }
        None => String::new(),
    };
    anyhow::anyhow!(
        "--config {}{place}: {}",
        path.display(),
        redact_quoted(error.message())
    )
}

/// Drops string values from a parser message: serde quotes them in `"…"`, while
/// field names and syntax come in backticks and stay.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            // A quote character named in backticks, as in "expected `\"`".
            (false, '"') if out.ends_with('`') && chars.peek() == Some(&'`') => out.push(c),
            (false, '"') => {
                quoted = true;
                out.push_str("(value)");
            }
            (true, '"') => quoted = false,
            (true, _) => {}
            (false, _) => out.push(c),
        }
    }
    out
}

fn duration(key: &str, text: &Option<String>) -> anyhow::Result<Option<Duration>> {
    text.as_deref()
        .map(|t| {
            humantime::parse_duration(t).map_err(|e| {
                anyhow::anyhow!("--config: {key} = '{t}' is not a duration like 10s or 500ms: {e}")
            })
        })
        .transpose()
}

/// Builds the checked configuration of `send`.
pub fn build_send(args: SendArgs, env: Env<'_>) -> anyhow::Result<SendConfig> {
    let file = match &args.config {
        Some(path) => load_file(path)?,
        None => FileConfig::default(),
    };
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());

    let mode = if args.dry_run {
        Mode::DryRun
    } else if args.simulate {
        let scenario = match &args.scenario {
            Some(path) => Scenario::load(path)?,
            None => Scenario::default(),
        };
        Mode::Simulate { scenario }
    } else {
        let gateway = args
            .gateway
            .clone()
            .or(file.gateway.clone())
            .unwrap_or_else(|| DEFAULT_GATEWAY.to_owned());
        let app_key = var("TOP_APP_KEY").or(file.app_key.clone());
        let secret = var("TOP_APP_SECRET").or(file.secret.clone());
        let session = var("TOP_SESSION").or(file.session.clone());
        let missing: Vec<&str> = [
            ("TOP_APP_KEY", app_key.is_none()),
            ("TOP_APP_SECRET", secret.is_none()),
            ("TOP_SESSION", session.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        if !missing.is_empty() {
            bail!(
                "no credentials: set {} in the environment (or app_key/secret/session in a --config file); \
                 to try the tool without them, add --simulate or --dry-run",
                missing.join(", ")
            );
        }
        let credentials = Credentials {
            app_key: app_key.unwrap_or_default(),
            secret: Secret::new(secret.unwrap_or_default()),
            session: Secret::new(session.unwrap_or_default()),
        };
        Mode::Live {
            gateway,
            credentials,
        }
    };

    let sign_method = match (args.sign_method, &file.sign_method) {
        (Some(method), _) => method,
        (None, Some(text)) => text
            .parse()
            .map_err(|e| anyhow::anyhow!("--config: sign_method: {e}"))?,
        (None, None) => SignMethod::default(),
    };
    let timeout = args
        .timeout
        .or(duration("timeout", &file.timeout)?)
        .unwrap_or(Duration::from_secs(10));
    let connect_timeout = args
        .connect_timeout
        .or(duration("connect_timeout", &file.connect_timeout)?)
        .unwrap_or(Duration::from_secs(5));
    let backoff = Backoff {
        base: args
            .backoff_base
            .or(duration("retry.backoff_base", &file.retry.backoff_base)?)
            .unwrap_or(Duration::from_millis(500)),
        cap: args
            .backoff_cap
            .or(duration("retry.backoff_cap", &file.retry.backoff_cap)?)
            .unwrap_or(Duration::from_secs(30)),
    };
    if backoff.cap < backoff.base {
        bail!(
            "--backoff-cap ({:?}) is smaller than --backoff-base ({:?})",
            backoff.cap,
            backoff.base
        );
    }
    let max_failure_rate = args
        .max_failure_rate
        .or(file.retry.max_failure_rate)
        .unwrap_or(50.0);
    if !(0.0..=100.0).contains(&max_failure_rate) {
        bail!("--max-failure-rate {max_failure_rate} must be a percentage from 0 to 100");
    }
    if timeout.is_zero() {
        bail!("--timeout must be more than zero");
    }
    if same_file(&args.out, &args.ledger) {
        bail!(
            "--out and --ledger are the same file ({}); the result CSV would destroy the ledger",
            args.out.display()
        );
    }

    let policy = Policy {
        concurrency: args
            .concurrency
            .or(file.concurrency)
            .unwrap_or(NonZeroUsize::new(8).expect("8 > 0")),
        qps: args.qps.or(file.qps),
        max_attempts: args
            .max_attempts
            .or(file.retry.max_attempts)
            .unwrap_or(NonZeroU32::new(5).expect("5 > 0")),
        backoff,
        max_ban_wait: args
            .max_ban_wait
            .or(duration("retry.max_ban_wait", &file.retry.max_ban_wait)?)
            .unwrap_or(Duration::from_secs(300)),
        unknown_ban: Duration::from_secs(10),
        breaker: BreakerPolicy {
            window: 100,
            max_percent: max_failure_rate,
        },
        seed: args.jitter_seed,
    };
    Ok(SendConfig {
        inputs: args.inputs,
        input: InputOptions {
            encoding: args.encoding,
            delimiter: args.delimiter,
            map: args.map,
        },
        ledger: args.ledger,
        out: args.out,
        summary_json: args.summary_json,
        mode,
        client: ClientTuning {
            sign_method,
            timeout,
            connect_timeout,
            overrides: Overrides::new(file.classify),
        },
        policy,
        retry_rejected: args.retry_rejected,
        progress: args.progress,
        progress_every: args.progress_every,
        excel: args.excel,
    })
}

/// Whether two paths name one file (the second may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| -> Option<PathBuf> {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    a == b || matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

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
        a.out = PathBuf::from("./l.csv");
        assert!(build_send(a, &env_of(&[])).is_err());
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
