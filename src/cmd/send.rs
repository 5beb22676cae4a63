//! `send`: the job, as a script of named steps — check the inputs, lock the ledger,
//! plan, open the outputs, run the pipeline, report. The pipeline is one stream:
//! rows in input order → `buffer_unordered(concurrency)` of deliveries → one consumer
//! that appends to the ledger, writes result rows and advances the progress.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::sync::mpsc;

use crate::cli::SendArgs;
use crate::config::{self, Env, Mode, SendConfig};
use crate::dispatch::{Delivery, Dispatcher};
use crate::exit::Exit;
use crate::halt::{Halt, HaltReason};
use crate::input::{InputError, InputRow, InputSet, RowFields};
use crate::ledger::writer::SyncPolicy;
use crate::ledger::{self, LedgerEntry, LedgerWriter, LoadedLedger, Settled};
use crate::order::{Order, Payload};
use crate::plan::{Decision, InputIndex, Plan};
use crate::progress::Progress;
use crate::results::{ResultRow, ResultWriter};
use crate::signals::Signals;
use crate::simulator::{self, RunningSimulator, SimulatorConfig};
use crate::status::Status;
use crate::summary::{RunSummary, Tally};
use crate::top::{Credentials, Secret, TopClient, Verdict};

/// How many invalid rows are quoted on stderr before "… and N more".
const INVALID_EXAMPLES: usize = 10;

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
    let (mut loaded, input_index) = load_ledger_and_index_input(&config, &inputs).await?;
    let ledger_index = std::mem::take(&mut loaded.index);
    let plan = Arc::new(Plan::new(
        ledger_index,
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
            &loaded,
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
    let run = Run {
        dispatcher: dispatcher.as_ref(),
        halt: &halt,
        run_id: run_id(matches!(config.mode, Mode::Simulate { .. })),
        dry_run: config.is_dry_run(),
    };
    let progress = Arc::new(progress);
    let consumer = Consumer::new(
        results,
        ledger_writer,
        Arc::clone(&progress),
        Arc::clone(&halt),
        Arc::from(sources.clone()),
    );
    let (to_consumer, consumer) = consumer.spawn().context("cannot start the writer thread")?;
    run.pipeline(
        Arc::clone(&inputs),
        Arc::clone(&plan),
        config.policy.concurrency.get(),
        to_consumer,
    )
    .await;
    watcher.abort();
    let Consumer {
        tally,
        results,
        invalid,
        ledger: mut ledger_writer,
        ..
    } = consumer
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

/// Reads the ledger and indexes the input at the same time (two cores, two files).
async fn load_ledger_and_index_input(
    config: &SendConfig,
    inputs: &Arc<InputSet>,
) -> anyhow::Result<(LoadedLedger, InputIndex)> {
    let path = config.ledger.clone();
    let include_simulated = matches!(config.mode, Mode::Simulate { .. });
    let ledger = tokio::task::spawn_blocking(move || ledger::load(&path, include_simulated));
    let inputs = Arc::clone(inputs);
    let first_pass = tokio::task::spawn_blocking(move || InputIndex::build(inputs.rows()));
    let loaded = ledger.await.context("ledger reader panicked")??;
    let (index, pass) = first_pass.await.context("input reader panicked")??;
    tracing::info!(
        "ledger {}: {} lines, {} req_ids; input: {} rows ({} invalid), {} distinct req_ids",
        config.ledger.display(),
        loaded.lines,
        loaded.index.len(),
        pass.rows,
        pass.invalid,
        index.len()
    );
    if loaded.torn_bytes() > 0 {
        tracing::warn!(
            "ledger {}: the last line is incomplete ({} bytes, left by an interrupted run); it is ignored{}",
            config.ledger.display(),
            loaded.torn_bytes(),
            if config.is_dry_run() {
                ""
            } else {
                " and cut off"
            }
        );
    }
    if loaded.simulated_ignored > 0 {
        tracing::warn!(
            "ledger {}: ignoring {} lines written by --simulate runs",
            config.ledger.display(),
            loaded.simulated_ignored
        );
    }
    Ok((loaded, index))
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

/// A row on its way through the pipeline.
struct Work {
    seq: u64,
    source: u32,
    line: u64,
    file_line: u64,
    fields: RowFields,
    job: Job,
}

enum Job {
    /// Decided without a call.
    Done {
        status: Status,
        code: &'static str,
        message: String,
    },
    Send {
        order: Order,
        payload: Payload,
    },
}

/// A row with its outcome.
struct Finished {
    seq: u64,
    file_line: u64,
    row: ResultRow,
    entry: Option<LedgerEntry>,
    planned: bool,
}

/// What every delivery of one run shares.
struct Run<'a> {
    dispatcher: Option<&'a Dispatcher>,
    halt: &'a Halt,
    run_id: Arc<str>,
    dry_run: bool,
}

impl Run<'_> {
    async fn pipeline(
        &self,
        inputs: Arc<InputSet>,
        plan: Arc<Plan>,
        concurrency: usize,
        consumer: mpsc::Sender<Vec<Finished>>,
    ) {
        // Rows travel in batches: one cross-thread hand-over per batch, not per row.
        let (tx, mut rx) = mpsc::channel::<Vec<Work>>(4 + 2 * concurrency / BATCH);
        let dry_run = self.dry_run;
        let producer = tokio::task::spawn_blocking(move || produce(&inputs, &plan, dry_run, &tx));
        let mut finished = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .flat_map(futures::stream::iter)
            .map(|work| self.settle(work))
            .buffer_unordered(concurrency)
            .ready_chunks(512);
        while let Some(chunk) = finished.next().await {
            if consumer.send(chunk).await.is_err() {
                break;
            }
        }
        match producer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.halt.trigger(HaltReason::Io(format!(
                    "{e}; the rows after it have no result"
                )));
            }
            Err(e) => {
                self.halt
                    .trigger(HaltReason::Io(format!("the input reader failed: {e}")));
            }
        }
    }

    async fn settle(&self, work: Work) -> Finished {
        let Work {
            seq,
            source,
            line,
            file_line,
            fields,
            job,
        } = work;
        match job {
            Job::Done {
                status,
                code,
                message,
            } => Finished {
                seq,
                file_line,
                row: ResultRow::new(fields, status, source, line).with_error(code, message),
                entry: None,
                planned: false,
            },
            Job::Send { order, payload } => {
                let dispatcher = self
                    .dispatcher
                    .expect("rows are sent only when there is a gateway");
                let delivery = dispatcher.deliver(&payload).await;
                let (row, entry) = self.outcome(
                    ResultRow::new(fields, Status::NotAttempted, source, line),
                    &order,
                    &payload,
                    delivery,
                );
                Finished {
                    seq,
                    file_line,
                    row,
                    entry,
                    planned: true,
                }
            }
        }
    }

    /// The result row and ledger line of a delivery.
    fn outcome(
        &self,
        mut row: ResultRow,
        order: &Order,
        payload: &Payload,
        delivery: Delivery,
    ) -> (ResultRow, Option<LedgerEntry>) {
        let (settled, reply, attempts, note) = match delivery {
            Delivery::NotAttempted => {
                let reason = self
                    .halt
                    .reason()
                    .map(|r| r.to_string())
                    .unwrap_or_default();
                return (
                    row.with_error("", format!("not sent: the run stopped early ({reason})")),
                    None,
                );
            }
            Delivery::Settled { reply, attempts } => {
                let settled = if reply.verdict == Verdict::Delivered {
                    Settled::Delivered
                } else {
                    Settled::Rejected
                };
                (settled, reply, attempts, None)
            }
            Delivery::Failed {
                reply,
                attempts,
                note,
            } => (Settled::Failed, reply, attempts, note),
        };
        row.status = match settled {
            Settled::Delivered => Status::Delivered,
            Settled::Rejected => Status::Rejected,
            Settled::Failed => Status::Failed,
        };
        row.error_code = reply.error_code;
        row.error_msg = match note {
            Some(note) => format!("{} ({note})", reply.error_msg),
            None => reply.error_msg,
        };
        row.sub_code = reply.sub_code;
        row.sub_msg = reply.sub_msg;
        row.top_request_id = reply.top_request_id;
        row.attempts = attempts;
        row.finished_at = now_beijing();
        let entry = LedgerEntry {
            req_id: order.req_id.clone(),
            order_no: order.order_no,
            sub_order_no: order.sub_order_no,
            status: settled,
            error_code: row.error_code.clone(),
            sub_code: row.sub_code.clone(),
            payload_md5: payload.md5,
            top_request_id: row.top_request_id.clone(),
            attempts,
            finished_at: row.finished_at.clone(),
            run_id: Arc::clone(&self.run_id),
        };
        (row, Some(entry))
    }
}

/// Rows handed from the reader thread to the pipeline at a time.
const BATCH: usize = 256;

/// Pass two: decides every row and hands it on in input order, in batches.
fn produce(
    inputs: &InputSet,
    plan: &Plan,
    dry_run: bool,
    tx: &mpsc::Sender<Vec<Work>>,
) -> Result<(), InputError> {
    let mut batch = Vec::with_capacity(BATCH);
    for (seq, row) in inputs.rows().enumerate() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                // What was read before the error still gets its results.
                let _ = tx.blocking_send(batch);
                return Err(e);
            }
        };
        let InputRow {
            source,
            line,
            file_line,
            fields,
            order,
        } = row;
        let job = match order {
            Err(e) => Job::Done {
                status: Status::Invalid,
                code: e.code,
                message: e.message,
            },
            Ok(order) => {
                let payload = order.payload();
                match plan.decide(source, line, &order.req_id, &payload.md5) {
                    Decision::Skip {
                        status,
                        code,
                        message,
                    } => Job::Done {
                        status,
                        code,
                        message,
                    },
                    Decision::Send if dry_run => Job::Done {
                        status: Status::WouldSend,
                        code: "",
                        message: String::new(),
                    },
                    Decision::Send => Job::Send { order, payload },
                }
            }
        };
        let work = Work {
            seq: seq as u64,
            source,
            line,
            file_line,
            fields,
            job,
        };
        batch.push(work);
        if batch.len() == BATCH
            && tx
                .blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_err()
        {
            return Ok(());
        }
    }
    let _ = tx.blocking_send(batch);
    Ok(())
}

/// The one writer: ledger, result file, counts, progress.
/// On its own thread, so the pipeline keeps calls flowing while rows are written.
struct Consumer {
    results: ResultWriter,
    ledger: Option<LedgerWriter>,
    /// Set once an append failed: nothing more is appended, what is there is kept.
    ledger_failed: bool,
    progress: Arc<Progress>,
    halt: Arc<Halt>,
    sources: Arc<[String]>,
    tally: Tally,
    invalid: Vec<String>,
    results_failed: bool,
    entries: Vec<LedgerEntry>,
}

impl Consumer {
    fn new(
        results: ResultWriter,
        ledger: Option<LedgerWriter>,
        progress: Arc<Progress>,
        halt: Arc<Halt>,
        sources: Arc<[String]>,
    ) -> Self {
        Consumer {
            results,
            ledger,
            ledger_failed: false,
            progress,
            halt,
            sources,
            tally: Tally::default(),
            invalid: Vec::new(),
            results_failed: false,
            entries: Vec::new(),
        }
    }

    /// Runs on a thread of its own until the sender is dropped; returns itself.
    fn spawn(
        mut self,
    ) -> std::io::Result<(
        mpsc::Sender<Vec<Finished>>,
        std::thread::JoinHandle<Consumer>,
    )> {
        let (tx, mut rx) = mpsc::channel::<Vec<Finished>>(64);
        let thread = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                while let Some(chunk) = rx.blocking_recv() {
                    self.take(chunk);
                }
                self
            })?;
        Ok((tx, thread))
    }

    fn take(&mut self, mut chunk: Vec<Finished>) {
        self.entries.clear();
        self.entries
            .extend(chunk.iter_mut().filter_map(|f| f.entry.take()));
        if !self.ledger_failed
            && let Some(Err(e)) = self
                .ledger
                .as_mut()
                .map(|ledger| ledger.append(&self.entries))
        {
            self.halt.trigger(HaltReason::Io(format!(
                "{e}; the outcomes not recorded will be sent again by the next run (the platform recognises them by req_id)"
            )));
            self.ledger_failed = true;
        }
        let sources = Arc::clone(&self.sources);
        for finished in chunk {
            let row = finished.row;
            self.tally.add(&row);
            if finished.planned {
                self.progress.record(row.status);
            }
            if row.status == Status::Invalid && self.invalid.len() < INVALID_EXAMPLES {
                let name = sources.get(row.source as usize).map_or("?", String::as_str);
                let place = if finished.file_line != row.line + 1 {
                    format!("{name} row {} (file line {})", row.line, finished.file_line)
                } else {
                    format!("{name} row {}", row.line)
                };
                self.invalid
                    .push(format!("{place}: {}: {}", row.error_code, row.error_msg));
            }
            if !self.results_failed
                && let Err(e) = self.results.push(finished.seq, row)
            {
                self.halt
                    .trigger(HaltReason::Io(format!("cannot write the result file: {e}")));
                self.results_failed = true;
            }
        }
    }
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

/// `2026-11-26T05:39:27.123+08:00`.
fn now_beijing() -> String {
    chrono::Utc::now()
        .with_timezone(&crate::top::request::beijing())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
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
