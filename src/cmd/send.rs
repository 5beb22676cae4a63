//! `send` on the command line: flags and environment into a checked `SendConfig`, the
//! job, its errors into exit codes — and what every exit tells the world, even of a run
//! that never started: `--summary-json`, `--metrics-file`, `--ping-url`,
//! `--notify-url`. The job itself is `crate::send`.

use std::path::PathBuf;

use crate::cli::SendArgs;
use crate::config::{self, ConfigError, Env};
use crate::exit::Exit;
use crate::results::tally::Tally;
use crate::send::metrics;
use crate::send::summary_json::{self, Failure, RunInfo, SummaryJson};
use crate::send::{self, SendError};

/// `json_logs`: every log line of the run carries its run id (JSON logs, for a
/// collector that sees many runs).
pub async fn run(
    args: SendArgs,
    env: Env<'_>,
    quiet: bool,
    json_logs: bool,
) -> anyhow::Result<Exit> {
    let started = chrono::Utc::now();
    let simulated = args.simulate && !args.dry_run;
    let info = RunInfo::new(&send::run_id(simulated), &args.inputs, started);
    if json_logs {
        crate::console::set_run(&info.run_id);
    }
    let reports = Reports {
        summary: args.summary_json.clone(),
        metrics: args.metrics_file.clone(),
        out: args.out.clone().unwrap_or_default(),
        ledger: args.ledger.clone().unwrap_or_default(),
        dry_run: args.dry_run,
    };
    let hooks = config::hooks(&args, env);
    hooks.started().await;
    let config = match config::build_send(args, env) {
        Ok(config) => config,
        Err(error) => {
            // Two roles on one file: an output's path may be another file's.
            let write = !matches!(error, ConfigError::Roles(_));
            let text = reports.never_started(&info, Exit::Usage, &error, write);
            hooks.finished(Exit::Usage.code(), &text).await;
            return Err(error.into());
        }
    };
    let job = send::run(config, &info, quiet);
    let ran = if json_logs {
        use tracing::Instrument as _;
        job.instrument(tracing::info_span!("run", run_id = %info.run_id))
            .await
    } else {
        job.await
    };
    match ran {
        Ok((exit, summary)) => {
            hooks.finished(exit.code(), &summary).await;
            Ok(exit)
        }
        Err(error) => {
            let exit = match &error {
                SendError::Lock(crate::ledger::LockError::Held { .. }) => Exit::Locked,
                SendError::Interrupted(signal) => signal.exit(),
                _ => Exit::Usage,
            };
            // An output that could not be opened has nothing to be written to.
            let write = !matches!(
                error,
                SendError::SummaryJson { .. } | SendError::Metrics { .. }
            );
            let text = reports.never_started(&info, exit, &error, write);
            hooks.finished(exit.code(), &text).await;
            Err(exit_error(error))
        }
    }
}

/// The outputs that report on a run.
struct Reports {
    summary: Option<PathBuf>,
    metrics: Option<PathBuf>,
    out: PathBuf,
    ledger: PathBuf,
    dry_run: bool,
}

impl Reports {
    /// The summary of a run that stopped before its first call, as JSON text; written
    /// to `--summary-json` and `--metrics-file` when `write` (a failure to is said, not
    /// fatal: the run's own error is the one that counts).
    fn never_started(
        &self,
        info: &RunInfo,
        exit: Exit,
        error: &dyn std::fmt::Display,
        write: bool,
    ) -> String {
        let failure = Failure {
            info,
            exit,
            error: crate::text::visible(&error.to_string()).into_owned(),
            dry_run: self.dry_run,
            out: &self.out,
            ledger: &self.ledger,
        };
        let empty = Tally::default();
        let text = serde_json::to_string_pretty(&summary_json::of_failure(&failure, &empty))
            .expect("the summary serializes");
        if !write {
            return text;
        }
        if let Some(path) = &self.summary
            && let Err(error) = SummaryJson::create(path).and_then(|json| json.write(&text))
        {
            crate::errln!("error: {error}");
        }
        if let Some(path) = &self.metrics {
            let run = metrics::RunMetrics {
                exit,
                tally: &empty,
                duration: (chrono::Utc::now() - info.started)
                    .to_std()
                    .unwrap_or_default(),
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
        text
    }
}

/// Another run holding the ledger is exit 4, a signal its own code; anything else that
/// stops a run before it sends is a usage or configuration error (exit 2).
fn exit_error(error: SendError) -> anyhow::Error {
    match error {
        SendError::Lock(error) => super::lock_error(error),
        SendError::Interrupted(signal) => {
            crate::exit::ExitError::new(signal.exit(), SendError::Interrupted(signal).to_string())
                .into()
        }
        other => other.into(),
    }
}
