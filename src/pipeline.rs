//! The send pipeline. The reader thread decides every row in input order (pass two);
//! rows decided without a call go straight to the writer, sends go through
//! `buffer_unordered(concurrency)` of deliveries on the async runtime, and one writer
//! thread appends outcomes to the ledger, writes result rows in input order and
//! advances the progress. A window bounds how far reading runs ahead of writing, so
//! memory stays flat whatever one stalled call does.

use std::sync::{Arc, Condvar, Mutex};

use futures::StreamExt as _;
use tokio::sync::mpsc;

use crate::dispatch::{Delivery, Dispatcher};
use crate::halt::{Halt, HaltReason};
use crate::input::{InputError, InputRow, InputSet, RowFields, parallel};
use crate::ledger::{LedgerEntry, LedgerWriter, Settled};
use crate::order::{Order, Payload, payload_md5};
use crate::plan::{Decision, Plan};
use crate::progress::Progress;
use crate::results::{ResultRow, ResultWriter};
use crate::status::Status;
use crate::summary::Tally;
use crate::top::Verdict;

/// Rows handed from the reader thread on at a time.
const BATCH: usize = 256;
/// How many rows reading may run ahead of the oldest row not yet written.
pub const WINDOW: usize = 64 * 1024;
/// How many invalid rows are quoted on stderr before "… and N more".
const INVALID_EXAMPLES: usize = 10;

/// Rows between the reader and the writer: reading waits when `max` are in flight.
#[derive(Debug)]
pub struct Window {
    /// Rows in flight, or `None` once closed.
    in_flight: Mutex<Option<usize>>,
    room: Condvar,
    max: usize,
}

impl Window {
    pub fn new(max: usize) -> Self {
        Window {
            in_flight: Mutex::new(Some(0)),
            room: Condvar::new(),
            max: max.max(BATCH),
        }
    }

    /// Waits until `n` more rows fit; returns at once when the window is closed.
    fn acquire(&self, n: usize) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(rows) = *in_flight {
            if rows + n <= self.max {
                *in_flight = Some(rows + n);
                return;
            }
            in_flight = self.room.wait(in_flight).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rows) = in_flight.as_mut() {
            *rows = rows.saturating_sub(n);
        }
        self.room.notify_all();
    }

    /// Stops holding reading back: nothing downstream takes rows any more.
    fn close(&self) {
        *self.in_flight.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.room.notify_all();
    }
}

/// A row to send.
#[derive(Debug)]
pub struct SendJob {
    seq: u64,
    source: u32,
    line: u64,
    file_line: u64,
    order: Order,
    payload: Payload,
}

/// A row with its outcome, for the writer.
#[derive(Debug)]
pub struct Finished {
    seq: u64,
    file_line: u64,
    row: ResultRow,
    entry: Option<LedgerEntry>,
    /// Counted by the progress display (a planned call).
    planned: bool,
}

/// Pass two: decides every row (on every core, `input::parallel`) and hands the rows
/// on in input order, in batches. Reading waits for room in `window`.
pub fn read_and_decide(
    inputs: &InputSet,
    plan: &Plan,
    dry_run: bool,
    window: &Window,
    sends: &mpsc::Sender<Vec<SendJob>>,
    decided: &mpsc::Sender<Vec<Finished>>,
) -> Result<(), InputError> {
    let mut seq = 0;
    parallel::map_in_order(
        inputs,
        BATCH,
        // Room for a whole batch first: never wait while holding rows not handed on.
        |batch| window.acquire(batch),
        |record| {
            let row = inputs.finish(record)?;
            Some(decide(row, plan, dry_run))
        },
        |batch| {
            let (mut to_send, mut done) = (Vec::new(), Vec::with_capacity(batch.len()));
            for mut routed in batch.into_iter().flatten() {
                routed.number(seq);
                seq += 1;
                match routed {
                    Routed::Send(job) => to_send.push(job),
                    Routed::Done(finished) => done.push(finished),
                }
            }
            window.release(BATCH - to_send.len() - done.len());
            let handed = (to_send.is_empty() || sends.blocking_send(to_send).is_ok())
                && (done.is_empty() || decided.blocking_send(done).is_ok());
            if !handed {
                // Nobody takes rows any more: let the reading thread run to its end.
                window.close();
            }
            handed
        },
    )
}

#[allow(
    clippy::large_enum_variant,
    reason = "short-lived: built and moved once into a batch"
)]
enum Routed {
    Send(SendJob),
    Done(Finished),
}

impl Routed {
    fn number(&mut self, seq: u64) {
        match self {
            Routed::Send(job) => job.seq = seq,
            Routed::Done(finished) => finished.seq = seq,
        }
    }
}

/// Routes one row; its `seq` is set by `Routed::number`, in input order.
fn decide(row: InputRow, plan: &Plan, dry_run: bool) -> Routed {
    let InputRow {
        source,
        line,
        file_line,
        order,
    } = row;
    let done = |fields: RowFields, status: Status, code: &str, message: String| {
        Routed::Done(Finished {
            seq: 0,
            file_line,
            row: ResultRow::new(fields, status, source, line).with_error(code, message),
            entry: None,
            planned: false,
        })
    };
    let order = match order {
        Ok(order) => order,
        Err(invalid) => {
            return done(
                invalid.fields,
                Status::Invalid,
                invalid.error.code,
                invalid.error.message,
            );
        }
    };
    match plan.decide(source, line, &order.req_id, || order.payload_md5()) {
        Decision::Skip {
            status,
            code,
            message,
        } => done(RowFields::from_order(order), status, code, message),
        Decision::Send if dry_run => done(
            RowFields::from_order(order),
            Status::WouldSend,
            "",
            String::new(),
        ),
        Decision::Send => {
            let json = order.param0_json();
            let md5 = payload_md5(&json);
            Routed::Send(SendJob {
                seq: 0,
                source,
                line,
                file_line,
                payload: Payload::new(json, md5),
                order,
            })
        }
    }
}

/// Delivers the jobs of one run.
#[derive(Debug)]
pub struct Deliverer<'a> {
    pub dispatcher: &'a Dispatcher,
    pub halt: &'a Halt,
    pub run_id: Arc<str>,
}

impl Deliverer<'_> {
    /// Delivers every job from `jobs`, `concurrency` at a time, handing outcomes to the
    /// writer; returns when the reader is done and every call has ended.
    pub async fn deliver_all(
        &self,
        mut jobs: mpsc::Receiver<Vec<SendJob>>,
        concurrency: usize,
        writer: mpsc::Sender<Vec<Finished>>,
    ) {
        let mut finished = futures::stream::poll_fn(move |cx| jobs.poll_recv(cx))
            .flat_map(futures::stream::iter)
            .map(|job| self.settle(job))
            .buffer_unordered(concurrency)
            .ready_chunks(512);
        while let Some(chunk) = finished.next().await {
            if writer.send(chunk).await.is_err() {
                break;
            }
        }
    }

    async fn settle(&self, job: SendJob) -> Finished {
        let SendJob {
            seq,
            source,
            line,
            file_line,
            order,
            payload,
        } = job;
        let delivery = self.dispatcher.deliver(&payload).await;
        let row = ResultRow::new(
            RowFields::of_order(&order),
            Status::NotAttempted,
            source,
            line,
        );
        let (row, entry) = self.outcome(row, &order, &payload, delivery);
        Finished {
            seq,
            file_line,
            row,
            entry,
            planned: true,
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

/// `2026-11-26T05:39:27.123+08:00`.
fn now_beijing() -> String {
    chrono::Utc::now()
        .with_timezone(&crate::top::request::beijing())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The one writer: ledger, result file, counts, progress. Runs on a thread of its
/// own, so neither the calls nor the reading wait for the disk.
#[derive(Debug)]
pub struct Writer {
    pub results: ResultWriter,
    pub ledger: Option<LedgerWriter>,
    /// Set once an append failed: nothing more is appended, what is there is kept.
    ledger_failed: bool,
    progress: Arc<Progress>,
    halt: Arc<Halt>,
    window: Arc<Window>,
    sources: Arc<[String]>,
    pub tally: Tally,
    /// The first invalid rows, as messages for stderr.
    pub invalid: Vec<String>,
    results_failed: bool,
    entries: Vec<LedgerEntry>,
}

impl Writer {
    pub fn new(
        results: ResultWriter,
        ledger: Option<LedgerWriter>,
        progress: Arc<Progress>,
        halt: Arc<Halt>,
        window: Arc<Window>,
        sources: Arc<[String]>,
    ) -> Self {
        Writer {
            results,
            ledger,
            ledger_failed: false,
            progress,
            halt,
            window,
            sources,
            tally: Tally::default(),
            invalid: Vec::new(),
            results_failed: false,
            entries: Vec::new(),
        }
    }

    /// Runs on a thread of its own until every sender is dropped; returns itself.
    pub fn spawn(
        mut self,
    ) -> std::io::Result<(mpsc::Sender<Vec<Finished>>, std::thread::JoinHandle<Writer>)> {
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
        for finished in chunk {
            let row = finished.row;
            self.tally.add(&row);
            if finished.planned {
                self.progress.record(row.status);
            }
            if row.status == Status::Invalid && self.invalid.len() < INVALID_EXAMPLES {
                let name = self
                    .sources
                    .get(row.source as usize)
                    .map_or("?", String::as_str);
                let place = if finished.file_line != row.line + 1 {
                    format!("{name} row {} (file line {})", row.line, finished.file_line)
                } else {
                    format!("{name} row {}", row.line)
                };
                self.invalid
                    .push(format!("{place}: {}: {}", row.error_code, row.error_msg));
            }
            let written = if self.results_failed {
                1
            } else {
                match self.results.push(finished.seq, row) {
                    Ok(written) => written,
                    Err(e) => {
                        self.halt
                            .trigger(HaltReason::Io(format!("cannot write the result file: {e}")));
                        self.results_failed = true;
                        // Rows waiting in the reorder buffer will never be written:
                        // let reading go on regardless.
                        self.results.waiting() + 1
                    }
                }
            };
            self.window.release(written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_window_holds_reading_back_until_rows_are_written() {
        let window = Arc::new(Window::new(BATCH * 2));
        window.acquire(BATCH);
        window.acquire(BATCH);
        let reader = std::thread::spawn({
            let window = Arc::clone(&window);
            move || window.acquire(BATCH)
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!reader.is_finished(), "the window is full");
        window.release(BATCH);
        reader.join().expect("acquired after a release");
    }
}
