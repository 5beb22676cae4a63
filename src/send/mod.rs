//! `send`, the job: read the exports, plan against the ledger, connect, open the
//! outputs, deliver what the plan sends, record every outcome, report. `run` is the
//! script; each step is a function below it, and each part of the pipeline a module
//! beside it:
//!
//! ```text
//! input ─▶ route (pass two, in order) ─┬─ decided rows ──────────────▶ recorder ─▶ ledger, results
//!                                      └─ jobs ─▶ deliver (N at once) ─▶ recorder
//! ```

mod batcher;
pub mod deliver;
mod error;
mod gate;
mod gateway;
pub mod halt;
pub mod hooks;
mod interrupt;
pub mod metrics;
pub mod outcome;
mod pace;
pub mod policy;
pub mod progress;
mod recorder;
mod reports;
pub mod route;
pub mod settings;
pub mod summary;
pub mod summary_json;
mod window;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use self::deliver::Deliverer;
pub use self::error::SendError;
pub use self::gateway::run_id;
use self::halt::{Halt, HaltReason};
use self::interrupt::{blocking, finish_or_leave, until_signal, watch_signals};
use self::progress::{Progress, ProgressMode};
use self::recorder::{Outputs, Recorder};
use self::reports::Reports;
pub use self::settings::{ClientTuning, Mode, SendConfig};
use self::summary::RunSummary;
use self::summary_json::RunInfo;
use self::window::{WINDOW, Window};
use crate::exit::Exit;
use crate::input::InputSet;
use crate::ledger::scan::Shape;
use crate::ledger::writer::SyncPolicy;
use crate::ledger::{self, LedgerLock, LedgerWriter, LockError};
use crate::plan::{InputIndex, Plan};
use crate::results::ResultWriter;
use crate::signals::Signals;

/// Runs the job of `config` as the run `info` names; `quiet` prints nothing when every
/// row went well.
pub async fn run(
    config: SendConfig,
    info: &RunInfo,
    quiet: bool,
) -> Result<(Exit, String), SendError> {
    run_watched(config, info, quiet, None).await
}

/// `run`, its progress readable through `live` while it runs (the desk).
pub async fn run_watched(
    config: SendConfig,
    info: &RunInfo,
    quiet: bool,
    live: Option<&progress::Live>,
) -> Result<(Exit, String), SendError> {
    let started = Instant::now();
    // Signals are heard from the first moment: until the first call, one ends the run
    // at once (nothing sent, the lock released), whatever it waits on — an input or an
    // output that is a FIFO, the plan, the gateway.
    let mut signals = Signals::install().map_err(SendError::Signals)?;
    let inputs = {
        let (paths, options) = (config.inputs.clone(), config.input.clone());
        let opened = blocking("the input reader", move || {
            InputSet::open(&paths, &options).map_err(SendError::from)
        });
        Arc::new(until_signal(&mut signals, opened).await??)
    };
    let _lock = lock_ledger(&config)?;
    let (plan, shape) = until_signal(&mut signals, plan(&config, &inputs)).await??;
    let digest = plan.digest();
    if let Some(expected) = &config.expect_plan
        && *expected != digest
    {
        return Err(SendError::PlanChanged {
            expected: expected.clone(),
            found: digest,
            calls: plan.sends(),
        });
    }
    let halt = Arc::new(Halt::default());
    let gateway = until_signal(
        &mut signals,
        gateway::connect(&config, &halt, Arc::from(info.run_id.as_str())),
    )
    .await??;
    let (outputs, summary_json) = {
        let (config, inputs) = (config.clone(), Arc::clone(&inputs));
        let opened = blocking("opening the outputs", move || {
            open_outputs(&config, &shape, &inputs)
        });
        until_signal(&mut signals, opened).await??
    };
    let (watcher, stopped) = watch_signals(signals, Arc::clone(&halt));
    let progress = Arc::new(Progress::start(
        if quiet {
            ProgressMode::Off
        } else {
            config.progress
        },
        if config.is_dry_run() { 0 } else { plan.sends() },
        config.progress_every,
    ));
    if let Some(live) = live {
        progress.publish(live);
    }
    let recorder = deliver(
        &config,
        &inputs,
        plan,
        outputs,
        gateway.deliverer.as_ref(),
        &halt,
        &progress,
    )
    .await?;
    progress.finish();
    // The outputs are written on a thread of their own, so a signal is still heard: a
    // stream whose reader stopped reading gets `GRACE`, then the run exits (its ledger
    // is synced first).
    let finished = {
        let halt = Arc::clone(&halt);
        let finishing = blocking("writing the results", move || Ok(finish(recorder, &halt)));
        finish_or_leave(finishing, stopped.clone()).await?
    };
    let summary = RunSummary {
        tally: &finished.recorder_tally,
        elapsed: started.elapsed(),
        halt: halt.reason(),
        dry_run: config.is_dry_run(),
        out: &finished.out,
        ledger: &config.ledger,
        ledger_appended: finished.ledger_appended,
        plan_digest: &digest,
    };
    let exit = summary.exit();
    let doc = summary_json::of_run(&summary, info);
    let text = serde_json::to_string_pretty(&doc).expect("the summary serializes");
    summary::print(
        &summary,
        &serde_json::to_value(&doc).expect("the summary serializes"),
        &finished.invalid,
        gateway.simulator.as_ref(),
        quiet,
    );
    let reports = Reports {
        summary_json,
        metrics_file: config.metrics_file.clone(),
        tally: finished.recorder_tally.clone(),
        duration: started.elapsed(),
        banned: gateway
            .deliverer
            .as_ref()
            .map_or(std::time::Duration::ZERO, Deliverer::banned),
        text: text.clone(),
    };
    let writing = blocking("writing the reports", move || Ok(reports.write(exit)));
    let exit = finish_or_leave(writing, stopped).await?;
    watcher.abort();
    Ok((exit, text))
}

/// One run per ledger; taken before the ledger is read, so the plan cannot go stale
/// under another run. A dry run reads only, and takes none.
fn lock_ledger(config: &SendConfig) -> Result<Option<LedgerLock>, LockError> {
    match config.is_dry_run() {
        true => Ok(None),
        false => ledger::acquire(&config.ledger).map(Some),
    }
}

/// Indexes the input (pass one), then streams the ledger through that index.
async fn plan(
    config: &SendConfig,
    inputs: &Arc<InputSet>,
) -> Result<(Arc<Plan>, Shape), SendError> {
    let path = config.ledger.clone();
    let include_simulated = config.is_simulated();
    let scan = Arc::clone(inputs);
    let (index, conflicts, pass, ledger, took) = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let (mut index, pass) = InputIndex::build_from(&scan)?;
        let indexed = start.elapsed();
        let conflicts = index.conflicts(&scan)?;
        let ledger = index.absorb_ledger(&path, include_simulated)?;
        Ok::<_, SendError>((
            index,
            conflicts,
            pass,
            ledger,
            (indexed, start.elapsed() - indexed),
        ))
    })
    .await
    .map_err(|_| SendError::Panicked("the planner"))??;
    let shape = ledger.shape;
    // One result row per input row: a workbook that cannot hold them all is refused
    // before the first call, not found full after the last.
    if crate::xlsx::is_workbook(&config.out) && pass.rows > crate::xlsx::MAX_DATA_ROWS {
        return Err(SendError::TooManyRowsForWorkbook {
            path: config.out.clone(),
            rows: pass.rows,
        });
    }
    tracing::info!(
        "input: {} rows ({} invalid), {} distinct req_ids, indexed in {:.2?}; \
         ledger {}: {} lines, {} about this input, read in {:.2?}",
        pass.rows,
        pass.invalid,
        index.len(),
        took.0,
        config.ledger.display(),
        shape.lines,
        ledger.matched,
        took.1,
    );
    if shape.torn_bytes() > 0 {
        tracing::warn!(
            "ledger {}: the last line is incomplete ({} bytes, left by an interrupted run); it is ignored{}",
            config.ledger.display(),
            shape.torn_bytes(),
            if config.is_dry_run() {
                ""
            } else {
                " and cut off"
            }
        );
    }
    if ledger.simulated_ignored > 0 {
        tracing::warn!(
            "ledger {}: ignoring {} lines written by --simulate runs",
            config.ledger.display(),
            ledger.simulated_ignored
        );
    }
    let plan = Plan::new(
        index,
        conflicts,
        inputs.names().to_vec(),
        config.retry_rejected,
    );
    tracing::info!("plan: {} calls to make", plan.sends());
    Ok((Arc::new(plan), shape))
}

/// Every output is opened before the first call: if one cannot be written, nothing
/// is sent. The ledger comes last, as the only one opening changes (a header for a
/// new ledger, a torn line cut off).
fn open_outputs(
    config: &SendConfig,
    shape: &Shape,
    inputs: &InputSet,
) -> Result<(Outputs, Option<summary_json::SummaryJson>), SendError> {
    let sources = Arc::from(inputs.names());
    let results = ResultWriter::create(&config.out, sources, config.excel, inputs.extra_names())
        .map_err(|error| SendError::Results {
            path: config.out.clone(),
            error,
        })?;
    // Written at the end, but found unwritable before the first call.
    if let Some(path) = &config.metrics_file {
        crate::outfile::Replacement::create(path).map_err(|error| SendError::Metrics {
            path: path.clone(),
            error,
        })?;
    }
    let summary_json = config
        .summary_json
        .as_deref()
        .map(summary_json::SummaryJson::create)
        .transpose()?;
    let ledger = match config.is_dry_run() {
        true => None,
        false => Some(LedgerWriter::open(
            &config.ledger,
            shape,
            SyncPolicy::default(),
        )?),
    };
    Ok((Outputs { results, ledger }, summary_json))
}

/// Runs the pipeline to its end: the router reads and decides every row on threads
/// of its own, the deliverer sends (if there is one), the recorder writes.
async fn deliver(
    config: &SendConfig,
    inputs: &Arc<InputSet>,
    plan: Arc<Plan>,
    outputs: Outputs,
    deliverer: Option<&Deliverer>,
    halt: &Arc<Halt>,
    progress: &Arc<Progress>,
) -> Result<Recorder, SendError> {
    let window = Arc::new(Window::new(WINDOW));
    let recorder = Recorder::new(
        outputs,
        Arc::clone(progress),
        Arc::clone(halt),
        Arc::clone(&window),
        Arc::from(inputs.names()),
    );
    let (to_recorder, recorder) = recorder.spawn().map_err(SendError::Thread)?;
    let (to_send, jobs) = mpsc::channel(job_queue(config.policy.concurrency.get()));
    let router = {
        let (inputs, to_recorder) = (Arc::clone(inputs), to_recorder.clone());
        let dry_run = config.is_dry_run();
        let halt = Arc::clone(halt);
        tokio::task::spawn_blocking(move || {
            route::route_all(
                &inputs,
                &plan,
                dry_run,
                &window,
                &to_send,
                &to_recorder,
                &halt,
            )
        })
    };
    match deliverer {
        Some(deliverer) => deliverer.deliver_all(jobs, to_recorder).await,
        None => drop((jobs, to_recorder)),
    }
    match router.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            halt.trigger(HaltReason::Input(Arc::new(error)));
        }
        Err(_) => {
            halt.trigger(HaltReason::Crashed("the input reader"));
        }
    }
    recorder
        .join()
        .map_err(|_| SendError::Panicked("the recorder thread"))
}

/// Batches of jobs queued for delivery: enough to keep `concurrency` calls busy.
fn job_queue(concurrency: usize) -> usize {
    4 + 2 * concurrency / 256
}

/// What is left to report once the outputs are closed.
struct Finished {
    recorder_tally: crate::results::tally::Tally,
    invalid: Vec<String>,
    out: PathBuf,
    ledger_appended: u64,
}

/// Syncs the ledger and puts the result file in place; a failure halts the run.
fn finish(recorder: Recorder, halt: &Halt) -> Finished {
    let Recorder {
        outputs,
        tally,
        invalid,
        ..
    } = recorder;
    let ledger_appended = outputs.ledger.as_ref().map_or(0, LedgerWriter::appended);
    if let Some(Err(error)) = outputs.ledger.map(LedgerWriter::finish) {
        halt.trigger(HaltReason::LedgerWrite(Arc::new(error)));
    }
    let path = outputs.results.out().to_owned();
    let out = match outputs.results.finish() {
        Ok(path) => path,
        Err(error) => {
            halt.trigger(HaltReason::ResultWrite {
                path: path.clone(),
                error: Arc::new(error),
            });
            path
        }
    };
    Finished {
        recorder_tally: tally,
        invalid,
        out,
        ledger_appended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_queue_grows_with_the_concurrency() {
        assert_eq!(job_queue(8), 4);
        assert_eq!(job_queue(512), 8);
    }
}
