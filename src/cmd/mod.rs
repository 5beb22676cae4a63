//! One file per subcommand; each turns its arguments into work and an `Exit`. Only
//! here (and in `main`) do errors become exit codes.

pub mod check;
pub mod demo;
pub mod docs;
pub mod ledger;
pub mod report;
pub mod send;
pub mod serve;
pub mod simulate;

use crate::exit::{Exit, ExitError};
use crate::ledger::LockError;

/// Another run holding the ledger is exit 4 (SPEC.md "Exit codes"); any other lock
/// failure is a usage error.
fn lock_error(error: LockError) -> anyhow::Error {
    match error {
        held @ LockError::Held { .. } => ExitError::new(Exit::Locked, held.to_string()).into(),
        other => other.into(),
    }
}
