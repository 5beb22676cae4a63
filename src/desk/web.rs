//! The desk's routes, and the pages that only read: log in and out, the language
//! switch, the runs, one run and its downloads. The worklist is `worklist`. Submitting is
//! `submit`, sending `sending`. Every id in a URL is checked for its shape and looked
//! up; none is a path.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};

use super::guard::{self, LANG_COOKIE, SESSION_COOKIE, Visitor};
use super::posted::{Nothing, Posted};
use super::refusal::anonymous_page;
use super::respond::{audit_refused, html, lock_holder, status_page};
use super::runs;
use super::server::Peer;
use super::state::Desk;
use super::{
    audit_pages, closing, download, pages, people, requests, sending, story, submit, views,
    worklist,
};

pub fn router(desk: Arc<Desk>) -> Router {
    // A request body may be larger than an upload (the form's other fields, and an
    // upload over the limit is read to its end before the refusal), up to four times.
    let upload_limit = usize::try_from(desk.config.max_upload)
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        .max(1 << 20);
    Router::new()
        .route("/", get(runs_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang/{lang}", get(switch_lang))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/results.xlsx", get(run_results))
        .route("/runs/{id}/attention.xlsx", get(run_attention))
        .route("/work", get(worklist::page))
        .route("/work.xlsx", get(worklist::workbook))
        .route("/work/selected", post(worklist::selected))
        // The worklist's first addresses, for bookmarks made before it was `/work`.
        .route("/outstanding", get(worklist::page))
        .route("/outstanding.xlsx", get(worklist::workbook))
        .route("/orders", get(story::search))
        .route("/audit", get(audit_pages::page_of))
        .route("/audit.csv", get(audit_pages::csv_of))
        .route("/audit.xlsx", get(audit_pages::xlsx_of))
        .route("/users", get(people::users_page).post(people::add))
        .route("/users/{name}/disable", post(people::disable))
        .route("/orders/{req_id}", get(story::order))
        .route(
            "/submit",
            get(submit::submit_page)
                .post(submit::submit)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/submissions/{id}", get(submit::submission_page))
        .route("/submissions/{id}/send", post(sending::confirm))
        .route("/submissions/{id}/request", post(requests::make))
        .route("/requests", get(requests::list_page))
        .route("/close", post(closing::close))
        .route("/requests/{id}", get(requests::request_page))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/reject", post(requests::reject))
        .route("/requests/{id}/cancel", post(requests::cancel))
        .route("/jobs/{id}", get(sending::job_page))
        .route("/jobs/{id}/status", get(sending::job_status))
        .route("/assets/desk.css", get(css))
        .route("/assets/desk.js", get(js))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&desk),
            guard::check,
        ))
        .with_state(desk)
}

async fn not_found(headers: axum::http::HeaderMap) -> Response {
    let lang = guard::lang_of(&headers);
    anonymous_page(StatusCode::NOT_FOUND, lang, lang.t("error.not_found"))
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/desk.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/desk.js"),
    )
        .into_response()
}

async fn login_page(
    State(desk): State<Arc<Desk>>,
    headers: axum::http::HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let lang = guard::lang_of(&headers);
    let frame = views::anonymous(lang);
    let Some(token) = query.get("token") else {
        return html(views::login(frame, desk.auth.uses_passwords(), None));
    };
    match desk.auth.redeem(token) {
        Some(session) => {
            if let Err(error) =
                desk.audit
                    .record("desk", "login", serde_json::json!({"by": "link"}))
            {
                desk.auth.close(&session);
                return audit_refused(lang, &error);
            }
            logged_in(&desk, &session)
        }
        None => (
            StatusCode::FORBIDDEN,
            html(views::login(frame, false, Some(lang.t("error.login_link")))),
        )
            .into_response(),
    }
}

fn logged_in(desk: &Desk, session: &str) -> Response {
    let cookie = guard::set_cookie(SESSION_COOKIE, session, desk.https, None);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(
    State(desk): State<Arc<Desk>>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = guard::lang_of(&headers);
    let name = form.name.trim();
    // No password is that long: refused without spending a check on it.
    let plausible =
        form.password.len() <= 4 * *super::users::PASSWORD_CHARS.end() && name.len() <= 64;
    let outcome = match plausible {
        true => {
            desk.auth
                .login(name, &form.password, &peer.ip().to_string())
                .await
        }
        false => super::auth::Login::Refused,
    };
    match outcome {
        super::auth::Login::Busy { retry } => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                html(views::login(
                    views::anonymous(lang),
                    true,
                    Some(lang.t("error.busy")),
                )),
            )
                .into_response();
            if let Ok(value) = retry.as_secs().max(1).to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        super::auth::Login::In(session) => {
            if let Err(error) = desk.audit.record(
                name,
                "login",
                serde_json::json!({"from": peer.ip().to_string()}),
            ) {
                desk.auth.close(&session);
                return audit_refused(lang, &error);
            }
            logged_in(&desk, &session)
        }
        super::auth::Login::Refused => {
            desk.audit.record_done(
                &crate::text::shorten(&crate::text::visible(name), 64),
                "login_failed",
                serde_json::json!({"from": peer.ip().to_string()}),
            );
            (
                StatusCode::UNAUTHORIZED,
                html(views::login(
                    views::anonymous(lang),
                    true,
                    Some(lang.t("error.bad_login")),
                )),
            )
                .into_response()
        }
    }
}

async fn logout(State(desk): State<Arc<Desk>>, visitor: Visitor, _: Posted<Nothing>) -> Response {
    desk.auth.close(&visitor.session_id);
    desk.audit
        .record_done(&visitor.session.user, "logout", serde_json::json!({}));
    let cookie = guard::set_cookie(SESSION_COOKIE, "", desk.https, Some(0));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

async fn switch_lang(State(desk): State<Arc<Desk>>, Path(lang): Path<String>) -> Response {
    let Some(lang) = super::i18n::Lang::from_param(&lang) else {
        return not_found(axum::http::HeaderMap::new()).await;
    };
    let cookie = guard::set_cookie(LANG_COOKIE, lang.param(), desk.https, Some(365 * 86400));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

async fn runs_page(State(desk): State<Arc<Desk>>, visitor: Visitor) -> Response {
    let runs = desk.runs.list();
    let recorded = runs::recorded(&desk.config.ledger);
    html(pages::runs(
        visitor.frame(),
        &runs,
        &recorded,
        lock_holder(&desk).as_deref(),
    ))
}

/// The run a URL's id names (`/runs/{id}…`), for a logged-in visitor; else the
/// not-found page.
struct FoundRun(runs::ResultFile);

impl axum::extract::FromRequestParts<Arc<Desk>> for FoundRun {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        desk: &Arc<Desk>,
    ) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, desk).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, desk)
            .await
            .map_err(IntoResponse::into_response)?;
        desk.runs.find(&id).map(FoundRun).ok_or_else(|| {
            status_page(
                StatusCode::NOT_FOUND,
                &visitor,
                visitor.lang.t("error.not_found"),
            )
        })
    }
}

async fn run_page(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    FoundRun(run): FoundRun,
) -> Response {
    let mut rows = runs::attention(&run.path).unwrap_or_default();
    runs::now_in(
        &desk.config.ledger,
        desk.config.template.simulate,
        &mut rows,
    );
    let recorded = runs::recorded(&desk.config.ledger);
    html(pages::run(
        visitor.frame(),
        &run,
        recorded.get(&run.name),
        &rows,
    ))
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

async fn run_results(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    FoundRun(run): FoundRun,
) -> Response {
    if let Err(error) = desk.audit.record(
        &visitor.session.user,
        "download",
        serde_json::json!({"run": run.name, "what": "results"}),
    ) {
        return audit_refused(visitor.lang, &error);
    }
    download::table_workbook(
        &desk.config.results_dir,
        &run.path,
        &format!("{}.xlsx", stem(&run.name)),
    )
}

async fn run_attention(
    State(desk): State<Arc<Desk>>,
    visitor: Visitor,
    FoundRun(run): FoundRun,
) -> Response {
    let detail = serde_json::json!({
        "run": run.name,
        "what": "attention",
        "rows": run.tally.attention_total(),
    });
    if let Err(error) = desk.audit.record(&visitor.session.user, "download", detail) {
        return audit_refused(visitor.lang, &error);
    }
    download::attention_workbook(
        &desk.config.results_dir,
        &run.path,
        &format!("{}-attention.xlsx", stem(&run.name)),
    )
}
