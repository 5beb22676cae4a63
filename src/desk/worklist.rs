//! The worklist: the outstanding orders a filter matches (`/work`), all of them
//! as a workbook, and the orders a clerk ticked acted on exactly — a workbook of those,
//! a resend of them as they are (a submission made from the ledger's payloads, checked
//! and requested as an upload is), or a closure with a reason.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;

use super::closing::{close_orders, plausible, reason_of};
use super::guard::Visitor;
use super::outstanding::{self, WorkFilter, Worklist};
use super::posted::Posted;
use super::respond::{audit_refused, html, new_id, status_page};
use super::runs::{ResultFile, Shown};
use super::state::Desk;
use super::{download, views};
use crate::ledger::orders::OrderRow;
use crate::status::Status;

/// The most orders one selection names.
const MAX_SELECTED: usize = 10_000;

/// The worklist a URL's filter asks for (`?status=&code=&date=&run=&source=&due=&q=`),
/// for a logged-in visitor; else the page that says why not.
pub struct Matching {
    filter: WorkFilter,
    list: Worklist,
}

impl FromRequestParts<Arc<Desk>> for Matching {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, desk: &Arc<Desk>) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, desk).await?;
        let query = Query::<HashMap<String, String>>::from_request_parts(parts, desk).await;
        let Some(filter) = query.ok().and_then(|Query(query)| WorkFilter::of(&query)) else {
            return Err(bad_filter(&visitor));
        };
        match outstanding::of_desk(desk, &filter) {
            Ok(list) => Ok(Matching { filter, list }),
            Err(error) => Err(status_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &visitor,
                &error,
            )),
        }
    }
}

/// `GET /work`: the orders the filter matches, the first of them listed.
pub async fn page(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Matching { filter, list }: Matching,
) -> Response {
    let first = &list.matching[..list.matching.len().min(outstanding::WORKLIST_SHOWN)];
    let shown: Vec<Shown> = outstanding::rows_of_desk(&desk, &list, first)
        .iter()
        .map(Shown::from)
        .collect();
    html(views::outstanding(
        visitor.frame(),
        &list,
        &shown,
        &filter,
        &with_invalid_rows(&desk),
    ))
}

/// `GET /work.xlsx`: every order the filter matches, ready to correct.
pub async fn workbook(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Matching { filter, list }: Matching,
) -> Response {
    let detail = serde_json::json!({"what": "outstanding", "rows": list.matching.len(), "filter": filter.query()});
    download_of(&desk, &visitor, &list, &list.matching, detail)
}

/// How far back the worklist names runs with invalid rows.
const INVALID_DAYS: u64 = 30;

/// The result files of the last `INVALID_DAYS` days that hold invalid rows (no order
/// in the ledger: an export row the run could not read), newest first.
fn with_invalid_rows(desk: &Desk) -> Vec<ResultFile> {
    let since = std::time::SystemTime::now()
        .checked_sub(std::time::Duration::from_secs(INVALID_DAYS * 86_400))
        .unwrap_or(std::time::UNIX_EPOCH);
    desk.runs
        .list()
        .into_iter()
        .filter(|run| run.modified >= since && run.tally.count(Status::Invalid) > 0)
        .collect()
}

fn bad_filter(visitor: &Visitor) -> Response {
    status_page(
        StatusCode::BAD_REQUEST,
        visitor,
        visitor.lang.t("outstanding.bad_filter"),
    )
}

/// The workbook of `orders`, the download audited with `detail` first.
fn download_of(
    desk: &Desk,
    visitor: &Visitor,
    list: &Worklist,
    orders: &[OrderRow],
    detail: serde_json::Value,
) -> Response {
    if let Err(error) = desk.audit.record(&visitor.session.user, "download", detail) {
        return audit_refused(visitor.lang, &error);
    }
    let rows = outstanding::rows_of_desk(desk, list, orders);
    download::rows_workbook(
        &desk.config.results_dir,
        rows.iter().map(Shown::from),
        &format!("outstanding-{}.xlsx", today()),
    )
}

/// Today in Beijing, `YYYYMMDD`.
fn today() -> String {
    chrono::Utc::now()
        .with_timezone(&crate::clock::beijing())
        .format("%Y%m%d")
        .to_string()
}

/// `POST /work/selected`: the ticked orders (`orders`, repeated) — or every order the
/// worklist's `filter` (its query) matches, found again now —, what to do with them
/// (`do`: download, resend or close) and, for a closure, why.
pub async fn selected(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Posted(form): Posted<Vec<(String, String)>>,
) -> Response {
    let lang = visitor.lang;
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let mut named: Vec<&str> = form
        .iter()
        .filter(|(key, _)| key == "orders")
        .map(|(_, value)| value.as_str())
        .collect();
    // Every order the filter matches: the server finds them again.
    let matching = match field("filter") {
        Some(query) if named.is_empty() => {
            let query: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let Some(filter) = WorkFilter::of(&query) else {
                return bad_filter(&visitor);
            };
            match outstanding::of_desk(&desk, &filter) {
                Ok(list) => list.matching,
                Err(error) => {
                    return status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error);
                }
            }
        }
        _ => Vec::new(),
    };
    named.extend(matching.iter().map(|o| o.req_id.as_str()));
    if named.is_empty() {
        return status_page(StatusCode::BAD_REQUEST, &visitor, lang.t("selection.none"));
    }
    if named.len() > MAX_SELECTED {
        return status_page(
            StatusCode::BAD_REQUEST,
            &visitor,
            lang.t("selection.too_many"),
        );
    }
    if !named.iter().all(|id| plausible(id)) {
        return status_page(
            StatusCode::BAD_REQUEST,
            &visitor,
            lang.t("close.bad_orders"),
        );
    }
    let action = field("do").unwrap_or_default();
    let clerk = visitor.session.role >= super::auth::Role::Clerk;
    if matches!(action, "resend" | "close") && !clerk {
        return status_page(StatusCode::FORBIDDEN, &visitor, lang.t("error.role"));
    }
    // Exactly the ticked orders that are still outstanding now.
    let wanted: HashSet<&str> = named.iter().copied().collect();
    let list = match outstanding::of_desk(&desk, &WorkFilter::default()) {
        Ok(list) => list,
        Err(error) => return status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
    };
    let orders: Vec<OrderRow> = list
        .matching
        .iter()
        .filter(|o| wanted.contains(o.req_id.as_str()))
        .cloned()
        .collect();
    match action {
        "download" => download_of(
            &desk,
            &visitor,
            &list,
            &orders,
            serde_json::json!({"what": "selected", "rows": orders.len(), "asked": wanted.len()}),
        ),
        "close" => {
            let Some(reason) = reason_of(field("reason")) else {
                return status_page(
                    StatusCode::BAD_REQUEST,
                    &visitor,
                    lang.t("request.reason_needed"),
                );
            };
            // A closure names what was ticked: one no longer outstanding is reported
            // as already closed or delivered, never silently dropped.
            let ids = wanted.iter().map(|id| (*id).to_owned()).collect();
            close_orders(&desk, &visitor, ids, &reason)
        }
        "resend" => resend(&desk, &visitor, &list, &orders, wanted.len()).await,
        _ => status_page(StatusCode::BAD_REQUEST, &visitor, lang.t("error.bad_form")),
    }
}

/// The ticked orders sent again as the ledger last had them: their rows written as a
/// workbook into the desk's uploads, which becomes the visitor's submission — checked
/// (a dry run), then sent or requested as any upload is.
async fn resend(
    desk: &Desk,
    visitor: &Visitor,
    list: &Worklist,
    orders: &[OrderRow],
    asked: usize,
) -> Response {
    let lang = visitor.lang;
    if orders.is_empty() {
        return status_page(StatusCode::CONFLICT, visitor, lang.t("selection.gone"));
    }
    super::submit::expire(desk, Some(&visitor.session.user));
    // Within the uploads' disk budget, as an upload is.
    if super::submit::uploads_bytes(desk) >= desk.config.upload_budget {
        return status_page(
            StatusCode::INSUFFICIENT_STORAGE,
            visitor,
            lang.t("error.upload_space"),
        );
    }
    let id = new_id();
    let label = format!("resend-{}-{}.xlsx", today(), orders.len());
    let path = desk.uploads().join(format!("{id}.xlsx"));
    let rows = outstanding::rows_of_desk(desk, list, orders);
    let written = (|| {
        let mut writer = crate::results::table::TableWriter::create(&path, false)?.unshaded();
        for row in &rows {
            writer.write(&row.row, &label)?;
        }
        writer.finish()?;
        let bytes = std::fs::read(&path)?;
        use sha2::Digest as _;
        Ok::<_, std::io::Error>(super::upload::Stored {
            path: path.clone(),
            bytes: bytes.len() as u64,
            sha256: faster_hex::hex_string(&sha2::Sha256::digest(&bytes)),
        })
    })();
    let stored = match written {
        Ok(stored) => stored,
        Err(error) => {
            let _ = std::fs::remove_file(&path);
            tracing::error!("desk: cannot write a resend's rows: {error}");
            return status_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                visitor,
                lang.t("error.preview_failed"),
            );
        }
    };
    let detail = serde_json::json!({
        "submission": id,
        "label": label,
        "orders": orders.len(),
        "asked": asked,
        "bytes": stored.bytes,
        "sha256": stored.sha256,
    });
    super::submit::accept(desk, visitor, "resend", detail, stored, id, label).await
}
