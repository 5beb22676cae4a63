//! `send`: the job, as a script of named steps — check the inputs, lock the ledger,
//! plan, open the outputs, run the pipeline (`pipeline`), report.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::cli::SendArgs;
use crate::config::{self, Env, Mode, SendConfig};
use crate::dispatch::Dispatcher;
use crate::exit::Exit;
use crate::halt::{Halt, HaltReason};
use crate::input::InputSet;
use crate::ledger::scan::Shape;
use crate::ledger::writer::SyncPolicy;
use crate::ledger::{self, LedgerWriter};
use crate::pipeline::{Deliverer, WINDOW, Window, Writer, read_and_decide};
use crate::plan::{InputIndex, Plan};
use crate::progress::Progress;
use crate::results::ResultWriter;
use crate::signals::Signals;
use crate::simulator::{self, RunningSimulator, SimulatorConfig};
use crate::status::Status;
use crate::summary::RunSummary;
use crate::top::{Credentials, Secret, TopClient};

pub async fn run(args: SendArgs, env: Env<'_>, quiet: bool) -> anyhow::Result<Exit> {
    let config = config::build_send(args, env)?;
    let started = Instant::now();
    let inputs = Arc::new(InputSet::open(&config.inputs, &config.input)?);
    let sources: Vec<String> = inputs.sources.iter().map(|s| s.name.clone()).collect();

    // Lock before reading the ledger, so the index cannot go stale under another run.
    let _lock = if config.is_dry_run() {
        None
    } else {
        Some(ledger::acquire(&config.ledger)?)
    };
    let (shape, input_index) = plan_run(&config, &inputs).await?;
    let plan = Arc::new(Plan::new(
        input_index,
        sources.clone(),
        config.retry_rejected,
    ));
    let planned = plan.sends();
    tracing::info!("plan: {planned} calls to make");

    // Every output is opened before the first call: if one cannot be written, nothing is sent.
    let ledger_writer = match config.is_dry_run() {
        true => None,
        false => Some(LedgerWriter::open(
            &config.ledger,
            &shape,
            SyncPolicy::default(),
        )?),
    };
    let results = ResultWriter::create(&config.out, Arc::from(sources.clone()), config.excel)
        .with_context(|| {
            format!(
                "cannot create the result file beside {}",
                config.out.display()
            )
        })?;

    let halt = Arc::new(Halt::default());
    let (dispatcher, simulator) = connect(&config, &halt).await?;
    let signals = Signals::install().context("cannot listen for SIGINT/SIGTERM")?;
    crate::signals::survive_file_size_limit();
    let watcher = tokio::spawn(watch_signals(signals, Arc::clone(&halt)));

    let progress = Progress::start(
        if quiet {
            crate::progress::ProgressMode::Off
        } else {
            config.progress
        },
        if config.is_dry_run() { 0 } else { planned },
        config.progress_every,
    );
    let progress = Arc::new(progress);
    let window = Arc::new(Window::new(WINDOW));
    let writer = Writer::new(
        results,
        ledger_writer,
        Arc::clone(&progress),
        Arc::clone(&halt),
        Arc::clone(&window),
        Arc::from(sources.clone()),
    );
    let (to_writer, writer) = writer.spawn().context("cannot start the writer thread")?;
    let concurrency = config.policy.concurrency.get();
    let (to_send, jobs) = mpsc::channel(4 + 2 * concurrency / 256);
    let reader = {
        let (inputs, plan, window, to_writer) = (
            Arc::clone(&inputs),
            Arc::clone(&plan),
            Arc::clone(&window),
            to_writer.clone(),
        );
        let dry_run = config.is_dry_run();
        tokio::task::spawn_blocking(move || {
            read_and_decide(&inputs, &plan, dry_run, &window, &to_send, &to_writer)
        })
    };
    if let Some(dispatcher) = &dispatcher {
        let run_id = run_id(matches!(config.mode, Mode::Simulate { .. }));
        let deliverer = Deliverer {
            dispatcher,
            halt: &halt,
            run_id,
        };
        deliverer.deliver_all(jobs, concurrency, to_writer).await;
    } else {
        drop((jobs, to_writer));
    }
    match reader.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            halt.trigger(HaltReason::Io(format!(
                "{e}; the rows after it have no result"
            )));
        }
        Err(e) => {
            halt.trigger(HaltReason::Io(format!("the input reader failed: {e}")));
        }
    }
    watcher.abort();
    let Writer {
        tally,
        results,
        invalid,
        ledger: mut ledger_writer,
        ..
    } = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked; the ledger holds whole lines"))?;
    progress.finish();
    let ledger_appended = ledger_writer.as_ref().map_or(0, LedgerWriter::appended);
    if let Some(Err(e)) = ledger_writer.take().map(LedgerWriter::finish) {
        halt.trigger(HaltReason::Io(e.to_string()));
    }
    let out = match results.finish() {
        Ok(path) => path,
        Err(e) => {
            halt.trigger(HaltReason::Io(format!(
                "cannot write the result file {}: {e}",
                config.out.display()
            )));
            config.out.clone()
        }
    };

    let summary = RunSummary {
        tally: &tally,
        elapsed: started.elapsed(),
        halt: halt.reason(),
        dry_run: config.is_dry_run(),
        out: &out,
        ledger: &config.ledger,
        ledger_appended,
    };
    let exit = summary.exit();
    if !quiet || exit != Exit::Success {
        print_invalid(&invalid, tally.count(Status::Invalid));
        eprint!("{}", summary.render());
        if let Some(sim) = &simulator {
            let stats = sim.stats();
            eprintln!(
                "simulator: {} requests, {} accepted, {} duplicates, {} rejected",
                stats.requests, stats.accepted, stats.duplicates, stats.rejected
            );
        }
    }
    if let Some(path) = &config.summary_json {
        write_summary_json(path, &summary.to_json())?;
    }
    Ok(exit)
}

/// Indexes the input (pass one), then streams the ledger through that index.
async fn plan_run(
    config: &SendConfig,
    inputs: &Arc<InputSet>,
) -> anyhow::Result<(Shape, InputIndex)> {
    let path = config.ledger.clone();
    let include_simulated = matches!(config.mode, Mode::Simulate { .. });
    let inputs = Arc::clone(inputs);
    let (shape, index, pass, ledger, took) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let start = Instant::now();
            let (mut index, pass) = InputIndex::build_from(&inputs)?;
            let indexed = start.elapsed();
            let ledger = index.absorb_ledger(&path, include_simulated)?;
            Ok((
                ledger.shape,
                index,
                pass,
                ledger,
                (indexed, start.elapsed() - indexed),
            ))
        })
        .await
        .context("the planner panicked")??;
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
    Ok((shape, index))
}

/// The gateway to send to: none for a dry run, an in-process simulator, or TOP.
async fn connect(
    config: &SendConfig,
    halt: &Arc<Halt>,
) -> anyhow::Result<(Option<Dispatcher>, Option<RunningSimulator>)> {
    let (gateway, credentials, simulator) = match &config.mode {
        Mode::DryRun => return Ok((None, None)),
        Mode::Live {
            gateway,
            credentials,
        } => (gateway.clone(), credentials.clone(), None),
        Mode::Simulate { scenario } => {
            let sim_config = SimulatorConfig::demo().with_scenario(scenario.clone());
            let running = simulator::start(([127, 0, 0, 1], 0).into(), sim_config)
                .await
                .context("cannot start the simulated gateway")?;
            let credentials = Credentials {
                app_key: simulator::DEMO_APP_KEY.into(),
                secret: Secret::new(simulator::DEMO_SECRET),
                session: Secret::new(simulator::DEMO_SESSION),
            };
            (running.url(), credentials, Some(running))
        }
    };
    let client = TopClient::new(config.client_settings(gateway, credentials))?;
    Ok((
        Some(Dispatcher::new(
            client,
            config.policy.clone(),
            Arc::clone(halt),
        )),
        simulator,
    ))
}

/// First signal: stop starting calls. Second: quit at once (the ledger holds whole lines).
async fn watch_signals(mut signals: Signals, halt: Arc<Halt>) {
    let first = signals.next().await;
    halt.trigger(HaltReason::Signal(first));
    eprintln!(
        "stopping: letting calls in flight finish, then writing the results (signal again to quit at once)"
    );
    let second = signals.next().await;
    eprintln!("quitting at once: the ledger is intact; the result file was not written");
    std::process::exit(i32::from(second.exit().code()));
}

fn print_invalid(examples: &[String], total: u64) {
    if examples.is_empty() {
        return;
    }
    eprintln!("invalid rows:");
    for example in examples {
        eprintln!("  {example}");
    }
    if total > examples.len() as u64 {
        eprintln!(
            "  … and {} more (status invalid in the result file)",
            total - examples.len() as u64
        );
    }
}

fn write_summary_json(path: &Path, doc: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(doc).expect("JSON values serialize");
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write --summary-json {}", path.display()))
}

/// Identifies the run in the ledger: Beijing start time and pid; `sim-` for simulations.
fn run_id(simulated: bool) -> Arc<str> {
    let now = chrono::Utc::now().with_timezone(&crate::top::request::beijing());
    let prefix = if simulated {
        ledger::SIMULATED_RUN_PREFIX
    } else {
        ""
    };
    Arc::from(format!(
        "{prefix}{}-{}",
        now.format("%Y%m%dT%H%M%S"),
        std::process::id()
    ))
}
