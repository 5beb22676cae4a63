//! The desk's audit log, in the ledger (`ledger::audit`): one row per action — time
//! (Beijing), user, action (login, upload, preview, send, download, …) and what it
//! touched (the file's SHA-256, counts, the run id) — each row chained to the one
//! before it by its SHA-256, so `opentrade-callback audit verify` finds any row changed
//! or removed. A row that cannot be written refuses the action it records (no audit,
//! no action).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::ledger::{Access, Ledger, LedgerError};

/// Why an action's row cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("the audit log in {}: {error}", path.display())]
pub struct AuditError {
    path: PathBuf,
    error: LedgerError,
}

/// The ledger the desk audits into, opened once (and again after an error).
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    ledger: Mutex<Option<Ledger>>,
}

impl Audit {
    /// Opens `ledger` for the audit's writes (made, or migrated, as a run would).
    pub fn open(ledger: &Path) -> Result<Audit, AuditError> {
        let opened = Ledger::open(ledger, Access::Write).map_err(|error| AuditError {
            path: ledger.to_owned(),
            error,
        })?;
        Ok(Audit {
            path: ledger.to_owned(),
            ledger: Mutex::new(Some(opened)),
        })
    }

    /// Appends one row: `fields` (an object) are what the action touched. An error
    /// means the row is not in the log: the caller refuses the action (or, for one
    /// already done, says so).
    pub fn record(
        &self,
        user: &str,
        action: &str,
        fields: serde_json::Value,
    ) -> Result<(), AuditError> {
        let mut held = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let wrap = |error| AuditError {
            path: self.path.clone(),
            error,
        };
        if held.is_none() {
            *held = Some(Ledger::open(&self.path, Access::Write).map_err(wrap)?);
        }
        let ledger = held.as_ref().expect("opened above");
        match crate::ledger::audit::append(ledger, user, action, &fields) {
            Ok(_) => Ok(()),
            Err(error) => {
                // The next action opens the ledger afresh (a file replaced, a disk
                // that has room again).
                *held = None;
                Err(wrap(error))
            }
        }
    }

    /// `record`, for an action already done: a failure is logged, as nothing can be
    /// undone.
    pub fn record_done(&self, user: &str, action: &str, fields: serde_json::Value) {
        if let Err(error) = self.record(user, action, fields) {
            tracing::error!("desk: {error}; the {action} of {user} is not in the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_rows_of_the_ledger_s_chained_log() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        let audit = Audit::open(&path).expect("open");
        audit
            .record("ana", "upload", serde_json::json!({"rows": 3}))
            .expect("recorded");
        audit
            .record("ana", "send", serde_json::json!({"run_id": "r1"}))
            .expect("recorded");
        let ledger = Ledger::open(&path, Access::Read).expect("ledger");
        let rows = crate::ledger::audit::entries(&ledger, &Default::default()).expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].action, "send");
        assert!(rows[0].detail.contains("r1") && rows[0].at.contains("+08:00"));
        let verified = crate::ledger::audit::verify(&ledger).expect("verify");
        assert_eq!((verified.rows, verified.broken), (2, None));
    }

    #[test]
    fn a_row_that_cannot_be_written_is_an_error_and_the_next_opens_afresh() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        let audit = Audit::open(&path).expect("open");
        let raw = rusqlite::Connection::open(&path).expect("sqlite");
        raw.execute_batch(
            "CREATE TRIGGER full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .expect("trigger");
        let refused = audit.record("ana", "login", serde_json::json!({}));
        assert!(
            refused
                .expect_err("refused")
                .to_string()
                .contains("disk is full")
        );
        raw.execute_batch("DROP TRIGGER full").expect("drop");
        audit
            .record("ana", "login", serde_json::json!({}))
            .expect("written again");
    }
}
