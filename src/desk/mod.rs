//! The desk (`serve`): a small web application for finance over the same ledger,
//! configuration and credentials as the nightly run — the runs in the results
//! directory, the outstanding orders, corrected files uploaded, previewed as a dry run
//! and sent by the same engine as `send`, under the same ledger lock. The secret and
//! the session never reach a page, a download or a log.
//!
//! ```text
//! server (TCP or TLS) ─▶ guard (Host, Origin, headers) ─▶ web (routes) ─┬─ runs, outstanding ─▶ pages, views
//!                                                                       ├─ upload ─▶ jobs (dry run) ─▶ preview
//!                                                                       └─ jobs (send, under the lock) ─▶ progress
//! ```

mod approvals;
mod audit;
mod audit_pages;
mod auth;
mod changes;
mod closing;
mod download;
mod guard;
pub mod i18n;
mod jobs;
mod outstanding;
#[cfg(test)]
mod page_snapshots;
mod pages;
mod people;
mod posted;
mod refusal;
mod request_views;
mod requests;
mod respond;
mod roles;
mod runs;
mod sending;
mod server;
mod state;
mod story;
mod submit;
mod upload;
mod users;
mod views;
mod web;
mod words;
mod worklist;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::environment::Environment;
use state::Desk;
pub use state::{Approvals, DeskConfig};
pub use users::{UsersError, check_name, check_password, hash_password, read_users};

/// Why the desk does not start.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(
        "--listen {0} is not a loopback address: a desk reachable from other machines needs HTTPS (--tls-cert and --tls-key, or --public-url https://… naming the TLS reverse proxy in front of it) and password logins: users in the ledger (users add NAME --role admin --ledger LEDGER) or --users"
    )]
    Exposed(SocketAddr),
    #[error(
        "--public-url {0}: give the https:// address browsers use (the TLS reverse proxy's), without a path"
    )]
    PublicUrl(String),
    #[error("--results-dir {}: {reason}", path.display())]
    ResultsDir { path: PathBuf, reason: String },
    #[error(transparent)]
    Users(#[from] users::UsersError),
    #[error(transparent)]
    Tls(#[from] crate::listen::tls::TlsSetupError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error(transparent)]
    Roles(#[from] crate::roles::RoleError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
}

/// The desk's files, one role each: the ledger (its audit log too) and its lock, the users
/// file, the TLS certificate and key, the config file.
fn claim_roles(config: &DeskConfig) -> Result<(), crate::roles::RoleError> {
    let mut roles = crate::roles::Roles::default();
    roles.claim("--ledger", &config.ledger)?;
    roles.claim(
        "--ledger's lock",
        &crate::ledger::lock::lock_path(&config.ledger),
    )?;
    let optional = [
        ("--users", config.users.as_deref()),
        ("--config", config.template.config.as_deref()),
        (
            "--tls-cert",
            config.tls.as_ref().map(|(cert, _)| cert.as_path()),
        ),
        (
            "--tls-key",
            config.tls.as_ref().map(|(_, key)| key.as_path()),
        ),
    ];
    for (role, path) in optional {
        if let Some(path) = path {
            roles.claim(role, path)?;
        }
    }
    Ok(())
}

/// What a request whose send a restart cut short says.
const INTERRUPTED: &str = "工作台在发送途中停止：已发出的回调都已记入账本，未得到答复的仍为“待答复”，下一次运行会处理它们。 The desk stopped during this send: every callback it made is in the ledger; those not answered are pending, and the next run resolves them.";

/// The users the ledger keeps (none when there is no ledger yet).
fn ledger_users(
    ledger: &std::path::Path,
) -> Result<Vec<crate::ledger::people::Account>, DeskError> {
    match crate::ledger::db::kind_of(ledger) {
        Ok(crate::ledger::db::Kind::Empty) | Err(_) => Ok(Vec::new()),
        Ok(_) => {
            let opened = crate::ledger::Ledger::open(ledger, crate::ledger::Access::Write)?;
            Ok(crate::ledger::people::accounts(&opened)?
                .into_iter()
                .filter(|a| a.disabled_at.is_none())
                .collect())
        }
    }
}

/// Starts the desk and serves until SIGINT or SIGTERM. `announce` receives the login
/// URL (or the address, with `--users`) once it listens.
pub async fn serve(
    config: DeskConfig,
    env: Environment,
    announce: impl FnOnce(&str),
) -> Result<(), DeskError> {
    let exposed = !config.listen.ip().is_loopback();
    if let Some(public) = &config.public_url
        && (public.scheme() != "https"
            || public.host_str().is_none()
            || !matches!(public.path(), "" | "/")
            || public.query().is_some())
    {
        return Err(DeskError::PublicUrl(crate::mask::url(public.as_str())));
    }
    let encrypted = config.tls.is_some() || config.public_url.is_some();
    // The ledger's users (`users add … --ledger`): passwords on every address.
    let ledger_users = ledger_users(&config.ledger)?;
    if exposed && (!encrypted || (config.users.is_none() && ledger_users.is_empty())) {
        return Err(DeskError::Exposed(config.listen));
    }
    let dir = &config.results_dir;
    let bad_dir = |reason: String| DeskError::ResultsDir {
        path: dir.clone(),
        reason,
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(bad_dir("not a directory".into())),
        Err(error) => return Err(bad_dir(error.to_string())),
    }
    std::fs::create_dir_all(dir.join("uploads")).map_err(|e| bad_dir(e.to_string()))?;
    // The desk writes uploads there: its own directory, not a link to anywhere else.
    match std::fs::symlink_metadata(dir.join("uploads")) {
        Ok(meta) if meta.file_type().is_dir() => {}
        _ => {
            return Err(bad_dir(
                "its uploads/ is not a directory of its own (a symlink?): remove it, the desk makes one".into(),
            ));
        }
    }
    // Every file the desk reads or writes plays one role, as a `send`'s do.
    claim_roles(&config)?;
    // The ledger is the shop's database, or nothing yet (the first send makes it): a
    // CSV ledger of an earlier version is refused with `ledger import` as the fix.
    crate::ledger::Ledger::check_new(&config.ledger)?;
    // The settings a send from the desk will use, checked now: a missing credential
    // is found at start, not by the first clerk who confirms.
    crate::config::build_desk_send(
        &config.template,
        &dir.join("uploads").join("check.csv"),
        &config.ledger,
        &dir.join("check-results.csv"),
        false,
        &env,
    )?;
    let (auth, token) = match &config.users {
        Some(path) => (auth::Auth::with_users(users::read_users(path)?), None),
        None if !ledger_users.is_empty() => (
            auth::Auth::with_ledger_users(ledger_users, &config.ledger),
            None,
        ),
        // Nobody yet: on loopback, a one-time link whose visitor makes the first admin.
        None => {
            let (auth, token) = auth::Auth::with_link();
            (auth.keeping_in(&config.ledger), Some(token))
        }
    };
    let tls = match &config.tls {
        Some((cert, key)) => Some(crate::listen::tls::server_config(cert, key)?),
        None => None,
    };
    let audit = audit::Audit::open(&config.ledger)?;
    // A send a request started when the desk last stopped: the engine's own crash
    // safety holds (what it sent is in the ledger, what was in flight is pending and
    // the next run resolves it); the request says so.
    if let Ok(ledger) = crate::ledger::Ledger::open(&config.ledger, crate::ledger::Access::Write)
        && let Ok(n) = crate::ledger::requests::interrupted(&ledger, INTERRUPTED)
        && n > 0
    {
        tracing::warn!("desk: {n} request(s) were sending when the desk stopped; marked so");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| DeskError::Listen {
            addr: config.listen,
            error,
        })?;
    let local = listener.local_addr().map_err(|error| DeskError::Listen {
        addr: config.listen,
        error,
    })?;
    let https = tls.is_some() || config.public_url.is_some();
    let mut allow_hosts = config.allow_hosts.clone();
    let origin = config.public_url.as_ref().map(|public| {
        // `Url::origin` leaves out a default port, as browsers' Origin headers do.
        if let Some(host) = public.host_str() {
            match public.port() {
                Some(port) => allow_hosts.push(format!("{host}:{port}")),
                None => allow_hosts.push(host.to_owned()),
            }
        }
        public.origin().ascii_serialization()
    });
    let (tell_stop, stop) = tokio::sync::watch::channel(None);
    let desk = Arc::new(Desk {
        stop,
        hosts: guard::allowed_hosts(local, &allow_hosts),
        https,
        origin,
        runs: runs::Runs::new(dir),
        config,
        env,
        auth,
        audit,
        submissions: Mutex::default(),
        jobs: Mutex::default(),
        sending: jobs::OneSend::default(),
    });
    // Uploads and their previews expire: swept at start, then once a minute.
    {
        let desk = Arc::clone(&desk);
        tokio::spawn(async move {
            loop {
                // At start too: files a restarted desk no longer holds.
                submit::expire(&desk, None);
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
        });
    }
    // Before the desk is announced: from then on, it may be loaded.
    let connections = server::raise_file_limit();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", guard::display_addr(local));
    match token {
        Some(token) => announce(&format!("{base}/login?token={token}")),
        None => announce(&format!("{base}/login")),
    }
    let shutdown = {
        let desk = Arc::clone(&desk);
        async move {
            if let Ok(signal) = crate::signals::next_stop().await {
                tell_stop.send_replace(Some(signal));
            }
            // A send in progress is told: it stops starting calls and writes its
            // outputs; wait for it.
            desk.sending.drained().await;
        }
    };
    let limits = server::Limits {
        connections,
        body_idle: desk.config.body_idle,
    };
    tracing::info!("desk: at most {connections} connections at once");
    server::run(listener, tls, web::router(desk), limits, shutdown).await;
    Ok(())
}
