//! The audit log for auditors: `/audit` lists its rows, newest first, filtered by
//! `from`, `to` (Beijing dates or times), `user` and `action`; `/audit.csv` and
//! `/audit.xlsx` download every row the filter keeps (the download itself a row of the log). The chain is
//! checked by `opentrade-callback audit verify`; the page says how.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::guard::Visitor;
use super::pages::{Frame, notice, page};
use super::respond::{audit_refused, html, status_page};
use super::state::Desk;
use crate::ledger::audit::{AuditFilter, Entry};
use crate::ledger::{Access, Ledger};

/// The rows a page shows; the CSV has them all.
const SHOWN: u64 = 500;

/// `/audit`.
pub async fn page_of(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(filter) = filter_of(&query) else {
        return bad_filter(&visitor);
    };
    let shown = AuditFilter {
        limit: Some(SHOWN + 1),
        ..filter
    };
    match entries(&desk, &shown) {
        Ok(mut rows) => {
            let more = rows.len() as u64 > SHOWN;
            rows.truncate(SHOWN as usize);
            html(audit_page(visitor.frame(), &query, &rows, more))
        }
        Err(error) => status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
    }
}

/// `/audit.csv`: every row the filter keeps; the download is audited first.
pub async fn csv_of(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    download(&desk, &visitor, &query, Format::Csv)
}

/// `/audit.xlsx`: the same rows as a workbook.
pub async fn xlsx_of(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    download(&desk, &visitor, &query, Format::Xlsx)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

/// The columns of a download: CSV's names, and a workbook's `中文 english` headings and widths.
const COLUMNS: [(&str, &str, f64); 6] = [
    ("id", "序号 id", 8.0),
    ("at", "时间 at", 30.0),
    ("user", "用户 user", 14.0),
    ("action", "操作 action", 14.0),
    ("detail", "内容 detail", 80.0),
    ("hash", "哈希 hash", 68.0),
];

/// Every row the filter in `query` keeps, as `format`; the download is itself a row of
/// the log, written first.
fn download(
    desk: &Desk,
    visitor: &Visitor,
    query: &HashMap<String, String>,
    format: Format,
) -> Response {
    let Some(filter) = filter_of(query) else {
        return bad_filter(visitor);
    };
    let rows = match entries(desk, &filter) {
        Ok(rows) => rows,
        Err(error) => return status_page(StatusCode::INTERNAL_SERVER_ERROR, visitor, &error),
    };
    let what = match format {
        Format::Csv => "audit",
        Format::Xlsx => "audit.xlsx",
    };
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "download",
        serde_json::json!({"what": what, "rows": rows.len(), "filter": query}),
    ) {
        return audit_refused(visitor.lang, &error);
    }
    let ids: Vec<String> = rows.iter().map(|row| row.id.to_string()).collect();
    let cells: Vec<Vec<&str>> = rows
        .iter()
        .zip(&ids)
        .map(|(row, id)| {
            vec![
                id.as_str(),
                &row.at,
                &row.user,
                &row.action,
                &row.detail,
                &row.hash,
            ]
        })
        .collect();
    if format == Format::Xlsx {
        let headers = COLUMNS.map(|(_, title, width)| (title, width));
        return super::download::sheet_workbook(
            &desk.config.results_dir,
            "audit.xlsx",
            &headers,
            &cells,
        );
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut write = || -> Result<Vec<u8>, csv::Error> {
        writer.write_record(COLUMNS.map(|(name, _, _)| name))?;
        for row in &cells {
            writer.write_record(row.iter().map(|c| crate::columns::guard(c).into_owned()))?;
        }
        writer.flush()?;
        Ok(writer.get_ref().clone())
    };
    match write() {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"".to_owned(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => status_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            visitor,
            &error.to_string(),
        ),
    }
}

/// The filter a query asks for; `None` for one that is not a filter.
/// The page that says the filter in the query could not be read.
fn bad_filter(visitor: &Visitor) -> Response {
    status_page(
        StatusCode::BAD_REQUEST,
        visitor,
        visitor.lang.t("audit.bad_filter"),
    )
}

fn filter_of(query: &HashMap<String, String>) -> Option<AuditFilter> {
    let get = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let time = |text: &str| {
        (text.len() <= 19
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b' ' | b'T')))
        .then(|| text.replace(' ', "T"))
    };
    let from = match get("from") {
        Some(text) => Some(time(text)?),
        None => None,
    };
    // A date or a time up to: the whole of that day (or minute) included.
    let to = match get("to") {
        Some(text) => Some(format!("{}\u{7f}", time(text)?)),
        None => None,
    };
    let word = |text: &str, max: usize| {
        (text.chars().count() <= max && !text.chars().any(char::is_control))
            .then(|| text.to_owned())
    };
    let user = match get("user") {
        Some(text) => Some(word(text, 64)?),
        None => None,
    };
    let action = match get("action") {
        Some(text) => Some(word(text, 32)?),
        None => None,
    };
    Some(AuditFilter {
        from,
        to,
        user,
        action,
        limit: None,
    })
}

fn entries(desk: &Desk, filter: &AuditFilter) -> Result<Vec<Entry>, String> {
    if !desk.config.ledger.exists() {
        return Ok(Vec::new());
    }
    Ledger::open(&desk.config.ledger, Access::Read)
        .and_then(|ledger| crate::ledger::audit::entries(&ledger, filter))
        .map_err(|e| e.to_string())
}

fn audit_page(
    frame: Frame<'_>,
    query: &HashMap<String, String>,
    rows: &[Entry],
    more: bool,
) -> Markup {
    let t = |key| frame.lang.t(key);
    let value = |name: &str| query.get(name).cloned().unwrap_or_default();
    let query_text = {
        let pairs: Vec<(&str, String)> = ["from", "to", "user", "action"]
            .into_iter()
            .map(|k| (k, value(k)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    page(
        frame,
        t("audit.title"),
        html! {
            p { (t("audit.intro")) }
            form.search method="get" action="/audit" {
                label { (t("audit.from")) " " input type="text" name="from" value=(value("from")) placeholder="2026-12-01" maxlength="19"; }
                label { (t("audit.to")) " " input type="text" name="to" value=(value("to")) placeholder="2026-12-07" maxlength="19"; }
                label { (t("audit.user")) " " input type="text" name="user" value=(value("user")) maxlength="64"; }
                label { (t("audit.action")) " " input type="text" name="action" value=(value("action")) maxlength="32"; }
                button.primary type="submit" { (t("orders.find")) }
            }
            p.actions {
                a.button href={ "/audit.xlsx?" (query_text) } download { (t("audit.download_xlsx")) }
                " "
                a.button href={ "/audit.csv?" (query_text) } download { (t("audit.download")) }
            }
            @if rows.is_empty() { p { (t("audit.empty")) } } @else {
                @if more { (notice("info", t("audit.more"))) }
                table.audit {
                    thead { tr {
                        th { (t("col.when")) } th { (t("audit.user")) } th { (t("audit.action")) }
                        th { (t("audit.detail")) } th { (t("audit.hash")) }
                    } }
                    tbody {
                        @for row in rows {
                            tr {
                                td.when { (row.at.get(..19).unwrap_or(&row.at).replace('T', " ")) }
                                td { (row.user) }
                                td { (row.action) }
                                td.detail { code { (crate::text::shorten(&row.detail, 200)) } }
                                td { code { (row.hash.get(..12).unwrap_or(&row.hash)) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_filter_is_dates_times_a_user_and_an_action_or_nothing() {
        let filter = filter_of(&query(&[
            ("from", "2026-12-01"),
            ("to", "2026-12-07 10:00"),
        ]))
        .expect("a filter");
        assert_eq!(filter.from.as_deref(), Some("2026-12-01"));
        assert_eq!(filter.to.as_deref(), Some("2026-12-07T10:00\u{7f}"));
        assert!(filter_of(&query(&[("from", "yesterday")])).is_none());
        assert!(filter_of(&query(&[("user", "a\u{1}b")])).is_none());
        assert!(filter_of(&query(&[])).is_some_and(|f| f.user.is_none()));
    }
}
