//! Why a run could not start (nothing was sent) or could not be reported: the one error
//! type of `send`, below every step that returns it.

use std::path::PathBuf;

use crate::input::InputError;
use crate::ledger::{LedgerError, LockError};
use crate::top::ClientError;

/// Why a run could not start (nothing was sent) or could not be reported.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot write the result file --out {}: {error}", path.display())]
    Results {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write --metrics-file {}: {error}", path.display())]
    Metrics {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write --summary-json {}: {error}", path.display())]
    SummaryJson {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "--out {}: this run has {rows} rows and a workbook sheet holds at most {} under its header; nothing was sent — write the results as CSV (--out ….csv), or split the input",
        path.display(),
        crate::xlsx::MAX_DATA_ROWS
    )]
    TooManyRowsForWorkbook { path: PathBuf, rows: u64 },
    #[error("cannot start the simulated gateway: {0}")]
    Simulator(std::io::Error),
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
    /// The plan is not the one the run was told to make (`expect_plan`): nothing sent.
    #[error(
        "the plan is not the one previewed: {calls} calls now, and not the same ones (plan {found}, previewed {expected}); nothing was sent — check it again"
    )]
    PlanChanged {
        expected: String,
        found: String,
        calls: u64,
    },
    /// The outputs could not be written within the grace a stop leaves them (a FIFO
    /// nobody reads?); the ledger was synced first.
    #[error(
        "{} while the outputs were written, and they could not be within {} (a FIFO nobody reads?); the ledger is intact",
        crate::send::halt::HaltReason::Signal(*signal),
        humantime::format_duration(*grace)
    )]
    Stuck {
        signal: crate::signals::Signal,
        grace: std::time::Duration,
    },
    /// A signal before the first call: the run stopped, nothing was sent.
    #[error("{} before the first call: nothing was sent", crate::send::halt::HaltReason::Signal(*.0))]
    Interrupted(crate::signals::Signal),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("{0} panicked; the ledger holds whole lines")]
    Panicked(&'static str),
}
