//! The ledger's orders as rows: each with its state and latest answer, in the order
//! they were first written — for `report LEDGER`, `ledger export`, the desk's
//! outstanding orders — and the counts by state.

use rusqlite::params;

use super::db::sql;
use super::{Ledger, LedgerError, OrderState};

/// One order as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub id: i64,
    pub req_id: String,
    pub order_no: String,
    pub sub_order_no: String,
    pub state: OrderState,
    pub simulated: bool,
    pub param0: Option<String>,
    pub payload_md5: [u8; 16],
    pub updated_at: String,
    pub first_failed_at: Option<String>,
    pub last_run: String,
    pub error_code: String,
    pub error_msg: String,
    pub sub_code: String,
    pub deadline: Option<String>,
    pub closed: Option<Closure>,
}

#[cfg(test)]
impl OrderRow {
    /// An order as tests need one: `req_id` (order 4000000000000000002), in `state`,
    /// last answered with `code` by run `20261207T003000-cron` early on 2026-12-07.
    pub fn example(req_id: &str, state: OrderState, code: &str) -> OrderRow {
        OrderRow {
            id: 1,
            req_id: req_id.into(),
            order_no: "4000000000000000002".into(),
            sub_order_no: String::new(),
            state,
            simulated: false,
            param0: None,
            payload_md5: [0; 16],
            updated_at: "2026-12-07T00:31:02.000+08:00".into(),
            first_failed_at: None,
            last_run: "20261207T003000-cron".into(),
            error_code: code.into(),
            error_msg: String::new(),
            sub_code: String::new(),
            deadline: None,
            closed: None,
        }
    }
}

/// Who closed an order, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub by: String,
    pub at: String,
    pub reason: String,
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Only these states (all when empty).
    pub states: &'a [OrderState],
    /// The orders of `--simulate` runs too.
    pub simulated: bool,
}

pub(super) const COLUMNS: &str = "id, req_id, order_no, coalesce(sub_order_no, ''), state, sim, param0, payload_md5, updated_at, first_failed_at, coalesce(last_run, ''), error_code, error_msg, sub_code, deadline, closed_by, closed_at, closed_reason";

/// An `OrderRow` from a row selected with `COLUMNS`.
pub(super) fn order_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<OrderRow> {
    let state: String = row.get(4)?;
    let md5: Vec<u8> = row.get(7)?;
    let closed_by: Option<String> = row.get(15)?;
    Ok(OrderRow {
        id: row.get(0)?,
        req_id: row.get(1)?,
        order_no: row.get(2)?,
        sub_order_no: row.get(3)?,
        state: state.parse().unwrap_or(OrderState::Pending),
        simulated: row.get(5)?,
        param0: row.get(6)?,
        payload_md5: md5.as_slice().try_into().unwrap_or([0; 16]),
        updated_at: row.get(8)?,
        first_failed_at: row.get(9)?,
        last_run: row.get(10)?,
        error_code: row.get(11)?,
        error_msg: row.get(12)?,
        sub_code: row.get(13)?,
        deadline: row.get(14)?,
        closed: match closed_by {
            Some(by) => Some(Closure {
                by,
                at: row.get::<_, Option<String>>(16)?.unwrap_or_default(),
                reason: row.get::<_, Option<String>>(17)?.unwrap_or_default(),
            }),
            None => None,
        },
    })
}

/// Calls `visit` with every order `filter` keeps, in the order they were first
/// written.
pub fn for_each(
    ledger: &Ledger,
    filter: &Filter<'_>,
    mut visit: impl FnMut(OrderRow),
) -> Result<(), LedgerError> {
    let path = &ledger.path;
    let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
    let wanted = if states.is_empty() {
        String::new()
    } else {
        // Open states only: said as the partial index says it, so it is used.
        let open = filter.states.iter().all(|s| {
            matches!(
                s,
                OrderState::Pending | OrderState::Failed | OrderState::Rejected
            )
        });
        format!(
            "{}AND state IN ({})",
            if open {
                format!("AND {} ", super::schema::OPEN_ORDERS)
            } else {
                String::new()
            },
            states
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let query = format!("SELECT {COLUMNS} FROM orders WHERE (sim = 0 OR ?1) {wanted} ORDER BY id");
    let mut statement = ledger.conn.prepare(&query).map_err(|e| sql(path, e))?;
    let mut rows = statement
        .query(params![filter.simulated])
        .map_err(|e| sql(path, e))?;
    while let Some(row) = rows.next().map_err(|e| sql(path, e))? {
        visit(order_of(row).map_err(|e| sql(path, e))?);
    }
    Ok(())
}

/// How many orders of each state, real and simulated.
pub fn counts(ledger: &Ledger) -> Result<Vec<(OrderState, bool, u64)>, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare("SELECT state, sim, count(*) FROM orders GROUP BY state, sim")
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map([], |row| {
            let state: String = row.get(0)?;
            Ok((
                state.parse().unwrap_or(OrderState::Pending),
                row.get::<_, bool>(1)?,
                row.get::<_, i64>(2)? as u64,
            ))
        })
        .map_err(|e| sql(path, e))?;
    rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))
}

/// The orders whose req_id is `id`, or whose order number is (a trade's sub-orders),
/// real ones first.
pub fn find(ledger: &Ledger, id: &str) -> Result<Vec<OrderRow>, LedgerError> {
    let path = &ledger.path;
    let key = super::ReqKey::of(id).to_bytes();
    let mut statement = ledger
        .conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM orders WHERE id IN (SELECT id FROM order_keys WHERE near = ?3 AND key = ?1) OR order_no = ?2 ORDER BY sim, id"
        ))
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(
            params![key.as_slice(), id.trim(), super::key::neighbourhood(id)],
            order_of,
        )
        .map_err(|e| sql(path, e))?;
    let rows: Vec<OrderRow> = rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))?;
    // The key is a hash: the req_id itself decides.
    Ok(rows
        .into_iter()
        .filter(|o| o.req_id == id || o.order_no == id.trim())
        .collect())
}
