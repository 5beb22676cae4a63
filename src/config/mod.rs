//! Settings for `send`, checked once, here: command-line flags, then the environment,
//! then a `--config` TOML file (`file`), then defaults — one precedence table,
//! `layers`, that reads as data. Nothing after this sees clap or the environment.
//! Secrets are read only from the environment or the file, and only ever held as
//! `Secret`.

mod connection;
mod derived;
pub mod envfile;
mod file;
mod hooks;
mod layers;
mod reconcile;
pub mod template;

pub use derived::{SendTemplate, build_desk_send, desk_paths};
pub use hooks::hooks;
pub use reconcile::build_reconcile;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::FileConfig;

use crate::cli::{CheckArgs, PaceArgs, SendArgs, TargetArgs};
use crate::environment::Environment;
use crate::input::InputOptions;
use crate::roles::{RoleError, Roles};
use crate::send::{Connection, SendConfig};
use crate::simulator::ScenarioError;

/// The real gateway.
pub const DEFAULT_GATEWAY: &str = "https://eco.taobao.com/router/rest";

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
    #[error("desk_url in --config is '{0}', not an http(s) URL like https://desk.example.com")]
    DeskUrl(String),
    #[error("{name} in the environment is not usable: {error}")]
    HookVar { name: &'static str, error: String },
    #[error("{flag} {}: {message}", path.display())]
    Template {
        flag: &'static str,
        path: PathBuf,
        message: String,
    },
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
    #[error("{flag} '{value}' is not a Beijing time like 2026-12-01 or 2026-12-01 08:00:00")]
    Time { flag: &'static str, value: String },
    #[error("{0}")]
    Window(String),
    #[error("--from-reconcile {}: {message}", path.display())]
    FromReconcile { path: PathBuf, message: String },
    #[error("daily_quota in --config must be more than zero")]
    ZeroQuota,
    #[error("session_expires in --config is '{0}', not a date like 2027-03-01")]
    SessionExpires(String),
    #[error("{origin} {}: {error}", path.display())]
    CaCert {
        origin: &'static str,
        path: PathBuf,
        error: crate::top::tls::CaCertError,
    },
}

/// Builds the checked configuration of `send`: every role claimed before anything is
/// read, the config file read, the paths, the connection, the policy. Every send — from
/// a shell, cron or the desk — is built here, with the same checks.
pub fn build_send(args: SendArgs, env: &Environment) -> Result<SendConfig, ConfigError> {
    let mut roles = claim_roles(&args, args.ledger.as_deref(), args.out.as_deref())?;
    let file = read_config(args.target.config.as_deref(), env, &mut roles)?;
    let (ledger, out) = paths(&args, &file, &mut roles)?;
    let set = layers::layers(&args.target, &args.pace, env, &file);
    let connection = connection::connection(&args.target, &set, &file, env, &mut roles)?;
    hooks::check_vars(env)?;
    hooks::check_desk_url(&file)?;
    hooks::notify_secret(&args, env, &file)?;
    let policy = layers::policy(&set, args.pace.jitter_seed)?;
    let from_reconcile = match &args.pace.from_reconcile {
        Some(path) => {
            roles.claim("--from-reconcile", path)?;
            Some(
                crate::reconcile::output::retry_due(path).map_err(|message| {
                    ConfigError::FromReconcile {
                        path: path.clone(),
                        message,
                    }
                })?,
            )
        }
        None => None,
    };
    let SendArgs {
        inputs,
        target: _,
        pace,
        reporting,
        reading,
        ..
    } = args;
    Ok(SendConfig {
        inputs,
        input: InputOptions {
            encoding: reading.encoding,
            delimiter: reading.delimiter,
            map: reading.map,
            sheet: reading.sheet,
            labels: Vec::new(),
        },
        ledger,
        out,
        summary_json: reporting.summary_json,
        metrics_file: reporting.metrics_file,
        retryable_exit: reporting.retryable_exit_code,
        connection,
        policy,
        retry_rejected: pace.retry_rejected,
        progress: reporting.progress,
        progress_every: reporting.progress_every.unwrap_or(Duration::from_secs(10)),
        excel: reading.excel,
        expect_plan: None,
        resend_failed_days: (!pace.no_resend_failed)
            .then_some(pace.resend_failed_days.unwrap_or(7)),
        started_by: started_by(env),
        from_reconcile,
        daily_quota: file.daily_quota,
    })
}

/// What `check` tests: the connection of a live `send` with the same flags,
/// environment and config file — built by the same functions, no path involved.
pub fn build_check(args: &CheckArgs, env: &Environment) -> Result<Connection, ConfigError> {
    let (target, pace) = target_of(&args.connect, args.sign_method, args.timeout);
    let mut roles = Roles::default();
    if let Some(config) = &target.config {
        roles.claim("--config", config)?;
    }
    let file = read_config(target.config.as_deref(), env, &mut roles)?;
    let set = layers::layers(&target, &pace, env, &file);
    layers::policy(&set, None)?;
    connection::connection(&target, &set, &file, env, &mut roles)
}

/// `send`'s target and pace as a command of its own (`check`, `reconcile`) takes them:
/// `--config`, the gateway, its CA, the sign method and the timeout.
fn target_of(
    connect: &crate::cli::ConnectArgs,
    sign_method: Option<crate::top::SignMethod>,
    timeout: std::time::Duration,
) -> (TargetArgs, PaceArgs) {
    (
        TargetArgs {
            config: connect.config.clone(),
            gateway: connect.gateway.clone(),
            ca_cert: connect.ca_cert.clone(),
            allow_insecure_http: connect.allow_insecure_http,
            sign_method,
            ..TargetArgs::default()
        },
        PaceArgs {
            timeout: Some(timeout),
            ..PaceArgs::default()
        },
    )
}

/// The ledger and the results `check` looks at: its flags, else the config's keys.
pub fn check_paths(args: &CheckArgs, env: &Environment) -> (Option<PathBuf>, Option<PathBuf>) {
    let file = config_path(args.connect.config.as_deref(), env)
        .and_then(|path| file::load_quietly(&path).ok());
    let from_file = |pick: fn(&FileConfig) -> Option<PathBuf>| file.as_ref().and_then(pick);
    (
        args.ledger
            .clone()
            .or_else(|| from_file(|f| f.ledger.clone())),
        args.out.clone().or_else(|| from_file(|f| f.out.clone())),
    )
}

/// The `daily_quota` of the config `check` reads, if it sets one.
pub fn check_quota(args: &CheckArgs, env: &Environment) -> Option<u64> {
    config_path(args.connect.config.as_deref(), env)
        .and_then(|path| file::load_quietly(&path).ok())
        .and_then(|file| file.daily_quota)
}

/// The config file (`--config`, else `OPENTRADE_CONFIG`, whose role is claimed), or
/// an empty one.
fn read_config(
    flag: Option<&Path>,
    env: &Environment,
    roles: &mut Roles,
) -> Result<FileConfig, ConfigError> {
    let path = config_path(flag, env);
    if flag.is_none()
        && let Some(path) = &path
    {
        roles.claim("OPENTRADE_CONFIG", path)?;
    }
    let file = match &path {
        Some(path) => file::load(path)?,
        None => FileConfig::default(),
    };
    crate::catalogue::install(
        file.business_codes
            .iter()
            .map(|(code, known)| crate::catalogue::KnownCode {
                code: code.clone(),
                ..known.clone()
            })
            .collect(),
    );
    Ok(file)
}

/// The ledger and the results: the flags, else the config file's (their roles
/// claimed as soon as it is read, still before anything else is touched).
fn paths(
    args: &SendArgs,
    file: &FileConfig,
    roles: &mut Roles,
) -> Result<(PathBuf, PathBuf), ConfigError> {
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
    Ok((ledger, out))
}

/// `--config`, else `OPENTRADE_CONFIG`.
pub(super) fn config_path(flag: Option<&Path>, env: &Environment) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        env.get("OPENTRADE_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Who starts a run from the command line, as the ledger records it: `cron` without a
/// terminal (cron, systemd, a pipeline), else `shell:USER`; `OPENTRADE_STARTED_BY`
/// names it otherwise.
fn started_by(env: &Environment) -> String {
    use std::io::IsTerminal as _;
    if let Some(named) = env
        .get("OPENTRADE_STARTED_BY")
        .filter(|v| !v.trim().is_empty())
    {
        return crate::text::shorten(&crate::text::visible(named.trim()), 64);
    }
    if std::io::stdin().is_terminal() || std::io::stderr().is_terminal() {
        let user = env
            .get("USER")
            .or_else(|| env.get("LOGNAME"))
            .unwrap_or_else(|| "unknown".into());
        format!("shell:{}", crate::text::visible(&user))
    } else {
        "cron".into()
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
        ("--summary-json", &args.reporting.summary_json),
        ("--metrics-file", &args.reporting.metrics_file),
        ("--config", &args.target.config),
        ("--scenario", &args.target.scenario),
    ];
    for (role, path) in optional {
        if let Some(path) = path {
            roles.claim(role, path)?;
        }
    }
    Ok(roles)
}

#[cfg(test)]
mod tests;
