//! The orders finance works from: those whose latest ledger state is rejected or
//! failed (so not delivered since), whatever night they came from, each with the
//! newest result row the results directory holds for it — the order's contents, which
//! the ledger does not keep — so the export is ready to correct and submit.

use std::collections::HashMap;
use std::path::Path;

use super::runs::{Run, Shown};
use crate::columns::RowText;
use crate::ledger::{LedgerError, Settled, states};
use crate::results::ResultRow;
use crate::results::table::TableReader;
use crate::status::Status;

/// One outstanding order: its newest result row, or (when no result file has it) a
/// row made of what the ledger knows.
#[derive(Debug, Clone)]
pub struct Outstanding {
    pub row: ResultRow,
    pub source: String,
    /// Whether a result file had the order's contents.
    pub complete: bool,
}

/// The outstanding orders of `ledger`, in ledger order; `simulated` also counts lines
/// of `--simulate` runs (a desk run with `--simulate`).
pub fn list(ledger: &Path, runs: &[Run], simulated: bool) -> Result<Vec<Outstanding>, LedgerError> {
    let mut open: Vec<Outstanding> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    if ledger.exists() {
        states::for_each_latest(ledger, |state| {
            if state.simulated && !simulated {
                return;
            }
            let status = match state.status {
                Settled::Delivered => return,
                Settled::Rejected => Status::Rejected,
                Settled::Failed => Status::Failed,
            };
            let fields = RowText {
                req_id: state.req_id.clone(),
                ..RowText::default()
            };
            let mut row = ResultRow::new(fields, status, 0, 0);
            row.error_code = state.error_code;
            row.sub_code = state.sub_code;
            at.insert(state.req_id, open.len());
            open.push(Outstanding {
                row,
                source: String::new(),
                complete: false,
            });
        })?;
    }
    // Newest run first: the first row found for an order is its newest.
    for run in runs {
        if at.is_empty() {
            break;
        }
        let Ok(mut table) = TableReader::open(&run.path) else {
            continue;
        };
        while let Ok(Some(row)) = table.next_row() {
            if row.status.needs_attention()
                && let Some(index) = at.remove(&row.fields.req_id)
            {
                let source = super::runs::label_of(table.source(&row)).to_owned();
                let entry = &mut open[index];
                let (error_code, sub_code) =
                    (entry.row.error_code.clone(), entry.row.sub_code.clone());
                entry.row = ResultRow {
                    error_code,
                    sub_code,
                    status: entry.row.status,
                    ..row
                };
                entry.source = source;
                entry.complete = true;
            }
        }
    }
    Ok(open)
}

impl From<&Outstanding> for Shown {
    fn from(order: &Outstanding) -> Shown {
        Shown {
            row: order.row.clone(),
            source: order.source.clone(),
        }
    }
}
