//! The command line, as clap-derive types. Only shapes and help live here; `config`
//! turns these, the environment and a config file into checked settings, and nothing
//! after that sees clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// Reports Tmall recharge-and-get order outcomes to the Taobao Open Platform
/// (taobao.wt.trade.opentrade.resultcallback) from CSV exports, exactly once per req_id.
#[derive(Debug, Parser)]
#[command(name = "opentrade-callback", version, propagate_version = true)]
#[command(after_help = "\
Credentials come from TOP_APP_KEY, TOP_APP_SECRET and TOP_SESSION (or a --config file);
the secret and the session are never accepted on the command line.

Exit codes: 0 all delivered or skipped, 1 some rows need attention, 2 usage or
configuration error (nothing sent), 3 halted early, 4 another run holds the ledger,
130/143 interrupted by SIGINT/SIGTERM.")]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Simulate(SimulateArgs),
}

/// Serve the simulated TOP gateway (for rehearsals, load tests and other tools).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The first line on stdout is `listening on http://HOST:PORT`, so --listen 127.0.0.1:0
picks a free port. The API is served at /router/rest, counters at GET /__stats.
Credentials are TOP_APP_KEY / TOP_APP_SECRET / TOP_SESSION when set, else the demo
credentials, which are printed at start.

Examples:
  opentrade-callback simulate --listen 127.0.0.1:8080
  opentrade-callback simulate --listen 127.0.0.1:0 --scenario samples/scenario.json")]
pub struct SimulateArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Latency and fault rules, JSON or TOML (see README "Scenario files").
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
}
