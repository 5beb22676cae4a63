//! The audit log, in the ledger: one row per action of the desk (login, upload, send,
//! download, …), each carrying the SHA-256 of the row before it, so a row changed,
//! removed or slipped in afterwards breaks the chain (`audit verify`). Appended under
//! an immediate transaction: two writers can never chain onto the same row.

use rusqlite::{OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::db::sql;
use super::{Ledger, LedgerError};

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    /// Beijing time.
    pub at: String,
    pub user: String,
    pub action: String,
    /// What the action touched, a JSON object.
    pub detail: String,
    /// This row's hash, hex.
    pub hash: String,
}

/// Which rows to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Beijing-time stamps or their prefixes (`2026-12-07`): `from` ≤ at, at < `to`.
    pub from: Option<String>,
    pub to: Option<String>,
    pub user: Option<String>,
    pub action: Option<String>,
    /// The newest this many (all when `None`).
    pub limit: Option<u64>,
}

/// What checking the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub rows: u64,
    /// The first row that does not hold: its id, time and why.
    pub broken: Option<(i64, String, &'static str)>,
    /// The last row's hash, hex (an auditor keeps it to prove nothing was cut off the end).
    pub last: Option<String>,
}

/// The hash of a row: SHA-256 over the previous row's hash and the row's fields, each
/// ended by a NUL (none of them holds one).
fn hash_of(prev: &[u8], at: &str, user: &str, action: &str, detail: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    for field in [at, user, action, detail] {
        hasher.update(field.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// Appends a row for `user`'s `action` with `detail` (a JSON object), now.
pub fn append(
    ledger: &Ledger,
    user: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<Entry, LedgerError> {
    let path = &ledger.path;
    let at = crate::clock::now_stamp();
    let detail = detail.to_string().replace('\0', "");
    let user = user.replace('\0', "");
    let tx = rusqlite::Transaction::new_unchecked(
        &ledger.conn,
        rusqlite::TransactionBehavior::Immediate,
    )
    .map_err(|e| sql(path, e))?;
    let prev: Vec<u8> = tx
        .query_row("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| sql(path, e))?
        .unwrap_or_else(|| vec![0; 32]);
    let hash = hash_of(&prev, &at, &user, action, &detail);
    tx.execute(
        "INSERT INTO audit (at, user, action, detail, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![at, user, action, detail, prev, hash.as_slice()],
    )
    .map_err(|e| sql(path, e))?;
    let id = tx.last_insert_rowid();
    tx.commit().map_err(|e| sql(path, e))?;
    Ok(Entry {
        id,
        at,
        user,
        action: action.to_owned(),
        detail,
        hash: faster_hex::hex_string(&hash),
    })
}

/// The rows `filter` keeps, newest first.
pub fn entries(ledger: &Ledger, filter: &AuditFilter) -> Result<Vec<Entry>, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare(
            "SELECT id, at, user, action, detail, hash FROM audit
             WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2)
               AND (?3 IS NULL OR user = ?3) AND (?4 IS NULL OR action = ?4)
             ORDER BY id DESC LIMIT ?5",
        )
        .map_err(|e| sql(path, e))?;
    let limit = filter.limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64);
    let rows = statement
        .query_map(
            params![filter.from, filter.to, filter.user, filter.action, limit],
            |row| {
                let hash: Vec<u8> = row.get(5)?;
                Ok(Entry {
                    id: row.get(0)?,
                    at: row.get(1)?,
                    user: row.get(2)?,
                    action: row.get(3)?,
                    detail: row.get(4)?,
                    hash: faster_hex::hex_string(&hash),
                })
            },
        )
        .map_err(|e| sql(path, e))?;
    rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))
}

/// Walks the chain from its first row: each row must name the hash of the row before
/// it, and its own hash must be that of its fields.
pub fn verify(ledger: &Ledger) -> Result<Verified, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare("SELECT id, at, user, action, detail, prev, hash FROM audit ORDER BY id")
        .map_err(|e| sql(path, e))?;
    let mut rows = statement.query([]).map_err(|e| sql(path, e))?;
    let mut before = vec![0u8; 32];
    let mut verified = Verified {
        rows: 0,
        broken: None,
        last: None,
    };
    while let Some(row) = rows.next().map_err(|e| sql(path, e))? {
        let get = |i| row.get::<_, String>(i);
        let (id, at): (i64, String) = (
            row.get(0).map_err(|e| sql(path, e))?,
            get(1).map_err(|e| sql(path, e))?,
        );
        let (user, action, detail) = (
            get(2).map_err(|e| sql(path, e))?,
            get(3).map_err(|e| sql(path, e))?,
            get(4).map_err(|e| sql(path, e))?,
        );
        let prev: Vec<u8> = row.get(5).map_err(|e| sql(path, e))?;
        let hash: Vec<u8> = row.get(6).map_err(|e| sql(path, e))?;
        verified.rows += 1;
        if prev != before {
            verified.broken = Some((
                id,
                at,
                "it does not follow the row before it (a row removed or slipped in)",
            ));
            return Ok(verified);
        }
        if hash != hash_of(&prev, &at, &user, &action, &detail) {
            verified.broken = Some((id, at, "its contents changed after it was written"));
            return Ok(verified);
        }
        verified.last = Some(faster_hex::hex_string(&hash));
        before = hash;
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Access;

    #[test]
    fn a_changed_or_removed_row_breaks_the_chain_where_it_is() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = Ledger::open(&dir.path().join("ledger.db"), Access::Write).expect("ledger");
        for (user, action) in [("ana", "login"), ("ana", "upload"), ("bo", "approve")] {
            append(&ledger, user, action, &serde_json::json!({"n": 1})).expect("append");
        }
        let fine = verify(&ledger).expect("verify");
        assert_eq!((fine.rows, fine.broken.clone()), (3, None));
        let newest = entries(&ledger, &AuditFilter::default()).expect("entries");
        assert_eq!(newest[0].action, "approve");
        assert_eq!(fine.last.as_deref(), Some(newest[0].hash.as_str()));
        let ana = AuditFilter {
            user: Some("ana".into()),
            limit: Some(1),
            ..AuditFilter::default()
        };
        assert_eq!(entries(&ledger, &ana).expect("ana")[0].action, "upload");

        ledger
            .conn
            .execute(
                "UPDATE audit SET detail = '{\"n\":2}' WHERE action = 'upload'",
                [],
            )
            .expect("tamper");
        let broken = verify(&ledger).expect("verify");
        assert_eq!(broken.broken.as_ref().map(|b| b.0), Some(2));
        assert!(broken.broken.expect("broken").2.contains("changed"));

        ledger
            .conn
            .execute("DELETE FROM audit WHERE action = 'upload'", [])
            .expect("remove");
        let gap = verify(&ledger).expect("verify");
        assert_eq!(gap.broken.as_ref().map(|b| b.0), Some(3));
        assert!(gap.broken.expect("broken").2.contains("removed"));
    }
}
