//! Every error page of the desk: a status and the words it says, in the frame of whoever
//! asked — named when logged in (`respond::status_page`), else in their language alone.
//! The guard's refusals come here too, so none is bare text.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::i18n::Lang;
use super::pages::Frame;
use super::views;

/// The error page: `status` and `text` in `frame`.
pub fn refusal(status: StatusCode, frame: Frame<'_>, text: &str) -> Response {
    (status, Html(views::error(frame, text).into_string())).into_response()
}

/// The error page for someone not (or not yet) known, in `lang`.
pub fn anonymous_page(status: StatusCode, lang: Lang, text: &str) -> Response {
    refusal(status, views::anonymous(lang), text)
}
