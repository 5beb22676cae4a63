//! `send` on the command line: flags and environment into a checked `SendConfig`, the
//! signals into the run's stop, the job, its reports (`send::report`: the summary,
//! `--summary-json`, `--metrics-file`, the hooks — of a run that never started too),
//! its errors into exit codes. The job itself is `crate::send`.

use crate::cli::SendArgs;
use crate::config::{self, ConfigError};
use crate::environment::Environment;
use crate::exit::{Exit, ExitError};
use crate::send::report::{Reports, Targets};
use crate::send::summary_json::{Failure, RunInfo};
use crate::send::{self, Control, SendError};

/// `json_logs`: every log line of the run carries its run id (JSON logs, for a
/// collector that sees many runs).
pub async fn run(
    args: SendArgs,
    env: &Environment,
    quiet: bool,
    json_logs: bool,
) -> anyhow::Result<Exit> {
    let started = chrono::Utc::now();
    let simulated = args.target.simulate && !args.target.dry_run;
    let info = RunInfo::new(&send::run_id(simulated), &args.inputs, started);
    if json_logs {
        crate::console::set_run(&info.run_id);
    }
    let targets = Targets {
        summary_json: args.reporting.summary_json.clone(),
        metrics_file: args.reporting.metrics_file.clone(),
        hooks: config::hooks(&args, env),
        quiet,
    };
    let (out, ledger, dry_run) = (
        args.out.clone().unwrap_or_default(),
        args.ledger.clone().unwrap_or_default(),
        args.target.dry_run,
    );
    let never_started = |exit: Exit, error: &dyn std::fmt::Display| Failure {
        info: &info,
        exit,
        error: crate::text::visible(&error.to_string()).into_owned(),
        dry_run,
        out: &out,
        ledger: &ledger,
    };
    targets.hooks.started().await;
    // `--out` names tonight's file by the Beijing date and the run, not the host's day.
    let named = |flag, path: &std::path::Path| {
        config::template::expand(path, &info.run_id, started).map_err(|message| {
            ConfigError::Template {
                flag,
                path: path.to_owned(),
                message,
            }
        })
    };
    let built = match args
        .out
        .as_deref()
        .map(|out| named("--out", out))
        .transpose()
    {
        Ok(out) => {
            let mut args = args;
            args.out = out.or(args.out);
            config::build_send(args, env).and_then(|mut config| {
                config.out = named("out in --config", &config.out)?;
                Ok(config)
            })
        }
        Err(error) => Err(error),
    };
    let config = match built {
        Ok(config) => config,
        Err(error) => {
            // Two roles on one file: an output's path may be another file's.
            let write = !matches!(error, ConfigError::Roles(_));
            Reports::never_started(&targets, &never_started(Exit::Usage, &error), write).await;
            return Err(error.into());
        }
    };
    let reports = match Reports::open(targets.clone()) {
        Ok(reports) => reports,
        Err(error) => {
            // A report file that cannot be opened has nothing to be written to.
            Reports::never_started(&targets, &never_started(Exit::Usage, &error), false).await;
            return Err(error.into());
        }
    };
    let stop = super::stop_on_signals().map_err(SendError::Signals)?;
    let control = Control {
        info: &info,
        stop: stop.clone(),
        live: None,
        quiet,
    };
    let job = send::run(config, control);
    let ran = if json_logs {
        use tracing::Instrument as _;
        job.instrument(tracing::info_span!("run", run_id = %info.run_id))
            .await
    } else {
        job.await
    };
    match ran {
        Ok(ran) => Ok(reports.ran(&ran, &info, stop).await.map_err(exit_error)?),
        Err(error) => {
            let exit = exit_of(&error);
            // Outputs stuck after a stop would hold the reports the same way.
            let write = !matches!(error, SendError::Stuck { .. });
            Reports::never_started(&targets, &never_started(exit, &error), write).await;
            Err(exit_error(error))
        }
    }
}

/// The exit code of a run that stopped before its first call (or could not write
/// its outputs after a stop).
fn exit_of(error: &SendError) -> Exit {
    match error {
        SendError::Lock(crate::ledger::LockError::Held { .. }) => Exit::Locked,
        SendError::Interrupted(signal) | SendError::Stuck { signal, .. } => signal.exit(),
        _ => Exit::Usage,
    }
}

/// Another run holding the ledger is exit 4, a signal its own code; anything else that
/// stops a run before it sends is a usage or configuration error (exit 2).
fn exit_error(error: SendError) -> anyhow::Error {
    match error {
        SendError::Lock(error) => super::lock_error(error),
        error @ (SendError::Interrupted(_) | SendError::Stuck { .. }) => {
            ExitError::new(exit_of(&error), error.to_string()).into()
        }
        other => other.into(),
    }
}
