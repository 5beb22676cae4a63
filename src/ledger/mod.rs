//! The ledger (SPEC.md "Ledger"): the shop's system of record, a SQLite database —
//! every order the tool has sent, with the `param0` it was sent with, its state and
//! every answer; the runs; the calls per day. `db` opens it (checks, creates,
//! migrates), `schema` is its tables; a run plans with `lookup` and `resend`, records
//! with `record` (the one writer, group commits); `orders` lists states, `story` tells
//! one order's, `close` closes, `import`/`export` move the CSV layout of earlier
//! versions (`legacy`) in and out; `lock` keeps one sending run per ledger; `key`
//! holds the compact values the dedup index keeps. `store` is the interface a ledger
//! of another kind (Postgres) would implement.

pub mod audit;
pub mod close;
pub mod db;
pub mod export;
pub mod import;
pub mod key;
pub mod legacy;
pub mod lock;
pub mod lookup;
pub mod orders;
pub mod people;
pub mod reconcile;
pub mod record;
pub mod requests;
pub mod resend;
pub mod runs;
pub mod schema;
pub mod store;
pub mod story;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use db::{Access, Ledger};
pub use key::{LedgerState, ReqKey};
pub use lock::{LedgerLock, LockError, acquire};

/// run_ids of `--simulate` runs start with this; their orders are kept apart (`sim`),
/// so a rehearsal against the production ledger can never make a real order look sent.
pub const SIMULATED_RUN_PREFIX: &str = "sim-";

/// How one delivery ended, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    Rejected,
    Failed,
}

impl Settled {
    pub fn as_str(self) -> &'static str {
        match self {
            Settled::Delivered => "delivered",
            Settled::Rejected => "rejected",
            Settled::Failed => "failed",
        }
    }
}

impl fmt::Display for Settled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Settled {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "delivered" => Ok(Settled::Delivered),
            "rejected" => Ok(Settled::Rejected),
            "failed" => Ok(Settled::Failed),
            _ => Err(()),
        }
    }
}

/// An order's state in the ledger (SPEC.md "Ledger", states of an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Planned and about to be sent, not answered yet (or the run died first).
    Pending,
    Delivered,
    Rejected,
    /// Transient failures until the attempts ran out: sent again by later runs.
    Failed,
    /// A person decided it will not be sent.
    Closed,
}

impl OrderState {
    pub const ALL: [OrderState; 5] = [
        OrderState::Pending,
        OrderState::Delivered,
        OrderState::Rejected,
        OrderState::Failed,
        OrderState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::Delivered => "delivered",
            OrderState::Rejected => "rejected",
            OrderState::Failed => "failed",
            OrderState::Closed => "closed",
        }
    }
}

impl From<Settled> for OrderState {
    fn from(settled: Settled) -> Self {
        match settled {
            Settled::Delivered => OrderState::Delivered,
            Settled::Rejected => OrderState::Rejected,
            Settled::Failed => OrderState::Failed,
        }
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderState {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or(())
    }
}

/// One delivery's outcome, as the run's writer records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub req_id: String,
    pub order_no: u64,
    pub sub_order_no: Option<u64>,
    pub status: Settled,
    pub error_code: String,
    pub error_msg: String,
    pub sub_code: String,
    pub sub_msg: String,
    /// The `param0` JSON sent (so the order can be sent again without its export).
    pub param0: String,
    pub payload_md5: [u8; 16],
    pub top_request_id: String,
    pub attempts: u32,
    pub finished_at: String,
    pub run_id: Arc<str>,
    /// The export row it came from: the source's name and the row Excel shows.
    pub source: Arc<str>,
    pub line: u64,
}

impl LedgerEntry {
    /// Whether a `--simulate` run recorded it.
    pub fn simulated(&self) -> bool {
        self.run_id.starts_with(SIMULATED_RUN_PREFIX)
    }
}

/// A ledger that cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot read ledger {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot write ledger {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("ledger {path}: {error}")]
    Sql { path: String, error: String },
    #[error(
        "{path} is a CSV ledger of an earlier version: the ledger is now a database. Import it once with `opentrade-callback ledger import {path} --into ledger.db`, then give --ledger ledger.db"
    )]
    Legacy { path: String },
    #[error(
        "{path}: the ledger is a database now, not a CSV file: give --ledger a name such as ledger.db (a CSV ledger of an earlier version is imported into it once with `opentrade-callback ledger import OLD.csv --into ledger.db`)"
    )]
    CsvName { path: String },
    #[error(
        "{path} is not a ledger (not this tool's SQLite database); it was left as it is — give --ledger a ledger, or a path where one can be created"
    )]
    NotALedger { path: String },
    #[error("{path} is not a regular file; a ledger must be one (or not exist yet)")]
    NotAFile { path: String },
    #[error("there is no ledger at {path}")]
    Missing { path: String },
    #[error("{path} is an empty file, not a ledger (a run that writes makes one there)")]
    EmptyFile { path: String },
    #[error(
        "ledger {path} has schema version {version}, newer than this build knows ({known}): run a newer opentrade-callback on it"
    )]
    TooNew {
        path: String,
        version: i32,
        known: i32,
    },
    #[error(
        "ledger {path} line {line} is damaged ({reason}); fix or remove that line by hand — nothing was imported"
    )]
    Corrupt {
        path: String,
        line: u64,
        reason: String,
    },
    #[error(
        "{path} is not a CSV ledger: its first line is '{found}', not the ledger header '{}'; it was left as it is",
        legacy::HEADER.join(",")
    )]
    Header { path: String, found: String },
}
