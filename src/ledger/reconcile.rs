//! What `reconcile` asks of the ledger: the orders of each platform trade (by
//! `order_no` = tid), the orders answered within a window (to find the ones the
//! platform does not know), and, in one transaction under the run lock, the deadlines
//! the platform gave and the calls reconcile made today.

use std::collections::HashMap;

use rusqlite::params;

use super::db::sql;
use super::{Ledger, LedgerError, OrderState};

/// An order as reconcile sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub id: i64,
    pub req_id: String,
    /// Empty when the export had none.
    pub sub_order_no: String,
    pub state: OrderState,
    pub error_code: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, req_id, coalesce(sub_order_no, ''), state, error_code, updated_at";

fn known(row: &rusqlite::Row<'_>) -> rusqlite::Result<Known> {
    let state: String = row.get(3)?;
    Ok(Known {
        id: row.get(0)?,
        req_id: row.get(1)?,
        sub_order_no: row.get(2)?,
        state: state.parse().unwrap_or(OrderState::Pending),
        error_code: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

/// The orders of each of `tids` (through the order-number index), by tid: real ones,
/// or `--simulate`'s (`simulated`).
pub fn orders_of(
    ledger: &Ledger,
    tids: &[u64],
    simulated: bool,
) -> Result<HashMap<u64, Vec<Known>>, LedgerError> {
    let path = &ledger.path;
    let mut find = ledger
        .conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM orders WHERE order_no = ?1 AND sim = ?2"
        ))
        .map_err(|e| sql(path, e))?;
    let mut found: HashMap<u64, Vec<Known>> = HashMap::new();
    let mut text = String::with_capacity(20);
    for &tid in tids {
        use std::fmt::Write as _;
        text.clear();
        let _ = write!(text, "{tid}");
        let rows = find
            .query_map(params![text, simulated], known)
            .map_err(|e| sql(path, e))?;
        for row in rows {
            found
                .entry(tid)
                .or_default()
                .push(row.map_err(|e| sql(path, e))?);
        }
    }
    Ok(found)
}

/// The orders (of this kind) last answered (delivered or rejected) between `from` and
/// `to` (Beijing-time stamps), with their order numbers: those the platform should
/// have seen modified then. Found through the outcomes answered since `from` (the
/// outcomes are appended in time: the first is found by bisection), so the cost follows
/// the window, not the ledger's age.
pub fn answered_between(
    ledger: &Ledger,
    simulated: bool,
    from: &str,
    to: &str,
    visit: &mut dyn FnMut(String, Known),
) -> Result<(), LedgerError> {
    let path = &ledger.path;
    let first = first_outcome_since(ledger, from)?;
    // CROSS JOIN: the outcomes since `first` lead (a rowid range), each order looked
    // up by its id — never a scan of every order.
    let mut statement = ledger
        .conn
        .prepare(
            "SELECT DISTINCT o.id, o.req_id, coalesce(o.sub_order_no, ''), o.state, o.error_code,
                    o.updated_at, o.order_no
             FROM outcomes c CROSS JOIN orders o ON o.id = c.order_id
             WHERE c.id >= ?1 AND o.sim = ?4 AND (o.state = 'delivered' OR o.state = 'rejected')
               AND o.updated_at >= ?2 AND o.updated_at <= ?3",
        )
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(params![first, from, to, simulated], |row| {
            Ok((row.get::<_, String>(6)?, known(row)?))
        })
        .map_err(|e| sql(path, e))?;
    for row in rows {
        let (order_no, known) = row.map_err(|e| sql(path, e))?;
        visit(order_no, known);
    }
    Ok(())
}

/// The id of the first outcome finished at or after `since`, by bisection over the
/// ids (outcomes are appended as they are answered); past the last when none is.
fn first_outcome_since(ledger: &Ledger, since: &str) -> Result<i64, LedgerError> {
    let path = &ledger.path;
    let (mut low, mut high): (i64, i64) = ledger
        .conn
        .query_row(
            "SELECT coalesce(min(id), 1), coalesce(max(id), 0) + 1 FROM outcomes",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(|e| sql(path, e))?;
    let mut at = ledger
        .conn
        .prepare_cached("SELECT finished_at FROM outcomes WHERE id >= ?1 ORDER BY id LIMIT 1")
        .map_err(|e| sql(path, e))?;
    while low < high {
        let middle = low + (high - low) / 2;
        let finished: Option<String> = at
            .query_row(params![middle], |row| row.get(0))
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })
            .map_err(|e| sql(path, e))?;
        match finished {
            Some(finished) if finished.as_str() < since => low = middle + 1,
            _ => high = middle,
        }
    }
    Ok(low)
}

/// An order that needs attention and falls due soon (its deadline from `reconcile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueOrder {
    pub req_id: String,
    pub order_no: String,
    pub state: OrderState,
    pub deadline: String,
}

/// The orders (of this kind) that still need something — pending, failed or
/// rejected — whose deadline is at or before `until` (a Beijing-time stamp): how many,
/// and the `limit` soonest. Through the open orders' index.
pub fn due_by(
    ledger: &Ledger,
    simulated: bool,
    until: &str,
    limit: usize,
) -> Result<(u64, Vec<DueOrder>), LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare(&format!(
            "SELECT req_id, order_no, state, deadline FROM orders
             WHERE {} AND sim = ?1 AND deadline IS NOT NULL AND deadline <= ?2
             ORDER BY deadline, id",
            super::schema::OPEN_ORDERS
        ))
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(params![simulated, until], |row| {
            let state: String = row.get(2)?;
            Ok(DueOrder {
                req_id: row.get(0)?,
                order_no: row.get(1)?,
                state: state.parse().unwrap_or(OrderState::Pending),
                deadline: row.get(3)?,
            })
        })
        .map_err(|e| sql(path, e))?;
    let (mut count, mut soonest) = (0, Vec::new());
    for row in rows {
        let row = row.map_err(|e| sql(path, e))?;
        count += 1;
        if soonest.len() < limit {
            soonest.push(row);
        }
    }
    Ok((count, soonest))
}

/// Stores each order's deadline (`timeout_action_time`, Beijing time) and adds `calls`
/// to `day`'s count, in one transaction.
pub fn store(
    ledger: &Ledger,
    deadlines: &[(i64, chrono::NaiveDateTime)],
    day: &str,
    calls: u64,
) -> Result<(), LedgerError> {
    use chrono::TimeZone as _;
    let path = &ledger.path;
    let tx = ledger
        .conn
        .unchecked_transaction()
        .map_err(|e| sql(path, e))?;
    {
        let mut set = tx
            .prepare_cached("UPDATE orders SET deadline = ?2 WHERE id = ?1 AND deadline IS NOT ?2")
            .map_err(|e| sql(path, e))?;
        for (id, deadline) in deadlines {
            let Some(at) = crate::clock::beijing()
                .from_local_datetime(deadline)
                .single()
            else {
                continue;
            };
            let stamp = crate::clock::stamp(at.with_timezone(&chrono::Utc));
            set.execute(params![id, stamp]).map_err(|e| sql(path, e))?;
        }
        if calls > 0 {
            tx.execute(
                "INSERT INTO calls_per_day (day, calls) VALUES (?1, ?2)
                 ON CONFLICT (day) DO UPDATE SET calls = calls + excluded.calls",
                params![day, calls as i64],
            )
            .map_err(|e| sql(path, e))?;
        }
    }
    tx.commit().map_err(|e| sql(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::tests::{entry, recording};
    use crate::ledger::store::Store as _;
    use crate::ledger::{Access, Settled};

    #[test]
    fn orders_are_found_by_trade_and_deadlines_stored() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, mut recording) = recording(dir.path());
        let delivered = entry("d1", Settled::Delivered, "r1");
        let tid = delivered.order_no;
        recording.write(&[], &[delivered], &[]).expect("write");
        drop(recording);
        let ledger = Ledger::open(&path, Access::Write).expect("open");
        let found = orders_of(&ledger, &[tid, 1], false).expect("found");
        assert_eq!(found[&tid][0].req_id, "d1");
        assert_eq!(found[&tid][0].state, OrderState::Delivered);
        assert!(!found.contains_key(&1));
        let mut answered = Vec::new();
        answered_between(
            &ledger,
            false,
            "2000-01-01",
            "9999-12-31",
            &mut |order_no, k| {
                assert_eq!(order_no, tid.to_string());
                answered.push(k.req_id)
            },
        )
        .expect("answered");
        assert_eq!(answered, ["d1"]);
        let id = found[&tid][0].id;
        let due = chrono::NaiveDate::from_ymd_opt(2026, 12, 8)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("time");
        store(&ledger, &[(id, due)], "2026-12-07", 9).expect("store");
        // Nothing answered after the window's start: the bisection finds none.
        let mut later = 0;
        answered_between(&ledger, false, "2099-01-01", "2099-12-31", &mut |_, _| {
            later += 1
        })
        .expect("answered");
        assert_eq!(later, 0);
        store(&ledger, &[], "2026-12-07", 1).expect("store");
        assert_eq!(ledger.calls_on("2026-12-07").expect("calls"), 10);
        let story = ledger.story("d1").expect("story");
        assert_eq!(
            story[0].order.deadline.as_deref(),
            Some("2026-12-08T10:00:00.000+08:00")
        );
    }
}
