//! What a run did, typed, for whoever reports it (`report`: the command line's
//! summary, `--summary-json`, the metrics and the hooks; the desk's pages): its exit,
//! the rows by status, why it halted, how long it took, what it wrote.

use std::path::PathBuf;
use std::time::Duration;

use super::halt::HaltReason;
use super::summary::{self, RunSummary};
use crate::exit::Exit;
use crate::results::tally::Tally;

/// How a run that ran went.
#[derive(Debug, Clone)]
pub struct Ran {
    pub run_id: String,
    /// Every row by status, amount and error.
    pub tally: Tally,
    /// Why it stopped early, if it did.
    pub halt: Option<HaltReason>,
    pub elapsed: Duration,
    pub dry_run: bool,
    /// The result file (as renamed into place).
    pub out: PathBuf,
    pub ledger: PathBuf,
    /// Outcomes written to the ledger.
    pub ledger_appended: u64,
    /// Rows that were the ledger's failed orders, sent again.
    pub resent: u64,
    /// `Plan::digest` of the plan it made.
    pub plan_digest: String,
    /// The first invalid rows, as messages.
    pub invalid: Vec<String>,
    /// Time spent banned by flow control.
    pub banned: Duration,
    /// The in-process simulator's counters (`--simulate`).
    pub simulator: Option<crate::simulator::Stats>,
    /// The exit code of a halt worth retrying (`--retryable-exit-code`).
    pub retryable_exit: Option<u8>,
    /// The day the session ends (`session_expires` in the config).
    pub session_expires: Option<chrono::NaiveDate>,
    /// Today's calls against `daily_quota`, when one is set.
    pub quota: Option<super::quota::QuotaUse>,
    /// The ledger's orders needing attention that fall due within a day (deadlines
    /// from `reconcile`): how many, and the soonest.
    pub due_soon: (u64, Vec<crate::ledger::reconcile::DueOrder>),
}

impl Ran {
    /// The exit its rows and its halt mean.
    pub fn exit(&self) -> Exit {
        summary::exit_of(&self.tally, self.halt.as_ref())
    }

    /// Rows that need attention (rejected, failed, invalid, conflict, not_attempted).
    pub fn attention(&self) -> u64 {
        self.tally.attention_total()
    }

    /// The summary the reports are made from.
    pub fn summary(&self) -> RunSummary<'_> {
        RunSummary {
            tally: &self.tally,
            elapsed: self.elapsed,
            halt: self.halt.as_ref(),
            dry_run: self.dry_run,
            out: &self.out,
            ledger: &self.ledger,
            ledger_appended: self.ledger_appended,
            resent: self.resent,
            plan_digest: &self.plan_digest,
            retryable_exit: self.retryable_exit,
            session_expires: self.session_expires,
            quota: self.quota,
            due_soon: &self.due_soon,
        }
    }
}
