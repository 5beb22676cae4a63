//! Four eyes on every send (with users in the ledger, unless `--approvals none`): a
//! clerk's checked upload becomes a request with its plan (calls, amount, the digest
//! of exactly what would be sent); someone else — an approver or an admin — approves
//! it, and the send goes as the preview showed or not at all (a plan that changed
//! meanwhile sends nothing and puts the request back, the difference noted); or
//! rejects it with a reason; its maker may cancel it; it expires after
//! `--request-ttl`. Nobody approves their own. Every step is audited before it is
//! taken, and kept in the ledger.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::approvals::{announce, ledger};
use super::auth::Role;
use super::guard::Visitor;
use super::posted::{Nothing, Posted};
use super::respond::{audit_refused, html, new_id, status_page};
use super::roles::{AtLeast, Clerk};
use super::state::{Desk, Submission};
use super::submit::Theirs;
use crate::ledger::Ledger;
use crate::ledger::requests::Request;

#[derive(serde::Deserialize)]
pub struct Reason {
    reason: Option<String>,
}

/// Expires the pending requests older than `--request-ttl`.
fn expire(desk: &Desk, ledger: &Ledger) {
    let before = crate::clock::stamp(
        chrono::Utc::now()
            - chrono::TimeDelta::from_std(desk.config.request_ttl)
                .unwrap_or(chrono::TimeDelta::MAX),
    );
    let _ = crate::ledger::requests::expire(ledger, &before);
}

/// The submission a pending send request carries out, whoever made it: the desk's, or
/// — after a desk restart — made again from its upload, still on disk with the bytes
/// the request names (and checked again).
async fn submission_of(desk: &Desk, request: &Request) -> Option<Arc<Submission>> {
    let kept = desk
        .submissions
        .lock()
        .ok()?
        .get(&request.submission)
        .cloned();
    let found = match kept {
        Some(found) => found,
        None if request.kind == "send" && request.state == "pending" => {
            super::submit::restore(desk, request).await?
        }
        None => return None,
    };
    (found.stored.sha256 == request.sha256).then_some(found)
}

/// `POST /submissions/{id}/request`: the checked upload becomes a pending request.
pub async fn make(
    State(desk): State<Arc<Desk>>,
    AtLeast(visitor): Clerk,
    Theirs(submission): Theirs,
    _: Posted<Nothing>,
) -> Response {
    let lang = visitor.lang;
    let id = submission.id.clone();
    let preview = submission.preview();
    let Some(plan) = preview.plan_digest() else {
        return status_page(
            StatusCode::CONFLICT,
            &visitor,
            lang.t("error.preview_failed"),
        );
    };
    let request = Request {
        id: new_id(),
        kind: "send".into(),
        orders: Vec::new(),
        state: "pending".into(),
        made_by: visitor.session.user.clone(),
        made_at: crate::clock::now_stamp(),
        submission: id.clone(),
        label: submission.label.clone(),
        sha256: submission.stored.sha256.clone(),
        plan_digest: plan.to_owned(),
        calls: preview.tally.count(crate::status::Status::WouldSend),
        amount: preview
            .tally
            .amount(crate::status::Status::WouldSend)
            .to_string(),
        decided_by: None,
        decided_at: None,
        note: None,
        run_id: None,
        exit_code: None,
    };
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "request",
        serde_json::json!({"request": request.id, "submission": id, "sha256": request.sha256,
            "plan_digest": request.plan_digest, "calls": request.calls, "amount": request.amount}),
    ) {
        return audit_refused(lang, &error);
    }
    if let Err(error) = ledger(&desk)
        .and_then(|l| crate::ledger::requests::create(&l, &request).map_err(|e| e.to_string()))
    {
        return status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error);
    }
    announce(&desk, &request);
    Redirect::to(&format!("/requests/{}", request.id)).into_response()
}

/// `/requests`.
pub async fn list_page(State(desk): State<Arc<Desk>>, visitor: Visitor) -> Response {
    let found = ledger(&desk).and_then(|l| {
        expire(&desk, &l);
        crate::ledger::requests::list(&l, 200).map_err(|e| e.to_string())
    });
    match found {
        Ok(requests) => html(super::request_views::list_view(visitor.frame(), &requests)),
        Err(error) => status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
    }
}

fn find(desk: &Desk, visitor: &Visitor, id: &str) -> Result<Request, Box<Response>> {
    let not_found = || {
        Box::new(status_page(
            StatusCode::NOT_FOUND,
            visitor,
            visitor.lang.t("error.not_found"),
        ))
    };
    if !super::runs::is_id(id) {
        return Err(not_found());
    }
    let l = ledger(desk)
        .map_err(|e| Box::new(status_page(StatusCode::INTERNAL_SERVER_ERROR, visitor, &e)))?;
    expire(desk, &l);
    crate::ledger::requests::get(&l, id)
        .ok()
        .flatten()
        .ok_or_else(not_found)
}

/// `/requests/{id}`.
pub async fn request_page(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    match find(&desk, &visitor, &id) {
        Ok(request) => {
            let submission = submission_of(&desk, &request).await;
            html(super::request_views::request_view(
                visitor.frame(),
                &visitor,
                &request,
                submission.as_deref(),
            ))
        }
        Err(response) => *response,
    }
}

/// `POST /requests/{id}/approve`: by someone else, an approver or an admin; the send
/// starts at once, with the plan the request names or not at all.
pub async fn approve(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(id): Path<String>,
    _: Posted<Nothing>,
) -> Response {
    let lang = visitor.lang;
    if visitor.session.role < Role::Approver {
        return status_page(StatusCode::FORBIDDEN, &visitor, lang.t("error.role"));
    }
    let request = match find(&desk, &visitor, &id) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    if request.made_by == visitor.session.user {
        return status_page(StatusCode::FORBIDDEN, &visitor, lang.t("request.own"));
    }
    if request.state != "pending" {
        return status_page(
            StatusCode::CONFLICT,
            &visitor,
            lang.t("request.not_pending"),
        );
    }
    if request.kind == "close" {
        if let Err(error) = desk.audit.record(
            &visitor.session.user,
            "approve",
            serde_json::json!({"request": id, "made_by": request.made_by, "kind": "close"}),
        ) {
            return audit_refused(lang, &error);
        }
        let approved = ledger(&desk).and_then(|l| {
            crate::ledger::requests::decide(
                &l,
                &id,
                "pending",
                "approved",
                Some(&visitor.session.user),
                None,
            )
            .map_err(|e| e.to_string())
        });
        return match approved {
            Ok(true) => {
                let reason = request.note.clone().unwrap_or_default();
                super::closing::close_now(&desk, &visitor, &request.orders, &reason, Some(&request))
            }
            Ok(false) => status_page(
                StatusCode::CONFLICT,
                &visitor,
                lang.t("request.not_pending"),
            ),
            Err(error) => status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
        };
    }
    let Some(submission) = submission_of(&desk, &request).await else {
        return status_page(
            StatusCode::CONFLICT,
            &visitor,
            lang.t("request.upload_gone"),
        );
    };
    if submission.preview().plan_digest() != Some(request.plan_digest.as_str()) {
        return status_page(StatusCode::CONFLICT, &visitor, lang.t("error.plan_changed"));
    }
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "approve",
        serde_json::json!({"request": id, "made_by": request.made_by, "plan_digest": request.plan_digest}),
    ) {
        return audit_refused(lang, &error);
    }
    let moved = ledger(&desk).and_then(|l| {
        let approved = crate::ledger::requests::decide(
            &l,
            &id,
            "pending",
            "approved",
            Some(&visitor.session.user),
            None,
        )
        .map_err(|e| e.to_string())?;
        if approved {
            crate::ledger::requests::decide(&l, &id, "approved", "sending", None, None)
                .map_err(|e| e.to_string())?;
        }
        Ok(approved)
    });
    match moved {
        Ok(true) => {}
        Ok(false) => {
            return status_page(
                StatusCode::CONFLICT,
                &visitor,
                lang.t("request.not_pending"),
            );
        }
        Err(error) => return status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
    }
    let sub_id = request.submission.clone();
    super::sending::send_submission(&desk, &visitor, submission, &sub_id, Some(id)).await
}

/// `POST /requests/{id}/reject` (a reason required) or `/cancel` (its maker).
pub async fn reject(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Posted(form): Posted<Reason>,
) -> Response {
    decide(&desk, visitor, &id, form, false).await
}

pub async fn cancel(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Posted(form): Posted<Reason>,
) -> Response {
    decide(&desk, visitor, &id, form, true).await
}

async fn decide(
    desk: &Arc<Desk>,
    visitor: Visitor,
    id: &str,
    form: Reason,
    cancel: bool,
) -> Response {
    let lang = visitor.lang;
    let request = match find(desk, &visitor, id) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let mine = request.made_by == visitor.session.user;
    let reason = form.reason.as_deref().map(str::trim).unwrap_or_default();
    let (allowed, to, action) = if cancel {
        (mine, "cancelled", "cancel")
    } else {
        (
            !mine && visitor.session.role >= Role::Approver,
            "rejected",
            "reject",
        )
    };
    if !allowed {
        return status_page(StatusCode::FORBIDDEN, &visitor, lang.t("error.role"));
    }
    if !cancel && (reason.is_empty() || reason.chars().count() > 500) {
        return status_page(
            StatusCode::BAD_REQUEST,
            &visitor,
            lang.t("request.reason_needed"),
        );
    }
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        action,
        serde_json::json!({"request": id, "reason": reason}),
    ) {
        return audit_refused(lang, &error);
    }
    let note = (!reason.is_empty()).then_some(reason);
    match ledger(desk).and_then(|l| {
        crate::ledger::requests::decide(&l, id, "pending", to, Some(&visitor.session.user), note)
            .map_err(|e| e.to_string())
    }) {
        Ok(true) => Redirect::to(&format!("/requests/{id}")).into_response(),
        Ok(false) => status_page(
            StatusCode::CONFLICT,
            &visitor,
            lang.t("request.not_pending"),
        ),
        Err(error) => status_page(StatusCode::INTERNAL_SERVER_ERROR, &visitor, &error),
    }
}
