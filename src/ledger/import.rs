//! `ledger import OLD.csv --into ledger.db`: a CSV ledger of an earlier version into
//! the database, so every existing user's history comes along — each line an outcome,
//! the latest line of a req_id its order's state (an order the database already knows
//! keeps its state: the database is newer). The file is read as the old versions read
//! it (a damaged line is named, nothing imported). Importing the same file twice adds
//! nothing (its SHA-256 is kept), nor do lines already imported from another file.
//! The old file is never modified. The ledger kept no `param0`: imported orders are
//! sent again only when an export holds them.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::Path;

use rusqlite::params;

use super::db::sql;
use super::key::PassThrough;
use super::legacy::{col, scan};
use super::{Ledger, LedgerError, OrderState, ReqKey};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub lines: u64,
    /// Outcomes added (lines already in the ledger are not).
    pub outcomes: u64,
    /// Orders added.
    pub orders: u64,
    /// When this very file was imported before (nothing was added).
    pub before: Option<String>,
}

/// Imports the CSV ledger at `csv` into `ledger`, in one transaction.
pub fn import(ledger: &Ledger, csv: &Path) -> Result<Imported, LedgerError> {
    let path = &ledger.path;
    let shown = csv.display().to_string();
    let (sha256, _) = crate::textfile::sha256(csv).map_err(|error| LedgerError::Read {
        path: shown.clone(),
        error,
    })?;
    let before: Option<String> = ledger
        .conn
        .query_row(
            "SELECT imported_at FROM imports WHERE sha256 = ?1",
            params![sha256],
            |row| row.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })
        .map_err(|e| sql(path, e))?;
    if before.is_some() {
        return Ok(Imported {
            before,
            ..Imported::default()
        });
    }
    // Pass one: each order's place (its first line, for its id) and its latest line.
    let mut orders: HashMap<ReqKey, (u32, u64), BuildHasherDefault<PassThrough>> =
        HashMap::default();
    let mut lines = 0u64;
    scan::walk(csv, |line| {
        lines += 1;
        let next = u32::try_from(orders.len()).unwrap_or(u32::MAX);
        let entry = orders.entry(line.key()).or_insert((next, 0));
        entry.1 = line.number;
    })?;
    let empty: bool = ledger
        .conn
        .query_row("SELECT NOT EXISTS (SELECT 1 FROM orders)", [], |row| {
            row.get(0)
        })
        .map_err(|e| sql(path, e))?;
    let tx = ledger
        .conn
        .unchecked_transaction()
        .map_err(|e| sql(path, e))?;
    // An order's row comes with its latest line, after its earlier outcomes: the
    // references are checked at the commit.
    tx.execute_batch("PRAGMA defer_foreign_keys = ON")
        .map_err(|e| sql(path, e))?;
    let base: i64 = tx
        .query_row("SELECT coalesce(max(id), 0) FROM orders", [], |row| {
            row.get(0)
        })
        .map_err(|e| sql(path, e))?;
    if empty {
        // Indexes made once, sorted, after the rows: far faster than kept up row by row.
        tx.execute_batch(
            "DROP INDEX orders_by_key; DROP INDEX orders_by_order_no; DROP INDEX orders_open;",
        )
        .map_err(|e| sql(path, e))?;
    }
    let mut done = Imported {
        lines,
        ..Imported::default()
    };
    let mut failure: Option<LedgerError> = None;
    {
        // Without its unique index (a fresh ledger) no order can be there twice.
        let insert = "INSERT INTO orders (id, key, sim, req_id, order_no, sub_order_no, payload_md5, state, updated_at, first_failed_at, last_run, error_code, sub_code)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, CASE WHEN ?8 = 'failed' THEN ?9 END, ?10, ?11, ?12)";
        let mut insert_order = tx
            .prepare(&if empty {
                insert.to_owned()
            } else {
                format!("{insert} ON CONFLICT (key, sim) DO NOTHING")
            })
            .map_err(|e| sql(path, e))?;
        let mut existing = tx
            .prepare("SELECT id FROM orders WHERE key = ?1 AND sim = ?2")
            .map_err(|e| sql(path, e))?;
        let mut duplicate = tx
            .prepare(
                "SELECT EXISTS (SELECT 1 FROM outcomes WHERE order_id = ?1 AND run_id = ?2 AND finished_at = ?3 AND status = ?4)",
            )
            .map_err(|e| sql(path, e))?;
        let mut insert_outcome = tx
            .prepare(
                "INSERT INTO outcomes (order_id, run_id, status, error_code, sub_code, top_request_id, attempts, finished_at, payload_md5)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(|e| sql(path, e))?;
        // Orders the ledger already had, by their place in this file.
        let mut known: HashMap<u32, i64> = HashMap::new();
        scan::walk(csv, |line| {
            if failure.is_some() {
                return;
            }
            let mut step = || -> rusqlite::Result<()> {
                let field = |at: usize| String::from_utf8_lossy(line.fields()[at]).into_owned();
                let simulated = line.simulated();
                let Some(&(place, latest)) = orders.get(&line.key()) else {
                    return Ok(());
                };
                let key = ReqKey::of(line.req_id).to_bytes();
                let (run_id, finished_at) = (field(col::RUN_ID), field(col::FINISHED_AT));
                let mut id = base + i64::from(place) + 1;
                if !empty {
                    if let Some(&found) = known.get(&place) {
                        id = found;
                    } else if let Some(found) = existing
                        .query_row(params![key.as_slice(), simulated], |row| {
                            row.get::<_, i64>(0)
                        })
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            other => Err(other),
                        })?
                    {
                        known.insert(place, found);
                        id = found;
                    }
                    let seen: bool = duplicate.query_row(
                        params![id, run_id, finished_at, line.status.as_str()],
                        |row| row.get(0),
                    )?;
                    if seen {
                        return Ok(());
                    }
                }
                let outcome_first = known.contains_key(&place);
                if line.number == latest && !outcome_first {
                    let state = OrderState::from(line.status).as_str();
                    let sub_order_no = field(col::SUB_ORDER_NO);
                    let added = insert_order.execute(params![
                        id,
                        key.as_slice(),
                        simulated,
                        line.req_id,
                        field(col::ORDER_NO),
                        (!sub_order_no.is_empty()).then_some(sub_order_no),
                        line.payload_md5.as_slice(),
                        state,
                        finished_at,
                        run_id,
                        field(col::ERROR_CODE),
                        field(col::SUB_CODE),
                    ])?;
                    done.orders += added as u64;
                }
                insert_outcome.execute(params![
                    id,
                    run_id,
                    line.status.as_str(),
                    field(col::ERROR_CODE),
                    field(col::SUB_CODE),
                    field(col::TOP_REQUEST_ID),
                    field(col::ATTEMPTS).parse::<i64>().unwrap_or(0),
                    finished_at,
                    line.payload_md5.as_slice(),
                ])?;
                done.outcomes += 1;
                Ok(())
            };
            if let Err(error) = step() {
                failure = Some(sql(path, error));
            }
        })?;
    }
    if let Some(error) = failure {
        return Err(error);
    }
    if empty {
        tx.execute_batch(
            "CREATE UNIQUE INDEX orders_by_key ON orders (key, sim);
             CREATE INDEX orders_by_order_no ON orders (order_no);
             CREATE INDEX orders_open ON orders (state, id) WHERE state IN ('pending', 'failed', 'rejected');",
        )
        .map_err(|e| sql(path, e))?;
    }
    tx.execute(
        "INSERT INTO imports (sha256, path, imported_at, lines, orders) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            sha256,
            crate::roles::resolve(csv).display().to_string(),
            crate::clock::now_stamp(),
            lines as i64,
            done.orders as i64
        ],
    )
    .map_err(|e| sql(path, e))?;
    tx.commit().map_err(|e| sql(path, e))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Access, orders};

    const HEADER: &str = "req_id,order_no,sub_order_no,status,error_code,sub_code,payload_md5,top_request_id,attempts,finished_at,run_id\n";

    fn line(req_id: &str, status: &str, at: &str, run_id: &str) -> String {
        format!(
            "{req_id},4012345678901234567,,{status},,,{},top1,1,{at},{run_id}\n",
            faster_hex::hex_string(&[3u8; 16])
        )
    }

    #[test]
    fn history_comes_along_and_twice_adds_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let csv = dir.path().join("old-ledger.csv");
        let text = format!(
            "{HEADER}{}{}{}{}",
            line("a", "failed", "2026-11-01T00:30:00.000+08:00", "r1"),
            line("b", "rejected", "2026-11-01T00:30:01.000+08:00", "r1"),
            line("a", "delivered", "2026-11-02T00:30:00.000+08:00", "r2"),
            line("s", "delivered", "2026-11-02T00:30:00.000+08:00", "sim-r3"),
        );
        std::fs::write(&csv, &text).expect("write");
        let ledger = Ledger::open(&dir.path().join("ledger.db"), Access::Write).expect("ledger");
        let done = import(&ledger, &csv).expect("import");
        assert_eq!((done.lines, done.outcomes, done.orders), (4, 4, 3));
        let a = orders::find(&ledger, "a").expect("find");
        assert_eq!(a[0].state, OrderState::Delivered);
        assert_eq!(
            orders::find(&ledger, "b").expect("find")[0].state,
            OrderState::Rejected
        );
        assert!(orders::find(&ledger, "s").expect("find")[0].simulated);
        let story = super::super::story::of(&ledger, "a").expect("story");
        assert_eq!(story[0].events.len(), 2);
        let again = import(&ledger, &csv).expect("again");
        assert!(again.before.is_some() && again.outcomes == 0);
        // Another file with the same lines and one more: only the new line is added.
        let more = dir.path().join("more.csv");
        std::fs::write(
            &more,
            format!(
                "{text}{}",
                line("c", "failed", "2026-11-03T00:30:00.000+08:00", "r4")
            ),
        )
        .expect("write");
        let done = import(&ledger, &more).expect("import");
        assert_eq!((done.outcomes, done.orders), (1, 1));
        assert_eq!(
            std::fs::read_to_string(&csv).expect("read"),
            text,
            "never modified"
        );
    }

    #[test]
    fn a_damaged_line_imports_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let csv = dir.path().join("old.csv");
        std::fs::write(
            &csv,
            format!(
                "{HEADER}{}a,1,,bogus,,,xx,,1,t,r\n",
                line("ok", "delivered", "t", "r")
            ),
        )
        .expect("write");
        let ledger = Ledger::open(&dir.path().join("ledger.db"), Access::Write).expect("ledger");
        let err = import(&ledger, &csv).expect_err("damaged");
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(orders::find(&ledger, "ok").expect("find").is_empty());
    }
}
