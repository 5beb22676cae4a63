//! The reports written at the end of a run that ran: `--summary-json` and
//! `--metrics-file`, off the async thread (a stream may block), a failure said and made
//! exit 3 (the calls are made: not a usage error).

use std::path::PathBuf;

use super::{metrics, summary_json};
use crate::exit::Exit;

/// The reports written at the end of a run that ran: `--summary-json`, `--metrics-file`.
pub struct Reports {
    pub summary_json: Option<summary_json::SummaryJson>,
    pub metrics_file: Option<PathBuf>,
    pub tally: crate::results::tally::Tally,
    pub duration: std::time::Duration,
    pub banned: std::time::Duration,
    pub text: String,
}

impl Reports {
    /// Writes them; a failure is said and makes the exit 3 (the calls are made: not a
    /// usage error).
    pub fn write(self, exit: Exit) -> Exit {
        let mut exit = exit;
        if let Some(json) = self.summary_json
            && let Err(error) = json.write(&self.text)
        {
            crate::errln!("error: {error}");
            exit = exit.max(Exit::Halted);
        }
        if let Some(path) = &self.metrics_file {
            let run = metrics::RunMetrics {
                exit,
                tally: &self.tally,
                duration: self.duration,
                banned: self.banned,
                finished: chrono::Utc::now(),
            };
            if let Err(error) = metrics::write(path, &run) {
                crate::errln!(
                    "error: cannot write --metrics-file {}: {error}",
                    path.display()
                );
                exit = exit.max(Exit::Halted);
            }
        }
        exit
    }
}
