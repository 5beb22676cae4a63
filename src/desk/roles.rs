//! What a visitor's role lets them reach: an extractor per least role, so a route
//! says who may use it in its signature and nobody else gets past (403, in words).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;

use super::guard::Visitor;
use super::state::Desk;

/// A visitor whose role is at least `MIN` (`super::auth::Role as u8`): a clerk may
/// prepare and send, an admin manage the users; anyone else is told so (403).
#[derive(Debug, Clone)]
pub struct AtLeast<const MIN: u8>(pub Visitor);

/// A clerk (or an approver or an admin).
pub type Clerk = AtLeast<{ super::auth::Role::Clerk as u8 }>;
/// An admin.
pub type Admin = AtLeast<{ super::auth::Role::Admin as u8 }>;

impl<const MIN: u8> FromRequestParts<Arc<Desk>> for AtLeast<MIN> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, desk: &Arc<Desk>) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, desk).await?;
        if visitor.session.role as u8 >= MIN {
            Ok(AtLeast(visitor))
        } else {
            let text = visitor.lang.t("error.role");
            Err(super::respond::status_page(
                StatusCode::FORBIDDEN,
                &visitor,
                text,
            ))
        }
    }
}
