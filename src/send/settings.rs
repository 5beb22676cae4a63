//! What a `send` run is told: the checked settings `config` builds from the flags,
//! the environment and a config file. Plain values; nothing here reads anything.

use std::path::PathBuf;
use std::time::Duration;

use super::policy::Policy;
use super::progress::ProgressMode;
use crate::input::InputOptions;
use crate::simulator::Scenario;
use crate::top::{ClientSettings, Credentials, Overrides, SignMethod};

/// Where the callbacks go.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `--dry-run`: nowhere.
    DryRun,
    /// `--simulate`: an in-process simulated gateway, demo credentials.
    Simulate { scenario: Scenario },
    /// The gateway.
    Live {
        gateway: String,
        credentials: Credentials,
    },
}

/// How calls are made, whatever the gateway.
#[derive(Debug, Clone)]
pub struct ClientTuning {
    pub sign_method: SignMethod,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub overrides: Overrides,
    /// Roots trusted beside the system's (`--ca-cert`).
    pub extra_roots: Vec<crate::top::tls::Root>,
    /// The proxy an HTTPS gateway is reached through (`HTTPS_PROXY`), as a tunnel.
    pub proxy: Option<crate::top::proxy::Tunnel>,
}

/// Where calls go and how they are made: all `check` needs, part of every `send`.
#[derive(Debug, Clone)]
pub struct Connection {
    pub mode: Mode,
    pub client: ClientTuning,
    /// Connections kept open (the concurrency).
    pub pool: std::num::NonZeroUsize,
    /// The day the session ends (`session_expires` in the config), for `check`.
    pub session_expires: Option<chrono::NaiveDate>,
}

impl Connection {
    /// Client settings for `gateway` with `credentials`.
    pub fn client_settings(&self, gateway: String, credentials: Credentials) -> ClientSettings {
        ClientSettings {
            gateway,
            credentials,
            sign_method: self.client.sign_method,
            connect_timeout: self.client.connect_timeout,
            request_timeout: self.client.timeout,
            pool_size: self.pool.get(),
            overrides: self.client.overrides.clone(),
            clock: crate::top::system_clock(),
            extra_roots: self.client.extra_roots.clone(),
            proxy: self.client.proxy.clone(),
        }
    }
}

/// Everything `send` needs, checked.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub inputs: Vec<PathBuf>,
    pub input: InputOptions,
    pub ledger: PathBuf,
    pub out: PathBuf,
    pub summary_json: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    /// The exit code of a halt worth retrying (`--retryable-exit-code`), else 3.
    pub retryable_exit: Option<u8>,
    pub connection: Connection,
    pub policy: Policy,
    pub retry_rejected: bool,
    pub progress: ProgressMode,
    pub progress_every: Duration,
    pub excel: bool,
    /// The plan this run must make (`Plan::digest`, as a preview showed it): any
    /// other stops it before the first call (the desk's confirmation).
    pub expect_plan: Option<String>,
    /// The ledger's failed (and pending) orders are sent again within this many days
    /// of their first failure; `None`: never (`--no-resend-failed`).
    pub resend_failed_days: Option<u32>,
    /// Who or what starts the run, as the ledger records it (`cron`, `shell:USER`,
    /// `desk:NAME`).
    pub started_by: String,
    /// The req_ids a reconcile file lists as `retry_due`: sent again from the ledger
    /// whatever their age (`--from-reconcile`).
    pub from_reconcile: Option<Vec<String>>,
    /// The app's calls per Beijing day (`daily_quota` in the config).
    pub daily_quota: Option<u64>,
}

impl SendConfig {
    pub fn is_dry_run(&self) -> bool {
        matches!(self.connection.mode, Mode::DryRun)
    }

    pub fn is_simulated(&self) -> bool {
        matches!(self.connection.mode, Mode::Simulate { .. })
    }
}
