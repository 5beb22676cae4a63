//! HTTP/1.1 for the simulated gateway (hyper), over TLS when given a certificate:
//! `/router/rest` (form body and query
//! string, as TOP accepts both), `/router/batch` (system parameters in the query, the
//! calls in the body), `GET /__stats`. A dropped connection is a service
//! error, which makes hyper close the socket without an answer.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use super::answer::{Answer, Reaction};
use super::delay::Delays;
use super::gateway::Gateway;
use super::stats::Stats;
use super::verify::Params;

/// The batch API's separator and the header naming another (SPEC.md "The batch API");
/// written here apart from the client's, like the rest of the simulator.
const SEPARATOR: &str = "\r\n-S-\r\n";
const SEPARATOR_HEADER: &str = "top-api-separator";

/// A body larger than this is refused: no real callback comes near it.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The simulator's TLS settings, when it serves HTTPS.
pub type Tls = Option<Arc<rustls::ServerConfig>>;

/// Where a simulator listens, and its gateway's state.
#[derive(Debug, Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    https: bool,
}

impl Endpoint {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://HOST:PORT` or `http://HOST:PORT`.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The gateway URL to give the client.
    pub fn url(&self) -> String {
        format!("{}/router/rest", self.origin())
    }

    pub fn stats(&self) -> Stats {
        self.gateway.stats()
    }
}

/// A simulator serving inside a tokio runtime; stops when dropped or shut down.
#[derive(Debug)]
pub struct RunningSimulator {
    endpoint: Endpoint,
    stop: watch::Sender<bool>,
}

impl std::ops::Deref for RunningSimulator {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

pub(super) async fn start(
    listen: SocketAddr,
    gateway: Arc<Gateway>,
    tls: Tls,
) -> std::io::Result<RunningSimulator> {
    // A deep accept queue, as a real gateway has: std's default backlog of 128
    // overflowed when 512 connections opened at once, and each dropped handshake
    // cost the client a retransmission timeout.
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    let listener = socket.listen(4096)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let served = Arc::new(Served {
        gateway: Arc::clone(&gateway),
        delays: Delays::start()?,
    });
    let https = tls.is_some();
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(accept_loop(listener, served, tls, stopped));
    Ok(RunningSimulator {
        endpoint: Endpoint {
            addr,
            gateway,
            https,
        },
        stop,
    })
}

/// What every connection of one simulator shares.
#[derive(Debug)]
struct Served {
    gateway: Arc<Gateway>,
    delays: Delays,
}

async fn accept_loop(
    listener: TcpListener,
    served: Arc<Served>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment, keep serving.
                tracing::warn!("simulator: accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let served = Arc::clone(&served);
        let stopped = stopped.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Some(stream) = crate::listen::handshake(stream, tls.as_ref(), "simulator").await
            {
                serve(stream, served, stopped).await;
            }
        });
    }
}

/// Serves HTTP/1.1 on one connection until it closes or the simulator stops.
async fn serve<S>(stream: S, served: Arc<Served>, mut stopped: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| respond(Arc::clone(&served), request));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = stopped.wait_for(|stop| *stop) => {}
    }
}

/// The service error that closes a connection without an answer.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by scenario")
    }
}

impl std::error::Error for DropConnection {}

async fn respond(
    served: Arc<Served>,
    request: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let gateway = &served.gateway;
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/__stats") => {
            let body = serde_json::to_string(&gateway.stats()).expect("stats serialize");
            Ok(reply(StatusCode::OK, "application/json", body))
        }
        (&Method::POST | &Method::GET, "/router/rest") => {
            // Latency runs from arrival, as a gateway's does: queueing here is part of it.
            let arrived = Instant::now();
            let (query, _, body) = read(request).await?;
            let mut params = query;
            params.extend(form_urlencoded::parse(&body));
            let reaction = gateway.handle(&params, chrono::Utc::now(), arrived);
            answer(&served, arrived, reaction, None).await
        }
        (&Method::POST, "/router/batch") => {
            let arrived = Instant::now();
            let (query, separator, body) = read(request).await?;
            let used = separator.as_deref().unwrap_or(SEPARATOR);
            let reaction = gateway.handle_batch(&query, &body, used, chrono::Utc::now(), arrived);
            answer(&served, arrived, reaction, separator).await
        }
        _ => Ok(reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".into(),
        )),
    }
}

/// A request's query parameters, its `top-api-separator` header, and its body.
async fn read(
    request: Request<Incoming>,
) -> Result<(Params<'static>, Option<String>, Bytes), DropConnection> {
    let mut query = Params::new();
    if let Some(text) = request.uri().query() {
        query.extend(
            form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned()))),
        );
    }
    let separator = request
        .headers()
        .get(SEPARATOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let Ok(body) = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    else {
        return Err(DropConnection);
    };
    Ok((query, separator, body.to_bytes()))
}

/// Waits out the reaction's delay (from arrival), then answers as it says.
async fn answer(
    served: &Served,
    arrived: Instant,
    reaction: Reaction,
    separator: Option<String>,
) -> Result<Response<Body>, DropConnection> {
    if !reaction.delay.is_zero() {
        served.delays.until(arrived + reaction.delay).await;
    }
    let mut response = match reaction.answer {
        Answer::Json(body) => reply(StatusCode::OK, "application/json;charset=UTF-8", body),
        Answer::BadGatewayHtml => reply(
            StatusCode::BAD_GATEWAY,
            "text/html",
            BAD_GATEWAY_PAGE.into(),
        ),
        Answer::Drop => return Err(DropConnection),
        Answer::Huge(bytes) => huge(bytes, Arc::clone(&served.gateway)),
    };
    if let Some(separator) = separator.and_then(|s| HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert(SEPARATOR_HEADER, separator);
    }
    Ok(response)
}

const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n";

/// Every answer's body: a whole one, or a stream.
type Body = BoxBody<Bytes, std::convert::Infallible>;

/// `bytes` bytes of JSON-looking garbage, made only as fast as the client reads;
/// what is made is counted in the stats.
fn huge(bytes: u64, gateway: Arc<Gateway>) -> Response<Body> {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b' '; CHUNK]);
    let mut left = bytes;
    let frames = futures::stream::poll_fn(move |_| {
        if left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = left.min(CHUNK as u64);
        left -= n;
        gateway.note_served(n);
        let frame = hyper::body::Frame::data(chunk.slice(..n as usize));
        std::task::Poll::Ready(Some(Ok::<_, std::convert::Infallible>(frame)))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A simulator on a thread and runtime of its own; stops when dropped.
#[derive(Debug)]
pub struct BackgroundSimulator {
    endpoint: Endpoint,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for BackgroundSimulator {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Drop for BackgroundSimulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(super) fn spawn_background(
    gateway: Arc<Gateway>,
    tls: Tls,
) -> std::io::Result<BackgroundSimulator> {
    let https = tls.is_some();
    let (started, ready) = std::sync::mpsc::channel::<std::io::Result<SocketAddr>>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = Arc::clone(&gateway);
    let thread = std::thread::Builder::new()
        .name("simulator".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = started.send(Err(err));
                    return;
                }
            };
            runtime.block_on(async move {
                let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                match start(listen, served, tls).await {
                    Ok(running) => {
                        let _ = started.send(Ok(running.addr()));
                        let _ = stopped.await;
                        drop(running);
                    }
                    Err(err) => {
                        let _ = started.send(Err(err));
                    }
                }
            });
        })?;
    let addr = ready
        .recv()
        .map_err(|_| std::io::Error::other("the simulator thread ended before listening"))??;
    Ok(BackgroundSimulator {
        endpoint: Endpoint {
            addr,
            gateway,
            https,
        },
        stop: Some(stop),
        thread: Some(thread),
    })
}
