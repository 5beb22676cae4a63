//! A form posted from one of the desk's own pages. `Posted<T>` is extracted only when
//! the form's `csrf` field is the visitor's session token, so a handler that takes a
//! form cannot forget the check: anything else is told 403 in words before the
//! handler runs. A form that is not one (wrong type, a field missing) is a 400 page.

use std::sync::Arc;

use axum::Form;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::guard::Visitor;
use super::respond::status_page;
use super::state::Desk;

/// The largest form the desk reads (10,000 req_ids named for a closure fit).
const FORM_LIMIT: usize = 2 << 20;

/// A form whose CSRF token matched the visitor's session.
#[derive(Debug)]
pub struct Posted<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Desk>> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, desk: &Arc<Desk>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, desk).await?;
        let lang = visitor.lang;
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return Err(status_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                &visitor,
                lang.t("error.bad_form"),
            ));
        };
        let token = form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value);
        if !visitor.csrf_ok(token.as_deref()) {
            return Err(status_page(
                StatusCode::FORBIDDEN,
                &visitor,
                lang.t("error.bad_csrf"),
            ));
        }
        // axum's own form reading (its content-type check included), on the bytes read.
        let request = Request::from_parts(parts, Body::from(bytes));
        match Form::<T>::from_request(request, desk).await {
            Ok(Form(form)) => Ok(Posted(form)),
            Err(_) => Err(status_page(
                StatusCode::BAD_REQUEST,
                &visitor,
                lang.t("error.bad_form"),
            )),
        }
    }
}

/// A form of the desk's that carries nothing but its token.
#[derive(Debug, serde::Deserialize)]
pub struct Nothing {}
