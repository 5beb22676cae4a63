//! The desk's requests (four eyes): a send made by a clerk from a checked upload, with
//! its plan (calls, amount, and the digest of exactly what would be sent), waiting for
//! someone else to approve it. States: `pending` → `approved` → `sending` → `finished`,
//! or `rejected` (with a reason), `expired`, `cancelled` (by its maker); a send whose
//! plan changed meanwhile goes back to `pending`, the difference noted.

use rusqlite::{OptionalExtension as _, params};

use super::db::sql;
use super::{Ledger, LedgerError};

/// A request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: String,
    /// `send` (an upload's plan) or `close` (orders, with a reason: `note`).
    pub kind: String,
    /// A closure's req_ids.
    pub orders: Vec<String>,
    pub state: String,
    pub made_by: String,
    pub made_at: String,
    /// The upload (the desk's submission id) and its name and SHA-256.
    pub submission: String,
    pub label: String,
    pub sha256: String,
    pub plan_digest: String,
    pub calls: u64,
    pub amount: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// Why it was rejected, or what changed.
    pub note: Option<String>,
    pub run_id: Option<String>,
    pub exit_code: Option<i64>,
}

const COLUMNS: &str = "id, kind, coalesce(orders, '[]'), state, made_by, made_at, submission, label, sha256, plan_digest, calls, amount, decided_by, decided_at, note, run_id, exit_code";

fn request(row: &rusqlite::Row<'_>) -> rusqlite::Result<Request> {
    let orders: String = row.get(2)?;
    Ok(Request {
        id: row.get(0)?,
        kind: row.get(1)?,
        orders: serde_json::from_str(&orders).unwrap_or_default(),
        state: row.get(3)?,
        made_by: row.get(4)?,
        made_at: row.get(5)?,
        submission: row.get(6)?,
        label: row.get(7)?,
        sha256: row.get(8)?,
        plan_digest: row.get(9)?,
        calls: row.get::<_, i64>(10)? as u64,
        amount: row.get(11)?,
        decided_by: row.get(12)?,
        decided_at: row.get(13)?,
        note: row.get(14)?,
        run_id: row.get(15)?,
        exit_code: row.get(16)?,
    })
}

/// Records a new pending request.
pub fn create(ledger: &Ledger, r: &Request) -> Result<(), LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .execute(
            "INSERT INTO requests (id, kind, orders, state, made_by, made_at, submission, label, sha256, plan_digest, calls, amount, note)
             VALUES (?1, ?10, ?11, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?12)",
            params![r.id, r.made_by, r.made_at, r.submission, r.label, r.sha256, r.plan_digest, r.calls as i64, r.amount,
                r.kind, serde_json::to_string(&r.orders).unwrap_or_default(), r.note],
        )
        .map_err(|e| sql(path, e))?;
    Ok(())
}

pub fn get(ledger: &Ledger, id: &str) -> Result<Option<Request>, LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM requests WHERE id = ?1"),
            params![id],
            request,
        )
        .optional()
        .map_err(|e| sql(path, e))
}

/// The newest `limit` requests, pending first.
pub fn list(ledger: &Ledger, limit: u64) -> Result<Vec<Request>, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM requests ORDER BY state <> 'pending', made_at DESC LIMIT ?1"
        ))
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(params![limit as i64], request)
        .map_err(|e| sql(path, e))?;
    rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))
}

/// The requests about the order `req_id`: the closures naming it, and the sends that ran
/// as one of `runs` (the runs that answered it), oldest first.
pub fn of_order(
    ledger: &Ledger,
    req_id: &str,
    runs: &[String],
) -> Result<Vec<Request>, LedgerError> {
    let path = &ledger.path;
    // A ledger read before its first write since an upgrade has no requests yet.
    let kept: bool = ledger
        .conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'requests'",
            [],
            |row| row.get(0),
        )
        .map_err(|e| sql(path, e))?;
    if !kept {
        return Ok(Vec::new());
    }
    let mut statement = ledger
        .conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM requests
             WHERE (kind = 'close' AND instr(orders, '\"' || ?1 || '\"') > 0) OR run_id IS NOT NULL
             ORDER BY made_at"
        ))
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(params![req_id], request)
        .map_err(|e| sql(path, e))?;
    let all: Vec<Request> = rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))?;
    // The JSON list and the run decide exactly (the text search only narrows).
    Ok(all
        .into_iter()
        .filter(|r| {
            (r.kind == "close" && r.orders.iter().any(|o| o == req_id))
                || r.run_id.as_ref().is_some_and(|run| runs.contains(run))
        })
        .collect())
}

/// Moves a request from `from` to `to` (only if it is in `from`: a decision is made
/// once), noting who and why; whether it moved.
pub fn decide(
    ledger: &Ledger,
    id: &str,
    from: &str,
    to: &str,
    by: Option<&str>,
    note: Option<&str>,
) -> Result<bool, LedgerError> {
    let path = &ledger.path;
    let changed = ledger
        .conn
        .execute(
            "UPDATE requests SET state = ?3,
                 decided_by = coalesce(?4, decided_by),
                 decided_at = CASE WHEN ?4 IS NULL THEN decided_at ELSE ?6 END,
                 note = coalesce(?5, note)
             WHERE id = ?1 AND state = ?2",
            params![id, from, to, by, note, crate::clock::now_stamp()],
        )
        .map_err(|e| sql(path, e))?;
    Ok(changed > 0)
}

/// A request's send ended: its run and exit code, `finished`.
pub fn finished(
    ledger: &Ledger,
    id: &str,
    run_id: &str,
    exit: Option<i64>,
) -> Result<(), LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .execute(
            "UPDATE requests SET state = 'finished', run_id = ?2, exit_code = ?3 WHERE id = ?1",
            params![id, run_id, exit],
        )
        .map_err(|e| sql(path, e))?;
    Ok(())
}

/// Requests whose send was under way when the desk stopped (approved, sending):
/// finished, `note` saying so; how many.
pub fn interrupted(ledger: &Ledger, note: &str) -> Result<usize, LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .execute(
            "UPDATE requests SET state = 'finished', note = ?1 WHERE state = 'approved' OR state = 'sending'",
            params![note],
        )
        .map_err(|e| sql(path, e))
}

/// Pending requests made before `before` (a Beijing-time stamp) expire; how many.
pub fn expire(ledger: &Ledger, before: &str) -> Result<usize, LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .execute(
            "UPDATE requests SET state = 'expired' WHERE state = 'pending' AND made_at < ?1",
            params![before],
        )
        .map_err(|e| sql(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Access;

    #[test]
    fn a_request_is_decided_once() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = Ledger::open(&dir.path().join("ledger.db"), Access::Write).expect("ledger");
        let r = Request {
            id: "r1".into(),
            kind: "send".into(),
            orders: Vec::new(),
            state: "pending".into(),
            made_by: "bo".into(),
            made_at: crate::clock::now_stamp(),
            submission: "s1".into(),
            label: "更正.xlsx".into(),
            sha256: "00".into(),
            plan_digest: "d".into(),
            calls: 2,
            amount: "120.50".into(),
            decided_by: None,
            decided_at: None,
            note: None,
            run_id: None,
            exit_code: None,
        };
        create(&ledger, &r).expect("create");
        assert!(decide(&ledger, "r1", "pending", "approved", Some("ana"), None).expect("approve"));
        assert!(
            !decide(&ledger, "r1", "pending", "rejected", Some("cy"), Some("no")).expect("once")
        );
        let got = get(&ledger, "r1").expect("get").expect("there");
        assert_eq!(
            (got.state.as_str(), got.decided_by.as_deref()),
            ("approved", Some("ana"))
        );
        finished(&ledger, "r1", "run-1", Some(0)).expect("finished");
        assert_eq!(list(&ledger, 10).expect("list")[0].state, "finished");
        assert_eq!(expire(&ledger, "9999").expect("expire"), 0);
        // A desk that stopped during a request's send: the request says so.
        create(
            &ledger,
            &Request {
                id: "r2".into(),
                ..r.clone()
            },
        )
        .expect("create");
        decide(&ledger, "r2", "pending", "sending", Some("ana"), None).expect("sending");
        assert_eq!(interrupted(&ledger, "stopped").expect("interrupted"), 1);
        let r2 = get(&ledger, "r2").expect("get").expect("there");
        assert_eq!(
            (r2.state.as_str(), r2.note.as_deref()),
            ("finished", Some("stopped"))
        );
        // A pending one made long ago expires.
        create(
            &ledger,
            &Request {
                id: "r3".into(),
                made_at: "2000-01-01".into(),
                ..r
            },
        )
        .expect("create");
        assert_eq!(expire(&ledger, "2001-01-01").expect("expire"), 1);
    }
}
