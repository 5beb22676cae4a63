//! Where a run's calls go: nowhere (a dry run), an in-process simulated gateway with
//! the demo credentials, or TOP — and the deliverer that sends them there.

use std::sync::Arc;

use super::deliver::Deliverer;
use super::halt::Halt;
use super::{Connection, Mode, SendConfig, SendError};
use crate::ledger;
use crate::simulator::{self, RunningSimulator, SimulatorConfig};
use crate::top::{Credentials, Secret, TopClient};

/// Where calls go: nowhere (dry run), an in-process simulator, or TOP.
pub struct Gateway {
    pub deliverer: Option<Deliverer>,
    pub simulator: Option<RunningSimulator>,
}

pub async fn connect(
    config: &SendConfig,
    halt: &Arc<Halt>,
    run_id: Arc<str>,
    budget: Option<Arc<super::quota::Budget>>,
) -> Result<Gateway, SendError> {
    let Some((client, simulator)) = client_for(&config.connection).await? else {
        return Ok(Gateway {
            deliverer: None,
            simulator: None,
        });
    };
    let deliverer =
        Deliverer::new(client, config.policy.clone(), Arc::clone(halt), run_id).with_budget(budget);
    Ok(Gateway {
        deliverer: Some(deliverer),
        simulator,
    })
}

/// The client of a connection that calls: the gateway with its credentials, or an
/// in-process simulator (kept running while it is held) with the demo credentials;
/// none for a dry run. `send` and `reconcile` alike.
pub async fn client_for(
    connection: &Connection,
) -> Result<Option<(TopClient, Option<RunningSimulator>)>, SendError> {
    let (gateway, credentials, simulator) = match &connection.mode {
        Mode::DryRun => return Ok(None),
        Mode::Live {
            gateway,
            credentials,
        } => (gateway.clone(), credentials.clone(), None),
        Mode::Simulate { scenario } => {
            let sim_config = SimulatorConfig::demo().with_scenario(scenario.clone());
            let running = simulator::start(([127, 0, 0, 1], 0).into(), sim_config)
                .await
                .map_err(SendError::Simulator)?;
            let credentials = Credentials {
                app_key: simulator::DEMO_APP_KEY.into(),
                secret: Secret::new(simulator::DEMO_SECRET),
                session: Secret::new(simulator::DEMO_SESSION),
            };
            (running.url(), credentials, Some(running))
        }
    };
    let client = TopClient::new(connection.client_settings(gateway, credentials))?;
    Ok(Some((client, simulator)))
}

/// Identifies the run in the ledger; `sim-` for simulations, which live runs ignore.
pub fn run_id(simulated: bool) -> Arc<str> {
    let prefix = if simulated {
        ledger::SIMULATED_RUN_PREFIX
    } else {
        ""
    };
    Arc::from(format!("{prefix}{}", crate::clock::run_stamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_runs_are_marked_in_the_ledger() {
        assert!(run_id(true).starts_with(ledger::SIMULATED_RUN_PREFIX));
        assert!(!run_id(false).starts_with(ledger::SIMULATED_RUN_PREFIX));
    }
}
