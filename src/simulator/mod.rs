//! An in-process TOP gateway for `taobao.wt.trade.opentrade.resultcallback`: a real
//! HTTP/1.1 server (hyper) on a real socket, so tests and `send --simulate` exercise
//! the client exactly as the real gateway would. `gateway` decides, `server` speaks
//! HTTP, `verify` checks requests independently of the client's code; `trades` is the
//! shop's trades, served as `taobao.trades.sold.increment.get`.

mod answer;
mod builder;
mod delay;
pub mod gateway;
mod rules;
pub mod scenario;
mod server;
pub mod stats;
pub mod trades;
pub mod verify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use gateway::Gateway;
pub use scenario::{BatchAnswers, Fault, Matcher, Scenario, ScenarioError};
pub use server::{BackgroundSimulator, Endpoint, RunningSimulator};
pub use stats::Stats;
use verify::Expected;

/// The demo app the simulator accepts when no credentials are given.
pub const DEMO_APP_KEY: &str = "12345678";
pub const DEMO_SECRET: &str = "helloworld";
pub const DEMO_SESSION: &str = "demo-session";

/// Who the simulated gateway accepts, and how it behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub app_key: String,
    pub secret: String,
    pub session: String,
    /// The gateway refuses timestamps further off than this (TOP: 10 minutes).
    pub max_skew: Duration,
    pub scenario: Scenario,
    /// Serve HTTPS with these settings (`listen::tls::server_config`); plain HTTP when `None`.
    pub tls: server::Tls,
}

impl SimulatorConfig {
    /// The demo credentials and an empty scenario.
    pub fn demo() -> Self {
        SimulatorConfig {
            app_key: DEMO_APP_KEY.into(),
            secret: DEMO_SECRET.into(),
            session: DEMO_SESSION.into(),
            max_skew: Duration::from_secs(600),
            scenario: Scenario::default(),
            tls: None,
        }
    }

    pub fn with_scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = scenario;
        self
    }

    /// What the gateway checks requests against.
    fn expected(&self) -> Expected {
        Expected {
            app_key: self.app_key.clone(),
            secret: self.secret.clone(),
            session: self.session.clone(),
            max_skew: self.max_skew,
        }
    }

    fn gateway(&self) -> Arc<Gateway> {
        Arc::new(Gateway::new(self.expected(), self.scenario.clone()))
    }
}

/// Starts a simulator on `listen` inside the current tokio runtime.
pub async fn start(
    listen: SocketAddr,
    config: SimulatorConfig,
) -> std::io::Result<RunningSimulator> {
    server::start(listen, config.gateway(), config.tls).await
}

/// Starts a simulator on 127.0.0.1 (an ephemeral port) on a thread of its own, for
/// callers without a runtime (integration tests).
pub fn spawn_background(config: SimulatorConfig) -> std::io::Result<BackgroundSimulator> {
    server::spawn_background(config.gateway(), config.tls)
}
