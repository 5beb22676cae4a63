//! The orders a run sends again from the ledger, even when tonight's export no longer
//! holds them: `failed` ones (attempts ran out) within `--resend-failed-days` of their
//! first failure, and `pending` ones (a run died before their answer) within as many
//! days of being planned — each from the `param0` it was last sent with.

use rusqlite::params;

use super::db::sql;
use super::{Ledger, LedgerError, OrderState, ReqKey};

/// An order to send again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resend {
    pub id: i64,
    pub key: ReqKey,
    pub req_id: String,
    pub param0: String,
    pub payload_md5: [u8; 16],
    pub state: OrderState,
}

/// The orders of this kind (real, or `--simulate`'s) to send again: failed or pending
/// since `since` (a Beijing-time stamp), with a stored `param0`, oldest first.
pub fn candidates(
    ledger: &Ledger,
    simulated: bool,
    since: &str,
) -> Result<Vec<Resend>, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare(&candidates_sql())
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(params![simulated, since], |row| {
            let key: Vec<u8> = row.get(1)?;
            let md5: Vec<u8> = row.get(4)?;
            let state: String = row.get(5)?;
            Ok(Resend {
                id: row.get(0)?,
                key: ReqKey::from_bytes(&key.as_slice().try_into().unwrap_or([0; 16])),
                req_id: row.get(2)?,
                param0: row.get(3)?,
                payload_md5: md5.as_slice().try_into().unwrap_or([0; 16]),
                state: state.parse().unwrap_or(OrderState::Failed),
            })
        })
        .map_err(|e| sql(path, e))?;
    rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))
}

/// Every order a run sends again: the candidates of the last `days` days (none without
/// `days`), then those `named` (a reconcile's `retry_due`) not among them.
pub fn to_send(
    ledger: &Ledger,
    simulated: bool,
    days: Option<u32>,
    named_ids: Option<&[String]>,
) -> Result<Vec<Resend>, LedgerError> {
    let mut orders = match days {
        Some(days) => candidates(ledger, simulated, &since(days))?,
        None => Vec::new(),
    };
    if let Some(req_ids) = named_ids {
        let known: std::collections::HashSet<i64> = orders.iter().map(|c| c.id).collect();
        orders.extend(
            named(ledger, simulated, req_ids)?
                .into_iter()
                .filter(|c| !known.contains(&c.id)),
        );
    }
    Ok(orders)
}

/// The orders of this kind among `req_ids` that are failed or pending with a stored
/// `param0` (a reconcile's `retry_due`), whatever their age, in `req_ids`' order.
pub fn named(
    ledger: &Ledger,
    simulated: bool,
    req_ids: &[String],
) -> Result<Vec<Resend>, LedgerError> {
    let path = &ledger.path;
    let mut find = ledger
        .conn
        .prepare_cached(
            "SELECT o.id, o.key, o.req_id, o.param0, o.payload_md5, o.state
             FROM order_keys k JOIN orders o ON o.id = k.id
             WHERE k.near = ?1 AND k.key = ?2 AND k.sim = ?3
               AND (o.state = 'failed' OR o.state = 'pending') AND o.param0 IS NOT NULL",
        )
        .map_err(|e| sql(path, e))?;
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for req_id in req_ids {
        if !seen.insert(req_id.as_str()) {
            continue;
        }
        let key = ReqKey::of(req_id);
        let row = find
            .query_row(
                params![
                    super::key::neighbourhood(req_id),
                    key.to_bytes().as_slice(),
                    simulated
                ],
                |row| {
                    let md5: Vec<u8> = row.get(4)?;
                    let state: String = row.get(5)?;
                    Ok(Resend {
                        id: row.get(0)?,
                        key,
                        req_id: row.get(2)?,
                        param0: row.get(3)?,
                        payload_md5: md5.as_slice().try_into().unwrap_or([0; 16]),
                        state: state.parse().unwrap_or(OrderState::Failed),
                    })
                },
            )
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })
            .map_err(|e| sql(path, e))?;
        // The key is a hash: the stored req_id must be the one named.
        if let Some(resend) = row.filter(|r| r.req_id == *req_id) {
            found.push(resend);
        }
    }
    Ok(found)
}

/// The stamp `days` days before now, Beijing time (the window's start).
pub fn since(days: u32) -> String {
    crate::clock::stamp(chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
}

/// The query of `candidates`: through the partial index of open orders, never the
/// whole table.
fn candidates_sql() -> String {
    format!(
        "SELECT id, key, req_id, param0, payload_md5, state FROM orders
         WHERE {} AND state IN ('failed', 'pending') AND sim = ?1 AND param0 IS NOT NULL
           AND coalesce(first_failed_at, updated_at) >= ?2
         ORDER BY id",
        super::schema::OPEN_ORDERS
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::tests::{entry, recording};
    use crate::ledger::{Access, Settled};

    #[test]
    fn failed_orders_within_the_window_come_back_with_their_payload() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, mut recording) = recording(dir.path());
        let mut failed = entry("f1", Settled::Failed, "r1");
        failed.finished_at = crate::clock::now_stamp();
        let mut old = entry("f2", Settled::Failed, "r1");
        old.finished_at = "2020-01-01T00:00:00.000+08:00".into();
        let mut delivered = entry("d1", Settled::Delivered, "r1");
        delivered.finished_at = crate::clock::now_stamp();
        recording
            .append(&[failed, old, delivered], &[])
            .expect("append");
        drop(recording);
        let ledger = Ledger::open(&path, Access::Read).expect("ledger");
        let found = candidates(&ledger, false, &since(7)).expect("candidates");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].req_id, "f1");
        assert_eq!(found[0].param0, "{\"req_id\":\"f1\"}");
        assert!(
            candidates(&ledger, true, &since(7))
                .expect("sim")
                .is_empty()
        );
    }

    #[test]
    fn the_candidates_come_through_the_index_of_open_orders() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, _recording) = recording(dir.path());
        let ledger = Ledger::open(&path, Access::Read).expect("ledger");
        let plan: Vec<String> = ledger
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", candidates_sql()))
            .expect("plan")
            .query_map(params![false, "x"], |row| row.get(3))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(
            plan.iter().any(|step| step.contains("orders_open")),
            "{plan:?}"
        );
    }
}
