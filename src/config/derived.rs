//! Settings of the `send`s the desk (`serve`) runs — previews and sends of uploaded
//! files — made from values and built by `build_send` itself, so they pass or fail
//! for the reasons a nightly run would; and where the desk's files are.

use std::path::{Path, PathBuf};

use super::{ConfigError, build_send};
use crate::cli::{PaceArgs, ReportingArgs, SendArgs, TargetArgs};
use crate::environment::Environment;
use crate::send::SendConfig;
use crate::send::progress::ProgressMode;

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

/// The settings of one `send` the desk runs: `input` against `ledger`, results to
/// `out`, a dry run (the preview) or live; no progress display of its own. A file
/// finance submits holds corrected rows: rejected req_ids in it are sent again
/// (`--retry-rejected`), which the preview shows before anything is sent. Made from
/// values, then built by `build_send` as any other send.
pub fn build_desk_send(
    template: &SendTemplate,
    input: &Path,
    ledger: &Path,
    out: &Path,
    dry_run: bool,
    env: &Environment,
) -> Result<SendConfig, ConfigError> {
    let args = SendArgs {
        inputs: vec![input.to_owned()],
        ledger: Some(ledger.to_owned()),
        out: Some(out.to_owned()),
        target: TargetArgs {
            dry_run,
            simulate: template.simulate && !dry_run,
            config: template.config.clone(),
            gateway: template.gateway.clone(),
            allow_insecure_http: template.allow_insecure_http,
            ca_cert: template.ca_cert.clone(),
            ..TargetArgs::default()
        },
        pace: PaceArgs {
            retry_rejected: true,
            ..PaceArgs::default()
        },
        reporting: ReportingArgs {
            progress: ProgressMode::Off,
            ..ReportingArgs::default()
        },
        ..SendArgs::default()
    };
    build_send(args, env)
}

/// The desk's ledger and results directory: `serve`'s flags, else the config file's
/// `ledger` and `results_dir` (`--config`, else `OPENTRADE_CONFIG`).
pub fn desk_paths(
    config: Option<&Path>,
    ledger: Option<PathBuf>,
    results_dir: Option<PathBuf>,
    env: &Environment,
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
            "ledger = \"/var/lib/opentrade/ledger.db\"\nresults_dir = \"/var/lib/opentrade/results\"\n",
        )
        .expect("write");
        let none = Environment::default();
        let (ledger, results) =
            desk_paths(Some(&config), None, None, &none).expect("from the file");
        assert_eq!(ledger, PathBuf::from("/var/lib/opentrade/ledger.db"));
        assert_eq!(results, PathBuf::from("/var/lib/opentrade/results"));
        let by_env = Environment::of([("OPENTRADE_CONFIG", config.display().to_string())]);
        let (_, results) = desk_paths(None, None, Some("r".into()), &by_env).expect("mixed");
        assert_eq!(results, PathBuf::from("r"));
        let missing = desk_paths(None, Some("l".into()), None, &none).expect_err("no results dir");
        assert!(missing.to_string().contains("--results-dir"), "{missing}");
    }
}
