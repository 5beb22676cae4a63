//! Submitting a file: the upload form, the upload itself (the CSRF token first, then
//! the file streamed to disk), its preview — a dry run against the ledger — and the
//! preview page.

use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::guard::Visitor;
use super::jobs::{self, Ended, EngineRun};
use super::respond::{html, new_id, status_page};
use super::runs::{self, Shown};
use super::state::{Desk, Preview, Submission};
use super::{upload, views};
use crate::results::tally::Tally;

/// Preview rows shown at most.
const PREVIEW_SHOWN: usize = 1000;

pub async fn submit_page(State(desk): State<Arc<Desk>>, visitor: Visitor) -> Response {
    html(views::submit(visitor.frame(), desk.config.max_upload, None))
}

pub async fn submit(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    mut form: Multipart,
) -> Response {
    let lang = visitor.lang;
    let refuse = |status, text: &str| {
        (
            status,
            html(views::submit(
                visitor.frame(),
                desk.config.max_upload,
                Some(text),
            )),
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
    let label = upload::label(field.file_name());
    let id = new_id();
    let stored = match upload::store(&mut field, &desk.uploads(), &id, desk.config.max_upload).await
    {
        Ok(stored) => stored,
        Err(upload::UploadError::TooLarge { limit }) => {
            // Read the rest (bounded by the route's body limit) and drop it, so the
            // browser, still sending, gets this answer rather than a broken pipe.
            while let Ok(Some(_)) = field.chunk().await {}
            drop(field);
            while let Ok(Some(mut rest)) = form.next_field().await {
                while let Ok(Some(_)) = rest.chunk().await {}
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
        Err(error) => return refuse(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    drop(form);
    desk.audit.record(&visitor.session.user, "upload", serde_json::json!({"submission": id, "label": label, "bytes": stored.bytes, "sha256": stored.sha256}));
    // Rows are shown as from the file the clerk uploaded (its row numbers follow its
    // kind: the stored one, whatever the uploaded name said).
    let shown_as = if crate::xlsx::is_workbook(std::path::Path::new(&label))
        == crate::xlsx::is_workbook(&stored.path)
    {
        label.clone()
    } else {
        stored
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let preview = preview(&desk, &stored.path, &id, &shown_as).await;
    desk.audit.record(&visitor.session.user, "preview", serde_json::json!({
        "submission": id,
        "sha256": stored.sha256,
        "rows": preview.tally.rows(),
        "would_send": preview.tally.count(crate::status::Status::WouldSend),
        "amount": preview.tally.amount(crate::status::Status::WouldSend).to_string(),
        "error": match &preview.ended { Ended::Refused { message, .. } => Some(message.clone()), Ended::Ran { .. } => None },
    }));
    let submission = Arc::new(Submission {
        id: id.clone(),
        label,
        user: visitor.session.user.clone(),
        stored,
        preview,
        job: std::sync::Mutex::default(),
    });
    if let Ok(mut all) = desk.submissions.lock() {
        all.insert(id.clone(), submission);
    }
    Redirect::to(&format!("/submissions/{id}")).into_response()
}

/// The dry run of an upload against the ledger, and its rows read back.
pub async fn preview(desk: &Desk, input: &std::path::Path, id: &str, label: &str) -> Preview {
    let out = desk.uploads().join(format!("{id}.preview.csv"));
    let run = EngineRun {
        input: input.to_owned(),
        ledger: desk.config.ledger.clone(),
        out: out.clone(),
        dry_run: true,
    };
    let ended = jobs::run(
        &desk.config.template,
        &desk.env.0,
        run,
        &format!("preview-{id}"),
        None,
    )
    .await;
    let mut tally = Tally::default();
    let mut rows = Vec::new();
    if matches!(ended, Ended::Ran { .. })
        && let Ok(mut table) = crate::results::table::TableReader::open(&out)
    {
        while let Ok(Some(row)) = table.next_row() {
            tally.add(&row);
            if rows.len() < PREVIEW_SHOWN {
                rows.push(Shown {
                    row,
                    source: label.to_owned(),
                });
            }
        }
    }
    // The rows that need a decision first; the rest in input order.
    rows.sort_by_key(|shown| shown.row.status == crate::status::Status::WouldSend);
    Preview { ended, tally, rows }
}

pub fn find_submission(desk: &Desk, id: &str) -> Option<Arc<Submission>> {
    if !runs::is_id(id) {
        return None;
    }
    desk.submissions.lock().ok()?.get(id).cloned()
}

pub async fn submission_page(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    match find_submission(&desk, &id) {
        Some(submission) => html(views::preview(visitor.frame(), &submission, None)),
        None => status_page(
            StatusCode::NOT_FOUND,
            &visitor,
            visitor.lang.t("error.not_found"),
        ),
    }
}
