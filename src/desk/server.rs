//! The desk's listener: HTTP/1.1 over TCP, or over TLS with `--tls-cert`/`--tls-key`
//! (a handshake on a task of its own, with a deadline), each connection served by
//! the router with its peer's address as an extension (failed logins are counted per
//! address). Stops accepting at `shutdown`, then lets open requests finish briefly.
//!
//! Bounded under load: at most `max_connections` at once (below the file limit, which
//! `raise_file_limit` lifts to its hard value at start); at the cap, the oldest idle
//! connection — none of its requests in progress — is closed for the newcomer, so
//! idle or half-open clients can never lock everyone out. A request body that sends
//! nothing for `--body-idle-timeout`, or is not done in `BODY_TOTAL`, fails.

use std::collections::HashMap;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// How long a whole request body may take (64 MiB at ~80 KiB/s).
const BODY_TOTAL: Duration = Duration::from_secs(15 * 60);

/// File descriptors kept free of connections (the ledger, uploads, logs, sends).
const RESERVED_FILES: u64 = 64;

/// Connections at most, whatever the file limit allows.
const MAX_CONNECTIONS: u64 = 4096;

/// The address a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Lifts the soft limit of open files to the hard one (systemd's default soft limit
/// is 1,024); the connections the desk may then hold.
pub fn raise_file_limit() -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), hard) = (limit.current, limit.maximum)
        && hard.is_none_or(|hard| hard > current)
    {
        let wanted = hard.unwrap_or(MAX_CONNECTIONS + RESERVED_FILES);
        limit.current = Some(wanted);
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("desk: cannot raise the open-file limit: {error}");
        }
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(1024);
    usize::try_from(
        soft.saturating_sub(RESERVED_FILES)
            .clamp(16, MAX_CONNECTIONS),
    )
    .unwrap_or(16)
}

/// The open connections: each one's requests in progress, and a way to close it.
#[derive(Debug, Default)]
struct Connections {
    open: Mutex<HashMap<u64, Slot>>,
    next: AtomicU64,
    /// Woken when a connection closes.
    closed: tokio::sync::Notify,
}

#[derive(Debug)]
struct Slot {
    busy: Arc<AtomicUsize>,
    evict: Arc<tokio::sync::Notify>,
}

impl Connections {
    fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    fn add(&self) -> (u64, Arc<AtomicUsize>, Arc<tokio::sync::Notify>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let busy = Arc::new(AtomicUsize::new(0));
        let evict = Arc::new(tokio::sync::Notify::new());
        if let Ok(mut open) = self.open.lock() {
            open.insert(
                id,
                Slot {
                    busy: Arc::clone(&busy),
                    evict: Arc::clone(&evict),
                },
            );
        }
        (id, busy, evict)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
        self.closed.notify_waiters();
    }

    /// Asks the oldest connection without a request in progress to close; false when
    /// every one is busy.
    fn evict_oldest_idle(&self) -> bool {
        let Ok(open) = self.open.lock() else {
            return false;
        };
        let oldest = open
            .iter()
            .filter(|(_, slot)| slot.busy.load(Ordering::Relaxed) == 0)
            .min_by_key(|(id, _)| **id);
        match oldest {
            Some((_, slot)) => {
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// What bounds the connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open at once, at most.
    pub connections: usize,
    /// How long a request body may send nothing.
    pub body_idle: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, within `limits`.
pub async fn run(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let Limits {
        connections: max_connections,
        body_idle,
    } = limits;
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let connections = Arc::new(Connections::default());
    tokio::pin!(shutdown);
    loop {
        // At the cap: make room by closing the oldest idle connection, or wait for
        // one to close; new clients wait in the kernel's queue meanwhile.
        while connections.len() >= max_connections {
            let closed = connections.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            connections.evict_oldest_idle();
            tokio::select! {
                () = &mut shutdown => return finish(&stop).await,
                () = closed => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!("desk: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (id, busy, evict) = connections.add();
        let router = {
            let busy = Arc::clone(&busy);
            router
                .clone()
                .layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        let busy = Arc::clone(&busy);
                        async move {
                            busy.fetch_add(1, Ordering::Relaxed);
                            let response = next.run(request).await;
                            busy.fetch_sub(1, Ordering::Relaxed);
                            response
                        }
                    },
                ))
                .layer(axum::Extension(Peer(peer)))
        };
        let stopped = stopped.clone();
        let connections = Arc::clone(&connections);
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Some(stream) = crate::listen::handshake(stream, tls.as_ref(), "desk").await {
                connection(stream, router, stopped, evict, body_idle).await;
            }
            connections.remove(id);
        });
    }
    finish(&stop).await;
}

/// Tells every connection to finish, and gives requests in flight a moment.
async fn finish(stop: &tokio::sync::watch::Sender<bool>) {
    let _ = stop.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn connection<S>(
    stream: S,
    router: axum::Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    evict: Arc<tokio::sync::Notify>,
    body_idle: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let request = request.map(|body| axum::body::Body::new(Bounded::new(body, body_idle)));
        router.clone().oneshot(request)
    });
    let connection = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = &mut connection => {}
        // Closed for a newcomer: it had no request in progress.
        () = evict.notified() => {}
        () = async { let _ = stopped.wait_for(|stop| *stop).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
        }
    }
}

/// A request body that fails when it sends nothing for `idle_limit`, or is not done
/// within `BODY_TOTAL`.
struct Bounded {
    inner: Incoming,
    idle_limit: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    total: Pin<Box<tokio::time::Sleep>>,
}

impl Bounded {
    fn new(inner: Incoming, idle_limit: Duration) -> Bounded {
        Bounded {
            inner,
            idle_limit,
            idle: Box::pin(tokio::time::sleep(idle_limit)),
            total: Box::pin(tokio::time::sleep(BODY_TOTAL)),
        }
    }
}

impl Body for Bounded {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.total.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err("the request body took too long".into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.idle
                    .as_mut()
                    .reset(tokio::time::Instant::now() + this.idle_limit);
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err("the request body stalled".into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
