//! The command line, as clap-derive types. Only shapes and help live here; `config`
//! turns these, the environment and a config file into checked settings, and nothing
//! after that sees clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

mod send;
mod serve;

pub use send::SendArgs;
pub use serve::{ServeArgs, UsersArgs, UsersCommand};

/// Reports Tmall recharge-and-get order outcomes to the Taobao Open Platform
/// (taobao.wt.trade.opentrade.resultcallback) from CSV or Excel (.xlsx) exports, exactly once per req_id.
#[derive(Debug, Parser)]
#[command(
    name = "opentrade-callback",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("OPENTRADE_BUILD"), ")"),
    propagate_version = true
)]
#[command(after_help = "\
Try it with the built-in simulated gateway and the sample data (writes only under demo/):
  opentrade-callback demo
  opentrade-callback report demo/results.csv

Credentials come from TOP_APP_KEY, TOP_APP_SECRET and TOP_SESSION (or a --config file);
the secret and the session are never accepted on the command line. An https:// gateway
goes through HTTPS_PROXY (or https_proxy, ALL_PROXY) as a CONNECT tunnel unless NO_PROXY
names its host; a plain http:// gateway never goes through a proxy.

Exit codes: 0 all delivered or skipped, 1 some rows need attention, 2 usage or
configuration error (nothing sent), 3 halted early, 4 another run holds the ledger,
130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (in-flight calls finished, outputs written).")]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Read KEY=VALUE lines (systemd EnvironmentFile syntax) as environment variables:
    /// TOP_APP_KEY, TOP_APP_SECRET, TOP_SESSION, OPENTRADE_CONFIG, …; variables already
    /// set in the environment win.
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<std::path::PathBuf>,

    /// Log lines on stderr as text, or as one JSON object per line (time, level,
    /// message, fields), for a log collector. Times are Beijing time either way.
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// Check the nightly job's setup without changing anything: config and credentials,
/// the gateway and its certificate, the clock, the credentials and session (proven by
/// a signed call without param0, which nothing can act on), the session's end date.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
One line per check, ✓ / ! / ✗ with the fix. Exit status: 0 all good, 1 warnings only
(e.g. the session ends within --warn-days), 2 configuration or files, 3 the platform
refuses (signature, session, permissions, clock, certificate, unreachable).

Examples:
  opentrade-callback --env-file /etc/opentrade/env check
  opentrade-callback check --config /etc/opentrade/config.toml --json")]
pub struct CheckArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// md5, hmac or hmac-sha256 (as the run will sign).
    #[arg(long, value_name = "METHOD")]
    pub sign_method: Option<crate::top::SignMethod>,

    /// How long the probe may take.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s")]
    pub timeout: std::time::Duration,

    /// Warn when session_expires (in the config) is this many days away or fewer.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub warn_days: i64,

    /// One JSON document on stdout instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// The configuration and the gateway, as `check` and `serve` take them (`send` has
/// its own, grouped in its help).
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// TOML file with credentials and settings (else OPENTRADE_CONFIG); for `serve`,
    /// also `ledger` and `results_dir`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// TOP gateway URL; also TOP_GATEWAY.
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,

    /// Also trust the root certificate(s) in this PEM file; also TOP_CA_CERT.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Allow a plain http:// gateway on another machine.
    #[arg(long)]
    pub allow_insecure_http: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Check(CheckArgs),
    Demo(DemoArgs),
    Send(Box<SendArgs>),
    Report(ReportArgs),
    Simulate(SimulateArgs),
    Ledger(LedgerArgs),
    Serve(Box<ServeArgs>),
    Users(UsersArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Print a shell completion script for this tool on stdout.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  opentrade-callback completions bash > /etc/bash_completion.d/opentrade-callback
  opentrade-callback completions zsh > \"${fpath[1]}/_opentrade-callback\"
  opentrade-callback completions fish > ~/.config/fish/completions/opentrade-callback.fish")]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Print the manual page (roff) on stdout, or write one page per command into a
/// directory.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  opentrade-callback man | man -l -
  opentrade-callback man --dir /usr/local/share/man/man1")]
pub struct ManArgs {
    /// Write opentrade-callback.1 and one page per subcommand
    /// (opentrade-callback-send.1, ...) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Try the tool: send the sample export to the built-in simulated gateway, writing
/// only under DIR (ignored by git).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Runs, from the project's directory:
  opentrade-callback send samples/orders.csv --ledger demo/ledger.csv --out demo/results.csv \\
      --simulate --scenario samples/scenario.json
after seeding demo/ledger.csv with samples/ledger.csv (\"last night's\" ledger) on first use.
A second run sends nothing: the ledger now has tonight's outcomes. Remove demo/ to start over.

Examples:
  opentrade-callback demo
  opentrade-callback report demo/results.csv")]
pub struct DemoArgs {
    /// Where the demo's ledger and results go.
    #[arg(long, value_name = "DIR", default_value = "demo")]
    pub dir: PathBuf,
}

/// Maintain a ledger.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub command: LedgerCommand,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    Compact(CompactArgs),
}

/// Rewrite a ledger as the latest line of each req_id, keeping the old file as a backup.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Takes the ledger's lock (exit 4 while a run holds it). The old ledger stays beside the
new one as LEDGER.bak-YYYYMMDDTHHMMSS; at no moment is the ledger path missing.

--before drops req_ids whose latest outcome is older than the date. A dropped req_id is
sent again if it ever reappears in an export, so only drop what no export will contain.

Examples:
  opentrade-callback ledger compact /var/lib/opentrade/ledger.csv
  opentrade-callback ledger compact ledger.csv --before 2026-01-01")]
pub struct CompactArgs {
    /// The ledger to compact.
    #[arg(value_name = "LEDGER")]
    pub path: PathBuf,

    /// Also drop req_ids whose latest outcome finished before this day (YYYY-MM-DD,
    /// Beijing time; not a day in the future).
    #[arg(long, value_name = "DATE")]
    pub before: Option<chrono::NaiveDate>,
}

/// Summarize a result file (CSV or .xlsx) or a ledger: counts by status and error code, amounts, the
/// rows that need attention.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The kind of file is recognised by its header. For a ledger, each req_id counts once,
in its latest state. Exit status: 0 when no row needs attention, 1 when some do
(rejected, failed, not_attempted, invalid, conflict), 2 when the file cannot be read.

Examples:
  opentrade-callback report results.csv
  opentrade-callback report /var/lib/opentrade/ledger.csv
  # For a monitor: the same as JSON on stdout
  opentrade-callback report results.csv --json
  # The rows finance must look at, as a workbook that `send` takes back:
  opentrade-callback report results.xlsx --failed-only --out to-fix.xlsx
  # ... or as a CSV
  opentrade-callback report results.csv --failed-only --out to-fix.csv")]
pub struct ReportArgs {
    /// A result file (from send --out: CSV or .xlsx) or a ledger.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// Write only the rows that need attention (rejected, failed, not_attempted,
    /// invalid, conflict) to --out, with the result file's columns: a workbook when
    /// --out ends in .xlsx, else CSV.
    #[arg(long, requires = "out")]
    pub failed_only: bool,

    /// Where --failed-only writes.
    #[arg(long, value_name = "FILE", requires = "failed_only")]
    pub out: Option<PathBuf>,

    /// Print the report as one JSON document on stdout (counts, amounts in yuan as
    /// exact text, errors, the rows that need attention).
    #[arg(long)]
    pub json: bool,
}

/// Serve the simulated TOP gateway (for rehearsals, load tests and other tools).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The first line on stdout is `listening on http://HOST:PORT` (https with --tls-cert), so
--listen 127.0.0.1:0 picks a free port. The API is served at /router/rest (and the batch
API at /router/batch), counters at GET /__stats. Credentials are TOP_APP_KEY /
TOP_APP_SECRET / TOP_SESSION when set, else the demo credentials, which are printed at
start.

Examples:
  opentrade-callback simulate --listen 127.0.0.1:8080
  opentrade-callback simulate --listen 127.0.0.1:0 --scenario samples/scenario.json
  # HTTPS, as the real gateway; the client then needs --ca-cert with the root
  opentrade-callback simulate --listen 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem")]
pub struct SimulateArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Latency and fault rules, JSON or TOML (see README "Scenario files").
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Worker threads; 1 leaves the other cores to a client on the same machine
    /// (faster on 2 cores, see bench/README.md).
    #[arg(long, value_name = "N", default_value = "1")]
    pub threads: std::num::NonZeroUsize,
}
