//! The rows an import writes: an outcome per line, and the order's row with its
//! latest line; many to a statement, and — into a fresh ledger — built on a thread of
//! their own while SQLite writes the previous ones.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::Path;

use rusqlite::types::Value;

use super::Imported;
use crate::ledger::key::PassThrough;
use crate::ledger::legacy::{col, scan};
use crate::ledger::{LedgerError, OrderState, ReqKey};

/// Each order of the file: its place (its first line, for its id) and its latest line.
pub(super) type Places = HashMap<ReqKey, (u32, u64), BuildHasherDefault<PassThrough>>;

/// A line's rows: its outcome, and its order's when it is the order's latest line.
pub(super) struct LineRows {
    pub order: Option<[Value; 14]>,
    pub outcome: [Value; 9],
}

/// The rows of `line`, its order's id `id`.
pub(super) fn of_line(line: &scan::Line<'_>, id: i64, with_order: bool) -> LineRows {
    let field = |at: usize| String::from_utf8_lossy(line.fields()[at]).into_owned();
    let (run_id, finished_at) = (field(col::RUN_ID), field(col::FINISHED_AT));
    let order = with_order.then(|| {
        let state = OrderState::from(line.status);
        let sub_order_no = field(col::SUB_ORDER_NO);
        let first_failed = (state == OrderState::Failed).then(|| finished_at.clone());
        [
            Value::Integer(id),
            Value::Blob(ReqKey::of(line.req_id).to_bytes().to_vec()),
            Value::Integer(i64::from(line.simulated())),
            Value::Text(line.req_id.to_owned()),
            Value::Text(field(col::ORDER_NO)),
            if sub_order_no.is_empty() {
                Value::Null
            } else {
                Value::Text(sub_order_no)
            },
            Value::Blob(line.payload_md5.to_vec()),
            Value::Text(state.as_str().to_owned()),
            Value::Text(finished_at.clone()),
            first_failed.map_or(Value::Null, Value::Text),
            Value::Text(run_id.clone()),
            Value::Text(field(col::ERROR_CODE)),
            Value::Text(field(col::SUB_CODE)),
            Value::Integer(crate::ledger::key::neighbourhood(line.req_id)),
        ]
    });
    LineRows {
        order,
        outcome: [
            Value::Integer(id),
            Value::Text(run_id),
            Value::Text(line.status.as_str().to_owned()),
            Value::Text(field(col::ERROR_CODE)),
            Value::Text(field(col::SUB_CODE)),
            Value::Text(field(col::TOP_REQUEST_ID)),
            Value::Integer(field(col::ATTEMPTS).parse::<i64>().unwrap_or(0)),
            Value::Text(finished_at),
            Value::Blob(line.payload_md5.to_vec()),
        ],
    }
}

/// Lines per message from the thread that reads to the one that writes.
const CHUNK: usize = 1024;

/// The second pass into a fresh ledger: no order there, so every line's id is its
/// order's place; the lines are read and turned into rows on a thread of their own.
pub(super) fn fill_fresh(
    tx: &rusqlite::Connection,
    ledger: &Path,
    csv: &Path,
    orders: &Places,
    base: i64,
    done: &mut Imported,
) -> Result<(), LedgerError> {
    let failed = |error: rusqlite::Error| crate::ledger::db::sql(ledger, error);
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<LineRows>>(8);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            let walked = scan::walk(csv, |line| {
                let Some(&(place, latest)) = orders.get(&line.key()) else {
                    return;
                };
                let id = base + i64::from(place) + 1;
                chunk.push(of_line(&line, id, line.number == latest));
                if chunk.len() == CHUNK {
                    // A writer that stopped has its own error to tell.
                    let _ = send.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
                }
            });
            let _ = send.send(chunk);
            walked
        });
        let mut writer = Writer::new(tx, GROUP).map_err(failed)?;
        let mut written = || -> rusqlite::Result<()> {
            for chunk in receive.iter() {
                for rows in chunk {
                    if let Some(order) = rows.order {
                        done.orders += writer.order(order)?;
                    }
                    writer.outcome(rows.outcome)?;
                    done.outcomes += 1;
                }
            }
            done.orders += writer.flush()?;
            Ok(())
        };
        let wrote = written().map_err(failed);
        drop(receive);
        let walked = reader.join().map_err(|_| LedgerError::Sql {
            path: ledger.display().to_string(),
            error: "the import's reader failed".into(),
        })?;
        walked?;
        wrote
    })
}

/// Rows per statement when a fresh ledger is filled: far fewer statements to run.
const GROUP: usize = 64;

const ORDER_COLUMNS: &str = "INSERT INTO orders (id, key, sim, req_id, order_no, sub_order_no, payload_md5, state, updated_at, first_failed_at, last_run, error_code, sub_code, near) VALUES ";
const OUTCOME_COLUMNS: &str = "INSERT INTO outcomes (order_id, run_id, status, error_code, sub_code, top_request_id, attempts, finished_at, payload_md5) VALUES ";

/// The import's inserts, `group` rows to a statement (1: each row at once).
pub(super) struct Writer<'c> {
    orders: Vec<[Value; 14]>,
    outcomes: Vec<[Value; 9]>,
    insert_orders: rusqlite::CachedStatement<'c>,
    insert_outcomes: rusqlite::CachedStatement<'c>,
    conn: &'c rusqlite::Connection,
    group: usize,
}

impl<'c> Writer<'c> {
    pub(super) fn new(conn: &'c rusqlite::Connection, group: usize) -> rusqlite::Result<Self> {
        Ok(Writer {
            orders: Vec::with_capacity(group),
            outcomes: Vec::with_capacity(group),
            insert_orders: conn.prepare_cached(&Self::sql(ORDER_COLUMNS, 14, group))?,
            insert_outcomes: conn.prepare_cached(&Self::sql(OUTCOME_COLUMNS, 9, group))?,
            conn,
            group,
        })
    }

    /// `rows` tuples of `columns` placeholders.
    fn sql(insert: &str, columns: usize, rows: usize) -> String {
        let tuple = format!("({})", vec!["?"; columns].join(", "));
        format!("{insert}{}", vec![tuple; rows].join(", "))
    }

    /// Adds an order; the orders written so far by this call.
    pub(super) fn order(&mut self, row: [Value; 14]) -> rusqlite::Result<u64> {
        self.orders.push(row);
        if self.orders.len() < self.group {
            return Ok(0);
        }
        let rows = std::mem::take(&mut self.orders);
        let written = self
            .insert_orders
            .execute(rusqlite::params_from_iter(rows.iter().flatten()))?;
        Ok(written as u64)
    }

    /// Adds an outcome (after the outcomes of the orders before it).
    pub(super) fn outcome(&mut self, row: [Value; 9]) -> rusqlite::Result<()> {
        self.outcomes.push(row);
        if self.outcomes.len() >= self.group {
            let rows = std::mem::take(&mut self.outcomes);
            self.insert_outcomes
                .execute(rusqlite::params_from_iter(rows.iter().flatten()))?;
        }
        Ok(())
    }

    /// Writes what is left, a statement of its own size; the orders it wrote.
    pub(super) fn flush(&mut self) -> rusqlite::Result<u64> {
        let mut written = 0;
        if !self.orders.is_empty() {
            let rows = std::mem::take(&mut self.orders);
            let text = Self::sql(ORDER_COLUMNS, 14, rows.len());
            written = self
                .conn
                .execute(&text, rusqlite::params_from_iter(rows.iter().flatten()))?
                as u64;
        }
        if !self.outcomes.is_empty() {
            let rows = std::mem::take(&mut self.outcomes);
            let text = Self::sql(OUTCOME_COLUMNS, 9, rows.len());
            self.conn
                .execute(&text, rusqlite::params_from_iter(rows.iter().flatten()))?;
        }
        Ok(written)
    }
}
