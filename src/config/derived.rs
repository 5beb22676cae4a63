//! Settings of a `send` that another command makes: `check` tests the settings of a
//! live run with the same flags; the desk (`serve`) runs previews and sends of uploaded
//! files. Both are built by `build_send` itself, from a `send` command line, so they
//! pass or fail for the reasons a nightly run would.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{ConfigError, Env, build_send};
use crate::cli::SendArgs;
use crate::send::SendConfig;

/// The flags the desk passes on to every `send` it runs.
#[derive(Debug, Clone, Default)]
pub struct SendTemplate {
    pub config: Option<PathBuf>,
    pub gateway: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub allow_insecure_http: bool,
    /// Send to the built-in simulated gateway (a demonstration of the desk).
    pub simulate: bool,
}

/// A `send` command line, parsed by the `send` command's own clap types.
struct Argv(Vec<OsString>);

impl Argv {
    fn new(words: &[&str]) -> Self {
        Argv(words.iter().map(Into::into).collect())
    }

    fn path(&mut self, flag: &str, value: &Path) {
        self.0.push(flag.into());
        self.0.push(value.into());
    }

    fn flag(&mut self, name: &str, value: Option<OsString>) {
        if let Some(value) = value {
            self.0.push(name.into());
            self.0.push(value);
        }
    }

    fn switch(&mut self, name: &str, on: bool) {
        if on {
            self.0.push(name.into());
        }
    }

    fn parse(self, gateway: Option<&str>) -> Result<SendArgs, ConfigError> {
        use clap::FromArgMatches as _;
        let bad = |e: clap::Error| ConfigError::Gateway {
            url: crate::mask::url(gateway.unwrap_or_default()),
            reason: e.to_string(),
        };
        let command = <SendArgs as clap::Args>::augment_args(clap::Command::new("send"));
        let matches = command.try_get_matches_from(self.0).map_err(bad)?;
        SendArgs::from_arg_matches(&matches).map_err(bad)
    }
}

/// The settings `check` tests: those of a live `send` with the same flags, environment
/// and config file. (The placeholder input and outputs are never touched: `check`
/// only connects.)
pub fn build_check(args: &crate::cli::CheckArgs, env: Env<'_>) -> Result<SendConfig, ConfigError> {
    let mut argv = Argv::new(&[
        "send",
        "-",
        "--ledger",
        "/nonexistent/check-ledger.csv",
        "--out",
        "/nonexistent/check-results.csv",
    ]);
    let connect = &args.connect;
    argv.flag("--config", connect.config.clone().map(Into::into));
    argv.flag("--gateway", connect.gateway.clone().map(Into::into));
    argv.flag("--ca-cert", connect.ca_cert.clone().map(Into::into));
    argv.flag("--sign-method", args.sign_method.map(|m| m.as_str().into()));
    argv.flag(
        "--timeout",
        Some(humantime::format_duration(args.timeout).to_string().into()),
    );
    argv.switch("--allow-insecure-http", connect.allow_insecure_http);
    build_send(argv.parse(connect.gateway.as_deref())?, env)
}

/// The settings of one `send` the desk runs: `input` against `ledger`, results to
/// `out`, a dry run (the preview) or live; no progress display of its own. A file
/// finance submits holds corrected rows: rejected req_ids in it are sent again
/// (`--retry-rejected`), which the preview shows before anything is sent.
pub fn build_desk_send(
    template: &SendTemplate,
    input: &Path,
    ledger: &Path,
    out: &Path,
    dry_run: bool,
    env: Env<'_>,
) -> Result<SendConfig, ConfigError> {
    let mut argv = Argv::new(&["send", "--progress", "off"]);
    argv.0.push(input.into());
    argv.path("--ledger", ledger);
    argv.path("--out", out);
    argv.flag("--config", template.config.clone().map(Into::into));
    argv.flag("--gateway", template.gateway.clone().map(Into::into));
    argv.flag("--ca-cert", template.ca_cert.clone().map(Into::into));
    argv.switch("--allow-insecure-http", template.allow_insecure_http);
    argv.switch("--simulate", template.simulate && !dry_run);
    argv.switch("--dry-run", dry_run);
    argv.switch("--retry-rejected", true);
    build_send(argv.parse(template.gateway.as_deref())?, env)
}

/// The desk's ledger and results directory: `serve`'s flags, else the config file's
/// `ledger` and `results_dir` (`--config`, else `OPENTRADE_CONFIG`).
pub fn desk_paths(
    config: Option<&Path>,
    ledger: Option<PathBuf>,
    results_dir: Option<PathBuf>,
    env: Env<'_>,
) -> Result<(PathBuf, PathBuf), ConfigError> {
    let config_path = super::config_path(config, env);
    let file = match (&config_path, ledger.is_some() && results_dir.is_some()) {
        (Some(path), false) => super::file::load(path)?,
        _ => super::file::FileConfig::default(),
    };
    let ledger = ledger.or(file.ledger).ok_or(ConfigError::MissingPath {
        flag: "--ledger",
        key: "ledger",
    })?;
    let results_dir = results_dir
        .or(file.results_dir)
        .ok_or(ConfigError::MissingPath {
            flag: "--results-dir",
            key: "results_dir",
        })?;
    Ok((ledger, results_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desk_finds_its_paths_in_the_config_when_flags_do_not_give_them() {
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "ledger = \"/var/lib/opentrade/ledger.csv\"\nresults_dir = \"/var/lib/opentrade/results\"\n",
        )
        .expect("write");
        let none = |_: &str| None;
        let (ledger, results) =
            desk_paths(Some(&config), None, None, &none).expect("from the file");
        assert_eq!(ledger, PathBuf::from("/var/lib/opentrade/ledger.csv"));
        assert_eq!(results, PathBuf::from("/var/lib/opentrade/results"));
        let by_env =
            |name: &str| (name == "OPENTRADE_CONFIG").then(|| config.display().to_string());
        let (_, results) = desk_paths(None, None, Some("r".into()), &by_env).expect("mixed");
        assert_eq!(results, PathBuf::from("r"));
        let missing = desk_paths(None, Some("l".into()), None, &none).expect_err("no results dir");
        assert!(missing.to_string().contains("--results-dir"), "{missing}");
    }
}
