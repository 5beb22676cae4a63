//! What `reconcile` asks of the ledger: the orders of each platform trade (by
//! `order_no` = tid), the orders answered within a window (to find the ones the
//! platform does not know), and, in one transaction under the run lock, the deadlines
//! the platform gave and the calls reconcile made today.

use std::collections::HashMap;

use rusqlite::params;

use super::db::sql;
use super::{Ledger, LedgerError, OrderState};

/// A real (not simulated) order as reconcile sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub id: i64,
    pub req_id: String,
    pub order_no: String,
    /// Empty when the export had none.
    pub sub_order_no: String,
    pub state: OrderState,
    pub error_code: String,
    pub sub_code: String,
    pub updated_at: String,
}

const COLUMNS: &str =
    "id, req_id, order_no, coalesce(sub_order_no, ''), state, error_code, sub_code, updated_at";

fn known(row: &rusqlite::Row<'_>) -> rusqlite::Result<Known> {
    let state: String = row.get(4)?;
    Ok(Known {
        id: row.get(0)?,
        req_id: row.get(1)?,
        order_no: row.get(2)?,
        sub_order_no: row.get(3)?,
        state: state.parse().unwrap_or(OrderState::Pending),
        error_code: row.get(5)?,
        sub_code: row.get(6)?,
        updated_at: row.get(7)?,
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
/// `to` (Beijing-time stamps): those the platform should have seen modified then.
pub fn answered_between(
    ledger: &Ledger,
    simulated: bool,
    from: &str,
    to: &str,
    visit: &mut dyn FnMut(Known),
) -> Result<(), LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM orders
             WHERE sim = ?3 AND (state = 'delivered' OR state = 'rejected')
               AND updated_at >= ?1 AND updated_at <= ?2"
        ))
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(params![from, to, simulated], known)
        .map_err(|e| sql(path, e))?;
    for row in rows {
        visit(row.map_err(|e| sql(path, e))?);
    }
    Ok(())
}

/// Stores each order's deadline (`timeout_action_time`, as a Beijing-time stamp) and
/// adds `calls` to `day`'s count, in one transaction.
pub fn store(
    ledger: &Ledger,
    deadlines: &[(i64, String)],
    day: &str,
    calls: u64,
) -> Result<(), LedgerError> {
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
            set.execute(params![id, deadline])
                .map_err(|e| sql(path, e))?;
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
        answered_between(&ledger, false, "2000-01-01", "9999-12-31", &mut |k| {
            answered.push(k.req_id)
        })
        .expect("answered");
        assert_eq!(answered, ["d1"]);
        let id = found[&tid][0].id;
        store(
            &ledger,
            &[(id, "2026-12-08T10:00:00+08:00".into())],
            "2026-12-07",
            9,
        )
        .expect("store");
        store(&ledger, &[], "2026-12-07", 1).expect("store");
        assert_eq!(ledger.calls_on("2026-12-07").expect("calls"), 10);
        let story = ledger.story("d1").expect("story");
        assert_eq!(
            story[0].order.deadline.as_deref(),
            Some("2026-12-08T10:00:00+08:00")
        );
    }
}
