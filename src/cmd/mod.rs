//! One file per subcommand; each turns its arguments into work and an `Exit`.

pub mod ledger;
pub mod report;
pub mod send;
pub mod simulate;
