//! The orders finance works from: those the ledger has as rejected or failed (so not
//! delivered since), whatever night they came from, each with its contents — from the
//! `param0` the ledger kept, else (an order imported from a CSV ledger) from the
//! newest result row the results directory holds for it — so the export is ready to
//! correct and submit.

use std::collections::HashMap;
use std::path::Path;

use super::runs::{ResultFile, Shown};
use crate::columns::RowText;
use crate::ledger::orders::{Filter, OrderRow};
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
}

/// The outstanding orders a filter matches: how many there are in all, and the
/// matching ones as the ledger holds them, soonest platform deadline first (those
/// without one after, as they were written). Rows are made only of those shown or
/// exported (`rows`): a filter never parses a payload it does not keep.
#[derive(Debug, Default)]
pub struct Worklist {
    pub total: usize,
    pub matching: Vec<OrderRow>,
    /// Failed orders the nightly run will still send again by itself (within its
    /// `--resend-failed-days`, with a stored payload): not listed, counted.
    pub resending: usize,
    /// Each run's inputs by their labels (`a.csv, b.csv`): where an order last came from.
    pub sources: HashMap<String, String>,
}

/// The outstanding orders of `ledger` that `filter` keeps; `simulated`: the orders of
/// `--simulate` runs (a desk run with `--simulate`) instead of the real ones. A failed
/// order first failed at or after `resent_since` (a Beijing-time stamp) with a stored
/// payload is the nightly run's to send again: counted in `resending`, not listed.
pub fn worklist(
    ledger: &Path,
    simulated: bool,
    filter: &WorkFilter,
    resent_since: Option<&str>,
) -> Result<Worklist, LedgerError> {
    let mut list = Worklist::default();
    if !ledger.exists() {
        return Ok(list);
    }
    let ledger = Ledger::open(ledger, Access::Read)?;
    list.sources = crate::ledger::runs::input_names(&ledger)?
        .into_iter()
        .map(|(run, names)| {
            let labels: Vec<&str> = names.iter().map(|n| super::runs::label_of(n)).collect();
            (run, labels.join(", "))
        })
        .collect();
    let states = Filter {
        states: &[OrderState::Rejected, OrderState::Failed],
        simulated,
    };
    let due_by = crate::clock::stamp(chrono::Utc::now() + chrono::TimeDelta::days(1));
    crate::ledger::orders::for_each(&ledger, &states, |order| {
        if order.simulated != simulated {
            return;
        }
        if let Some(since) = resent_since
            && order.state == OrderState::Failed
            && order.param0.is_some()
            && order
                .first_failed_at
                .as_deref()
                .is_some_and(|at| at >= since)
        {
            list.resending += 1;
            return;
        }
        list.total += 1;
        let source = list
            .sources
            .get(&order.last_run)
            .map(String::as_str)
            .unwrap_or_default();
        if filter.keeps(&order, source, &due_by) {
            list.matching.push(order);
        }
    })?;
    list.matching.sort_by(|a, b| {
        (a.deadline.is_none(), &a.deadline).cmp(&(b.deadline.is_none(), &b.deadline))
    });
    Ok(list)
}

/// The status an outstanding order shows.
pub fn status_of(order: &OrderRow) -> Status {
    match order.state {
        OrderState::Rejected => Status::Rejected,
        _ => Status::Failed,
    }
}

/// The rows of `orders`, each with its contents — from the `param0` the ledger kept,
/// else (an order imported from a CSV ledger) from the newest result row in `runs`
/// that has it.
pub fn rows(
    orders: &[OrderRow],
    sources: &HashMap<String, String>,
    runs: &[ResultFile],
) -> Vec<Outstanding> {
    let mut open: Vec<Outstanding> = Vec::with_capacity(orders.len());
    let mut missing: HashMap<&str, usize> = HashMap::new();
    for order in orders {
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
        let mut row = ResultRow::new(fields, status_of(order), 0, 0);
        row.error_code = order.error_code.clone();
        row.error_msg = order.error_msg.clone();
        row.sub_code = order.sub_code.clone();
        if !complete {
            missing.insert(&order.req_id, open.len());
        }
        open.push(Outstanding {
            row,
            source: sources.get(&order.last_run).cloned().unwrap_or_default(),
        });
    }
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
                && let Some(index) = missing.remove(row.fields.req_id.as_str())
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
            }
        }
    }
    open
}

/// The orders the worklist's page lists (all that match go into its workbook).
pub const WORKLIST_SHOWN: usize = 200;

/// Which outstanding orders a visitor asks for
/// (`/outstanding?status=&code=&date=&run=&due=&q=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkFilter {
    /// `rejected` or `failed`.
    pub status: Option<Status>,
    /// The error code (or sub_code), exactly.
    pub code: Option<String>,
    /// The night: the Beijing date (`YYYY-MM-DD`) of the order's last answer.
    pub date: Option<String>,
    /// The run that last answered it (its id, as the summary and the order's page say).
    pub run: Option<String>,
    /// Part of the name of an input of that run (the export's file name).
    pub source: Option<String>,
    /// Only those whose platform deadline falls within a day (or has passed).
    pub due: bool,
    /// Part of the req_id or the order number.
    pub q: Option<String>,
}

impl WorkFilter {
    /// The filter of a query; `None` for one that is not a filter.
    pub fn of(query: &HashMap<String, String>) -> Option<WorkFilter> {
        let get = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let plain = |text: &str, max: usize| {
            (text.chars().count() <= max && !text.chars().any(char::is_control))
                .then(|| text.to_owned())
        };
        let text = |name: &str| match get(name) {
            Some(value) => plain(value, 64).map(Some),
            None => Some(None),
        };
        Some(WorkFilter {
            status: match get("status") {
                None => None,
                Some("rejected") => Some(Status::Rejected),
                Some("failed") => Some(Status::Failed),
                Some(_) => return None,
            },
            code: text("code")?,
            date: match get("date") {
                None => None,
                Some(date) => Some(
                    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                        .ok()?
                        .format("%Y-%m-%d")
                        .to_string(),
                ),
            },
            run: text("run")?,
            source: text("source")?,
            due: get("due") == Some("1"),
            q: text("q")?,
        })
    }

    /// Whether `order`, last answered by a run of the inputs `source`, is one the filter
    /// keeps (`due_by`: a Beijing-time stamp a day ahead).
    pub fn keeps(&self, order: &OrderRow, source: &str, due_by: &str) -> bool {
        self.status.is_none_or(|s| status_of(order) == s)
            && self
                .code
                .as_deref()
                .is_none_or(|c| order.error_code == c || order.sub_code == c)
            && self
                .date
                .as_deref()
                .is_none_or(|d| order.updated_at.starts_with(d))
            && self.run.as_deref().is_none_or(|r| order.last_run == r)
            && self.source.as_deref().is_none_or(|s| source.contains(s))
            && (!self.due || order.deadline.as_deref().is_some_and(|d| d <= due_by))
            && self
                .q
                .as_deref()
                .is_none_or(|q| order.req_id.contains(q) || order.order_no.contains(q))
    }

    /// The query that asks for this filter again (for the download's link).
    pub fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        for (name, value) in [
            ("code", &self.code),
            ("date", &self.date),
            ("run", &self.run),
            ("source", &self.source),
        ] {
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
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

/// The outstanding orders of the desk's ledger that `filter` keeps.
pub fn of_desk(desk: &super::state::Desk, filter: &WorkFilter) -> Result<Worklist, String> {
    let days = desk.config.resend_failed_days;
    let since = (days > 0).then(|| {
        crate::clock::stamp(chrono::Utc::now() - chrono::TimeDelta::days(i64::from(days)))
    });
    worklist(
        &desk.config.ledger,
        desk.config.template.simulate,
        filter,
        since.as_deref(),
    )
    .map_err(|e| e.to_string())
}

/// The rows of `orders` of `list` for the desk (with the result files' rows for those
/// the ledger has no payload of).
pub fn rows_of_desk(
    desk: &super::state::Desk,
    list: &Worklist,
    orders: &[OrderRow],
) -> Vec<Outstanding> {
    if orders.iter().all(|o| o.param0.is_some()) {
        return rows(orders, &list.sources, &[]);
    }
    rows(orders, &list.sources, &desk.runs.list())
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

    fn order(req_id: &str, state: OrderState, code: &str, deadline: Option<&str>) -> OrderRow {
        OrderRow {
            deadline: deadline.map(str::to_owned),
            ..OrderRow::example(req_id, state, code)
        }
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_filter_keeps_what_it_names() {
        let filter = WorkFilter::of(&query(&[
            ("status", "rejected"),
            ("code", "B0107"),
            ("due", "1"),
        ]))
        .expect("a filter");
        let due_by = "2026-12-08T12:00:00.000+08:00";
        let soon = Some("2026-12-08T10:00:00.000+08:00");
        assert!(filter.keeps(
            &order("N2", OrderState::Rejected, "B0107", soon),
            "night.csv",
            due_by
        ));
        assert!(!filter.keeps(
            &order(
                "N2",
                OrderState::Rejected,
                "B0107",
                Some("2026-12-09T10:00:00.000+08:00")
            ),
            "night.csv",
            due_by
        ));
        assert!(!filter.keeps(
            &order("N2", OrderState::Failed, "B0107", None),
            "night.csv",
            due_by
        ));
        assert_eq!(filter.query(), "status=rejected&code=B0107&due=1");
        assert!(WorkFilter::of(&query(&[("status", "delivered")])).is_none());
        let search = WorkFilter::of(&query(&[("q", "0000002")])).expect("search");
        assert!(search.keeps(
            &order("X", OrderState::Failed, "", None),
            "night.csv",
            due_by
        ));
    }

    #[test]
    fn a_night_and_a_run_are_filters_too() {
        let due_by = "2026-12-08T12:00:00.000+08:00";
        let night = WorkFilter::of(&query(&[("date", " 2026-12-07 ")])).expect("a date");
        assert!(night.keeps(
            &order("N1", OrderState::Failed, "", None),
            "night.csv",
            due_by
        ));
        let other = WorkFilter::of(&query(&[("date", "2026-12-06")])).expect("a date");
        assert!(!other.keeps(
            &order("N1", OrderState::Failed, "", None),
            "night.csv",
            due_by
        ));
        assert!(WorkFilter::of(&query(&[("date", "7 Dec")])).is_none());
        assert!(WorkFilter::of(&query(&[("date", "2026-02-30")])).is_none());
        let run = WorkFilter::of(&query(&[("run", "20261207T003000-cron")])).expect("a run");
        assert!(run.keeps(
            &order("N1", OrderState::Rejected, "", None),
            "night.csv",
            due_by
        ));
        assert!(
            !WorkFilter::of(&query(&[("run", "20261206T003000-cron")]))
                .expect("a run")
                .keeps(
                    &order("N1", OrderState::Rejected, "", None),
                    "night.csv",
                    due_by
                )
        );
        assert_eq!(
            WorkFilter::of(&query(&[("run", "r1"), ("date", "2026-12-07")]))
                .expect("both")
                .query(),
            "date=2026-12-07&run=r1"
        );
        assert!(WorkFilter::of(&query(&[("run", "a\u{7}")])).is_none());
        let source = WorkFilter::of(&query(&[("source", "night")])).expect("a source");
        let failed = order("N1", OrderState::Failed, "", None);
        assert!(source.keeps(&failed, "orders-night.csv, extra.csv", due_by));
        assert!(!source.keeps(&failed, "day.csv", due_by));
    }
}
