//! What a run tells the world, in one place for the `send` command and the desk: the
//! summary on stderr, `--summary-json`, `--metrics-file` and the hooks (`--ping-url`,
//! `--notify-url`) — of a run that ran (`Ran`) and of one that never started (its
//! error), on every exit. The files are opened before the run (found unwritable before
//! the first call) and written after it, off the async thread (a stream may block) and
//! within a stop's grace; a report that cannot be written makes the exit 3 (the calls
//! are made: not a usage error), and never changes what the run did.

use std::path::PathBuf;
use std::time::Duration;

use super::hooks::Hooks;
use super::interrupt::{Stop, blocking, finish_or_leave};
use super::ran::Ran;
use super::summary_json::{self, Failure, RunInfo, SummaryJson};
use super::{SendError, metrics, summary};
use crate::exit::Exit;
use crate::results::tally::Tally;

/// Where a run's reports go.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub summary_json: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    pub hooks: Hooks,
    /// Nothing on stderr when every row went well (`-q`).
    pub quiet: bool,
}

/// The reports of one run, opened before it.
#[derive(Debug)]
pub struct Reports {
    targets: Targets,
    summary_json: Option<SummaryJson>,
}

impl Reports {
    /// Opens the report files: `--summary-json` as a temporary file beside it, and
    /// `--metrics-file` checked writable. Nothing is written yet.
    pub fn open(targets: Targets) -> Result<Reports, SendError> {
        if let Some(path) = &targets.metrics_file {
            crate::outfile::Replacement::create(path).map_err(|error| SendError::Metrics {
                path: path.clone(),
                error,
            })?;
        }
        let summary_json = targets
            .summary_json
            .as_deref()
            .map(SummaryJson::create)
            .transpose()?;
        Ok(Reports {
            targets,
            summary_json,
        })
    }

    /// Reports a run that ran; the exit it ends with (its own, or 3 when a report
    /// could not be written).
    pub async fn ran(self, ran: &Ran, info: &RunInfo, stop: Stop) -> Result<Exit, SendError> {
        let summary = ran.summary();
        let exit = summary.exit();
        let doc = summary_json::of_run(&summary, info);
        let text = serde_json::to_string_pretty(&doc).expect("the summary serializes");
        summary::print(
            &summary,
            &serde_json::to_value(&doc).expect("the summary serializes"),
            &ran.invalid,
            ran.simulator.as_ref(),
            self.targets.quiet,
        );
        let files = Files {
            summary_json: self.summary_json,
            metrics_file: self.targets.metrics_file.clone(),
            tally: ran.tally.clone(),
            halt: summary.halt.map(|reason| reason.kind()),
            session_expires: summary.session_expires,
            quota: summary.quota,
            duration: ran.elapsed,
            banned: ran.banned,
            text: text.clone(),
        };
        let writing = blocking("writing the reports", move || Ok(files.write(exit)));
        let exit = finish_or_leave(writing, stop).await?;
        self.targets.hooks.finished(exit.code(), &text).await;
        Ok(exit)
    }

    /// Reports a run that never started (exit 2, 4, a signal): counts zero, `error`
    /// says why. `write` is false when the error is about the report files themselves
    /// (two roles on one file: their paths may be another file's).
    pub async fn never_started(targets: &Targets, failure: &Failure<'_>, write: bool) -> String {
        let empty = Tally::default();
        let text = serde_json::to_string_pretty(&summary_json::of_failure(failure, &empty))
            .expect("the summary serializes");
        if write {
            if let Some(path) = &targets.summary_json
                && let Err(error) = SummaryJson::create(path).and_then(|json| json.write(&text))
            {
                crate::console::errln!("error: {error}");
            }
            // The metrics file is the running run's: a run that found the ledger held
            // leaves it alone rather than report over it.
            if let Some(path) = targets
                .metrics_file
                .as_ref()
                .filter(|_| failure.exit != Exit::Locked)
            {
                let run = metrics::RunMetrics {
                    exit: failure.exit,
                    halt: None,
                    session_expires: None,
                    quota: None,
                    tally: &empty,
                    duration: (chrono::Utc::now() - failure.info.started)
                        .to_std()
                        .unwrap_or_default(),
                    banned: Duration::ZERO,
                    finished: chrono::Utc::now(),
                };
                if let Err(error) = metrics::write(path, &run) {
                    crate::console::errln!(
                        "error: cannot write --metrics-file {}: {error}",
                        path.display()
                    );
                }
            }
        }
        targets.hooks.finished(failure.exit.code(), &text).await;
        text
    }
}

/// The report files of a run that ran, written together.
struct Files {
    summary_json: Option<SummaryJson>,
    metrics_file: Option<PathBuf>,
    tally: Tally,
    halt: Option<super::halt::HaltKind>,
    session_expires: Option<chrono::NaiveDate>,
    quota: Option<super::quota::QuotaUse>,
    duration: Duration,
    banned: Duration,
    text: String,
}

impl Files {
    /// Writes them; a failure is said and makes the exit 3.
    fn write(self, exit: Exit) -> Exit {
        let mut exit = exit;
        if let Some(json) = self.summary_json
            && let Err(error) = json.write(&self.text)
        {
            crate::console::errln!("error: {error}");
            exit = exit.max(Exit::Halted);
        }
        if let Some(path) = &self.metrics_file {
            let run = metrics::RunMetrics {
                exit,
                halt: self.halt,
                session_expires: self.session_expires,
                quota: self.quota,
                tally: &self.tally,
                duration: self.duration,
                banned: self.banned,
                finished: chrono::Utc::now(),
            };
            if let Err(error) = metrics::write(path, &run) {
                crate::console::errln!(
                    "error: cannot write --metrics-file {}: {error}",
                    path.display()
                );
                exit = exit.max(Exit::Halted);
            }
        }
        exit
    }
}
