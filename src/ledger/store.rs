//! The one interface of the shop's store: what the job, the commands and the desk ask
//! of a ledger. `Ledger` (SQLite, embedded) implements it; a ledger on a server
//! (Postgres, for a desk and a job on two hosts) would implement the same, and nothing
//! above `ledger` would change. A run's writes go through `Store::record`, a writer of
//! its own (one per run, on the recorder's thread).

use super::close::Closed;
use super::lookup::{Known, Sought};
use super::orders::{Filter, OrderRow};
use super::record::{Recording, RunStart};
use super::resend::Resend;
use super::runs::RunRow;
use super::story::Story;
use super::{Ledger, LedgerError, OrderState};

/// What the tool asks of a ledger.
pub trait Store {
    /// What the ledger knows of each key (in `keys`' order).
    fn lookup(
        &self,
        keys: &[Sought],
        simulated: bool,
        found: &mut dyn FnMut(usize, Known),
    ) -> Result<(), LedgerError>;
    /// The orders to send again: failed or pending since `since`.
    fn resends(&self, simulated: bool, since: &str) -> Result<Vec<Resend>, LedgerError>;
    /// Every order `filter` keeps.
    fn orders(
        &self,
        filter: &Filter<'_>,
        visit: &mut dyn FnMut(OrderRow),
    ) -> Result<(), LedgerError>;
    /// How many orders of each state (and whether simulated).
    fn counts(&self) -> Result<Vec<(OrderState, bool, u64)>, LedgerError>;
    /// The stories of the orders a req_id or an order number names.
    fn story(&self, id: &str) -> Result<Vec<Story>, LedgerError>;
    /// Closes orders, by whom and why.
    fn close(&self, req_ids: &[String], by: &str, reason: &str) -> Result<Closed, LedgerError>;
    /// The newest runs.
    fn runs(&self, limit: usize) -> Result<Vec<RunRow>, LedgerError>;
    /// The calls made on a Beijing day (`YYYY-MM-DD`).
    fn calls_on(&self, day: &str) -> Result<u64, LedgerError>;
    /// The writer of one run, which records its start now.
    fn record(self, run: &RunStart) -> Result<Recording, LedgerError>
    where
        Self: Sized;
}

impl Store for Ledger {
    fn lookup(
        &self,
        keys: &[Sought],
        simulated: bool,
        found: &mut dyn FnMut(usize, Known),
    ) -> Result<(), LedgerError> {
        super::lookup::lookup(self, keys, simulated, crate::cores::ledger_walkers(), found)
    }

    fn resends(&self, simulated: bool, since: &str) -> Result<Vec<Resend>, LedgerError> {
        super::resend::candidates(self, simulated, since)
    }

    fn orders(
        &self,
        filter: &Filter<'_>,
        visit: &mut dyn FnMut(OrderRow),
    ) -> Result<(), LedgerError> {
        super::orders::for_each(self, filter, visit)
    }

    fn counts(&self) -> Result<Vec<(OrderState, bool, u64)>, LedgerError> {
        super::orders::counts(self)
    }

    fn story(&self, id: &str) -> Result<Vec<Story>, LedgerError> {
        super::story::of(self, id)
    }

    fn close(&self, req_ids: &[String], by: &str, reason: &str) -> Result<Closed, LedgerError> {
        super::close::close(self, req_ids, by, reason)
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRow>, LedgerError> {
        super::runs::newest(self, limit)
    }

    fn calls_on(&self, day: &str) -> Result<u64, LedgerError> {
        super::runs::calls_on(self, day)
    }

    fn record(self, run: &RunStart) -> Result<Recording, LedgerError> {
        Recording::start(self, run)
    }
}
