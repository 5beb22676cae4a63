//! The requests' pages: the list (pending first) and one request — its plan, who asked,
//! the actions the visitor may take (approve, reject with a reason, cancel their own),
//! the rows of the upload it sends or the orders it closes.

use maud::{Markup, html};

use super::auth::Role;
use super::guard::Visitor;
use super::pages::{Frame, notice, page, rows_table};
use super::state::Submission;
use crate::ledger::requests::Request;

fn state_name(frame: Frame<'_>, state: &str) -> &'static str {
    frame.lang.t(&format!("request.state.{state}"))
}

pub(super) fn list_view(frame: Frame<'_>, requests: &[Request]) -> Markup {
    let t = |key| frame.lang.t(key);
    page(
        frame,
        t("request.list_title"),
        html! {
            p { (t("request.intro")) }
            @if requests.is_empty() { p { (t("request.none")) } } @else {
                table.requests {
                    thead { tr {
                        th { (t("col.when")) } th { (t("request.state")) } th { (t("request.made_by")) }
                        th { (t("col.file")) } th.num { (t("preview.calls")) } th.num { (t("col.amount")) } th { (t("request.decided_by")) }
                    } }
                    tbody {
                        @for r in requests {
                            tr class=[(r.state == "pending").then_some("attention")] {
                                td { a href={ "/requests/" (r.id) } { (r.made_at.get(..16).unwrap_or(&r.made_at).replace('T', " ")) } }
                                td { (state_name(frame, &r.state)) }
                                td { (r.made_by) }
                                td { (r.label) }
                                td.num { (r.calls) }
                                td.num { (r.amount) }
                                td { (r.decided_by.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub(super) fn request_view(
    frame: Frame<'_>,
    visitor: &Visitor,
    r: &Request,
    submission: Option<&Submission>,
) -> Markup {
    let t = |key| frame.lang.t(key);
    let mine = r.made_by == visitor.session.user;
    let pending = r.state == "pending";
    let csrf = frame.csrf.unwrap_or_default();
    page(
        frame,
        &format!("{} · {}", t("request.title"), r.label),
        html! {
            dl.figures {
                dt { (t("request.state")) } dd id="state" { (state_name(frame, &r.state)) }
                dt { (t("request.made_by")) } dd { (r.made_by) " · " (r.made_at.get(..16).unwrap_or(&r.made_at).replace('T', " ")) }
                dt { (t("preview.calls")) } dd id="calls" { (r.calls) }
                dt { (t("preview.amount")) } dd id="amount" { (r.amount) }
                dt { "SHA-256" } dd { code { (r.sha256.get(..16).unwrap_or(&r.sha256)) } }
                @if let Some(by) = &r.decided_by { dt { (t("request.decided_by")) } dd { (by) } }
                @if let Some(run) = &r.run_id { dt { (t("col.run")) } dd { (run) @if let Some(code) = r.exit_code { " · exit " (code) } } }
            }
            @if let Some(note) = &r.note { (notice("warn", note)) }
            @if pending && mine { (notice("info", t("request.waiting"))) }
            @if pending && !mine && visitor.session.role >= Role::Approver {
                form method="post" action={ "/requests/" (r.id) "/approve" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.primary id="approve" type="submit" { (t("request.approve")) }
                }
                form.search method="post" action={ "/requests/" (r.id) "/reject" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="text" name="reason" required maxlength="500" placeholder=(t("request.reason"));
                    button type="submit" { (t("request.reject")) }
                }
            }
            @if pending && mine {
                form method="post" action={ "/requests/" (r.id) "/cancel" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.link type="submit" { (t("request.cancel")) }
                }
            }
            @if r.kind == "close" {
                h2 { (t("close.orders")) }
                p { @for id in r.orders.iter().take(200) { a href={ "/orders/" (id) } { (id) } " " } @if r.orders.len() > 200 { "…" } }
            } @else {
                @match submission {
                    Some(submission) => { (rows_table(frame.lang, &submission.preview().rows, None)) }
                    None => @if pending { (notice("warn", t("request.upload_gone"))) },
                }
            }
        },
    )
}
