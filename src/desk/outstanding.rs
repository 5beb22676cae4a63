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

/// The orders the worklist's page lists (all that match go into its workbook).
pub const WORKLIST_SHOWN: usize = 200;

/// Which outstanding orders a visitor asks for (`/outstanding?status=&code=&due=&q=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkFilter {
    /// `rejected` or `failed`.
    pub status: Option<Status>,
    /// The error code (or sub_code), exactly.
    pub code: Option<String>,
    /// Only those whose platform deadline falls within a day (or has passed).
    pub due: bool,
    /// Part of the req_id or the order number.
    pub q: Option<String>,
}

impl WorkFilter {
    /// The filter of a query; `None` for one that is not a filter.
    pub fn of(query: &std::collections::HashMap<String, String>) -> Option<WorkFilter> {
        let get = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let plain = |text: &str, max: usize| {
            (text.chars().count() <= max && !text.chars().any(char::is_control))
                .then(|| text.to_owned())
        };
        Some(WorkFilter {
            status: match get("status") {
                None => None,
                Some("rejected") => Some(Status::Rejected),
                Some("failed") => Some(Status::Failed),
                Some(_) => return None,
            },
            code: match get("code") {
                Some(code) => Some(plain(code, 64)?),
                None => None,
            },
            due: get("due") == Some("1"),
            q: match get("q") {
                Some(q) => Some(plain(q, 64)?),
                None => None,
            },
        })
    }

    /// Whether `order` is one the filter keeps (`due_by`: a Beijing-time stamp a day ahead).
    pub fn keeps(&self, order: &Outstanding, due_by: &str) -> bool {
        let row = &order.row;
        self.status.is_none_or(|s| row.status == s)
            && self
                .code
                .as_deref()
                .is_none_or(|c| row.error_code == c || row.sub_code == c)
            && (!self.due || order.deadline.as_deref().is_some_and(|d| d <= due_by))
            && self
                .q
                .as_deref()
                .is_none_or(|q| row.fields.req_id.contains(q) || row.fields.order_no.contains(q))
    }

    /// The query that asks for this filter again (for the download's link).
    pub fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(code) = &self.code {
            pairs.push(("code", code.clone()));
        }
        if self.due {
            pairs.push(("due", "1".into()));
        }
        if let Some(q) = &self.q {
            pairs.push(("q", q.clone()));
        }
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }
}

/// The outstanding orders of the desk's ledger (with the result files' rows for those
/// the ledger has no payload of).
pub fn of_desk(desk: &super::state::Desk) -> Result<Vec<Outstanding>, String> {
    let runs = desk.runs.list();
    list(&desk.config.ledger, &runs, desk.config.template.simulate).map_err(|e| e.to_string())
}

/// The orders `filter` keeps, now.
pub fn filtered(orders: Vec<Outstanding>, filter: &WorkFilter) -> Vec<Outstanding> {
    let due_by = crate::clock::stamp(chrono::Utc::now() + chrono::TimeDelta::days(1));
    orders
        .into_iter()
        .filter(|o| filter.keeps(o, &due_by))
        .collect()
}

impl From<&Outstanding> for Shown {
    fn from(order: &Outstanding) -> Shown {
        Shown {
            row: order.row.clone(),
            source: order.source.clone(),
            changed: Vec::new(),
            now: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(req_id: &str, status: Status, code: &str, deadline: Option<&str>) -> Outstanding {
        let fields = RowText {
            req_id: req_id.into(),
            order_no: "4000000000000000002".into(),
            ..RowText::default()
        };
        let mut row = ResultRow::new(fields, status, 0, 0);
        row.error_code = code.into();
        Outstanding {
            row,
            source: String::new(),
            complete: true,
            deadline: deadline.map(str::to_owned),
        }
    }

    #[test]
    fn a_filter_keeps_what_it_names() {
        let query = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<std::collections::HashMap<_, _>>()
        };
        let filter = WorkFilter::of(&query(&[
            ("status", "rejected"),
            ("code", "B0107"),
            ("due", "1"),
        ]))
        .expect("a filter");
        let due_by = "2026-12-08T12:00:00.000+08:00";
        assert!(filter.keeps(
            &order(
                "N2",
                Status::Rejected,
                "B0107",
                Some("2026-12-08T10:00:00.000+08:00")
            ),
            due_by
        ));
        assert!(!filter.keeps(
            &order(
                "N2",
                Status::Rejected,
                "B0107",
                Some("2026-12-09T10:00:00.000+08:00")
            ),
            due_by
        ));
        assert!(!filter.keeps(&order("N2", Status::Failed, "B0107", None), due_by));
        assert_eq!(filter.query(), "status=rejected&code=B0107&due=1");
        assert!(WorkFilter::of(&query(&[("status", "delivered")])).is_none());
        let search = WorkFilter::of(&query(&[("q", "0000002")])).expect("search");
        assert!(search.keeps(&order("X", Status::Failed, "", None), due_by));
    }
}
