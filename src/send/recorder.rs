//! The one writer of a run, on a thread of its own: appends outcomes to the ledger,
//! writes result rows in input order, counts, advances the progress. Neither the calls
//! nor the reading wait for the disk; no file is shared behind a lock.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::halt::{Halt, HaltReason};
use super::progress::Progress;
use super::route::Done;
use super::window::Window;
use crate::ledger::{LedgerEntry, LedgerWriter};
use crate::results::ResultWriter;
use crate::results::tally::Tally;
use crate::status::Status;

/// How many invalid rows are quoted on stderr before "… and N more".
const INVALID_EXAMPLES: usize = 10;

/// The outputs of a run, opened before the first call.
#[derive(Debug)]
pub struct Outputs {
    pub results: ResultWriter,
    /// `None` for a dry run.
    pub ledger: Option<LedgerWriter>,
}

/// The recorder's state; handed back when its thread ends.
#[derive(Debug)]
pub struct Recorder {
    pub outputs: Outputs,
    /// Set once an append failed: nothing more is appended, what is there is kept.
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
        }
    }

    /// Runs on a thread of its own until every sender is dropped; returns itself.
    pub fn spawn(
        mut self,
    ) -> std::io::Result<(mpsc::Sender<Vec<Done>>, std::thread::JoinHandle<Recorder>)> {
        let (tx, mut rx) = mpsc::channel::<Vec<Done>>(64);
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                while let Some(chunk) = rx.blocking_recv() {
                    self.take(chunk);
                }
                self
            })?;
        Ok((tx, thread))
    }

    fn take(&mut self, mut chunk: Vec<Done>) {
        self.append_to_ledger(&mut chunk);
        for done in chunk {
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

    /// The chunk's ledger lines, in one write; the first failure halts the run.
    fn append_to_ledger(&mut self, chunk: &mut [Done]) {
        let Some(ledger) = self.outputs.ledger.as_mut().filter(|_| !self.ledger_failed) else {
            return;
        };
        self.entries.clear();
        self.entries
            .extend(chunk.iter_mut().filter_map(|done| done.entry.take()));
        if let Err(error) = ledger.append(&self.entries) {
            self.halt.trigger(HaltReason::LedgerWrite(Arc::new(error)));
            self.ledger_failed = true;
        }
    }
}
