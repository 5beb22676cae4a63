//! Every sub-order of the walk in its bucket against the ledger (a few thousand trades
//! looked up at a time, each trade freed once its rows are made), the deadlines to
//! store, and the ledger's orders the platform did not show; sorted what needs us
//! first, soonest due first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDateTime;

use super::bucket::{self, Bucket, Platform};
use super::{ReconcileConfig, Row, from_beijing, walk};
use crate::ledger::reconcile::Known;
use crate::ledger::{Ledger, LedgerError, OrderState};

/// The rows and deadlines of the walk.
pub(super) struct Sorted {
    pub rows: Vec<Row>,
    pub deadlines: Vec<(i64, NaiveDateTime)>,
    pub not_ours: u64,
    pub other_items: u64,
}

/// Puts every sub-order of `trades` in its bucket against the ledger, taking the
/// trades in (each freed once its rows are made), and the ledger's orders the
/// platform did not show; sorted what needs us first, soonest due first.
pub(super) fn sort(
    config: &ReconcileConfig,
    ledger: &Ledger,
    trades: HashMap<u64, walk::Kept>,
    now: NaiveDateTime,
) -> Result<Sorted, LedgerError> {
    /// Trades looked up in the ledger at once: the ledger's side of a few thousand
    /// trades is held, never of all of them.
    const CHUNK: usize = 4096;
    let due_by =
        now + chrono::TimeDelta::from_std(config.due_within).unwrap_or(chrono::TimeDelta::MAX);
    let items: HashSet<u64> = config.items.iter().copied().collect();
    // By tid, for the ledger's index; a vector instead of the table (half the room).
    let mut trades: Vec<(u64, walk::Kept)> = trades.into_iter().collect();
    trades.sort_unstable_by_key(|(tid, _)| *tid);
    let tids: Vec<u64> = trades.iter().map(|(tid, _)| *tid).collect();
    let simulated = matches!(config.connection.mode, crate::send::Mode::Simulate { .. });
    let mut sorted = Sorted {
        rows: Vec::with_capacity(trades.len()),
        deadlines: Vec::new(),
        not_ours: 0,
        other_items: 0,
    };
    let looking = std::time::Instant::now();
    let mut trades = trades.into_iter();
    for chunk in tids.chunks(CHUNK) {
        let known = crate::ledger::reconcile::orders_of(ledger, chunk, simulated)?;
        for (tid, trade) in trades.by_ref().take(chunk.len()) {
            let orders = known.get(&tid).map(Vec::as_slice).unwrap_or(&[]);
            for sub in trade.orders.iter() {
                if !items.is_empty() && sub.num_iid.is_some_and(|n| !items.contains(&n)) {
                    sorted.other_items += 1;
                    continue;
                }
                let status = sub.status.as_ref().unwrap_or(&trade.status);
                let platform = Platform::of(status, &sub.refund_status);
                let matched = matching(orders, sub.oid);
                let state = bucket::ledger_state(matched.iter().map(|k| k.state));
                let Some(bucket) = bucket::of(platform, state) else {
                    sorted.not_ours += 1;
                    continue;
                };
                if let Some(deadline) = sub.deadline {
                    sorted
                        .deadlines
                        .extend(matched.iter().map(|k| (k.id, deadline)));
                }
                let closed_by_person = state == Some(OrderState::Closed);
                sorted.rows.push(Row {
                    bucket,
                    due: bucket.needs_us()
                        && !closed_by_person
                        && sub.deadline.is_none_or(|d| d <= due_by),
                    closed_by_person,
                    ledger_state: state,
                    tid,
                    oid: Some(sub.oid),
                    num_iid: sub.num_iid,
                    deadline: sub.deadline,
                    platform_status: Arc::clone(status),
                    refund_status: Arc::clone(&sub.refund_status),
                    req_ids: req_ids(&matched),
                    error_code: latest(&matched),
                });
            }
        }
    }
    tracing::info!(trades = tids.len(), took = ?looking.elapsed(), "put the trades in their buckets against the ledger");
    let scanning = std::time::Instant::now();
    // The ledger's side of a window that ends now ends now: the last window covered
    // the rest.
    let answered_by = config.to.unwrap_or(now);
    unknown(
        ledger,
        simulated,
        config.from,
        answered_by,
        &tids,
        &mut sorted.rows,
    )?;
    tracing::info!(took = ?scanning.elapsed(), "found the ledger's orders the platform did not show");
    sorted.rows.sort_unstable_by(|a, b| {
        (a.bucket, a.deadline.is_none(), a.deadline, a.tid, a.oid).cmp(&(
            b.bucket,
            b.deadline.is_none(),
            b.deadline,
            b.tid,
            b.oid,
        ))
    });
    Ok(sorted)
}

/// The ledger's orders of a sub-order: those naming it, else (exports without
/// sub-order numbers) those of its trade that name none.
fn matching(orders: &[Known], oid: u64) -> Vec<&Known> {
    let named: Vec<&Known> = orders
        .iter()
        .filter(|k| k.sub_order_no.parse::<u64>() == Ok(oid))
        .collect();
    if !named.is_empty() {
        return named;
    }
    orders
        .iter()
        .filter(|k| k.sub_order_no.is_empty())
        .collect()
}

fn req_ids(orders: &[&Known]) -> Box<str> {
    match orders {
        [] => Box::from(""),
        [one] => Box::from(one.req_id.as_str()),
        _ => {
            let ids: Vec<&str> = orders.iter().map(|k| k.req_id.as_str()).collect();
            ids.join(" ").into_boxed_str()
        }
    }
}

/// The error code of the order answered last.
fn latest(orders: &[&Known]) -> Box<str> {
    orders
        .iter()
        .max_by(|a, b| a.updated_at.cmp(&b.updated_at))
        .map_or_else(|| Box::from(""), |k| Box::from(k.error_code.as_str()))
}

/// The ledger's orders answered within the window whose trade the platform did not
/// show (`tids`, sorted, are the trades it showed).
fn unknown(
    ledger: &Ledger,
    simulated: bool,
    from: NaiveDateTime,
    to: NaiveDateTime,
    tids: &[u64],
    rows: &mut Vec<Row>,
) -> Result<(), LedgerError> {
    let mut by_trade: HashMap<(u64, String), Vec<Known>> = HashMap::new();
    crate::ledger::reconcile::answered_between(
        ledger,
        simulated,
        &crate::clock::stamp(from_beijing(from)),
        &crate::clock::stamp(from_beijing(to)),
        &mut |order_no, known| {
            let Ok(tid) = order_no.trim().parse::<u64>() else {
                return;
            };
            if tids.binary_search(&tid).is_err() {
                by_trade
                    .entry((tid, known.sub_order_no.clone()))
                    .or_default()
                    .push(known);
            }
        },
    )?;
    let nothing: Arc<str> = Arc::from("");
    for ((tid, sub), orders) in by_trade {
        let matched: Vec<&Known> = orders.iter().collect();
        rows.push(Row {
            bucket: Bucket::UnknownToPlatform,
            due: false,
            closed_by_person: false,
            ledger_state: bucket::ledger_state(orders.iter().map(|k| k.state)),
            tid,
            oid: sub.parse().ok(),
            num_iid: None,
            deadline: None,
            platform_status: Arc::clone(&nothing),
            refund_status: Arc::clone(&nothing),
            req_ids: req_ids(&matched),
            error_code: latest(&matched),
        });
    }
    Ok(())
}
