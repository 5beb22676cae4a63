//! The `--config` TOML file: credentials and settings, typed as they are read, so an
//! error names the line and the column. Its messages never quote a value: the line
//! could hold the secret.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::ConfigError;
use crate::top::{ErrorClass, SignMethod};

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub gateway: Option<String>,
    pub ca_cert: Option<std::path::PathBuf>,
    pub app_key: Option<String>,
    pub secret: Option<String>,
    pub session: Option<String>,
    #[serde(default, deserialize_with = "sign_method")]
    pub sign_method: Option<SignMethod>,
    pub concurrency: Option<NonZeroUsize>,
    pub batch: Option<NonZeroUsize>,
    pub qps: Option<NonZeroU32>,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub connect_timeout: Option<Duration>,
    #[serde(default)]
    pub retry: RetryFile,
    /// sub_code (or result error_code) → rejected | transient | fatal.
    #[serde(default)]
    pub classify: HashMap<String, ErrorClass>,
    /// The ledger, when `--ledger` is not given.
    pub ledger: Option<std::path::PathBuf>,
    /// Where the results go, when `--out` is not given.
    pub out: Option<std::path::PathBuf>,
    /// Where the nightly results are kept, for the desk (`serve`), when
    /// `--results-dir` is not given.
    pub results_dir: Option<std::path::PathBuf>,
    /// The day the seller's authorization (the session) ends, as the authorization page
    /// shows it (`2027-03-01`): `check` warns ahead of it.
    pub session_expires: Option<String>,
    /// What notifications call this shop and host (`上海店 prod-1`); the host's name
    /// when not given.
    pub notify_label: Option<String>,
    /// The desk's address as finance opens it (`https://desk.example.com`):
    /// notifications link to the run's page there.
    pub desk_url: Option<String>,
    /// The signing secret of the `--notify-url` robot (加签): DingTalk and Feishu
    /// robots, or a JSON webhook that checks `X-Opentrade-Signature`.
    pub notify_secret: Option<String>,
    /// Business codes (`result.error_code` of a `success:false` answer) that mean
    /// "try again later": whole codes, or prefixes ending in `*` (`B01*`).
    #[serde(default)]
    pub retry_business_codes: Vec<String>,
    /// The recharge-and-get items (`num_iid`) `reconcile` looks at; empty: every item.
    #[serde(default)]
    pub items: Vec<u64>,
    /// The app's calls per Beijing day (its tier): `send`, the desk and `reconcile`
    /// stop before the call that would pass it.
    pub daily_quota: Option<u64>,
    /// Final business codes besides the shipped ones (`[business_codes.CODE]` with
    /// `meaning`, `advice_zh`, `advice_en`): never retried, their advice shown.
    #[serde(default)]
    pub business_codes: HashMap<String, crate::catalogue::KnownCode>,
}

/// `[retry]` of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    pub max_attempts: Option<NonZeroU32>,
    #[serde(default, deserialize_with = "duration")]
    pub backoff_base: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub backoff_cap: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub max_ban_wait: Option<Duration>,
    pub max_failure_rate: Option<f64>,
}

/// Reads a `--config` file, warning when others can read the secret in it.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let file = load_quietly(path)?;
    if file.secret.is_some() || file.session.is_some() || file.notify_secret.is_some() {
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

/// Reads a `--config` file without a word about it (the run reads it again, and says).
pub fn load_quietly(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = crate::textfile::read(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))
}

/// A parse error that names the place but never quotes the file.
fn parse_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let place = match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" line {line}, column {column}")
        }
        None => String::new(),
    };
    ConfigError::Parse {
        path: path.to_owned(),
        place,
        message: redact_quoted(error.message()),
    }
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

/// A duration written like `10s` or `500ms`.
fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("not a duration like 10s or 500ms: {e}")))
}

fn sign_method<'de, D: Deserializer<'de>>(de: D) -> Result<Option<SignMethod>, D::Error> {
    let text = String::deserialize(de)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted_and_syntax_kept() {
        assert_eq!(
            redact_quoted("invalid type: string \"TOPSECRET\", expected `u32`"),
            "invalid type: string (value), expected `u32`"
        );
        assert_eq!(redact_quoted("expected `\"`"), "expected `\"`");
    }

    #[test]
    fn durations_and_sign_methods_are_typed_with_their_place() {
        let file: FileConfig =
            toml::from_str("timeout = \"2s\"\nsign_method = \"md5\"\n").expect("parses");
        assert_eq!(file.timeout, Some(Duration::from_secs(2)));
        assert_eq!(file.sign_method, Some(SignMethod::Md5));
        let text = "timeout = \"2 parsecs\"\n";
        let err = toml::from_str::<FileConfig>(text).expect_err("bad duration");
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
