//! `ledger import OLD.csv --into ledger.db`: a CSV ledger of an earlier version into
//! the database, so every existing user's history comes along — each line an outcome,
//! the latest line of a req_id its order's state (an order the database already knows
//! keeps its state: the database is newer). The file is read as the old versions read
//! it (a damaged line is named, nothing imported). Importing the same file twice adds
//! nothing (its SHA-256 is kept), nor do lines already imported from another file.
//! The old file is never modified. The ledger kept no `param0`: imported orders are
//! sent again only when an export holds them.

mod rows;

use std::collections::HashMap;
use std::path::Path;

use rusqlite::params;

use super::db::sql;
use super::legacy::{col, scan};
use super::{Ledger, LedgerError, ReqKey};

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
    let started = std::time::Instant::now();
    // The file's digest (is it imported already?) while pass one reads it: each
    // order's place (its first line, for its id) and its latest line.
    let mut orders = rows::Places::default();
    let mut lines = 0u64;
    let (digest, walked) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| crate::textfile::sha256(csv));
        let walked = scan::walk(csv, |line| {
            lines += 1;
            let next = u32::try_from(orders.len()).unwrap_or(u32::MAX);
            let entry = orders.entry(line.key()).or_insert((next, 0));
            entry.1 = line.number;
        });
        (digest.join(), walked)
    });
    let (sha256, _) = digest
        .unwrap_or_else(|_| Err(std::io::Error::other("the digest's thread failed")))
        .map_err(|error| LedgerError::Read {
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
    walked?;
    tracing::info!("import: digest and first pass {:.2?}", started.elapsed());
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
        // (The partial index of the few open orders is cheap to keep up.)
        tx.execute_batch("DROP INDEX orders_by_order_no; DROP INDEX outcomes_by_order;")
            .map_err(|e| sql(path, e))?;
    }
    let mut done = Imported {
        lines,
        ..Imported::default()
    };
    if empty {
        rows::fill_fresh(&tx, path, csv, &orders, base, &mut done)?;
    } else {
        fill_known(&tx, path, csv, &orders, base, &mut done)?;
    }
    tracing::info!("import: rows written {:.2?}", started.elapsed());
    // The new orders' entries in the dedup index, in one sorted pass (an order the
    // ledger had keeps its entry: its state is newer than the file's).
    tx.execute(
        "INSERT INTO order_keys (near, key, sim, id, state, payload_md5)
             SELECT near, key, sim, id, state, payload_md5 FROM orders WHERE id > ?1
             ORDER BY near, key, sim",
        [base],
    )
    .map_err(|e| sql(path, e))?;
    if empty {
        tx.execute_batch(
            "CREATE INDEX orders_by_order_no ON orders (order_no);
             CREATE INDEX outcomes_by_order ON outcomes (order_id);",
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
    tracing::info!("import: indexes made {:.2?}", started.elapsed());
    tx.commit().map_err(|e| sql(path, e))?;
    Ok(done)
}

/// The second pass into a ledger that has orders already: each line's order looked up
/// (an order the ledger has keeps its state: the ledger is newer), an outcome it has
/// already left out, each row written at once.
fn fill_known(
    tx: &rusqlite::Transaction<'_>,
    ledger: &Path,
    csv: &Path,
    orders: &rows::Places,
    base: i64,
    done: &mut Imported,
) -> Result<(), LedgerError> {
    let failed = |error: rusqlite::Error| sql(ledger, error);
    let mut writer = rows::Writer::new(tx, 1).map_err(failed)?;
    let mut existing = tx
        .prepare("SELECT id FROM order_keys WHERE near = ?3 AND key = ?1 AND sim = ?2")
        .map_err(failed)?;
    let mut duplicate = tx
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM outcomes WHERE order_id = ?1 AND run_id = ?2 AND finished_at = ?3 AND status = ?4)",
        )
        .map_err(failed)?;
    // Orders the ledger already had, by their place in this file.
    let mut known: HashMap<u32, i64> = HashMap::new();
    let mut failure: Option<rusqlite::Error> = None;
    scan::walk(csv, |line| {
        if failure.is_some() {
            return;
        }
        let mut step = || -> rusqlite::Result<()> {
            let Some(&(place, latest)) = orders.get(&line.key()) else {
                return Ok(());
            };
            let key = ReqKey::of(line.req_id).to_bytes();
            let mut id = base + i64::from(place) + 1;
            if let Some(&found) = known.get(&place) {
                id = found;
            } else if let Some(found) = existing
                .query_row(
                    params![
                        key.as_slice(),
                        line.simulated(),
                        crate::ledger::key::neighbourhood(line.req_id)
                    ],
                    |row| row.get::<_, i64>(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })?
            {
                known.insert(place, found);
                id = found;
            }
            let text = |at: usize| String::from_utf8_lossy(line.fields()[at]).into_owned();
            let seen: bool = duplicate.query_row(
                params![
                    id,
                    text(col::RUN_ID),
                    text(col::FINISHED_AT),
                    line.status.as_str()
                ],
                |row| row.get(0),
            )?;
            if seen {
                return Ok(());
            }
            let with_order = line.number == latest && !known.contains_key(&place);
            let rows = rows::of_line(&line, id, with_order);
            if let Some(order) = rows.order {
                done.orders += writer.order(order)?;
            }
            writer.outcome(rows.outcome)?;
            done.outcomes += 1;
            Ok(())
        };
        if let Err(error) = step() {
            failure = Some(error);
        }
    })?;
    match failure {
        Some(error) => Err(failed(error)),
        None => {
            done.orders += writer.flush().map_err(failed)?;
            Ok(())
        }
    }
}

/// Imports `csv` into a new ledger at `into` (nothing there yet, or an empty file):
/// built beside it
/// without a journal — there is nothing to roll back, a failure removes it — synced,
/// then renamed into place, never over a file that appeared meanwhile. The ledger
/// appears whole or not at all.
pub fn import_new(csv: &Path, into: &Path) -> Result<Imported, LedgerError> {
    let shown = into.display().to_string();
    let write_error = |error: std::io::Error| LedgerError::Write {
        path: shown.clone(),
        error,
    };
    let name = into
        .file_name()
        .ok_or_else(|| write_error(std::io::Error::other("no file name")))?;
    let mut building_name = std::ffi::OsString::from(".");
    building_name.push(name);
    building_name.push(format!(".importing-{}", std::process::id()));
    let building = into.with_file_name(building_name);
    let remove = |path: &Path| {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    };
    remove(&building);
    let built = (|| {
        let ledger = Ledger::open(&building, super::Access::Write)?;
        let journal = |mode: &str| {
            let now: String = ledger
                .conn
                .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |row| {
                    row.get(0)
                })
                .map_err(|e| sql(&building, e))?;
            match now.eq_ignore_ascii_case(mode) {
                true => Ok(()),
                false => Err(LedgerError::Sql {
                    path: building.display().to_string(),
                    error: format!("journal mode {now}, not {mode}"),
                }),
            }
        };
        // Out of WAL first: SQLite leaves it only for a rollback journal.
        journal("DELETE")?;
        journal("OFF")?;
        // The indexes are made once, at the end: their sorts on every core, in memory.
        ledger
            .conn
            .execute_batch(&format!(
                "PRAGMA synchronous = OFF; PRAGMA threads = {}; PRAGMA cache_size = -262144;",
                crate::cores::ledger_walkers()
            ))
            .map_err(|e| sql(&building, e))?;
        let done = import(&ledger, csv)?;
        journal("DELETE")?;
        journal("WAL")?;
        drop(ledger);
        std::fs::File::open(&building)
            .and_then(|file| file.sync_all())
            .map_err(write_error)?;
        // In place of nothing, or of the empty file the lock made (no run can have
        // written it while the lock is held): never of a ledger that appeared.
        if std::fs::metadata(into).is_ok_and(|meta| meta.is_file() && meta.len() == 0) {
            std::fs::rename(&building, into).map_err(write_error)?;
        } else {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &building,
                rustix::fs::CWD,
                into,
                rustix::fs::RenameFlags::NOREPLACE,
            )
            .map_err(|errno| write_error(errno.into()))?;
        }
        super::db::sync_parent(into).map_err(write_error)?;
        Ok(done)
    })();
    if built.is_err() {
        remove(&building);
    }
    built
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Access, OrderState, orders};

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
