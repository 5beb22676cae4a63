//! `ledger compact LEDGER [--before DATE]`: the shell of `ledger::compact`.

use crate::cli::{LedgerArgs, LedgerCommand};
use crate::clock::beijing;
use crate::exit::Exit;
use crate::ledger::compact::{CompactError, compact};

pub fn run(args: LedgerArgs) -> anyhow::Result<Exit> {
    let LedgerCommand::Compact(args) = args.command;
    let now = chrono::Utc::now().with_timezone(&beijing()).naive_local();
    let done = compact(&args.path, args.before, now).map_err(|error| match error {
        CompactError::Lock(lock) => super::lock_error(lock),
        other => other.into(),
    })?;
    let total = done.kept + done.superseded + done.expired;
    let dropped = match args.before {
        Some(before) => format!(", {} older than {before} dropped", done.expired),
        None => String::new(),
    };
    crate::outln!(
        "compacted {}: {total} lines → {} (one per req_id; {} superseded{dropped})",
        args.path.display(),
        done.kept,
        done.superseded,
    );
    if done.torn_bytes > 0 {
        crate::outln!(
            "the torn last line ({} bytes) was left out",
            done.torn_bytes
        );
    }
    crate::outln!("old ledger kept as {}", done.backup.display());
    Ok(Exit::Success)
}
