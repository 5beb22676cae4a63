//! The admin page (`/users`): the desk's users and their roles, kept in the ledger —
//! add one (or set a role and a new password), disable one (their sessions end). Every
//! change is a row of the audit log, written before the change (no audit, no change).
//! The one-time link's visitor (loopback, nobody yet) makes the first admin here.

use std::sync::Arc;

use super::posted::{Nothing, Posted};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::auth::Role;
use super::pages::{Frame, notice, page};
use super::respond::{audit_refused, html, status_page};
use super::roles::{Admin, AtLeast};
use super::state::Desk;
use crate::ledger::people::Account;
use crate::ledger::{Access, Ledger};

#[derive(serde::Deserialize)]
pub struct AddForm {
    name: String,
    role: String,
    password: String,
}

/// `/users`.
pub async fn users_page(State(desk): State<Arc<Desk>>, AtLeast(visitor): Admin) -> Response {
    let problem = (!desk.auth.keeps_users()).then(|| visitor.lang.t("users.from_file"));
    html(users_view(visitor.frame(), &desk.auth.accounts(), problem))
}

/// `POST /users`: a user added, or their role and password set.
pub async fn add(
    State(desk): State<Arc<Desk>>,
    AtLeast(visitor): Admin,
    Posted(form): Posted<AddForm>,
) -> Response {
    let lang = visitor.lang;
    if let Some(refused) = may_change(&desk, &visitor) {
        return refused;
    }
    let name = form.name.trim();
    let problem = super::users::check_name(name)
        .err()
        .or_else(|| super::users::check_password(&form.password).err())
        .or_else(|| {
            Role::parse(&form.role)
                .is_none()
                .then(|| lang.t("users.bad_role").to_owned())
        });
    if let Some(problem) = problem {
        return (
            StatusCode::BAD_REQUEST,
            html(users_view(
                visitor.frame(),
                &desk.auth.accounts(),
                Some(&problem),
            )),
        )
            .into_response();
    }
    let role = Role::parse(&form.role).unwrap_or(Role::Viewer);
    let password = form.password.clone();
    let hash =
        match tokio::task::spawn_blocking(move || super::users::hash_password(&password)).await {
            Ok(Ok(hash)) => hash,
            _ => {
                return status_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &visitor,
                    lang.t("users.hash_failed"),
                );
            }
        };
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "user_change",
        serde_json::json!({"account": name, "role": role.as_str(), "change": "put"}),
    ) {
        return audit_refused(lang, &error);
    }
    let by = visitor.session.user.clone();
    let written = Ledger::open(&desk.config.ledger, Access::Write)
        .and_then(|ledger| crate::ledger::people::put_account(&ledger, name, role, &hash, &by));
    if let Err(error) = written {
        return status_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &visitor,
            &error.to_string(),
        );
    }
    desk.auth.put(Account {
        name: name.to_owned(),
        role,
        hash,
        created_at: crate::clock::now_stamp(),
        created_by: by,
        disabled_at: None,
    });
    Redirect::to("/users").into_response()
}

/// `POST /users/{name}/disable`.
pub async fn disable(
    State(desk): State<Arc<Desk>>,
    AtLeast(visitor): Admin,
    Path(name): Path<String>,
    _: Posted<Nothing>,
) -> Response {
    let lang = visitor.lang;
    if let Some(refused) = may_change(&desk, &visitor) {
        return refused;
    }
    if super::users::check_name(&name).is_err()
        || !desk.auth.accounts().iter().any(|a| a.name == name)
    {
        return status_page(StatusCode::NOT_FOUND, &visitor, lang.t("error.not_found"));
    }
    if name == visitor.session.user {
        return status_page(
            StatusCode::BAD_REQUEST,
            &visitor,
            lang.t("users.not_yourself"),
        );
    }
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "user_change",
        serde_json::json!({"account": name, "change": "disable"}),
    ) {
        return audit_refused(lang, &error);
    }
    let written = Ledger::open(&desk.config.ledger, Access::Write)
        .and_then(|ledger| crate::ledger::people::disable(&ledger, &name));
    if let Err(error) = written {
        return status_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &visitor,
            &error.to_string(),
        );
    }
    desk.auth.disable(&name);
    Redirect::to("/users").into_response()
}

/// Why a change of users is refused: users kept in a `--users` file rather than the
/// ledger.
fn may_change(desk: &Desk, visitor: &super::guard::Visitor) -> Option<Response> {
    let lang = visitor.lang;
    (!desk.auth.keeps_users())
        .then(|| status_page(StatusCode::CONFLICT, visitor, lang.t("users.from_file")))
}

fn users_view(frame: Frame<'_>, accounts: &[Account], problem: Option<&str>) -> Markup {
    let lang = frame.lang;
    let t = |key| lang.t(key);
    let role_name = |role: Role| lang.t(&format!("role.{}", role.as_str()));
    page(
        frame,
        t("users.title"),
        html! {
            @if let Some(problem) = problem { (notice("error", problem)) }
            p { (t("users.intro")) }
            @if accounts.is_empty() { (notice("info", t("users.first"))) } @else {
                table.users {
                    thead { tr { th { (t("users.name")) } th { (t("users.role")) } th { (t("users.created")) } th { (t("users.state")) } th {} } }
                    tbody {
                        @for account in accounts {
                            tr {
                                td { (account.name) }
                                td { (role_name(account.role)) }
                                td { (account.created_at.get(..16).unwrap_or(&account.created_at).replace('T', " ")) " " small { (account.created_by) } }
                                td { @if account.disabled_at.is_some() { (t("users.disabled")) } @else { (t("users.active")) } }
                                td {
                                    @if account.disabled_at.is_none() && Some(account.name.as_str()) != frame.user {
                                        form.inline method="post" action={ "/users/" (account.name) "/disable" } {
                                            input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                                            button.link type="submit" { (t("users.disable")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { (t("users.add")) }
            form.login method="post" action="/users" {
                input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                label { (t("users.name")) input type="text" name="name" autocomplete="off" required maxlength="64"; }
                label { (t("users.role")) select name="role" {
                    @for role in [Role::Viewer, Role::Clerk, Role::Approver, Role::Admin] {
                        option value=(role.as_str()) selected[accounts.is_empty() && role == Role::Admin || !accounts.is_empty() && role == Role::Clerk] { (role_name(role)) }
                    }
                } }
                label { (t("users.password")) input type="password" name="password" autocomplete="new-password" required minlength="10"; }
                button.primary type="submit" { (t("users.save")) }
            }
        },
    )
}
