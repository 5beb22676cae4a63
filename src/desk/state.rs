//! What the desk's requests share: its settings, the credentials' environment, the
//! logins, the audit log, the runs, the submissions and the sends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::jobs;
use super::{audit, auth, runs, upload};
use crate::config::SendTemplate;
use crate::results::tally::Tally;

/// How the desk is set up (`serve`'s flags, checked).
#[derive(Debug, Clone)]
pub struct DeskConfig {
    pub ledger: PathBuf,
    pub results_dir: PathBuf,
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub users: Option<PathBuf>,
    /// Host names (beyond the listening address) browsers may use to reach the desk.
    pub allow_hosts: Vec<String>,
    /// The origin browsers reach the desk at through a TLS reverse proxy
    /// (`--public-url https://…`): the Origin and Host checks expect it.
    pub public_url: Option<url::Url>,
    pub max_upload: u64,
    /// The most bytes the uploads directory may hold, all uploads together.
    pub upload_budget: u64,
    /// How long an upload and its preview are kept.
    pub upload_ttl: std::time::Duration,
    /// How long a request body may send nothing.
    pub body_idle: std::time::Duration,
    /// Whether a send needs another user's approval (with ledger users).
    pub approvals: Approvals,
    /// How long a request waits for its approval.
    pub request_ttl: std::time::Duration,
    /// The nightly run's `--resend-failed-days` (0: none resent): a failed order it will
    /// still send again is not work for finance yet.
    pub resend_failed_days: u32,
    /// Where a new request is announced (`--notify-url`), if anywhere.
    pub notify: Option<crate::send::hooks::Notify>,
    pub template: SendTemplate,
}

/// How many others approve a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Approvals {
    /// A clerk's confirmation sends at once (a one-person shop).
    None,
    /// Someone else, an approver or an admin, approves it first.
    #[default]
    One,
}

/// A checked upload and what its dry run said.
#[derive(Debug)]
pub struct Submission {
    pub id: String,
    pub label: String,
    /// Who uploaded it: the only one who sees it and may confirm it.
    pub user: String,
    pub stored: upload::Stored,
    /// When it was uploaded: it expires `UPLOAD_TTL` later.
    pub created: std::time::Instant,
    /// The latest dry run (checked again when the plan changed before a send).
    pub preview: Mutex<Arc<Preview>>,
    /// The send started from it, once confirmed.
    pub job: Mutex<Option<String>>,
}

impl Submission {
    pub fn preview(&self) -> Arc<Preview> {
        Arc::clone(&self.preview.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A dry run's outcome, as the preview page shows it.
#[derive(Debug)]
pub struct Preview {
    pub ended: jobs::Ended,
    pub tally: Tally,
    pub rows: Vec<runs::Shown>,
}

impl Preview {
    /// The digest of what the dry run planned to send (none when it did not run).
    pub fn plan_digest(&self) -> Option<&str> {
        match &self.ended {
            jobs::Ended::Ran { plan_digest, .. } => plan_digest.as_deref(),
            jobs::Ended::Refused { .. } => None,
        }
    }
}

/// Everything the desk's requests share.
#[derive(Debug)]
pub struct Desk {
    pub config: DeskConfig,
    pub env: crate::environment::Environment,
    pub auth: auth::Auth,
    pub audit: audit::Audit,
    pub runs: runs::Runs,
    pub submissions: Mutex<HashMap<String, Arc<Submission>>>,
    pub jobs: Mutex<HashMap<String, Arc<jobs::DeskSend>>>,
    /// The send running now, if any: one at a time.
    pub sending: jobs::OneSend,
    /// Told when the desk shuts down: a send in progress stops starting calls.
    pub stop: crate::send::Stop,
    pub hosts: Vec<String>,
    /// Whether browsers reach the desk over HTTPS (its own TLS, or the proxy's).
    pub https: bool,
    /// The origin a state-changing request must come from (`scheme://host[:port]`);
    /// `None`: the desk's own, as the request's Host names it.
    pub origin: Option<String>,
}

impl Desk {
    pub fn uploads(&self) -> PathBuf {
        self.config.results_dir.join("uploads")
    }

    /// `text` (an engine's message) without the server's paths: the uploads and
    /// results directories dropped from file names, the ledger named as such.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        let ledger = &self.config.ledger;
        for (path, shown) in [
            (self.uploads(), ""),
            (self.config.results_dir.clone(), ""),
            (ledger.clone(), "the ledger"),
        ] {
            for form in [path.clone(), crate::roles::resolve(&path)] {
                let form = form.display().to_string();
                if form.is_empty() {
                    continue;
                }
                let with_slash = format!("{form}/");
                text = text.replace(&with_slash, shown).replace(&form, shown);
            }
        }
        text
    }
}
