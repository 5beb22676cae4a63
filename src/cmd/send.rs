//! `send` on the command line: flags and environment into a checked `SendConfig`,
//! the job, and its errors into exit codes — with `--summary-json` written even when
//! the run never starts. The job itself is `crate::send`.

use crate::cli::SendArgs;
use crate::config::{self, ConfigError, Env};
use crate::exit::Exit;
use crate::send::metrics;
use crate::send::summary_json::{self, Failure, RunInfo, SummaryJson};
use crate::send::{self, SendError};

pub async fn run(args: SendArgs, env: Env<'_>, quiet: bool) -> anyhow::Result<Exit> {
    let started = chrono::Utc::now();
    let simulated = args.simulate && !args.dry_run;
    let info = RunInfo::new(&send::run_id(simulated), &args.inputs, started);
    let (summary, metrics_file, out, ledger, dry_run) = (
        args.summary_json.clone(),
        args.metrics_file.clone(),
        args.out.clone(),
        args.ledger.clone(),
        args.dry_run,
    );
    let failed = |exit: Exit, error: &dyn std::fmt::Display| {
        if let Some(path) = &summary {
            let failure = Failure {
                info: &info,
                exit,
                error: crate::text::visible(&error.to_string()).into_owned(),
                dry_run,
                out: &out,
                ledger: &ledger,
            };
            write_failure(path, &failure);
        }
        if let Some(path) = &metrics_file {
            let empty = crate::results::tally::Tally::default();
            let run = metrics::RunMetrics {
                exit,
                tally: &empty,
                duration: (chrono::Utc::now() - started).to_std().unwrap_or_default(),
                banned: std::time::Duration::ZERO,
                finished: chrono::Utc::now(),
            };
            if let Err(error) = metrics::write(path, &run) {
                crate::errln!(
                    "error: cannot write --metrics-file {}: {error}",
                    path.display()
                );
            }
        }
    };
    let config = match config::build_send(args, env) {
        Ok(config) => config,
        Err(error) => {
            // Two roles on one file: the summary's path may be another file's.
            if !matches!(error, ConfigError::Roles(_)) {
                failed(Exit::Usage, &error);
            }
            return Err(error.into());
        }
    };
    match send::run(config, &info, quiet).await {
        Ok(exit) => Ok(exit),
        Err(error) => {
            let exit = match &error {
                SendError::Lock(crate::ledger::LockError::Held { .. }) => Exit::Locked,
                _ => Exit::Usage,
            };
            // An output that could not be opened has nothing to be written to.
            if !matches!(
                error,
                SendError::SummaryJson { .. } | SendError::Metrics { .. }
            ) {
                failed(exit, &error);
            }
            Err(exit_error(error))
        }
    }
}

/// Writes the document of a run that never started; a failure to is said, not fatal
/// (the run's own error is the one that counts).
fn write_failure(path: &std::path::Path, failure: &Failure<'_>) {
    let empty = crate::results::tally::Tally::default();
    let written = SummaryJson::create(path)
        .and_then(|json| json.write(&summary_json::of_failure(failure, &empty)));
    if let Err(error) = written {
        crate::errln!("error: {error}");
    }
}

/// Another run holding the ledger is exit 4; anything else that stops a run before it
/// sends is a usage or configuration error (exit 2).
fn exit_error(error: SendError) -> anyhow::Error {
    match error {
        SendError::Lock(error) => super::lock_error(error),
        other => other.into(),
    }
}
