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
    file: &FileConfig,
) -> Result<Option<Secret>, ConfigError> {
    let Some(secret) = &file.notify_secret else {
        return Ok(None);
    };
    if secret.trim().is_empty() {
        return Err(ConfigError::EmptyNotifySecret);
    }
    let reporting = &args.reporting;
    if reporting.notify_url.is_some() && reporting.notify_format == NotifyFormat::Wecom {
        return Err(ConfigError::NotifySecretForWecom);
    }
    Ok(Some(Secret::new(secret.clone())))
}

/// The hooks of a `send`, known before its settings are checked, so even a run that
/// never starts says so. The robot's secret comes from the config file when it can be
/// read (a file that cannot be is the run's own error).
pub fn hooks(args: &SendArgs, env: &Environment) -> Hooks {
    let secret = super::config_path(args.target.config.as_deref(), env)
        .and_then(|path| super::file::load_quietly(&path).ok())
        .and_then(|file| notify_secret(args, &file).ok().flatten());
    let reporting = &args.reporting;
    Hooks {
        ping: reporting.ping_url.clone(),
        ping_attention: reporting.ping_attention,
        notify: reporting.notify_url.clone().map(|url| Notify {
            url,
            format: reporting.notify_format,
            on: reporting.notify_on,
            secret,
        }),
    }
}
