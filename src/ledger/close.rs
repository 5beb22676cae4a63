//! Closing orders: a person decides an order will not be sent (refunded, too late, a
//! test), and says why. A closed order is skipped by every run (`skipped_closed`),
//! never resent, never needs attention again. Who, when and why are kept.

use rusqlite::params;

use super::db::sql;
use super::{Ledger, LedgerError, ReqKey};

/// What closing a list of req_ids did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closed {
    pub closed: Vec<String>,
    /// Not in the ledger: nothing to close.
    pub unknown: Vec<String>,
    /// Delivered: the platform has them; nothing to close.
    pub delivered: Vec<String>,
    pub already: Vec<String>,
}

/// Closes the real (not simulated) orders `req_ids`, by `by`, for `reason`, in one
/// transaction.
pub fn close(
    ledger: &Ledger,
    req_ids: &[String],
    by: &str,
    reason: &str,
) -> Result<Closed, LedgerError> {
    let path = &ledger.path;
    let now = crate::clock::now_stamp();
    let tx = ledger
        .conn
        .unchecked_transaction()
        .map_err(|e| sql(path, e))?;
    let mut done = Closed::default();
    {
        let mut find = tx
            .prepare_cached("SELECT o.id, o.state, o.req_id FROM order_keys k JOIN orders o ON o.id = k.id WHERE k.near = ?1 AND k.key = ?2 AND k.sim = 0")
            .map_err(|e| sql(path, e))?;
        let mut update = tx
            .prepare_cached(
                "UPDATE orders SET state = 'closed', closed_by = ?2, closed_at = ?3, closed_reason = ?4, updated_at = ?3 WHERE id = ?1",
            )
            .map_err(|e| sql(path, e))?;
        let mut rekey = tx
            .prepare_cached(
                "UPDATE order_keys SET state = 'closed' WHERE near = ?1 AND key = ?2 AND sim = 0",
            )
            .map_err(|e| sql(path, e))?;
        for req_id in req_ids {
            let found: Option<(i64, String, String)> = find
                .query_row(
                    params![
                        super::key::neighbourhood(req_id),
                        ReqKey::of(req_id).to_bytes().as_slice()
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .map(Some)
                .or_else(|error| match error {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })
                .map_err(|e| sql(path, e))?;
            match found {
                Some((id, state, stored)) if stored == *req_id => match state.as_str() {
                    "closed" => done.already.push(req_id.clone()),
                    "delivered" => done.delivered.push(req_id.clone()),
                    _ => {
                        update
                            .execute(params![id, by, now, reason])
                            .map_err(|e| sql(path, e))?;
                        rekey
                            .execute(params![
                                super::key::neighbourhood(req_id),
                                ReqKey::of(req_id).to_bytes().as_slice()
                            ])
                            .map_err(|e| sql(path, e))?;
                        done.closed.push(req_id.clone());
                    }
                },
                _ => done.unknown.push(req_id.clone()),
            }
        }
    }
    tx.commit().map_err(|e| sql(path, e))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::tests::{entry, recording};
    use crate::ledger::{Access, OrderState, Settled, orders};

    #[test]
    fn rejected_and_failed_orders_close_the_rest_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, mut recording) = recording(dir.path());
        recording
            .append(
                &[
                    entry("rej", Settled::Rejected, "r1"),
                    entry("fail", Settled::Failed, "r1"),
                    entry("ok", Settled::Delivered, "r1"),
                ],
                &[],
            )
            .expect("append");
        drop(recording);
        let ledger = Ledger::open(&path, Access::Write).expect("ledger");
        let ids: Vec<String> = ["rej", "fail", "ok", "nope"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let done = close(&ledger, &ids, "os:ana", "refunded (B0107)").expect("close");
        assert_eq!(done.closed, ["rej", "fail"]);
        assert_eq!(done.delivered, ["ok"]);
        assert_eq!(done.unknown, ["nope"]);
        let again = close(&ledger, &ids[..1], "os:ana", "again").expect("close");
        assert_eq!(again.already, ["rej"]);
        let found = orders::find(&ledger, "rej").expect("find");
        assert_eq!(found[0].state, OrderState::Closed);
        let closure = found[0].closed.clone().expect("closed");
        assert_eq!(
            (closure.by.as_str(), closure.reason.as_str()),
            ("os:ana", "refunded (B0107)")
        );
    }
}
