//! The rows a run writes, statement by statement: orders as pending, outcomes with
//! their orders' new state, sightings, calls per day — and each order's entry in the
//! dedup index (`order_keys`) beside its `orders` row, in the same transaction.

use std::collections::HashMap;

use rusqlite::params;

use super::{PendingOrder, Sighting};
use crate::ledger::{LedgerEntry, OrderState, ReqKey};

const FIND_ID: &str = "SELECT id FROM order_keys WHERE near = ?1 AND key = ?2 AND sim = ?3";

const INSERT_PENDING: &str = "INSERT INTO orders (key, sim, req_id, order_no, sub_order_no, param0, payload_md5, state, updated_at, last_run, near)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10)";

const UPDATE_PENDING: &str = "UPDATE orders SET
         param0 = ?2, payload_md5 = ?3, state = 'pending', updated_at = ?4, last_run = ?5
     WHERE id = ?1";

const INSERT_ORDER: &str = "INSERT INTO orders (key, sim, req_id, order_no, sub_order_no, param0, payload_md5, state, updated_at, last_run, error_code, error_msg, sub_code, first_failed_at, near)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, CASE WHEN ?8 = 'failed' THEN ?9 END, ?14)";

const UPDATE_ORDER: &str = "UPDATE orders SET
         param0 = ?2, payload_md5 = ?3, state = ?4, updated_at = ?5, last_run = ?6,
         error_code = ?7, error_msg = ?8, sub_code = ?9,
         first_failed_at = CASE WHEN ?4 = 'failed' THEN coalesce(first_failed_at, ?5) ELSE NULL END
     WHERE id = ?1";

const UPDATE_OUTCOME: &str = "UPDATE orders SET
         state = ?2, updated_at = ?3, last_run = ?4, error_code = ?5, error_msg = ?6, sub_code = ?7,
         first_failed_at = CASE WHEN ?2 = 'failed' THEN coalesce(first_failed_at, ?3) ELSE NULL END
     WHERE id = ?1";

/// The dedup index's entry of a new order (`order_keys`: written beside `orders` by
/// every writer, in the same transaction).
const INSERT_KEY: &str = "INSERT INTO order_keys (near, key, sim, id, state, payload_md5) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// The dedup index's entry of an order whose state or payload changed.
const UPDATE_KEY: &str =
    "UPDATE order_keys SET state = ?4, payload_md5 = ?5 WHERE near = ?1 AND key = ?2 AND sim = ?3";

const INSERT_OUTCOME: &str = "INSERT INTO outcomes (order_id, run_id, source, line, status, error_code, error_msg, sub_code, sub_msg, top_request_id, attempts, finished_at, payload_md5)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

const INSERT_SIGHTING: &str =
    "INSERT INTO sightings (order_id, run_id, source, line, status) VALUES (?1, ?2, ?3, ?4, ?5)";

const ADD_CALLS: &str = "INSERT INTO calls_per_day (day, calls) VALUES (?1, ?2)
     ON CONFLICT (day) DO UPDATE SET calls = calls + excluded.calls";

/// The id of the order of `req_id` (its key `key`, of this kind), if the ledger has it.
fn find_id(
    find: &mut rusqlite::CachedStatement<'_>,
    req_id: &str,
    key: &[u8; 16],
    sim: bool,
) -> rusqlite::Result<Option<i64>> {
    let near = crate::ledger::key::neighbourhood(req_id);
    let mut rows = find.query(params![near, key.as_slice(), sim])?;
    rows.next()?.map(|row| row.get(0)).transpose()
}

/// Runs `insert` and gives the id of the row it made.
fn inserted(
    tx: &rusqlite::Transaction<'_>,
    insert: &mut rusqlite::CachedStatement<'_>,
    values: impl rusqlite::Params,
) -> rusqlite::Result<i64> {
    insert.execute(values)?;
    Ok(tx.last_insert_rowid())
}

/// This run: its id, and whether it is simulated.
type Run<'a> = (&'a str, bool);

/// The ids of the orders a run wrote as pending, by key.
pub(super) type Ids =
    HashMap<ReqKey, i64, std::hash::BuildHasherDefault<crate::ledger::key::PassThrough>>;

/// Writes `orders` as pending, new or again; notes their ids in `ids`.
pub(super) fn pending_rows(
    tx: &rusqlite::Transaction<'_>,
    (run_id, sim): Run<'_>,
    ids: &mut Ids,
    orders: &[PendingOrder],
) -> rusqlite::Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let now = crate::clock::now_stamp();
    let mut find = tx.prepare_cached(FIND_ID)?;
    let mut insert = tx.prepare_cached(INSERT_PENDING)?;
    let mut update = tx.prepare_cached(UPDATE_PENDING)?;
    for order in orders {
        let key = order.key.to_bytes();
        let near = crate::ledger::key::neighbourhood(&order.req_id);
        let id = match find_id(&mut find, &order.req_id, &key, sim)? {
            Some(id) => {
                update.execute(params![
                    id,
                    order.param0,
                    order.payload_md5.as_slice(),
                    now,
                    run_id,
                ])?;
                rekey(tx, (near, &key, sim), "pending", &order.payload_md5)?;
                id
            }
            None => {
                let id = inserted(
                    tx,
                    &mut insert,
                    params![
                        key.as_slice(),
                        sim,
                        order.req_id,
                        order.order_no.to_string(),
                        order.sub_order_no.map(|n| n.to_string()),
                        order.param0,
                        order.payload_md5.as_slice(),
                        now,
                        run_id,
                        near,
                    ],
                )?;
                key_new(tx, (near, &key, sim), id, "pending", &order.payload_md5)?;
                id
            }
        };
        ids.insert(order.key, id);
    }
    Ok(())
}

/// Writes outcomes (and their orders' new state), sightings, and the calls of each
/// Beijing day.
pub(super) fn outcome_rows(
    tx: &rusqlite::Transaction<'_>,
    (run_id, sim): Run<'_>,
    ids: &Ids,
    entries: &[LedgerEntry],
    sightings: &[Sighting],
) -> rusqlite::Result<()> {
    let mut days: Vec<(&str, u64)> = Vec::new();
    if !entries.is_empty() {
        let mut outcome = tx.prepare_cached(INSERT_OUTCOME)?;
        for entry in entries {
            let id = order_of(tx, (run_id, sim), ids, entry)?;
            outcome.execute(params![
                id,
                &*entry.run_id,
                &*entry.source,
                entry.line as i64,
                entry.status.as_str(),
                entry.error_code,
                entry.error_msg,
                entry.sub_code,
                entry.sub_msg,
                entry.top_request_id,
                i64::from(entry.attempts),
                entry.finished_at,
                entry.payload_md5.as_slice(),
            ])?;
            let day = entry.finished_at.get(..10).unwrap_or_default();
            match days.iter_mut().find(|(d, _)| *d == day) {
                Some((_, calls)) => *calls += u64::from(entry.attempts),
                None => days.push((day, u64::from(entry.attempts))),
            }
        }
    }
    if !days.is_empty() {
        let mut add = tx.prepare_cached(ADD_CALLS)?;
        for (day, calls) in days {
            add.execute(params![day, calls as i64])?;
        }
    }
    if !sightings.is_empty() {
        let mut seen = tx.prepare_cached(INSERT_SIGHTING)?;
        for sighting in sightings {
            seen.execute(params![
                sighting.order_id,
                run_id,
                &*sighting.source,
                sighting.line as i64,
                sighting.status,
            ])?;
        }
    }
    Ok(())
}

/// Gives `entry`'s order its new state; its id. An order this run wrote as pending
/// is known by id; another (a test's, `ledger close`'s) is found or made.
fn order_of(
    tx: &rusqlite::Transaction<'_>,
    (run_id, sim): Run<'_>,
    ids: &Ids,
    entry: &LedgerEntry,
) -> rusqlite::Result<i64> {
    let key = ReqKey::of(&entry.req_id);
    let state = OrderState::from(entry.status).as_str();
    let bytes = key.to_bytes();
    let near = crate::ledger::key::neighbourhood(&entry.req_id);
    let place = (near, &bytes, sim);
    if let Some(&id) = ids.get(&key) {
        tx.prepare_cached(UPDATE_OUTCOME)?.execute(params![
            id,
            state,
            entry.finished_at,
            run_id,
            entry.error_code,
            entry.error_msg,
            entry.sub_code,
        ])?;
        rekey(tx, place, state, &entry.payload_md5)?;
        return Ok(id);
    }
    let found = find_id(&mut tx.prepare_cached(FIND_ID)?, &entry.req_id, &bytes, sim)?;
    if let Some(id) = found {
        tx.prepare_cached(UPDATE_ORDER)?.execute(params![
            id,
            entry.param0,
            entry.payload_md5.as_slice(),
            state,
            entry.finished_at,
            run_id,
            entry.error_code,
            entry.error_msg,
            entry.sub_code,
        ])?;
        rekey(tx, place, state, &entry.payload_md5)?;
        return Ok(id);
    }
    let id = inserted(
        tx,
        &mut tx.prepare_cached(INSERT_ORDER)?,
        params![
            bytes.as_slice(),
            sim,
            entry.req_id,
            entry.order_no.to_string(),
            entry.sub_order_no.map(|n| n.to_string()),
            entry.param0,
            entry.payload_md5.as_slice(),
            state,
            entry.finished_at,
            run_id,
            entry.error_code,
            entry.error_msg,
            entry.sub_code,
            near,
        ],
    )?;
    key_new(tx, place, id, state, &entry.payload_md5)?;
    Ok(id)
}

/// Where an order's entry sits in the dedup index: `(near, key, sim)`.
type Place<'a> = (i64, &'a [u8; 16], bool);

/// Enters a new order in the dedup index.
fn key_new(
    tx: &rusqlite::Transaction<'_>,
    (near, key, sim): Place<'_>,
    id: i64,
    state: &str,
    md5: &[u8; 16],
) -> rusqlite::Result<()> {
    tx.prepare_cached(INSERT_KEY)?
        .execute(params![
            near,
            key.as_slice(),
            sim,
            id,
            state,
            md5.as_slice()
        ])
        .map(drop)
}

/// Gives an order's entry in the dedup index its new state and payload.
fn rekey(
    tx: &rusqlite::Transaction<'_>,
    (near, key, sim): Place<'_>,
    state: &str,
    md5: &[u8; 16],
) -> rusqlite::Result<()> {
    tx.prepare_cached(UPDATE_KEY)?
        .execute(params![near, key.as_slice(), sim, state, md5.as_slice()])
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_s_writes_make_no_temporary_tables() {
        // SQLite makes a temporary table for an `IN (…)` list (a CHECK, a partial
        // index's condition) on every execution: a third of a run's time, once.
        let dir = tempfile::tempdir().expect("dir");
        let (path, _recording) = super::super::tests::recording(dir.path());
        let raw = rusqlite::Connection::open(&path).expect("raw");
        for statement in [
            FIND_ID,
            INSERT_PENDING,
            UPDATE_PENDING,
            INSERT_ORDER,
            UPDATE_ORDER,
            UPDATE_OUTCOME,
            INSERT_KEY,
            UPDATE_KEY,
            INSERT_OUTCOME,
            INSERT_SIGHTING,
            ADD_CALLS,
        ] {
            let mut explain = raw
                .prepare(&format!("EXPLAIN {statement}"))
                .expect("explain");
            let mut rows = explain.raw_query();
            let mut ops: Vec<String> = Vec::new();
            while let Some(row) = rows.next().expect("op") {
                ops.push(row.get(1).expect("opcode"));
            }
            assert!(
                !ops.iter().any(|op| op.contains("Ephemeral")),
                "{statement}: {ops:?}"
            );
        }
    }
}
