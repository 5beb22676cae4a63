//! The ledger (SPEC.md "Ledger"): an append-only CSV of platform outcomes, the
//! latest line per req_id being its state. `scan` walks its lines, checked; `key`
//! holds the compact values the dedup index keeps; `writer` appends durably; `lock`
//! keeps one run per ledger. Lines are never rewritten; only a torn last line (a
//! crash mid-write) is cut off.

pub mod compact;
pub mod key;
mod line;
pub mod lock;
pub mod parallel;
pub mod scan;
pub mod states;
pub mod writer;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use key::{LedgerState, ReqKey};
pub use lock::{LedgerLock, LockError, acquire};
pub use scan::{for_each_line, latest_lines};
pub use writer::LedgerWriter;

/// The header, in the order SPEC.md fixes (kept in `columns`, where outputs look for it).
pub use crate::columns::LEDGER_HEADER as HEADER;

/// Column positions the index reads.
pub mod col {
    pub const REQ_ID: usize = 0;
    pub const STATUS: usize = 3;
    pub const ERROR_CODE: usize = 4;
    pub const SUB_CODE: usize = 5;
    pub const PAYLOAD_MD5: usize = 6;
    pub const FINISHED_AT: usize = 9;
    pub const RUN_ID: usize = 10;
}

/// run_ids of `--simulate` runs start with this; a live run ignores their lines, so a
/// rehearsal against the production ledger can never make a real order look sent.
pub const SIMULATED_RUN_PREFIX: &str = "sim-";

/// The outcomes a ledger records.
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

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub req_id: String,
    pub order_no: u64,
    pub sub_order_no: Option<u64>,
    pub status: Settled,
    pub error_code: String,
    pub sub_code: String,
    pub payload_md5: [u8; 16],
    pub top_request_id: String,
    pub attempts: u32,
    pub finished_at: String,
    pub run_id: Arc<str>,
}

/// A ledger that cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot read ledger {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot write ledger {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error(
        "{path} is not a ledger: its first line is '{found}', not the ledger header '{}'; it was left as it is — give --ledger a ledger, or a path where one can be created",
        HEADER.join(",")
    )]
    Header { path: String, found: String },
    #[error("{path} is not a regular file; a ledger must be one (or not exist yet)")]
    NotAFile { path: String },
    #[error(
        "ledger {path} line {line} is damaged ({reason}); fix or remove that line by hand — nothing was sent"
    )]
    Corrupt {
        path: String,
        line: u64,
        reason: String,
    },
}
