//! Each order's story on the desk: `/orders?q=ID` finds the orders a req_id or an order
//! number names (every sub-order of a trade), `/orders/{req_id}` shows one: the order as
//! the ledger holds it (state, the platform's deadline, the closure) and every export
//! row it came in, every attempt and answer, in time order — what `ledger show` prints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::guard::Visitor;
use super::i18n::Lang;
use super::pages::{Frame, notice, page};
use super::respond::{html, status_page};
use super::state::Desk;
use crate::ledger::requests::Request;
use crate::ledger::store::Store as _;
use crate::ledger::story::{Story, What};
use crate::ledger::{Access, Ledger, OrderState};

/// The longest id a search takes (a req_id is at most 64 characters, an order number 30).
const MAX_ID: usize = 64;

/// `/orders?q=ID`: the search form, and the orders the id names.
pub async fn search(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let lang = visitor.lang;
    let q = query.get("q").map(|q| q.trim()).unwrap_or_default();
    if q.is_empty() {
        return html(search_page(visitor.frame(), "", None, &[]));
    }
    if !plausible(q) {
        return html(search_page(
            visitor.frame(),
            "",
            Some(lang.t("orders.bad_id")),
            &[],
        ));
    }
    match stories(&desk, q) {
        Ok(found) if found.len() == 1 => {
            Redirect::to(&format!("/orders/{}", found[0].order.req_id)).into_response()
        }
        Ok(found) => {
            let problem = found.is_empty().then(|| lang.t("orders.none"));
            html(search_page(visitor.frame(), q, problem, &found))
        }
        Err(error) => status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
    }
}

/// `/orders/{req_id}`: one order's story.
pub async fn order(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(req_id): Path<String>,
) -> Response {
    let not_found = |visitor: &Visitor| {
        status_page(
            StatusCode::NOT_FOUND,
            visitor,
            visitor.lang.t("orders.none"),
        )
    };
    if !plausible(&req_id) {
        return not_found(&visitor);
    }
    match stories(&desk, &req_id) {
        Ok(found) => match found.into_iter().find(|s| s.order.req_id == req_id) {
            Some(story) => match requests_of(&desk, &story) {
                Ok(requests) => html(order_page(visitor.frame(), &story, &requests)),
                Err(error) => status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
            },
            None => not_found(&visitor),
        },
        Err(error) => status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
    }
}

/// A req_id or an order number: letters, digits, `_` and `-`, not too long.
fn plausible(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The stories of the orders `id` names, of the desk's kind (real, or `--simulate`'s).
fn stories(desk: &Desk, id: &str) -> Result<Vec<Story>, String> {
    if !desk.config.ledger.exists() {
        return Ok(Vec::new());
    }
    let simulated = desk.config.template.simulate;
    Ledger::open(&desk.config.ledger, Access::Read)
        .and_then(|ledger| ledger.story(id))
        .map(|found| {
            found
                .into_iter()
                .filter(|s| s.order.simulated == simulated)
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// The requests about the order of `story`: closures naming it, sends that answered it.
fn requests_of(desk: &Desk, story: &Story) -> Result<Vec<Request>, String> {
    let runs: Vec<String> = story.events.iter().map(|e| e.run_id.clone()).collect();
    Ledger::open(&desk.config.ledger, Access::Read)
        .and_then(|ledger| crate::ledger::requests::of_order(&ledger, &story.order.req_id, &runs))
        .map_err(|e| e.to_string())
}

/// An order's state as the page's language names it.
fn state_name(lang: Lang, state: OrderState) -> &'static str {
    lang.t(match state {
        OrderState::Pending => "state.pending",
        OrderState::Delivered => "state.delivered",
        OrderState::Rejected => "state.rejected",
        OrderState::Failed => "state.failed",
        OrderState::Closed => "state.closed",
    })
}

/// A Beijing-time stamp as a person reads it: `2026-12-08 10:00:00`.
fn when(stamp: &str) -> String {
    stamp.get(..19).unwrap_or(stamp).replace('T', " ")
}

fn search_form(frame: Frame<'_>, q: &str) -> Markup {
    let t = |key| frame.lang.t(key);
    html! {
        form.search method="get" action="/orders" {
            input type="search" name="q" value=(q) maxlength="64" placeholder=(t("orders.placeholder")) required;
            button.primary type="submit" { (t("orders.find")) }
        }
    }
}

fn search_page(frame: Frame<'_>, q: &str, problem: Option<&str>, found: &[Story]) -> Markup {
    let t = |key| frame.lang.t(key);
    page(
        frame,
        t("orders.title"),
        html! {
            p { (t("orders.intro")) }
            (search_form(frame, q))
            @if let Some(problem) = problem { (notice("warn", problem)) }
            @if !found.is_empty() {
                table {
                    thead { tr {
                        th { (t("col.req_id")) } th { (t("col.order_no")) } th { (t("col.sub_order_no")) }
                        th { (t("order.state")) } th { (t("col.deadline")) } th { (t("col.when")) }
                    } }
                    tbody {
                        @for story in found {
                            @let order = &story.order;
                            tr {
                                td { a href={ "/orders/" (order.req_id) } { (order.req_id) } }
                                td.number { (order.order_no) }
                                td.number { (order.sub_order_no) }
                                td { (state_name(frame.lang, order.state)) }
                                td { (order.deadline.as_deref().map(when).unwrap_or_default()) }
                                td { (when(&order.updated_at)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn order_page(frame: Frame<'_>, story: &Story, requests: &[Request]) -> Markup {
    let lang = frame.lang;
    let t = |key| lang.t(key);
    let order = &story.order;
    let advice = crate::advice::advice(&order.error_code, &order.sub_code)
        .filter(|_| matches!(order.state, OrderState::Rejected | OrderState::Failed))
        .map(|pair| lang.pick(pair));
    page(
        frame,
        &format!("{} · {}", t("order.title"), order.req_id),
        html! {
            (search_form(frame, ""))
            dl.figures {
                dt { (t("order.state")) } dd id="state" { (state_name(lang, order.state)) }
                dt { (t("col.order_no")) } dd.number { (order.order_no) }
                @if !order.sub_order_no.is_empty() {
                    dt { (t("col.sub_order_no")) } dd.number { (order.sub_order_no) }
                }
                @if let Some(deadline) = &order.deadline {
                    dt { (t("col.deadline")) } dd id="deadline" { (when(deadline)) }
                }
                @if !order.error_code.is_empty() {
                    dt { (t("col.code")) } dd { (order.error_code) " " (order.error_msg) }
                }
            }
            @if let Some(advice) = advice { (notice("info", advice)) }
            @if let Some(closed) = &order.closed {
                (notice("info", &format!("{}: {} · {} · {}", t("order.closed"), closed.by, when(&closed.at), closed.reason)))
            }
            @if frame.role >= Some(super::auth::Role::Clerk)
                && matches!(order.state, OrderState::Rejected | OrderState::Failed | OrderState::Pending)
            {
                form.search method="post" action="/close" {
                    input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                    input type="hidden" name="orders" value=(order.req_id);
                    input type="text" name="reason" required maxlength="500" placeholder=(t("close.reason"));
                    button type="submit" id="close" { (t("close.one")) }
                }
            }
            @if !requests.is_empty() {
                h2 { (t("order.requests")) }
                table.requests {
                    thead { tr {
                        th { (t("request.title")) } th { (t("request.state")) }
                        th { (t("request.made_by")) } th { (t("request.decided_by")) } th { (t("col.reason")) }
                    } }
                    tbody {
                        @for request in requests {
                            @let state = format!("request.state.{}", request.state);
                            tr {
                                td { a href={ "/requests/" (request.id) } { (request.label) } }
                                td { (lang.t(&state)) }
                                td { (request.made_by) br; small { (when(&request.made_at)) } }
                                td {
                                    (request.decided_by.as_deref().unwrap_or_default())
                                    @if let Some(at) = &request.decided_at { br; small { (when(at)) } }
                                }
                                td { (request.note.as_deref().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            h2 { (t("order.events")) }
            table.events {
                thead { tr {
                    th { (t("col.when")) } th { (t("col.run")) } th { (t("col.source")) }
                    th { (t("col.status")) } th { (t("col.code")) } th { (t("col.reason")) }
                    th { (t("col.top_request_id")) } th.num { (t("col.attempts")) }
                } }
                tbody {
                    @for event in &story.events {
                        tr {
                            td { (when(&event.at)) }
                            td { (event.run_id) @if !event.started_by.is_empty() { br; small { (event.started_by) } } }
                            // The export's name, never the server's path to it.
                            td { (super::runs::label_of(&event.source)) @if let Some(line) = event.line { " : " (line) } }
                            @match &event.what {
                                What::Outcome { status, error_code, error_msg, sub_code, sub_msg, top_request_id, attempts, .. } => {
                                    td { (status_text(lang, status)) }
                                    td { (error_code) @if !sub_code.is_empty() { br; small { (sub_code) } } }
                                    td { (error_msg) @if !sub_msg.is_empty() { br; small { (sub_msg) } } }
                                    td { code { (top_request_id) } }
                                    td.num { (attempts) }
                                }
                                What::Seen { status } => {
                                    td { (status_text(lang, status)) }
                                    td colspan="4" { small { (t("order.seen")) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A result status (`delivered`, `skipped_delivered`, …) in the page's language.
fn status_text(lang: Lang, status: &str) -> String {
    status
        .parse::<crate::status::Status>()
        .map(|s| super::pages::status_name(lang, s))
        .unwrap_or_else(|_| status.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_id_is_a_req_id_or_an_order_number_and_nothing_else() {
        assert!(super::plausible("CZ20261124000001"));
        assert!(super::plausible("4012345678901234567"));
        assert!(!super::plausible("../../etc/passwd"));
        assert!(!super::plausible("a b"));
        assert!(!super::plausible(&"x".repeat(65)));
        assert!(!super::plausible(""));
    }
}
