//! What the desk's requests share: its settings, the credentials' environment, the
//! logins, the audit log, the runs, the submissions and the sends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::jobs::{self, SharedEnv};
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
    pub max_upload: u64,
    pub template: SendTemplate,
}

/// A checked upload and what its dry run said.
#[derive(Debug)]
pub struct Submission {
    pub id: String,
    pub label: String,
    pub user: String,
    pub stored: upload::Stored,
    pub preview: Preview,
    /// The send started from it, once confirmed.
    pub job: Mutex<Option<String>>,
}

/// A dry run's outcome, as the preview page shows it.
#[derive(Debug)]
pub struct Preview {
    pub ended: jobs::Ended,
    pub tally: Tally,
    pub rows: Vec<runs::Shown>,
}

/// Everything the desk's requests share.
#[derive(Debug)]
pub struct Desk {
    pub config: DeskConfig,
    pub env: EnvHolder,
    pub auth: auth::Auth,
    pub audit: audit::Audit,
    pub runs: runs::Runs,
    pub submissions: Mutex<HashMap<String, Arc<Submission>>>,
    pub jobs: Mutex<HashMap<String, Arc<jobs::Job>>>,
    /// The send running now, if any: one at a time.
    pub sending: Mutex<Option<Arc<jobs::Job>>>,
    pub hosts: Vec<String>,
    pub https: bool,
}

/// The environment, owned (never printed: it holds the credentials).
pub struct EnvHolder(pub SharedEnv);

impl std::fmt::Debug for EnvHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvHolder(..)")
    }
}

impl Desk {
    pub fn uploads(&self) -> PathBuf {
        self.config.results_dir.join("uploads")
    }
}
