//! `report PATH`: what a result file (CSV or workbook) or a ledger says — counts by
//! status and by error code with their messages and advice, first-charge amounts to
//! the cent, the req_ids that need attention — and, for a result file, the rows that
//! need attention written to another table (`--failed-only --out`), ready to be
//! corrected and sent again. Reads typed rows (`table`) and the ledger's orders
//! (`ledger::orders`), counts them with the one `Tally`.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::row::ResultRow;
use super::table::{TableError, TableReader, TableWriter};
use super::tally::Tally;
use crate::columns::{RESULT_HEADER, RowText};
use crate::ledger::{Access, Ledger, LedgerError, OrderState};
use crate::status::Status;
use crate::text::visible;

/// What kind of file a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Results,
    Ledger,
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot open {}: {error}", path.display())]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is neither a result CSV nor a ledger: its first line is '{first}'", path.display())]
    Unknown { path: PathBuf, first: String },
    #[error("{}: {error}", path.display())]
    Table { path: PathBuf, error: TableError },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--failed-only needs a result file: a ledger does not keep the orders' contents")]
    FailedOfLedger,
}

/// What one file says.
#[derive(Debug, Default)]
pub struct Report {
    pub tally: Tally,
    /// Orders of a ledger (the tally's rows).
    pub ledger_orders: Option<u64>,
    /// Orders of `--simulate` runs (ledger only), not counted.
    pub simulated: u64,
    /// Rows written by `--failed-only`.
    pub written: u64,
}

/// A workbook is a result workbook; any other file is told by its first line.
pub fn kind_of(path: &Path) -> Result<Kind, ReportError> {
    if crate::xlsx::is_workbook(path) {
        return Ok(Kind::Results);
    }
    let open = |error| ReportError::Open {
        path: path.to_owned(),
        error,
    };
    let mut head = Vec::with_capacity(4096);
    File::open(path)
        .map_err(open)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(open)?;
    match crate::ledger::db::kind_of_head(&head) {
        crate::ledger::db::Kind::Ledger => return Ok(Kind::Ledger),
        crate::ledger::db::Kind::Legacy => {
            return Err(ReportError::Ledger(LedgerError::Legacy {
                path: path.display().to_string(),
            }));
        }
        _ => {}
    }
    let text = String::from_utf8_lossy(&head);
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("")
        .trim_end();
    if first.split(',').any(|name| name == RESULT_HEADER[7]) {
        return Ok(Kind::Results);
    }
    Err(ReportError::Unknown {
        path: path.to_owned(),
        first: visible(first).into_owned(),
    })
}

/// Reads a result file; with `failed_out`, writes its rows that need attention there.
pub fn of_results(path: &Path, failed_out: Option<&Path>) -> Result<Report, ReportError> {
    let table_error = |error| ReportError::Table {
        path: path.to_owned(),
        error,
    };
    let mut table = TableReader::open(path).map_err(table_error)?;
    let write_error = |out: &Path, error| ReportError::Write {
        path: out.to_owned(),
        error,
    };
    let mut failed = match failed_out {
        Some(out) => Some(
            TableWriter::with_extra(out, false, &table.extra_names())
                .map_err(|e| write_error(out, e))?,
        ),
        None => None,
    };
    let mut report = Report::default();
    while let Some(row) = table.next_row().map_err(table_error)? {
        report.tally.add(&row);
        if let Some(writer) = failed.as_mut().filter(|_| row.status.needs_attention()) {
            writer
                .write(&row, table.source(&row))
                .map_err(|e| write_error(writer.out(), e))?;
            report.written += 1;
        }
    }
    if let Some(writer) = failed {
        let out = writer.out().to_owned();
        writer.finish().map_err(|e| write_error(&out, e))?;
    }
    Ok(report)
}

/// Reads a ledger: each order in its state, as a row of the status it means
/// (`pending` — a run died before its answer — is `not_attempted`; `closed` is
/// `skipped_closed`).
pub fn of_ledger(path: &Path) -> Result<Report, ReportError> {
    let mut report = Report::default();
    let ledger = Ledger::open(path, Access::Read)?;
    let mut orders = 0u64;
    let filter = crate::ledger::orders::Filter {
        states: &[],
        simulated: true,
    };
    crate::ledger::orders::for_each(&ledger, &filter, |order| {
        if order.simulated {
            report.simulated += 1;
            return;
        }
        orders += 1;
        let status = match order.state {
            OrderState::Delivered => Status::Delivered,
            OrderState::Rejected => Status::Rejected,
            OrderState::Failed => Status::Failed,
            OrderState::Pending => Status::NotAttempted,
            OrderState::Closed => Status::SkippedClosed,
        };
        let fields = RowText {
            req_id: order.req_id,
            order_no: order.order_no,
            sub_order_no: order.sub_order_no,
            ..RowText::default()
        };
        let mut row = ResultRow::new(fields, status, 0, 0);
        row.error_code = order.error_code;
        row.sub_code = order.sub_code;
        row.error_msg = order.error_msg;
        report.tally.add(&row);
    })?;
    report.ledger_orders = Some(orders);
    Ok(report)
}

/// The report as a JSON document, for monitors: amounts as exact yuan text.
#[derive(Debug, serde::Serialize)]
pub struct ReportDoc<'a> {
    pub schema_version: u32,
    pub path: String,
    pub kind: &'static str,
    pub rows: u64,
    /// Orders of a ledger (its rows are orders in their state).
    pub ledger_orders: Option<u64>,
    pub by_status: Vec<StatusDoc>,
    pub errors: Vec<ErrorDoc<'a>>,
    pub need_attention: u64,
    /// The first rows that need attention.
    pub attention: Vec<AttentionDoc<'a>>,
}

/// One status's rows and first-charge amount.
#[derive(Debug, serde::Serialize)]
pub struct StatusDoc {
    pub status: &'static str,
    pub rows: u64,
    pub first_charge_amount: String,
}

/// One error group.
#[derive(Debug, serde::Serialize)]
pub struct ErrorDoc<'a> {
    pub error_code: &'a str,
    pub sub_code: &'a str,
    pub rows: u64,
    pub message: &'a str,
    pub advice: Option<&'static str>,
}

/// One row that needs attention.
#[derive(Debug, serde::Serialize)]
pub struct AttentionDoc<'a> {
    pub req_id: &'a str,
    pub status: &'static str,
    pub error_code: &'a str,
}

/// The report as a JSON document.
pub fn to_doc<'r>(path: &Path, report: &'r Report) -> ReportDoc<'r> {
    let tally = &report.tally;
    ReportDoc {
        schema_version: 1,
        path: path.display().to_string(),
        kind: if report.ledger_orders.is_some() {
            "ledger"
        } else {
            "results"
        },
        rows: tally.rows(),
        ledger_orders: report.ledger_orders,
        by_status: tally
            .by_status()
            .map(|(status, rows, cents)| StatusDoc {
                status: status.as_str(),
                rows,
                first_charge_amount: cents.to_string(),
            })
            .collect(),
        errors: tally
            .errors()
            .into_iter()
            .map(|group| ErrorDoc {
                error_code: &group.error_code,
                sub_code: &group.sub_code,
                rows: group.count,
                message: &group.message,
                advice: crate::top::response::advice(&group.error_code, &group.sub_code),
            })
            .collect(),
        need_attention: tally.attention_total(),
        attention: tally
            .attention()
            .iter()
            .map(|row| AttentionDoc {
                req_id: &row.req_id,
                status: row.status.as_str(),
                error_code: &row.error_code,
            })
            .collect(),
    }
}

/// The report as text.
pub fn render(path: &Path, report: &Report) -> String {
    let tally = &report.tally;
    let mut text = match report.ledger_orders {
        Some(orders) => {
            let simulated = match report.simulated {
                0 => String::new(),
                n => format!("; {n} more from --simulate runs, not counted"),
            };
            format!(
                "{}: ledger, {orders} orders (each in its state below{simulated})\n",
                path.display(),
            )
        }
        None => format!(
            "{}: result {}, {} rows\n",
            path.display(),
            if crate::xlsx::is_workbook(path) {
                "workbook"
            } else {
                "CSV"
            },
            tally.rows()
        ),
    };
    let show_amounts = tally.amount_rows() > 0;
    let unit = if report.ledger_orders.is_some() {
        "orders"
    } else {
        "rows"
    };
    text.push_str(&format!("  {:<20}{unit:>8}", "status"));
    text.push_str(if show_amounts {
        "   first-charge amount\n"
    } else {
        "\n"
    });
    for (status, count, cents) in tally.by_status() {
        text.push_str(&format!("  {:<20}{count:>8}", status.as_str()));
        if show_amounts {
            text.push_str(&format!("   {cents:>19}"));
        }
        text.push('\n');
    }
    let errors = tally.errors();
    if !errors.is_empty() {
        text.push_str("errors of the rows that need attention:\n");
        for group in errors {
            let code = group.code();
            text.push_str(&format!(
                "  {:>8}  {}  {}\n",
                group.count,
                visible(&code),
                visible(&group.message)
            ));
            if let Some(advice) = crate::top::response::advice(&group.error_code, &group.sub_code) {
                text.push_str(&format!("            → {advice}\n"));
            }
        }
    }
    if tally.attention_total() > 0 {
        text.push_str(&format!("need attention ({}):\n", tally.attention_total()));
        for row in tally.attention() {
            let req_id = if row.req_id.is_empty() {
                "(no req_id)"
            } else {
                &row.req_id
            };
            text.push_str(&format!(
                "  {}  {}  {}\n",
                visible(req_id),
                row.status,
                visible(&row.error_code)
            ));
        }
        let listed = tally.attention().len() as u64;
        if tally.attention_total() > listed {
            text.push_str(&format!(
                "  … and {} more\n",
                tally.attention_total() - listed
            ));
        }
    }
    text
}
