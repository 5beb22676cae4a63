//! The orders finance works from: those the ledger has as rejected or failed (so not
//! delivered since), whatever night they came from, each with its contents — from the
//! `param0` the ledger kept, else (an order imported from a CSV ledger) from the
//! newest result row the results directory holds for it — so the export is ready to
//! correct and submit.

use std::collections::HashMap;
use std::path::Path;

use super::runs::{Run, Shown};
use crate::columns::RowText;
use crate::ledger::orders::Filter;
use crate::ledger::{Access, Ledger, LedgerError, OrderState};
use crate::order::Order;
use crate::results::ResultRow;
use crate::results::table::TableReader;
use crate::status::Status;

/// One outstanding order: its row as finance corrects it.
#[derive(Debug, Clone)]
pub struct Outstanding {
    pub row: ResultRow,
    pub source: String,
    /// Whether the order's contents are known (kept by the ledger, or in a result file).
    pub complete: bool,
    /// The platform's deadline (`reconcile`), Beijing time.
    pub deadline: Option<String>,
}

/// The outstanding orders of `ledger`, in the order they were first written;
/// `simulated` counts the orders of `--simulate` runs (a desk run with `--simulate`).
pub fn list(ledger: &Path, runs: &[Run], simulated: bool) -> Result<Vec<Outstanding>, LedgerError> {
    let mut open: Vec<Outstanding> = Vec::new();
    let mut missing: HashMap<String, usize> = HashMap::new();
    if !ledger.exists() {
        return Ok(open);
    }
    let ledger = Ledger::open(ledger, Access::Read)?;
    let filter = Filter {
        states: &[OrderState::Rejected, OrderState::Failed],
        simulated,
    };
    crate::ledger::orders::for_each(&ledger, &filter, |order| {
        if order.simulated != simulated {
            return;
        }
        let status = match order.state {
            OrderState::Rejected => Status::Rejected,
            _ => Status::Failed,
        };
        let known = order.param0.as_deref().and_then(Order::from_param0);
        let complete = known.is_some();
        let fields = match known {
            Some(known) => RowText::from_order(known),
            None => RowText {
                req_id: order.req_id.clone(),
                order_no: order.order_no.clone(),
                sub_order_no: order.sub_order_no.clone(),
                ..RowText::default()
            },
        };
        let mut row = ResultRow::new(fields, status, 0, 0);
        row.error_code = order.error_code;
        row.error_msg = order.error_msg;
        row.sub_code = order.sub_code;
        if !complete {
            missing.insert(order.req_id.clone(), open.len());
        }
        open.push(Outstanding {
            row,
            source: String::new(),
            complete,
            deadline: order.deadline.clone(),
        });
    })?;
    // Orders whose contents the ledger does not have: the newest result row with them.
    for run in runs {
        if missing.is_empty() {
            break;
        }
        let Ok(mut table) = TableReader::open(&run.path) else {
            continue;
        };
        while let Ok(Some(row)) = table.next_row() {
            if row.status.needs_attention()
                && let Some(index) = missing.remove(&row.fields.req_id)
            {
                let source = super::runs::label_of(table.source(&row)).to_owned();
                let entry = &mut open[index];
                let (error_code, sub_code, error_msg) = (
                    entry.row.error_code.clone(),
                    entry.row.sub_code.clone(),
                    entry.row.error_msg.clone(),
                );
                entry.row = ResultRow {
                    error_code,
                    sub_code,
                    error_msg,
                    status: entry.row.status,
                    ..row
                };
                entry.source = source;
                entry.complete = true;
            }
        }
    }
    // Soonest deadline first; the orders without one after, as they were written.
    open.sort_by(|a, b| {
        (a.deadline.is_none(), &a.deadline).cmp(&(b.deadline.is_none(), &b.deadline))
    });
    Ok(open)
}

impl From<&Outstanding> for Shown {
    fn from(order: &Outstanding) -> Shown {
        Shown {
            row: order.row.clone(),
            source: order.source.clone(),
            changed: Vec::new(),
        }
    }
}
