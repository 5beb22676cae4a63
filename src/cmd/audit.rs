//! `audit verify`: the shell of `ledger::audit::verify`.

use crate::cli::{AuditArgs, AuditCommand};
use crate::exit::Exit;
use crate::ledger::{Access, Ledger};

pub fn run(args: &AuditArgs) -> anyhow::Result<Exit> {
    match &args.command {
        AuditCommand::Verify(verify) => {
            let ledger = Ledger::open(&verify.ledger, Access::Read)?;
            let found = crate::ledger::audit::verify(&ledger)?;
            if verify.json {
                let doc = serde_json::json!({
                    "rows": found.rows,
                    "intact": found.broken.is_none(),
                    "broken": found.broken.as_ref().map(|(id, at, why)| {
                        serde_json::json!({"id": id, "at": at, "why": why})
                    }),
                    "last_hash": found.last,
                });
                crate::console::outln!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                match &found.broken {
                    None => crate::console::outln!(
                        "{}: the audit log holds: {} rows, each chained to the one before; last hash {}",
                        verify.ledger.display(),
                        found.rows,
                        found.last.as_deref().unwrap_or("(none: the log is empty)")
                    ),
                    Some((id, at, why)) => crate::console::outln!(
                        "{}: the audit log is broken at row {id} ({at}): {why}; the rows after it cannot be trusted",
                        verify.ledger.display()
                    ),
                }
            }
            Ok(if found.broken.is_none() {
                Exit::Success
            } else {
                Exit::Attention
            })
        }
    }
}
