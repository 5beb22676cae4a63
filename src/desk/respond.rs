//! What the desk's handlers share: an HTML answer, an error page, a fresh opaque id,
//! the CSRF field of a form, who holds the ledger.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::Markup;

use super::guard::Visitor;
use super::state::Desk;

pub fn html(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// The error page for a visitor who is logged in.
pub fn status_page(status: StatusCode, visitor: &Visitor, text: &str) -> Response {
    super::refusal::refusal(status, visitor.frame(), text)
}

/// An action refused because its audit line could not be written (no audit, no
/// action).
pub fn audit_refused(lang: super::i18n::Lang, error: &super::audit::AuditError) -> Response {
    tracing::error!("desk: {error}; the action was refused");
    super::refusal::anonymous_page(StatusCode::SERVICE_UNAVAILABLE, lang, lang.t("error.audit"))
}

/// Who holds the ledger now, if another process seems to (its note: pid and since
/// when); read without taking the lock.
pub fn lock_holder(desk: &Desk) -> Option<String> {
    crate::ledger::lock::holder(&desk.config.ledger)
}

pub fn new_id() -> String {
    super::auth::random_hex::<8>()
}
