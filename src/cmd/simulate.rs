//! `simulate`: the simulated gateway as a standalone server, until SIGINT or SIGTERM.

use std::io::Write as _;

use anyhow::Context as _;

use crate::cli::SimulateArgs;
use crate::exit::Exit;
use crate::simulator::{self, Scenario, SimulatorConfig};

use crate::environment::Environment;

pub async fn run(args: SimulateArgs, env: &Environment) -> anyhow::Result<Exit> {
    let mut config = SimulatorConfig::demo();
    let given = |name: &str| env.get(name).filter(|v| !v.is_empty());
    let custom = match (
        given("TOP_APP_KEY"),
        given("TOP_APP_SECRET"),
        given("TOP_SESSION"),
    ) {
        (Some(app_key), Some(secret), Some(session)) => {
            config.app_key = app_key;
            config.secret = secret;
            config.session = session;
            true
        }
        (None, None, None) => false,
        _ => anyhow::bail!(
            "set all three of TOP_APP_KEY, TOP_APP_SECRET and TOP_SESSION, or none for the demo credentials"
        ),
    };
    if let Some(path) = &args.scenario {
        config.scenario = Scenario::load(path)?;
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(crate::listen::tls::server_config(cert, key)?);
    }
    let running = simulator::start(args.listen, config.clone())
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;

    // The first line is the contract (SPEC.md): scripts read the port from it.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", running.origin())?;
    if custom {
        writeln!(
            stdout,
            "credentials: app_key {} with the secret and session from the environment",
            config.app_key
        )?;
    } else {
        writeln!(
            stdout,
            "demo credentials: TOP_APP_KEY={} TOP_APP_SECRET={} TOP_SESSION={}",
            simulator::DEMO_APP_KEY,
            simulator::DEMO_SECRET,
            simulator::DEMO_SESSION
        )?;
    }
    writeln!(
        stdout,
        "API: {}   counters: {}/__stats",
        running.url(),
        running.origin()
    )?;
    stdout.flush()?;
    drop(stdout);

    // A server's normal end is a signal: stop serving and exit 0.
    let signal = crate::signals::next_stop().await?;
    tracing::info!("simulate: stopping on {signal:?}");
    drop(running);
    Ok(Exit::Success)
}
