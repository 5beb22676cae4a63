//! Ledgers of earlier versions: an append-only CSV, one line per platform outcome,
//! the latest line of a req_id being its state. Read only, by `ledger import`, with
//! the checks it always had (bounded lines, the header, a damaged line named).

mod line;
pub mod scan;

pub use super::{LedgerError, Settled};

/// The old CSV ledger's header (kept in `columns`, where outputs look for it).
pub use crate::columns::LEDGER_HEADER as HEADER;

/// Column positions the readers use.
pub mod col {
    pub const REQ_ID: usize = 0;
    pub const ORDER_NO: usize = 1;
    pub const SUB_ORDER_NO: usize = 2;
    pub const STATUS: usize = 3;
    pub const ERROR_CODE: usize = 4;
    pub const SUB_CODE: usize = 5;
    pub const PAYLOAD_MD5: usize = 6;
    pub const TOP_REQUEST_ID: usize = 7;
    pub const ATTEMPTS: usize = 8;
    pub const FINISHED_AT: usize = 9;
    pub const RUN_ID: usize = 10;
}
