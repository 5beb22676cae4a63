//! Sending a checked upload: the confirmation (refused while another send or another
//! process holds the ledger, never queued), the send on the engine, its progress page
//! and the progress as JSON for the page's script.
//!
//! What is sent is exactly what the preview showed, or nothing: the upload is copied
//! for the send and the copy's SHA-256 must be the one checked (a stored file changed
//! under the desk is refused), and the send must make the preview's plan (its digest:
//! the same req_ids with the same payloads), else it stops before the first call and
//! the upload is checked again. The audit line names the bytes and the plan sent.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::guard::Visitor;
use super::jobs::{self, Claim, DeskSend, Ended, EngineRun, Refused};
use super::posted::{Nothing, Posted};
use super::respond::{audit_refused, html, lock_holder, new_id, status_page};
use super::roles::{AtLeast, Clerk};
use super::runs;
use super::state::{Desk, Submission};
use super::submit::{Theirs, preview};
use super::{upload, views};

pub async fn confirm(
    State(desk): State<Arc<Desk>>,
    AtLeast(visitor): Clerk,
    Theirs(submission): Theirs,
    _: Posted<Nothing>,
) -> Response {
    let lang = visitor.lang;
    let id = submission.id.clone();
    // Four eyes: such a send is a request another user approves.
    if super::approvals::needs_approval(&desk) {
        return (
            StatusCode::CONFLICT,
            html(views::preview(
                visitor.frame(),
                &submission,
                Some(lang.t("error.needs_approval")),
                true,
            )),
        )
            .into_response();
    }
    send_submission(&desk, &visitor, submission, &id, None).await
}

/// Sends a checked upload as `visitor` (its uploader confirming, or the approver of
/// `request`): a copy of the previewed bytes, the preview's plan or nothing. A send
/// that cannot start is said on the preview's page (a request goes back to pending,
/// the reason noted).
pub(super) async fn send_submission(
    desk: &Arc<Desk>,
    visitor: &Visitor,
    submission: Arc<Submission>,
    id: &str,
    request: Option<String>,
) -> Response {
    let lang = visitor.lang;
    let desk = Arc::clone(desk);
    let id = id.to_owned();
    let visitor = visitor.clone();
    let back_to_pending = |note: &str| {
        if let Some(request) = &request {
            super::approvals::back_to_pending(&desk, request, note);
        }
    };
    let needs = request.is_some();
    let conflict = |text: String| {
        (
            StatusCode::CONFLICT,
            html(views::preview(
                visitor.frame(),
                &submission,
                Some(&text),
                needs,
            )),
        )
            .into_response()
    };
    let Some(plan) = submission.preview().plan_digest().map(str::to_owned) else {
        back_to_pending(lang.t("error.preview_failed"));
        return conflict(lang.t("error.preview_failed").to_owned());
    };
    let claimed = desk.sending.claim(|| {
        if let Some(existing) = submission.job.lock().ok().and_then(|j| j.clone()) {
            return Err(Box::new(Redirect::to(&format!("/jobs/{existing}")).into_response()));
        }
        // Another process (the nightly run) seems to hold the ledger: say so, queue
        // nothing. (The send itself takes the lock, and says so if it cannot.)
        if let Some(holder) = lock_holder(&desk) {
            back_to_pending(lang.t("error.locked"));
            return Err(Box::new(conflict(format!("{} ({holder})", lang.t("error.locked")))));
        }
        let now = chrono::Utc::now().with_timezone(&crate::clock::beijing());
        let job_id = new_id();
        // The bytes this send reads: a copy of the upload, which must be the file
        // that was checked.
        let ext = submission
            .stored
            .path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = upload::snapshot(
            &submission.stored,
            &desk.uploads(),
            &format!("{id}.sent-{job_id}.{ext}"),
        );
        let copy = match copy {
            Ok(copy) => copy,
            Err(error) => {
                desk.audit.record_done(&visitor.session.user, "send_refused", serde_json::json!({
                    "submission": id, "sha256": submission.stored.sha256, "error": desk.scrub(&error.to_string()),
                }));
                let text = match error {
                    upload::UploadError::Changed { .. } => lang.t("error.changed_file").to_owned(),
                    other => desk.scrub(&other.to_string()),
                };
                back_to_pending(&text);
                return Err(Box::new(conflict(text)));
            }
        };
        let job = Arc::new(DeskSend {
            id: job_id,
            user: visitor.session.user.clone(),
            submission: id.clone(),
            run_id: run_id(desk.config.template.simulate, &id),
            out: desk
                .config
                .results_dir
                .join(format!("desk-{}-{id}.xlsx", now.format("%Y%m%d-%H%M%S"))),
            input: copy,
            plan,
            request: request.clone(),
            live: Arc::default(),
            ended: tokio::sync::watch::Sender::new(None),
        });
        // No audit, no send.
        let audited = desk.audit.record(
            &visitor.session.user,
            "send",
            serde_json::json!({
                "submission": id, "job": job.id, "run_id": job.run_id,
                "sha256": job.input.sha256, "plan_digest": job.plan,
                "would_send": submission.preview().tally.count(crate::status::Status::WouldSend),
            }),
        );
        if let Err(error) = audited {
            let _ = std::fs::remove_file(&job.input.path);
            return Err(Box::new(audit_refused(lang, &error)));
        }
        if let Ok(mut slot) = submission.job.lock() {
            *slot = Some(job.id.clone());
        }
        Ok(job)
    });
    let job = match claimed {
        Ok(job) => job,
        Err(Claim::Busy) => {
            back_to_pending(lang.t("error.send_running"));
            return conflict(lang.t("error.send_running").to_owned());
        }
        Err(Claim::Refused(response)) => return *response,
    };
    if let Ok(mut all) = desk.jobs.lock() {
        all.insert(job.id.clone(), Arc::clone(&job));
    }
    tokio::spawn(run_job(
        Arc::clone(&desk),
        Arc::clone(&job),
        Arc::clone(&submission),
    ));
    // A send that cannot start ends at once: the clerk sees that here, on the page
    // they confirmed from — the ledger held by another run, or a plan that is no
    // longer the preview's (checked again, to be confirmed again).
    // Awaited: the send says when its calls start or it ends (a slow start is left to
    // the progress page after a few seconds).
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        job.until_started_or_ended(),
    )
    .await;
    match job.ended() {
        Some(Ended::Refused {
            message,
            why: Refused::Locked,
        }) => {
            forget_job(&desk, &job, &submission);
            back_to_pending(lang.t("error.locked"));
            return conflict(format!(
                "{} ({})",
                lang.t("error.locked"),
                desk.scrub(&message)
            ));
        }
        Some(Ended::Refused {
            why: Refused::PlanChanged,
            ..
        }) => {
            forget_job(&desk, &job, &submission);
            desk.audit.record_done(
                &visitor.session.user,
                "send_refused",
                serde_json::json!({
                    "submission": id, "job": job.id, "plan_digest": job.plan,
                    "error": "the plan changed since the preview; nothing was sent",
                }),
            );
            let again = preview(&desk, &submission.stored.path, &id, &submission.label).await;
            desk.audit.record_done(
                &visitor.session.user,
                "preview",
                serde_json::json!({
                    "submission": id, "again": true, "plan_digest": again.plan_digest(),
                    "would_send": again.tally.count(crate::status::Status::WouldSend),
                }),
            );
            let note = format!(
                "{} ({} → {})",
                lang.t("error.plan_changed"),
                submission
                    .preview()
                    .tally
                    .count(crate::status::Status::WouldSend),
                again.tally.count(crate::status::Status::WouldSend)
            );
            if let Ok(mut slot) = submission.preview.lock() {
                *slot = Arc::new(again);
            }
            back_to_pending(&note);
            return conflict(lang.t("error.plan_changed").to_owned());
        }
        _ => {}
    }
    Redirect::to(&format!("/jobs/{}", job.id)).into_response()
}

/// A desk send's run id: when it started and which upload, marked as a simulation's
/// when it goes to the simulated gateway (live runs ignore such ledger lines).
fn run_id(simulated: bool, submission: &str) -> String {
    let prefix = if simulated {
        crate::ledger::SIMULATED_RUN_PREFIX
    } else {
        ""
    };
    let now = chrono::Utc::now().with_timezone(&crate::clock::beijing());
    format!("{prefix}{}-desk-{submission}", now.format("%Y%m%dT%H%M%S"))
}

/// A send that never started: the upload may be confirmed again.
fn forget_job(desk: &Desk, job: &DeskSend, submission: &Submission) {
    if let Ok(mut slot) = submission.job.lock() {
        *slot = None;
    }
    if let Ok(mut all) = desk.jobs.lock() {
        all.remove(&job.id);
    }
    let _ = std::fs::remove_file(&job.input.path);
}

async fn run_job(desk: Arc<Desk>, job: Arc<DeskSend>, submission: Arc<Submission>) {
    let run = EngineRun {
        input: job.input.path.clone(),
        label: submission.label.clone(),
        ledger: desk.config.ledger.clone(),
        out: job.out.clone(),
        dry_run: false,
        expect_plan: Some(job.plan.clone()),
        user: job.user.clone(),
    };
    let ended = jobs::run(
        &desk.config.template,
        &desk.env,
        run,
        &job.run_id,
        Some(Arc::clone(&job.live)),
        desk.stop.clone(),
    )
    .await;
    let (exit, error) = match &ended {
        Ended::Ran { exit, .. } => (Some(exit.code()), None),
        Ended::Refused { message, .. } => (None, Some(desk.scrub(message))),
    };
    let counts = job.live.snapshot();
    if !matches!(
        ended,
        Ended::Refused {
            why: Refused::Locked | Refused::PlanChanged,
            ..
        }
    ) {
        desk.audit.record_done(&job.user, "sent", serde_json::json!({
            "job": job.id, "run_id": job.run_id, "exit_code": exit, "error": error,
            "sha256": job.input.sha256, "plan_digest": job.plan,
            "delivered": counts.map(|c| c.delivered), "rejected": counts.map(|c| c.rejected), "failed": counts.map(|c| c.failed),
            "results": job.out.file_name().map(|n| n.to_string_lossy().into_owned()),
        }));
    }
    let ended = match ended {
        Ended::Refused { message, why } => Ended::Refused {
            message: desk.scrub(&message),
            why,
        },
        ran => ran,
    };
    if let Some(request) = &job.request
        && !matches!(
            ended,
            Ended::Refused {
                why: Refused::Locked | Refused::PlanChanged,
                ..
            }
        )
    {
        super::approvals::finished(&desk, request, &job.run_id, exit);
    }
    job.end(ended);
}

/// The job `id` of `user`: another user's is not found.
fn find_job(desk: &Desk, id: &str, user: &str) -> Option<Arc<DeskSend>> {
    if !runs::is_id(id) {
        return None;
    }
    let job = desk.jobs.lock().ok()?.get(id).cloned()?;
    (job.user == user).then_some(job)
}

pub async fn job_page(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let Some(job) = find_job(&desk, &id, &visitor.session.user) else {
        return status_page(
            StatusCode::NOT_FOUND,
            &visitor,
            visitor.lang.t("error.not_found"),
        );
    };
    let result = match job.ended() {
        Some(Ended::Ran { .. }) => job
            .out
            .file_name()
            .and_then(|name| desk.runs.find(&runs::id_of(&name.to_string_lossy()))),
        _ => None,
    };
    html(views::job(visitor.frame(), &job, result.as_ref()))
}

#[derive(serde::Serialize)]
struct JobStatus {
    running: bool,
    progress: Option<crate::send::progress::Snapshot>,
    exit_code: Option<u8>,
    error: Option<String>,
}

pub async fn job_status(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let Some(job) = find_job(&desk, &id, &visitor.session.user) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ended = job.ended();
    Json(JobStatus {
        running: ended.is_none(),
        progress: job.live.snapshot(),
        exit_code: match &ended {
            Some(Ended::Ran { exit, .. }) => Some(exit.code()),
            _ => None,
        },
        error: match ended {
            Some(Ended::Refused { message, .. }) => Some(message),
            _ => None,
        },
    })
    .into_response()
}
