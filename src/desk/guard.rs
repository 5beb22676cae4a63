//! What every request passes before a page sees it: its `Host` must be one the desk
//! answers to (DNS rebinding), a state-changing request must come from the desk's own
//! origin, and every answer carries the security headers. Then `Visitor`: the session
//! a page needs (else the login page), with its language and CSRF token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::Session;
use super::i18n::Lang;
use super::pages::Frame;
use super::state::Desk;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "desk_session";
/// The language switch's cookie.
pub const LANG_COOKIE: &str = "desk_lang";

/// `127.0.0.1:8640`, `[::1]:8640`.
pub fn display_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

/// The `Host` values the desk answers to: its address, `localhost` when it listens on
/// loopback, and each `--allow-host` (with or without the port).
pub fn allowed_hosts(local: SocketAddr, extra: &[String]) -> Vec<String> {
    let port = local.port();
    let mut hosts = vec![display_addr(local)];
    if local.ip().is_loopback() {
        hosts.push(format!("localhost:{port}"));
    }
    for host in extra {
        let host = host.to_ascii_lowercase();
        hosts.push(format!("{host}:{port}"));
        hosts.push(host);
    }
    hosts
}

/// Host, then Origin, then the headers of the answer.
pub async fn check(State(desk): State<Arc<Desk>>, request: Request, next: Next) -> Response {
    // One Host: two are a request built to slip past a check that reads the first.
    if request.headers().get_all(header::HOST).iter().count() > 1 {
        return refuse(&request, StatusCode::BAD_REQUEST, "error.two_hosts");
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let Some(host) = host.filter(|h| desk.hosts.iter().any(|allowed| allowed == h)) else {
        return refuse(
            &request,
            StatusCode::MISDIRECTED_REQUEST,
            "error.unknown_host",
        );
    };
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe {
        // Behind a TLS proxy the browser's origin is the proxy's (`--public-url`).
        let expected = desk.origin.clone().unwrap_or_else(|| {
            let scheme = if desk.https { "https" } else { "http" };
            format!("{scheme}://{host}")
        });
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok());
        if origin != Some(expected.as_str()) {
            return refuse(&request, StatusCode::FORBIDDEN, "error.cross_origin");
        }
    }
    let mut response = next.run(request).await;
    secure_headers(response.headers_mut(), desk.https);
    response
}

/// The guard's refusals are error pages as any other (in the asker's language), with
/// the security headers.
fn refuse(request: &Request, status: StatusCode, key: &str) -> Response {
    let lang = lang_of(request.headers());
    let mut response = super::refusal::anonymous_page(status, lang, lang.t(key));
    secure_headers(response.headers_mut(), false);
    response
}

fn secure_headers(headers: &mut HeaderMap, https: bool) {
    use axum::http::HeaderValue;
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set("x-content-type-options", "nosniff");
    set("x-frame-options", "DENY");
    // Not no-referrer: with it, Chromium sends `Origin: null` on the desk's own form posts.
    set("referrer-policy", "same-origin");
    set("cache-control", "no-store");
    set("cross-origin-opener-policy", "same-origin");
    if https {
        set("strict-transport-security", "max-age=31536000");
    }
}

/// The value of cookie `name`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The page language: the switch's cookie, else the browser's wish.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::from_param)
        .unwrap_or_else(|| {
            Lang::negotiate(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|h| h.to_str().ok()),
            )
        })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure over TLS.
pub fn set_cookie(name: &str, value: &str, https: bool, max_age: Option<u64>) -> String {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if https {
        text.push_str("; Secure");
    }
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    text
}

/// A logged-in visitor.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub session_id: String,
    pub session: Session,
    pub lang: Lang,
}

impl Visitor {
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            lang: self.lang,
            csrf: Some(&self.session.csrf),
            user: Some(&self.session.user),
            role: Some(self.session.role),
        }
    }

    /// Whether a submitted form's token is this session's.
    pub fn csrf_ok(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| super::auth::same(t, &self.session.csrf))
    }
}

impl FromRequestParts<Arc<Desk>> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, desk: &Arc<Desk>) -> Result<Self, Response> {
        let lang = lang_of(&parts.headers);
        let found = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|id| desk.auth.session(id).map(|s| (id.to_owned(), s)));
        match found {
            Some((session_id, session)) => Ok(Visitor {
                session_id,
                session,
                lang,
            }),
            None if parts.method == Method::GET => Err(Redirect::to("/login").into_response()),
            None => Err(super::refusal::anonymous_page(
                StatusCode::UNAUTHORIZED,
                lang,
                lang.t("error.log_in"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_the_address_and_what_ops_allows() {
        let local: SocketAddr = "127.0.0.1:8640".parse().expect("addr");
        let hosts = allowed_hosts(local, &["Desk.Example.com".into()]);
        assert!(hosts.contains(&"127.0.0.1:8640".into()));
        assert!(hosts.contains(&"localhost:8640".into()));
        assert!(hosts.contains(&"desk.example.com".into()));
        assert!(hosts.contains(&"desk.example.com:8640".into()));
        assert!(!hosts.contains(&"evil.example:8640".into()));
        let v6: SocketAddr = "[::1]:9".parse().expect("addr");
        assert_eq!(allowed_hosts(v6, &[])[0], "[::1]:9");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; desk_session=abc; desk_lang=en"
                .parse()
                .expect("value"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(lang_of(&headers), Lang::En);
        assert_eq!(cookie(&headers, "b"), None);
        let text = set_cookie(SESSION_COOKIE, "abc", true, None);
        assert!(
            text.contains("HttpOnly")
                && text.contains("SameSite=Strict")
                && text.contains("Secure")
        );
    }
}
