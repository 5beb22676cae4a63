//! Closing orders from the desk (the worklist's matching orders, an order's page): a
//! reason required; with four eyes a request someone else approves, else at once.
//! Closed by `desk:NAME` (and who asked): the ledger's `close`, audited first.

use std::sync::Arc;

use super::posted::Posted;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::approvals::{announce, ledger, needs_approval};
use super::guard::Visitor;
use super::pages::{notice, page};
use super::respond::{audit_refused, html, new_id, status_page};
use super::roles::{AtLeast, Clerk};
use super::state::Desk;
use crate::ledger::Ledger;
use crate::ledger::requests::Request;

#[derive(serde::Deserialize)]
pub struct CloseForm {
    reason: Option<String>,
    /// The req_ids, separated by spaces, commas or lines.
    orders: Option<String>,
    /// Or the worklist's filter (its query): every outstanding order it matches.
    filter: Option<String>,
}

/// The most orders one closure names.
const MAX_CLOSE: usize = 10_000;

/// `POST /close`: orders closed with a reason — a request another user approves (four
/// eyes), or at once on a one-person desk.
pub async fn close(
    State(desk): State<Arc<Desk>>,
    AtLeast(visitor): Clerk,
    Posted(form): Posted<CloseForm>,
) -> Response {
    let lang = visitor.lang;
    let Some(reason) = reason_of(form.reason.as_deref()) else {
        return status_page(
            StatusCode::BAD_REQUEST,
            &visitor,
            lang.t("request.reason_needed"),
        );
    };
    let orders: Vec<String> = match &form.filter {
        // The worklist's matching orders, found again now (not a list the page carried).
        Some(query) => {
            let query: std::collections::HashMap<String, String> =
                form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
            let Some(filter) = super::outstanding::WorkFilter::of(&query) else {
                return status_page(
                    StatusCode::BAD_REQUEST,
                    &visitor,
                    lang.t("outstanding.bad_filter"),
                );
            };
            match super::outstanding::of_desk(&desk, &filter) {
                Ok(list) => list.matching.into_iter().map(|o| o.req_id).collect(),
                Err(error) => {
                    return status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error);
                }
            }
        }
        None => form
            .orders
            .as_deref()
            .unwrap_or_default()
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    close_orders(&desk, &visitor, orders, &reason)
}

/// `orders` (req_ids) closed with `reason`: a request another user approves (four eyes),
/// or at once on a one-person desk.
pub(super) fn close_orders(
    desk: &Desk,
    visitor: &Visitor,
    mut orders: Vec<String>,
    reason: &str,
) -> Response {
    let lang = visitor.lang;
    orders.sort();
    orders.dedup();
    if orders.is_empty() || orders.len() > MAX_CLOSE || !orders.iter().all(|id| plausible(id)) {
        return status_page(StatusCode::BAD_REQUEST, visitor, lang.t("close.bad_orders"));
    }
    if !needs_approval(desk) {
        return close_now(desk, visitor, &orders, reason, None);
    }
    let digest = {
        use sha2::Digest as _;
        faster_hex::hex_string(&sha2::Sha256::digest(orders.join("\n").as_bytes()))
    };
    let request = Request {
        id: new_id(),
        kind: "close".into(),
        orders: orders.clone(),
        state: "pending".into(),
        made_by: visitor.session.user.clone(),
        made_at: crate::clock::now_stamp(),
        submission: String::new(),
        label: format!("{} {}", lang.t("close.label"), orders.len()),
        sha256: String::new(),
        plan_digest: digest,
        calls: orders.len() as u64,
        amount: String::new(),
        decided_by: None,
        decided_at: None,
        note: Some(reason.to_owned()),
        run_id: None,
        exit_code: None,
    };
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "request",
        serde_json::json!({"request": request.id, "kind": "close", "orders": orders.len(), "reason": reason}),
    ) {
        return audit_refused(lang, &error);
    }
    if let Err(error) = ledger(desk)
        .and_then(|l| crate::ledger::requests::create(&l, &request).map_err(|e| e.to_string()))
    {
        return status_page(StatusCode::INTERNAL_SERVER_ERROR, visitor, &error);
    }
    announce(desk, &request);
    Redirect::to(&format!("/requests/{}", request.id)).into_response()
}

/// A closure's reason as given: required, one line of at most 500 characters.
pub(super) fn reason_of(given: Option<&str>) -> Option<String> {
    let reason = given.map(str::trim).unwrap_or_default();
    (!reason.is_empty() && reason.chars().count() <= 500 && !reason.chars().any(char::is_control))
        .then(|| reason.to_owned())
}

/// Whether `id` could be a req_id (checked before anything is looked up).
pub(super) fn plausible(id: &str) -> bool {
    id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Closes `orders` now, as `visitor` (for the request `request` they approved): audited
/// first; the request finished with what happened.
pub(super) fn close_now(
    desk: &Desk,
    visitor: &Visitor,
    orders: &[String],
    reason: &str,
    request: Option<&Request>,
) -> Response {
    use crate::ledger::store::Store as _;
    let lang = visitor.lang;
    let by = match request {
        Some(r) => format!("desk:{} (asked by {})", visitor.session.user, r.made_by),
        None => format!("desk:{}", visitor.session.user),
    };
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "close",
        serde_json::json!({"orders": orders.len(), "reason": reason, "request": request.map(|r| &r.id)}),
    ) {
        return audit_refused(lang, &error);
    }
    let done = Ledger::open(&desk.config.ledger, crate::ledger::Access::Write)
        .and_then(|l| l.close(orders, &by, reason));
    match done {
        Ok(done) => {
            let said = format!(
                "{}: {} · {}: {} · {}: {} · {}: {}",
                lang.t("close.closed"),
                done.closed.len(),
                lang.t("close.already"),
                done.already.len(),
                lang.t("close.delivered"),
                done.delivered.len(),
                lang.t("close.unknown"),
                done.unknown.len()
            );
            match request {
                Some(r) => {
                    if let Ok(l) = ledger(desk) {
                        let _ = crate::ledger::requests::decide(
                            &l,
                            &r.id,
                            "approved",
                            "finished",
                            None,
                            Some(&format!("{reason} — {said}")),
                        );
                    }
                    Redirect::to(&format!("/requests/{}", r.id)).into_response()
                }
                None => html(page(
                    visitor.frame(),
                    lang.t("close.title"),
                    html! { (notice("info", &said)) p { a href="/work" { (lang.t("nav.outstanding")) } } },
                )),
            }
        }
        Err(error) => status_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            visitor,
            &error.to_string(),
        ),
    }
}
