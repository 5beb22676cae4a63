//! One order's whole story (`ledger show`, the desk's order page): the order as the
//! ledger holds it, every answer of every run with the export row it came from, every
//! export row about it that was not sent, and the closure — in time order.

use rusqlite::params;

use super::db::sql;
use super::orders::{self, OrderRow};
use super::{Ledger, LedgerError};

/// An order and what happened to it.
#[derive(Debug, Clone)]
pub struct Story {
    pub order: OrderRow,
    pub events: Vec<Event>,
}

/// One thing that happened to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Beijing time.
    pub at: String,
    pub run_id: String,
    /// Who or what started the run (`cron`, `desk:NAME`, …), when the ledger knows.
    pub started_by: String,
    /// The export row: the file's name and the row Excel shows.
    pub source: String,
    pub line: Option<u64>,
    pub what: What,
}

/// What the event was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// An answer of the platform (or attempts run out).
    Outcome {
        status: String,
        error_code: String,
        error_msg: String,
        sub_code: String,
        sub_msg: String,
        top_request_id: String,
        attempts: u32,
        payload_md5: String,
    },
    /// The row was in an export but not sent (its status in that run's results).
    Seen { status: String },
}

/// The stories of the orders `id` names: a req_id, or an order number (every
/// sub-order of the trade).
pub fn of(ledger: &Ledger, id: &str) -> Result<Vec<Story>, LedgerError> {
    let path = &ledger.path;
    let mut stories = Vec::new();
    for order in orders::find(ledger, id)? {
        let mut events = Vec::new();
        let mut outcomes = ledger
            .conn
            .prepare_cached(
                "SELECT o.finished_at, o.run_id, coalesce(r.started_by, ''), o.source, o.line, o.status,
                        o.error_code, o.error_msg, o.sub_code, o.sub_msg, o.top_request_id, o.attempts, o.payload_md5
                 FROM outcomes o LEFT JOIN runs r ON r.id = o.run_id
                 WHERE o.order_id = ?1 ORDER BY o.id",
            )
            .map_err(|e| sql(path, e))?;
        let rows = outcomes
            .query_map(params![order.id], |row| {
                let md5: Vec<u8> = row.get(12)?;
                Ok(Event {
                    at: row.get(0)?,
                    run_id: row.get(1)?,
                    started_by: row.get(2)?,
                    source: row.get(3)?,
                    line: row.get::<_, Option<i64>>(4)?.map(|l| l as u64),
                    what: What::Outcome {
                        status: row.get(5)?,
                        error_code: row.get(6)?,
                        error_msg: row.get(7)?,
                        sub_code: row.get(8)?,
                        sub_msg: row.get(9)?,
                        top_request_id: row.get(10)?,
                        attempts: row.get::<_, i64>(11)? as u32,
                        payload_md5: faster_hex::hex_string(&md5),
                    },
                })
            })
            .map_err(|e| sql(path, e))?;
        for event in rows {
            events.push(event.map_err(|e| sql(path, e))?);
        }
        let mut seen = ledger
            .conn
            .prepare_cached(
                "SELECT coalesce(r.started_at, ''), s.run_id, coalesce(r.started_by, ''), s.source, s.line, s.status
                 FROM sightings s LEFT JOIN runs r ON r.id = s.run_id
                 WHERE s.order_id = ?1 ORDER BY s.rowid",
            )
            .map_err(|e| sql(path, e))?;
        let rows = seen
            .query_map(params![order.id], |row| {
                Ok(Event {
                    at: row.get(0)?,
                    run_id: row.get(1)?,
                    started_by: row.get(2)?,
                    source: row.get(3)?,
                    line: Some(row.get::<_, i64>(4)? as u64),
                    what: What::Seen {
                        status: row.get(5)?,
                    },
                })
            })
            .map_err(|e| sql(path, e))?;
        for event in rows {
            events.push(event.map_err(|e| sql(path, e))?);
        }
        events.sort_by(|a, b| a.at.cmp(&b.at));
        stories.push(Story { order, events });
    }
    Ok(stories)
}

/// A story as lines of text, for a terminal (every gateway word made visible).
pub fn render(story: &Story) -> String {
    use std::fmt::Write as _;
    let visible = |text: &str| crate::text::visible(text).into_owned();
    let order = &story.order;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "order {}  req_id {}{}",
        visible(&order.order_no),
        visible(&order.req_id),
        if order.sub_order_no.is_empty() {
            String::new()
        } else {
            format!("  sub-order {}", visible(&order.sub_order_no))
        }
    );
    let _ = writeln!(
        text,
        "  state {}{} since {}{}",
        order.state,
        if order.simulated {
            " (a --simulate run's)"
        } else {
            ""
        },
        order.updated_at,
        if order.error_code.is_empty() || order.state == super::OrderState::Delivered {
            String::new()
        } else {
            format!(
                "  last answer {} {} {}",
                visible(&order.error_code),
                visible(&order.sub_code),
                visible(&order.error_msg)
            )
        }
    );
    if let Some(deadline) = &order.deadline {
        let _ = writeln!(text, "  deadline {deadline}");
    }
    if let Some(closed) = &order.closed {
        let _ = writeln!(
            text,
            "  closed by {} at {}: {}",
            visible(&closed.by),
            closed.at,
            visible(&closed.reason)
        );
    }
    match &order.param0 {
        Some(param0) => {
            let _ = writeln!(text, "  param0 {}", visible(param0));
        }
        None => {
            let _ = writeln!(text, "  param0 not kept (imported from a CSV ledger)");
        }
    }
    for event in &story.events {
        let place = match event.line {
            Some(line) if !event.source.is_empty() => {
                format!("{} row {line}", visible(&event.source))
            }
            _ if event.source.is_empty() => "an imported CSV ledger".to_owned(),
            _ => visible(&event.source),
        };
        let by = if event.started_by.is_empty() {
            String::new()
        } else {
            format!(" by {}", visible(&event.started_by))
        };
        match &event.what {
            What::Outcome {
                status,
                error_code,
                error_msg,
                sub_code,
                top_request_id,
                attempts,
                ..
            } => {
                let _ = writeln!(
                    text,
                    "  {}  {status:<10} {} {} {}  attempts {attempts}  top {}  run {}{by}  from {place}",
                    event.at,
                    visible(error_code),
                    visible(sub_code),
                    visible(error_msg),
                    visible(top_request_id),
                    visible(&event.run_id),
                );
            }
            What::Seen { status } => {
                let _ = writeln!(
                    text,
                    "  {}  {status:<10} (not sent)  run {}{by}  from {place}",
                    event.at,
                    visible(&event.run_id),
                );
            }
        }
    }
    text
}
