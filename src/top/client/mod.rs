//! The HTTP edge: one pooled keep-alive reqwest client (rustls) that posts signed calls
//! and turns whatever happens into a classified `Reply`. It never retries: retry
//! policy belongs to `dispatch`.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

mod api;
mod probe;

pub use probe::Probe;

use super::batch::{
    BatchEncoder, SEPARATOR, SEPARATOR_HEADER, batch_url, split_answer, whole_request,
};
use super::credentials::Credentials;
use super::payload::Payload;
use super::redact::Redactor;
use super::request::{RequestEncoder, format_timestamp};
use super::response::{
    Expected, Overrides, Reply, TransportFailure, answer_too_large, classify_answer_to,
    classify_transport,
};
use super::sign::SignMethod;

/// The largest answer read; a larger one is dropped unread (no TOP answer comes near).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The time used to stamp requests. Injected so tests can be 11 minutes off.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The machine's clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Everything the client needs; built by `config`.
#[derive(Clone)]
pub struct ClientSettings {
    pub gateway: String,
    pub credentials: Credentials,
    pub sign_method: SignMethod,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Idle keep-alive connections kept per host; set to the concurrency.
    pub pool_size: usize,
    pub overrides: Overrides,
    pub clock: Clock,
    /// Roots trusted beside the system's (`--ca-cert`).
    pub extra_roots: Vec<super::tls::Root>,
    /// A proxy to tunnel through (`top::proxy`); no other proxy is ever used.
    pub proxy: Option<super::proxy::Tunnel>,
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("gateway", &self.gateway)
            .field("credentials", &self.credentials)
            .field("sign_method", &self.sign_method)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// The gateway URL or the TLS set-up is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--gateway '{url}' is not a usable http(s) URL: {reason}")]
    BadGateway { url: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Build(reqwest::Error),
    #[error("cannot set up TLS: {0}")]
    Tls(rustls::Error),
}

/// Calls `taobao.wt.trade.opentrade.resultcallback` on one gateway.
#[derive(Debug, Clone)]
pub struct TopClient {
    http: reqwest::Client,
    gateway: reqwest::Url,
    settings: Arc<ClientSettings>,
    encoder: Arc<RequestEncoder>,
    /// `/router/batch` beside the gateway, and the batch layout of this app.
    batch_url: reqwest::Url,
    batch_encoder: Arc<BatchEncoder>,
    /// The secret and the session in every form an answer could echo them: masked.
    redactor: Arc<Redactor>,
    /// The TLS settings, kept for the one probe of a plain-http gateway's port.
    tls: Arc<rustls::ClientConfig>,
    /// Whether a plain-http gateway's port turned out to speak TLS (probed once).
    speaks_tls: Arc<tokio::sync::OnceCell<bool>>,
    /// The formatted timestamp of the current second.
    stamp: Arc<std::sync::Mutex<(i64, String)>>,
}

impl TopClient {
    pub fn new(settings: ClientSettings) -> Result<Self, ClientError> {
        let gateway =
            reqwest::Url::parse(&settings.gateway).map_err(|e| ClientError::BadGateway {
                url: crate::mask::url(&settings.gateway),
                reason: e.to_string(),
            })?;
        if !matches!(gateway.scheme(), "http" | "https") {
            return Err(ClientError::BadGateway {
                url: crate::mask::url(&settings.gateway),
                reason: "the scheme must be http or https".into(),
            });
        }
        let tls = super::tls::client_config(&settings.extra_roots).map_err(ClientError::Tls)?;
        let probe_tls = Arc::new(tls.clone());
        let mut http = reqwest::Client::builder()
            // Never the proxies of the environment as reqwest reads them: a plain-http
            // gateway through `http_proxy` would hand the session to the proxy in clear.
            .no_proxy();
        if let Some(tunnel) = &settings.proxy {
            let proxy = reqwest::Proxy::https(tunnel.url.as_str())
                .map_err(ClientError::Build)?
                .no_proxy(
                    tunnel
                        .no_proxy
                        .as_deref()
                        .and_then(reqwest::NoProxy::from_string),
                );
            http = http.proxy(proxy);
        }
        let http = http
            .tls_backend_preconfigured(tls)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .pool_max_idle_per_host(settings.pool_size)
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_nodelay(true)
            // The gateway never redirects; following one would resend credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            // Retries are `dispatch`'s decision, made with the platform's codes in hand.
            .retry(reqwest::retry::never())
            .user_agent(super::request::PARTNER_ID)
            .build()
            .map_err(ClientError::Build)?;
        let encoder = Arc::new(RequestEncoder::new(
            &settings.credentials,
            settings.sign_method,
        ));
        let redactor = Arc::new(Redactor::new([
            settings.credentials.secret.expose(),
            settings.credentials.session.expose(),
        ]));
        let batch_encoder = Arc::new(BatchEncoder::new(
            &settings.credentials,
            settings.sign_method,
        ));
        Ok(TopClient {
            http,
            batch_url: batch_url(&gateway),
            batch_encoder,
            gateway,
            settings: Arc::new(settings),
            encoder,
            redactor,
            tls: probe_tls,
            speaks_tls: Arc::new(tokio::sync::OnceCell::new()),
            stamp: Arc::new(std::sync::Mutex::new((i64::MIN, String::new()))),
        })
    }

    /// Posts a signed form to the gateway.
    async fn post_form(&self, body: String) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(self.gateway.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .await
    }

    /// What one call's answer says: its body read within bounds and classified as
    /// `expected` says, or the failure to read it.
    async fn answer_of(&self, response: reqwest::Response, expected: Expected<'_>) -> Reply {
        let status = response.status().as_u16();
        match read_body(response).await {
            Ok(Some(body)) => classify_answer_to(status, &body, &self.settings.overrides, expected),
            Ok(None) => answer_too_large(MAX_ANSWER_BYTES),
            Err(err) => self.transport_reply(&err).await,
        }
    }

    /// Makes one call with a fresh timestamp and signature.
    pub async fn call(&self, payload: &Payload) -> Reply {
        let body = self
            .encoder
            .encode(&self.timestamp(), &payload.json, &payload.form);
        let expected = Expected {
            req_id: Some(&payload.req_id),
            named: false,
            redactor: Some(&self.redactor),
        };
        let mut reply = match self.post_form(body).await {
            Ok(response) => self.answer_of(response, expected).await,
            Err(err) => self.transport_reply(&err).await,
        };
        reply.redact(&self.redactor);
        reply
    }

    /// Makes `calls` in one batch request; returns each call's reply, in order.
    pub async fn call_batch(&self, calls: &[&Payload]) -> Vec<Reply> {
        let settings = &*self.settings;
        let (query, body) = self.batch_encoder.encode(&self.timestamp(), calls);
        let mut url = self.batch_url.clone();
        url.set_query(Some(&query));
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body(body)
            .send()
            .await;
        let whole = |reply: Reply| vec![whole_request(reply, calls.len()); calls.len()];
        let mut replies = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let separator = response
                    .headers()
                    .get(SEPARATOR_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
                    .unwrap_or(SEPARATOR)
                    .to_owned();
                match read_body(response).await {
                    Ok(Some(body)) => match split_answer(&body, &separator, calls.len()) {
                        Some(parts) if (200..300).contains(&status) => parts
                            .iter()
                            .zip(calls)
                            .map(|(part, call)| {
                                // Parts are matched to calls by position: a part
                                // must name its call to be its outcome.
                                classify_answer_to(
                                    status,
                                    part,
                                    &settings.overrides,
                                    Expected {
                                        req_id: Some(&call.req_id),
                                        named: true,
                                        redactor: Some(&self.redactor),
                                    },
                                )
                            })
                            .collect(),
                        _ => whole(classify_answer_to(
                            status,
                            &body,
                            &settings.overrides,
                            Expected {
                                redactor: Some(&self.redactor),
                                ..Expected::default()
                            },
                        )),
                    },
                    Ok(None) => whole(answer_too_large(MAX_ANSWER_BYTES)),
                    Err(err) => whole(self.transport_reply(&err).await),
                }
            }
            Err(err) => whole(self.transport_reply(&err).await),
        };
        for reply in &mut replies {
            reply.redact(&self.redactor);
        }
        replies
    }
}

/// The answer's body, or `None` past `MAX_ANSWER_BYTES` (then the connection is
/// dropped with the rest unread). An answer that arrives in one piece, as nearly all
/// do, is kept as it came, without a copy.
async fn read_body(
    mut response: reqwest::Response,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    let declared = response.content_length().unwrap_or(0);
    if declared > MAX_ANSWER_BYTES as u64 {
        return Ok(None);
    }
    let Some(first) = response.chunk().await? else {
        return Ok(Some(bytes::Bytes::new()));
    };
    if first.len() > MAX_ANSWER_BYTES {
        return Ok(None);
    }
    let Some(second) = response.chunk().await? else {
        return Ok(Some(first));
    };
    let mut body = Vec::with_capacity((declared as usize).max(first.len() + second.len()));
    body.extend_from_slice(&first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
        next = response.chunk().await?;
    }
    Ok(Some(body.into()))
}

impl TopClient {
    /// Now, formatted for the gateway; formatted once per second.
    fn timestamp(&self) -> String {
        let now = (self.settings.clock)();
        let mut stamp = self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.0 != now.timestamp() {
            *stamp = (now.timestamp(), format_timestamp(now));
        }
        stamp.1.clone()
    }
}

impl TopClient {
    /// A failed call's reply; when a plain-http gateway broke the connection, its port
    /// is asked once whether it speaks TLS: then no call can succeed, and the run halts
    /// saying so instead of retrying resets.
    async fn transport_reply(&self, err: &reqwest::Error) -> Reply {
        let reply = transport_reply(err);
        if self.gateway.scheme() != "http" || err.is_connect() || err.is_timeout() {
            return reply;
        }
        let (Some(host), Some(port)) = (
            self.gateway.host_str(),
            self.gateway.port_or_known_default(),
        ) else {
            return reply;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let within = self.settings.connect_timeout;
        let tls = Arc::clone(&self.tls);
        let speaks = *self
            .speaks_tls
            .get_or_init(|| super::tls::speaks_tls(host, port, tls, within))
            .await;
        if !speaks {
            return reply;
        }
        classify_transport(
            TransportFailure::Tls,
            &format!(
                "the gateway speaks HTTPS at {host}:{port}: use https:// in --gateway (it is http:// now)"
            ),
        )
    }
}

fn transport_reply(err: &reqwest::Error) -> Reply {
    if let Some(reason) = super::tls::handshake_failure(err) {
        return classify_transport(TransportFailure::Tls, &reason);
    }
    let failure = if err.is_timeout() {
        TransportFailure::Timeout
    } else if err.is_connect() {
        TransportFailure::Connect
    } else {
        TransportFailure::Reset
    };
    classify_transport(failure, &describe(err))
}

/// The error and its causes on one line; the URL is left out (it is in the config).
fn describe(err: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = err.source();
    text.push_str(&format!("{}", ErrorWithoutUrl(err)));
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

struct ErrorWithoutUrl<'a>(&'a reqwest::Error);

impl fmt::Display for ErrorWithoutUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let err = self.0;
        if err.is_timeout() {
            f.write_str("timed out")
        } else if err.is_connect() {
            f.write_str("cannot connect")
        } else if err.is_body() || err.is_decode() {
            f.write_str("answer cut off")
        } else {
            f.write_str("request failed")
        }
    }
}
