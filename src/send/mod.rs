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
pub mod interrupt;
pub mod metrics;
pub mod outcome;
mod outputs;
mod pace;
pub mod policy;
pub mod progress;
pub mod quota;
pub mod ran;
pub mod recorder;
pub mod report;
pub mod route;
pub mod settings;
pub mod summary;
pub mod summary_json;
mod window;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use self::deliver::Deliverer;
pub use self::error::SendError;
pub use self::gateway::{client_for, run_id};
use self::halt::{Halt, HaltReason};
pub use self::interrupt::Stop;
use self::interrupt::{blocking, finish_or_leave, halt_on_stop, until_stopped};
pub use self::outputs::LEDGER_SOURCE;
use self::progress::{Progress, ProgressMode};
pub use self::ran::Ran;
use self::recorder::{Outputs, Recorder};
pub use self::settings::{ClientTuning, Connection, Mode, SendConfig};
use self::summary_json::RunInfo;
use self::window::{WINDOW, Window};
use crate::input::InputSet;
use crate::ledger::record::{RunEnd, RunStart};
use crate::ledger::{self, Access, Ledger, LedgerLock, LockError};
use crate::plan::{InputIndex, Plan, Resends};

/// What a run needs beside its settings: which run it is, how it is stopped, who
/// watches its progress.
#[derive(Debug)]
pub struct Control<'a> {
    pub info: &'a RunInfo,
    /// Stop requests from outside (signals, the desk shutting down).
    pub stop: Stop,
    /// Where another thread reads the progress (the desk).
    pub live: Option<&'a progress::Live>,
    /// No progress display of its own (`-q`, or the desk).
    pub quiet: bool,
}

/// Runs the job of `config`: what happened, for the caller to report (`report`).
/// Nothing is printed here but the progress; nothing else ends the process.
pub async fn run(config: SendConfig, control: Control<'_>) -> Result<Ran, SendError> {
    let started = Instant::now();
    let mut stop = control.stop.clone();
    let inputs = {
        let (paths, options) = (config.inputs.clone(), config.input.clone());
        let opened = blocking("the input reader", move || {
            InputSet::open(&paths, &options).map_err(SendError::from)
        });
        Arc::new(until_stopped(&mut stop, opened).await??)
    };
    let _lock = lock_ledger(&config)?;
    let (plan, ledger) = until_stopped(&mut stop, plan(&config, &inputs)).await??;
    let budget = quota::budget(&config, ledger.as_ref(), plan.sends())?;
    let digest = plan.digest();
    let resent = plan.resends_len() as u64;
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
    let gateway = until_stopped(
        &mut stop,
        gateway::connect(
            &config,
            &halt,
            Arc::from(control.info.run_id.as_str()),
            budget.clone(),
        ),
    )
    .await??;
    let outputs = {
        let run = RunStart {
            run_id: control.info.run_id.clone(),
            started_by: config.started_by.clone(),
            started_at: crate::clock::stamp(control.info.started),
            simulated: config.is_simulated(),
            plan_digest: digest.clone(),
            inputs: Vec::new(),
        };
        let (config, inputs, resends) = (config.clone(), Arc::clone(&inputs), plan.resends_len());
        let opened = blocking("opening the outputs", move || {
            outputs::open_outputs(&config, &inputs, ledger, run, resends > 0)
        });
        until_stopped(&mut stop, opened).await??
    };
    let watcher = halt_on_stop(stop.clone(), Arc::clone(&halt));
    let progress = Arc::new(Progress::start(
        if control.quiet {
            ProgressMode::Off
        } else {
            config.progress
        },
        if config.is_dry_run() { 0 } else { plan.sends() },
        config.progress_every,
    ));
    if let Some(live) = control.live {
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
    watcher.abort();
    // The outputs are written on a thread of their own, so a stop is still heard: a
    // stream whose reader stopped reading gets its grace, then the run leaves it (its
    // ledger is synced first).
    let finished = {
        let halt = Arc::clone(&halt);
        let out = config.out.clone();
        let finishing = blocking("writing the results", move || {
            Ok(finish(recorder, &halt, &out))
        });
        finish_or_leave(finishing, stop).await?
    };
    Ok(Ran {
        run_id: control.info.run_id.clone(),
        tally: finished.tally,
        halt: halt.reason().cloned(),
        elapsed: started.elapsed(),
        dry_run: config.is_dry_run(),
        out: finished.out,
        ledger: config.ledger.clone(),
        ledger_appended: finished.ledger_appended,
        resent,
        plan_digest: digest,
        invalid: finished.invalid,
        banned: gateway
            .deliverer
            .as_ref()
            .map_or(Duration::ZERO, Deliverer::banned),
        simulator: gateway.simulator.as_ref().map(|sim| sim.stats()),
        retryable_exit: config.retryable_exit,
        session_expires: config.connection.session_expires,
        due_soon: quota::due_soon(&config),
        quota: budget.map(|b| quota::QuotaUse {
            quota: b.quota,
            used_before: b.used_before,
            used: b.used(),
        }),
    })
}

/// One run per ledger; taken before the ledger is read, so the plan cannot go stale
/// under another run. A dry run reads only, and takes none.
fn lock_ledger(config: &SendConfig) -> Result<Option<LedgerLock>, LockError> {
    match config.is_dry_run() {
        true => Ok(None),
        false => ledger::acquire(&config.ledger).map(Some),
    }
}

/// Indexes the input (pass one), then looks its req_ids up in the ledger, and finds
/// the ledger's own orders to send again. The ledger stays open for the run's writer
/// (none for a dry run, which never writes, nor for one without a ledger yet).
async fn plan(
    config: &SendConfig,
    inputs: &Arc<InputSet>,
) -> Result<(Arc<Plan>, Option<Ledger>), SendError> {
    let path = config.ledger.clone();
    let simulated = config.is_simulated();
    let dry_run = config.is_dry_run();
    let resend_days = config.resend_failed_days;
    let from_reconcile = config.from_reconcile.clone();
    let scan = Arc::clone(inputs);
    let (index, conflicts, pass, found, resends, ledger, took) =
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let (mut index, pass) = InputIndex::build_from(&scan)?;
            let indexed = start.elapsed();
            let conflicts = index.conflicts(&scan)?;
            // Without a ledger nothing is known; a new one is made only once every
            // other output has opened (`open_outputs`), and never by a dry run.
            let ledger = match ledger::db::kind_of(&path) {
                Ok(ledger::db::Kind::Empty) => {
                    Ledger::check_new(&path)?;
                    None
                }
                _ if dry_run => Some(Ledger::open(&path, Access::Read)?),
                _ => Some(Ledger::open(&path, Access::Write)?),
            };
            let found = match &ledger {
                Some(ledger) => {
                    index.absorb_ledger(ledger, simulated, crate::cores::ledger_walkers())?
                }
                None => crate::plan::LedgerPass::default(),
            };
            let candidates = match &ledger {
                Some(ledger) => ledger::resend::to_send(
                    ledger,
                    simulated,
                    resend_days,
                    from_reconcile.as_deref(),
                )?,
                None => Vec::new(),
            };
            let resends = Resends::of(candidates, |key| index.contains(key));
            Ok::<_, SendError>((
                index,
                conflicts,
                pass,
                found,
                resends,
                ledger,
                (indexed, start.elapsed() - indexed),
            ))
        })
        .await
        .map_err(|_| SendError::Panicked("the planner"))??;
    // One result row per input row: a workbook that cannot hold them all is refused
    // before the first call, not found full after the last.
    let rows = pass.rows + resends.len() as u64;
    if crate::xlsx::is_workbook(&config.out) && rows > crate::xlsx::MAX_DATA_ROWS {
        return Err(SendError::TooManyRowsForWorkbook {
            path: config.out.clone(),
            rows,
        });
    }
    tracing::info!(
        "input: {} rows ({} invalid), {} distinct req_ids, indexed in {:.2?}; \
         ledger {}: {} of them known, looked up in {:.2?}; {} of its orders to send again",
        pass.rows,
        pass.invalid,
        index.len(),
        took.0,
        config.ledger.display(),
        found.matched,
        took.1,
        resends.len(),
    );
    let plan = Plan::new(
        index,
        conflicts,
        inputs.names().to_vec(),
        config.retry_rejected,
    )
    .with_resends(resends);
    tracing::info!("plan: {} calls to make", plan.sends());
    Ok((Arc::new(plan), if dry_run { None } else { ledger }))
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
    let from_ledger = plan.resends_len() > 0;
    let pending = outputs.ledger.is_some();
    let recorder = Recorder::new(
        outputs,
        Arc::clone(progress),
        Arc::clone(halt),
        Arc::clone(&window),
        Arc::from(outputs::sources(inputs, from_ledger)),
    );
    let (to_recorder, recorder) = recorder.spawn().map_err(SendError::Thread)?;
    let (to_send, jobs) = mpsc::channel(job_queue(config.policy.concurrency.get()));
    let router = {
        let (inputs, to_recorder) = (Arc::clone(inputs), to_recorder.clone());
        let dry_run = config.is_dry_run();
        let halt = Arc::clone(halt);
        tokio::task::spawn_blocking(move || {
            let routes = route::Routes {
                dry_run,
                pending,
                window: &window,
                sends: &to_send,
                decided: &to_recorder,
                ledger_source: u32::try_from(inputs.names().len()).unwrap_or(u32::MAX),
                extra: inputs.extra_names().len(),
            };
            route::route_all(&inputs, &plan, &routes, &halt)
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
    tally: crate::results::tally::Tally,
    invalid: Vec<String>,
    out: PathBuf,
    ledger_appended: u64,
}

/// Records the run's end in the ledger and puts the result file in place; a failure
/// halts the run.
fn finish(recorder: Recorder, halt: &Halt, out: &std::path::Path) -> Finished {
    let Recorder {
        outputs,
        tally,
        invalid,
        ..
    } = recorder;
    let ledger_appended = outputs.ledger.as_ref().map_or(0, |l| l.appended());
    if let Some(recording) = outputs.ledger {
        let end = RunEnd {
            exit_code: summary::exit_of(&tally, halt.reason()).code(),
            counts: serde_json::to_value(summary_json::StatusCounts(&tally)).unwrap_or_default(),
            results: crate::roles::resolve(out).display().to_string(),
            error: halt.reason().map(ToString::to_string),
        };
        if let Err(error) = recording.finish(&end) {
            halt.trigger(HaltReason::LedgerWrite(Arc::new(error)));
        }
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
        tally,
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
