//! The one writer of a run, on a thread of its own: writes to the ledger (the orders
//! about to be sent as pending, every outcome, every row about a known order), writes
//! result rows in input order, counts, advances the progress. Neither the calls nor the
//! reading wait for the disk; no file is shared behind a lock.
//!
//! Group commits: whatever has piled up while the last commit was on its way to disk
//! is written in the next one transaction, so commits stay few when outcomes come
//! fast, and each outcome is in the ledger (synced) before its result row counts as
//! written.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::halt::{Halt, HaltReason};
use super::progress::Progress;
use super::window::Window;
use crate::ledger::LedgerEntry;
use crate::ledger::record::{PendingOrder, Recording, Sighting};
use crate::results::tally::Tally;
use crate::results::{ResultRow, ResultWriter};
use crate::status::Status;

/// How many invalid rows are quoted on stderr before "… and N more".
const INVALID_EXAMPLES: usize = 10;

/// The most rows one group commit takes.
const GROUP: usize = 8192;
/// A group smaller than this waits up to `LINGER` for more rows.
const SMALL_GROUP: usize = 512;
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// A row with its outcome, for the recorder.
#[derive(Debug)]
pub struct Done {
    pub seq: u64,
    pub file_line: u64,
    pub row: ResultRow,
    /// Boxed: most rows have none, and thousands of rows wait in the window.
    pub entry: Option<Box<LedgerEntry>>,
    /// A row about an order the ledger knows, not sent: its `orders.id` and status.
    pub sighting: Option<(i64, &'static str)>,
    /// Counted by the progress display (a planned call).
    pub planned: bool,
}

impl Done {
    /// A row with no ledger line.
    pub fn decided(seq: u64, file_line: u64, row: ResultRow, planned: bool) -> Self {
        Done {
            seq,
            file_line,
            row,
            entry: None,
            sighting: None,
            planned,
        }
    }
}

/// What the recorder is handed.
#[derive(Debug)]
pub enum Record {
    /// Rows decided or answered, in any order.
    Rows(Vec<Done>),
    /// Orders about to be sent: written as pending, then `ack` says whether they are
    /// (the caller sends them only then).
    Pending {
        orders: Vec<PendingOrder>,
        ack: std::sync::mpsc::SyncSender<bool>,
    },
}

/// A group for one transaction: `first`, whatever else is waiting, and what comes
/// within `LINGER` while the group is small — outcomes come as a stream, and each
/// commit costs a sync whatever it holds. Orders about to be sent end the group at
/// once: the reader waits for them (one batch at a time).
fn gather(first: Record, rx: &mut mpsc::Receiver<Record>) -> (Vec<Done>, Option<Pending>) {
    let (mut rows, mut pending) = (Vec::new(), None);
    let started = std::time::Instant::now();
    let mut next = Some(first);
    loop {
        match next.take() {
            Some(Record::Rows(chunk)) => rows.extend(chunk),
            Some(Record::Pending { orders, ack }) => pending = Some((orders, ack)),
            None => {}
        }
        if pending.is_some() || rows.len() >= GROUP {
            break;
        }
        match rx.try_recv() {
            Ok(record) => next = Some(record),
            Err(mpsc::error::TryRecvError::Empty)
                if rows.len() < SMALL_GROUP && started.elapsed() < LINGER =>
            {
                std::thread::sleep(LINGER / 20);
            }
            Err(_) => break,
        }
    }
    (rows, pending)
}

/// Orders about to be sent, and where to say whether they are written.
type Pending = (Vec<PendingOrder>, std::sync::mpsc::SyncSender<bool>);

/// The outputs of a run, opened before the first call.
#[derive(Debug)]
pub struct Outputs {
    pub results: ResultWriter,
    /// `None` for a dry run.
    pub ledger: Option<Recording>,
}

/// The recorder's state; handed back when its thread ends.
#[derive(Debug)]
pub struct Recorder {
    pub outputs: Outputs,
    /// Set once a write failed: nothing more is written, what is there is kept.
    ledger_failed: bool,
    results_failed: bool,
    progress: Arc<Progress>,
    halt: Arc<Halt>,
    window: Arc<Window>,
    sources: Arc<[String]>,
    pub tally: Tally,
    /// The first invalid rows, as messages for stderr.
    pub invalid: Vec<String>,
    entries: Vec<LedgerEntry>,
    sightings: Vec<Sighting>,
}

impl Recorder {
    pub fn new(
        outputs: Outputs,
        progress: Arc<Progress>,
        halt: Arc<Halt>,
        window: Arc<Window>,
        sources: Arc<[String]>,
    ) -> Self {
        Recorder {
            outputs,
            ledger_failed: false,
            results_failed: false,
            progress,
            halt,
            window,
            sources,
            tally: Tally::default(),
            invalid: Vec::new(),
            entries: Vec::new(),
            sightings: Vec::new(),
        }
    }

    /// Runs on a thread of its own until every sender is dropped; returns itself.
    pub fn spawn(
        mut self,
    ) -> std::io::Result<(mpsc::Sender<Record>, std::thread::JoinHandle<Recorder>)> {
        let (tx, mut rx) = mpsc::channel::<Record>(64);
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let (mut rows, pending) = gather(first, &mut rx);
                    let (orders, ack) = pending.unzip();
                    let written =
                        self.write_ledger(&mut rows, orders.as_deref().unwrap_or_default());
                    if let Some(ack) = ack {
                        let _ = ack.send(written);
                    }
                    self.take(rows);
                }
                self
            })?;
        Ok((tx, thread))
    }

    /// Counts the group's rows and writes their result rows.
    fn take(&mut self, rows: Vec<Done>) {
        for done in rows {
            let row = done.row;
            self.tally.add(&row);
            if done.planned {
                self.progress.record(row.status);
            }
            if row.status == Status::Invalid && self.invalid.len() < INVALID_EXAMPLES {
                let name = self
                    .sources
                    .get(row.source as usize)
                    .map_or("?", String::as_str);
                // Rows are the rows Excel shows; a CSV's physical line is added where
                // it differs (a cell spanning lines, blank lines above).
                let place = if done.file_line != row.line {
                    format!("{name} row {} (file line {})", row.line, done.file_line)
                } else {
                    format!("{name} row {}", row.line)
                };
                self.invalid
                    .push(format!("{place}: {}: {}", row.error_code, row.error_msg));
            }
            let written = if self.results_failed {
                1
            } else {
                match self.outputs.results.push(done.seq, row) {
                    Ok(written) => written,
                    Err(error) => {
                        self.halt.trigger(HaltReason::ResultWrite {
                            path: PathBuf::from(self.outputs.results.out()),
                            error: Arc::new(error),
                        });
                        self.results_failed = true;
                        // Rows waiting in the reorder buffer will never be written:
                        // let reading go on regardless.
                        self.outputs.results.waiting() + 1
                    }
                }
            };
            self.window.release(written);
        }
    }

    /// The group's outcomes and sightings, and the orders about to be sent as
    /// pending, in one transaction; whether it is written. The first failure halts
    /// the run.
    fn write_ledger(&mut self, rows: &mut [Done], orders: &[PendingOrder]) -> bool {
        let Some(ledger) = self.outputs.ledger.as_mut() else {
            return true;
        };
        if self.ledger_failed {
            return false;
        }
        self.entries.clear();
        self.sightings.clear();
        for done in rows.iter_mut() {
            if let Some(mut entry) = done.entry.take() {
                entry.source = Arc::from(
                    self.sources
                        .get(done.row.source as usize)
                        .map_or("", String::as_str),
                );
                entry.line = done.row.line;
                self.entries.push(*entry);
            }
            if let Some((order_id, status)) = done.sighting.take() {
                self.sightings.push(Sighting {
                    order_id,
                    source: Arc::from(
                        self.sources
                            .get(done.row.source as usize)
                            .map_or("", String::as_str),
                    ),
                    line: done.row.line,
                    status,
                });
            }
        }
        match ledger.write(orders, &self.entries, &self.sightings) {
            Ok(()) => true,
            Err(error) => {
                self.halt.trigger(HaltReason::LedgerWrite(Arc::new(error)));
                self.ledger_failed = true;
                false
            }
        }
    }
}
