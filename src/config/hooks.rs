//! The hooks of a `send` (`--ping-url`, `--notify-url`) and a signed robot's secret
//! (`notify_secret` in the config file).

use super::{ConfigError, FileConfig};
use crate::cli::SendArgs;
use crate::environment::Environment;
use crate::send::hooks::{Hooks, Notify, NotifyFormat};
use crate::top::Secret;

/// The robot's signing secret, when the config has one for the notification in use.
pub(super) fn notify_secret(
    args: &SendArgs,
    env: &Environment,
    file: &FileConfig,
) -> Result<Option<Secret>, ConfigError> {
    let Some(secret) = &file.notify_secret else {
        return Ok(None);
    };
    if secret.trim().is_empty() {
        return Err(ConfigError::EmptyNotifySecret);
    }
    let reporting = &args.reporting;
    let notifies = reporting.notify_url.is_some() || url_var(env, NOTIFY_URL_VAR)?.is_some();
    let format = reporting
        .notify_format
        .or(format_var(env)?)
        .unwrap_or_default();
    if notifies && format == NotifyFormat::Wecom {
        return Err(ConfigError::NotifySecretForWecom);
    }
    Ok(Some(Secret::new(secret.clone())))
}

/// The environment's hook URLs, for units that keep them out of their command line
/// (`EnvironmentFile=`, the `--env-file`): the flags win.
pub const PING_URL_VAR: &str = "OPENTRADE_PING_URL";
pub const NOTIFY_URL_VAR: &str = "OPENTRADE_NOTIFY_URL";
pub const NOTIFY_FORMAT_VAR: &str = "OPENTRADE_NOTIFY_FORMAT";
/// `reconcile`'s health check: a job of its own, so not the nightly send's check.
pub const RECONCILE_PING_URL_VAR: &str = "OPENTRADE_RECONCILE_PING_URL";

/// A hook URL from the environment variable `name`, if set (and not empty).
fn url_var(env: &Environment, name: &'static str) -> Result<Option<url::Url>, ConfigError> {
    match env.get(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(value) => {
            url::Url::parse(value.trim())
                .map(Some)
                .map_err(|error| ConfigError::HookVar {
                    name,
                    error: error.to_string(),
                })
        }
    }
}

/// The notification's shape from the environment, if set.
fn format_var(env: &Environment) -> Result<Option<NotifyFormat>, ConfigError> {
    use clap::ValueEnum as _;
    match env.get(NOTIFY_FORMAT_VAR).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(value) => NotifyFormat::from_str(value.trim(), true)
            .map(Some)
            .map_err(|_| ConfigError::HookVar {
                name: NOTIFY_FORMAT_VAR,
                error: format!("{value:?} is not json, dingtalk, wecom or feishu"),
            }),
    }
}

/// The hooks of a `reconcile`: its own health check, the nightly send's robot.
pub fn reconcile_hooks(
    args: &crate::cli::ReconcileArgs,
    env: &Environment,
) -> Result<Hooks, ConfigError> {
    check_vars(env)?;
    let ping = match &args.ping_url {
        Some(url) => Some(url.clone()),
        None => url_var(env, RECONCILE_PING_URL_VAR)?,
    };
    let mut send = SendArgs::default();
    send.target.config = args.connect.config.clone();
    send.reporting.notify_url = args.notify_url.clone();
    send.reporting.notify_format = args.notify_format;
    let mut hooks = hooks(&send, env);
    hooks.ping = ping;
    hooks.ping_attention = crate::send::hooks::PingAttention::Fail;
    Ok(hooks)
}

/// Checks the environment's hook variables (a run refuses a bad one, exit 2).
pub(super) fn check_vars(env: &Environment) -> Result<(), ConfigError> {
    url_var(env, PING_URL_VAR)?;
    url_var(env, NOTIFY_URL_VAR)?;
    format_var(env).map(drop)
}

/// The hooks of a `send`, known before its settings are checked, so even a run that
/// never starts says so. The robot's secret comes from the config file when it can be
/// read (a file that cannot be is the run's own error); a hook URL from the
/// environment that is not one is left out here, and refused by `build_send`.
pub fn hooks(args: &SendArgs, env: &Environment) -> Hooks {
    let file = super::config_path(args.target.config.as_deref(), env)
        .and_then(|path| super::file::load_quietly(&path).ok());
    let secret = file
        .as_ref()
        .and_then(|file| notify_secret(args, env, file).ok().flatten());
    let label = file
        .as_ref()
        .and_then(|file| file.notify_label.clone())
        .filter(|label| !label.trim().is_empty())
        .unwrap_or_else(host_name);
    let desk_url = file
        .as_ref()
        .and_then(|file| file.desk_url.as_deref())
        .and_then(|url| url::Url::parse(url.trim()).ok());
    let reporting = &args.reporting;
    let format = reporting
        .notify_format
        .or_else(|| format_var(env).ok().flatten())
        .unwrap_or_default();
    Hooks {
        ping: reporting
            .ping_url
            .clone()
            .or_else(|| url_var(env, PING_URL_VAR).ok().flatten()),
        ping_attention: reporting.ping_attention,
        notify: reporting
            .notify_url
            .clone()
            .or_else(|| url_var(env, NOTIFY_URL_VAR).ok().flatten())
            .map(|url| Notify {
                url,
                format,
                on: reporting.notify_on,
                secret,
                label,
                desk_url,
            }),
    }
}

/// This machine's name, for a notification that was not given a label.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this host".into())
}

/// `desk_url` in the config, checked (a run refuses one that is not a URL, exit 2).
pub(super) fn check_desk_url(file: &FileConfig) -> Result<(), ConfigError> {
    match file.desk_url.as_deref() {
        Some(url) => match url::Url::parse(url.trim()) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
            _ => Err(ConfigError::DeskUrl(url.to_owned())),
        },
        None => Ok(()),
    }
}
