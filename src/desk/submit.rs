//! Submitting a file: the upload form, the upload itself (the CSRF token first, then
//! the file streamed to disk), its preview — a dry run against the ledger — and the
//! preview page. A submission is its uploader's alone, and lives `--upload-ttl`; the
//! uploads together stay within the desk's disk budget (`--upload-budget-mib`).

use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::guard::Visitor;
use super::jobs::{self, Ended, EngineRun};
use super::respond::{audit_refused, html, new_id, status_page};
use super::roles::{AtLeast, Clerk};
use super::runs::{self, Shown};
use super::state::{Desk, Preview, Submission};
use super::{upload, views};
use crate::results::tally::Tally;

/// Preview rows shown at most.
const PREVIEW_SHOWN: usize = 1000;

/// Submissions kept per user at most: a new one puts that user's oldest unsent away.
pub const PER_USER: usize = 20;

pub async fn submit_page(State(desk): State<Arc<Desk>>, AtLeast(visitor): Clerk) -> Response {
    html(views::submit(visitor.frame(), &limits(&desk), None))
}

/// What the upload page says of the limits: the largest file, how long uploads are
/// kept, the space used of the budget.
fn limits(desk: &Desk) -> views::UploadLimits {
    views::UploadLimits {
        max_upload: desk.config.max_upload,
        ttl: desk.config.upload_ttl,
        used: uploads_bytes(desk),
        budget: desk.config.upload_budget,
    }
}

pub async fn submit(
    State(desk): State<Arc<Desk>>,
    AtLeast(visitor): Clerk,
    mut form: Multipart,
) -> Response {
    let lang = visitor.lang;
    let refuse = |status, text: &str| {
        (
            status,
            html(views::submit(visitor.frame(), &limits(&desk), Some(text))),
        )
            .into_response()
    };
    // The form puts the token first: nothing is stored before it is checked.
    let csrf = match form.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.ok(),
        _ => None,
    };
    if !visitor.csrf_ok(csrf.as_deref()) {
        return refuse(StatusCode::FORBIDDEN, lang.t("error.bad_csrf"));
    }
    let mut field = match form.next_field().await {
        Ok(Some(field)) if field.name() == Some("file") => field,
        _ => return refuse(StatusCode::BAD_REQUEST, lang.t("error.bad_file")),
    };
    expire(&desk, Some(&visitor.session.user));
    let room = desk
        .config
        .upload_budget
        .saturating_sub(uploads_bytes(&desk));
    let limit = desk.config.max_upload.min(room);
    let label = upload::label(field.file_name());
    let id = new_id();
    let stored = match upload::store(&mut field, &desk.uploads(), &id, limit).await {
        Ok(stored) => stored,
        Err(upload::UploadError::TooLarge { limit }) => {
            // Read the rest (bounded by the route's body limit) and drop it, so the
            // browser, still sending, gets this answer rather than a broken pipe.
            while let Ok(Some(_)) = field.chunk().await {}
            drop(field);
            while let Ok(Some(mut rest)) = form.next_field().await {
                while let Ok(Some(_)) = rest.chunk().await {}
            }
            if limit < desk.config.max_upload {
                return refuse(
                    StatusCode::INSUFFICIENT_STORAGE,
                    lang.t("error.upload_space"),
                );
            }
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("{} {} MiB", lang.t("error.too_large"), limit / (1 << 20)),
            );
        }
        Err(upload::UploadError::Empty) => {
            return refuse(StatusCode::BAD_REQUEST, lang.t("error.empty_file"));
        }
        Err(upload::UploadError::NotATable) => {
            return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, lang.t("error.bad_file"));
        }
        Err(error) => return refuse(StatusCode::BAD_REQUEST, &desk.scrub(&error.to_string())),
    };
    drop(form);
    let detail = serde_json::json!({"submission": id, "label": label, "bytes": stored.bytes, "sha256": stored.sha256});
    accept(&desk, &visitor, "upload", detail, stored, id, label).await
}

/// A stored table becomes `visitor`'s submission: the `action` recorded (its `detail`),
/// previewed, the preview recorded, then its page. Nothing is kept that was not audited.
pub(super) async fn accept(
    desk: &Desk,
    visitor: &Visitor,
    action: &str,
    detail: serde_json::Value,
    stored: upload::Stored,
    id: String,
    label: String,
) -> Response {
    let lang = visitor.lang;
    let user = visitor.session.user.clone();
    if let Err(error) = desk.audit.record(&user, action, detail) {
        let _ = std::fs::remove_file(&stored.path);
        return audit_refused(lang, &error);
    }
    let preview = preview(desk, &stored.path, &id, &label).await;
    let audited = desk.audit.record(&user, "preview", serde_json::json!({
        "submission": id,
        "sha256": stored.sha256,
        "rows": preview.tally.rows(),
        "would_send": preview.tally.count(crate::status::Status::WouldSend),
        "amount": preview.tally.amount(crate::status::Status::WouldSend).to_string(),
        "plan_digest": preview.plan_digest(),
        "error": match &preview.ended { Ended::Refused { message, .. } => Some(message.clone()), Ended::Ran { .. } => None },
    }));
    if let Err(error) = audited {
        let _ = std::fs::remove_file(&stored.path);
        return audit_refused(lang, &error);
    }
    let submission = Arc::new(Submission {
        id: id.clone(),
        label,
        user,
        stored,
        created: std::time::Instant::now(),
        preview: std::sync::Mutex::new(Arc::new(preview)),
        job: std::sync::Mutex::default(),
    });
    if let Ok(mut all) = desk.submissions.lock() {
        all.insert(id.clone(), submission);
    }
    Redirect::to(&format!("/submissions/{id}")).into_response()
}

/// The dry run of an upload against the ledger, its rows read back. Rows and messages
/// name the upload by its `label`, never by its place on the server.
pub async fn preview(desk: &Desk, input: &std::path::Path, id: &str, label: &str) -> Preview {
    let out = desk.uploads().join(format!("{id}.preview.csv"));
    let run = EngineRun {
        input: input.to_owned(),
        label: label.to_owned(),
        ledger: desk.config.ledger.clone(),
        out: out.clone(),
        dry_run: true,
        expect_plan: None,
        user: String::new(),
    };
    let ended = jobs::run(
        &desk.config.template,
        &desk.env,
        run,
        &format!("preview-{id}"),
        None,
        desk.stop.clone(),
    )
    .await;
    // The engine counted every row; the page shows the first ones.
    let tally = match &ended {
        Ended::Ran { tally, .. } => (**tally).clone(),
        Ended::Refused { .. } => Tally::default(),
    };
    let mut rows = Vec::new();
    if matches!(ended, Ended::Ran { .. })
        && let Ok(mut table) = crate::results::table::TableReader::open(&out)
    {
        while rows.len() < PREVIEW_SHOWN
            && let Ok(Some(row)) = table.next_row()
        {
            rows.push(Shown {
                row,
                source: label.to_owned(),
                changed: Vec::new(),
                now: None,
            });
        }
    }
    // A corrected row: what it changes against what the ledger last sent.
    let fields: Vec<&crate::columns::RowText> = rows.iter().map(|s| &s.row.fields).collect();
    let changed =
        super::changes::against_ledger(&desk.config.ledger, desk.config.template.simulate, &fields);
    for (shown, changed) in rows.iter_mut().zip(changed) {
        if shown.row.status == crate::status::Status::WouldSend {
            shown.changed = changed;
        }
    }
    let _ = std::fs::remove_file(&out);
    // The rows that need a decision first; the rest in input order.
    rows.sort_by_key(|shown| shown.row.status == crate::status::Status::WouldSend);
    let ended = match ended {
        Ended::Refused { message, why } => Ended::Refused {
            message: desk.scrub(&message),
            why,
        },
        ran => ran,
    };
    Preview { ended, tally, rows }
}

/// The submission of a pending `request` whose desk restarted since: its upload, still
/// in the uploads directory and within `--upload-ttl` of when it was stored, with the
/// bytes the request names, checked again (a dry run, audited). `None` when it is gone.
pub async fn restore(
    desk: &Desk,
    request: &crate::ledger::requests::Request,
) -> Option<Arc<Submission>> {
    let id = &request.submission;
    if !runs::is_id(id) {
        return None;
    }
    let (path, bytes, age) = ["xlsx", "csv"].iter().find_map(|ext| {
        let path = desk.uploads().join(format!("{id}.{ext}"));
        let age = std::fs::metadata(&path)
            .ok()?
            .modified()
            .ok()?
            .elapsed()
            .ok()?;
        Some((path.clone(), std::fs::read(&path).ok()?, age))
    })?;
    let sha256 = {
        use sha2::Digest as _;
        faster_hex::hex_string(&sha2::Sha256::digest(&bytes))
    };
    if sha256 != request.sha256 || age >= desk.config.upload_ttl {
        return None;
    }
    let preview = preview(desk, &path, id, &request.label).await;
    let audited = desk.audit.record(
        &request.made_by,
        "preview",
        serde_json::json!({
            "submission": id, "restored": true, "request": request.id, "sha256": sha256,
            "would_send": preview.tally.count(crate::status::Status::WouldSend),
            "plan_digest": preview.plan_digest(),
        }),
    );
    if audited.is_err() {
        return None;
    }
    let submission = Arc::new(Submission {
        id: id.clone(),
        label: request.label.clone(),
        user: request.made_by.clone(),
        stored: upload::Stored {
            path,
            bytes: bytes.len() as u64,
            sha256,
        },
        // It expires when the upload would have.
        created: std::time::Instant::now()
            .checked_sub(age)
            .unwrap_or_else(std::time::Instant::now),
        preview: std::sync::Mutex::new(Arc::new(preview)),
        job: std::sync::Mutex::default(),
    });
    let mut all = desk.submissions.lock().ok()?;
    Some(Arc::clone(all.entry(id.clone()).or_insert(submission)))
}

/// The visitor's own submission a URL's id names (`/submissions/{id}…`), within its
/// `--upload-ttl`; else the not-found page (another user's is not found either).
pub struct Theirs(pub Arc<Submission>);

impl axum::extract::FromRequestParts<Arc<Desk>> for Theirs {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        desk: &Arc<Desk>,
    ) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, desk).await?;
        let id = Path::<String>::from_request_parts(parts, desk)
            .await
            .map(|Path(id)| id)
            .unwrap_or_default();
        find_submission(desk, &id, &visitor.session.user)
            .map(Theirs)
            .ok_or_else(|| {
                status_page(
                    StatusCode::NOT_FOUND,
                    &visitor,
                    visitor.lang.t("error.not_found"),
                )
            })
    }
}

/// The submission `id` of `user`: another user's is not found.
pub fn find_submission(desk: &Desk, id: &str, user: &str) -> Option<Arc<Submission>> {
    if !runs::is_id(id) {
        return None;
    }
    let found = desk.submissions.lock().ok()?.get(id).cloned()?;
    (found.user == user && found.created.elapsed() < desk.config.upload_ttl).then_some(found)
}

/// Puts away the submissions that expired (and, for `user` about to upload, the
/// oldest of theirs beyond `PER_USER`), with their files; never one being sent.
pub fn expire(desk: &Desk, user: Option<&str>) {
    let Ok(mut all) = desk.submissions.lock() else {
        return;
    };
    let sending = |s: &Submission| s.job.lock().map(|j| j.is_some()).unwrap_or(true);
    let mut gone: Vec<String> = all
        .values()
        .filter(|s| s.created.elapsed() >= desk.config.upload_ttl && !sending(s))
        .map(|s| s.id.clone())
        .collect();
    if let Some(user) = user {
        let mut theirs: Vec<&Arc<Submission>> = all
            .values()
            .filter(|s| s.user == user && !sending(s) && !gone.contains(&s.id))
            .collect();
        theirs.sort_by_key(|s| s.created);
        let over = (theirs.len() + 1).saturating_sub(PER_USER);
        gone.extend(theirs.iter().take(over).map(|s| s.id.clone()));
    }
    for id in gone {
        if let Some(submission) = all.remove(&id) {
            remove_files(desk, &submission.id);
        }
    }
    // Files no submission holds (a desk restarted since their upload) go when the
    // upload would have: older than `--upload-ttl`, unless a send reads them.
    let Ok(entries) = std::fs::read_dir(desk.uploads()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let id = name
            .trim_start_matches('.')
            .split('.')
            .next()
            .unwrap_or_default();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age >= desk.config.upload_ttl);
        if old && !all.contains_key(id) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Every file of submission `id` in the uploads directory (the upload, its preview,
/// a copy made for a send that never started).
fn remove_files(desk: &Desk, id: &str) {
    let Ok(entries) = std::fs::read_dir(desk.uploads()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!("{id}.")) || name.starts_with(&format!(".{id}.")) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The bytes the uploads directory holds.
pub fn uploads_bytes(desk: &Desk) -> u64 {
    std::fs::read_dir(desk.uploads())
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub async fn submission_page(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Theirs(submission): Theirs,
) -> Response {
    html(views::preview(
        visitor.frame(),
        &submission,
        None,
        super::approvals::needs_approval(&desk),
    ))
}
