//! The command line, as clap-derive types. Only shapes and help live here; `config`
//! turns these, the environment and a config file into checked settings, and nothing
//! after that sees clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

mod reconcile;
mod send;
mod serve;

pub use reconcile::ReconcileArgs;
pub use send::{PaceArgs, ReadingArgs, ReportingArgs, SendArgs, TargetArgs};
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

    /// The ledger the nightly run will use (else `ledger` in the config): checked to
    /// be this tool's database, or a place one can be made.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// The results the nightly run will write (else `out` in the config; {date} and
    /// {run} as in send): checked that its directory takes a new file.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

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
    Reconcile(Box<ReconcileArgs>),
    Audit(AuditArgs),
    Serve(Box<ServeArgs>),
    Users(UsersArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// The desk's audit log in the ledger: check its chain.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    Verify(AuditVerifyArgs),
}

/// Check that no row of the audit log was changed, removed or slipped in: each row
/// carries the SHA-256 of the one before it.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 the chain holds (the last row's hash is printed: keep it to prove later
that nothing was cut off the end), 1 a row does not hold (named, with its time), 2 the
ledger cannot be read.

Example:
  opentrade-callback audit verify /var/lib/opentrade/ledger.db")]
pub struct AuditVerifyArgs {
    /// The ledger.
    #[arg(value_name = "LEDGER")]
    pub ledger: PathBuf,

    /// One JSON document on stdout instead of a line.
    #[arg(long)]
    pub json: bool,
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
  opentrade-callback send samples/orders.csv --ledger demo/ledger.db --out demo/results.csv \\
      --simulate --scenario samples/scenario.json
after making demo/ledger.db from samples/ledger.csv (\"last night's\" ledger, imported) on first use.
A second run sends nothing: the ledger now has tonight's outcomes. Remove demo/ to start over.

Examples:
  opentrade-callback demo
  opentrade-callback report demo/results.csv")]
pub struct DemoArgs {
    /// Where the demo's ledger and results go.
    #[arg(long, value_name = "DIR", default_value = "demo")]
    pub dir: PathBuf,
}

/// Work with the ledger, the shop's database of orders: import an old CSV ledger,
/// export it, show one order's story, close orders.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub command: LedgerCommand,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    Import(ImportArgs),
    Export(ExportArgs),
    Show(ShowArgs),
    Close(CloseArgs),
}

/// Import a CSV ledger of an earlier version into the database (once: again adds nothing).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every line becomes an outcome of its order, the latest line of a req_id its order's
state (an order the database already has keeps its state: the database is newer). The
CSV file is not modified. It kept no param0, so imported orders are sent again only
when an export holds them. Takes the ledger's lock (exit 4 while a run holds it); the
database is created if missing.

Examples:
  opentrade-callback ledger import /var/lib/opentrade/ledger.csv --into /var/lib/opentrade/ledger.db")]
pub struct ImportArgs {
    /// The CSV ledger of an earlier version.
    #[arg(value_name = "OLD.csv")]
    pub csv: PathBuf,

    /// The ledger database to import into.
    #[arg(long, value_name = "LEDGER")]
    pub into: PathBuf,
}

/// Export the ledger in the CSV layout of earlier versions, or as a workbook.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Columns: req_id, order_no, sub_order_no, status, error_code, sub_code, payload_md5,
top_request_id, attempts, finished_at, run_id. By default one line per order, in its
state (delivered, rejected, failed, pending, closed) with its latest answer; --all gives
every outcome of every run instead. A path ending in .xlsx is written as a workbook.

Examples:
  opentrade-callback ledger export ledger.db --out ledger-2026-12.csv
  opentrade-callback ledger export ledger.db --out history.xlsx --all")]
pub struct ExportArgs {
    /// The ledger database.
    #[arg(value_name = "LEDGER")]
    pub ledger: PathBuf,

    /// Where to write (a workbook when it ends in .xlsx, else CSV).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Every outcome, not only each order's latest.
    #[arg(long)]
    pub all: bool,
}

/// Show one order's whole story: its state, every answer of every run, every export row,
/// and the desk's requests about it (who asked, who decided).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
ID is a req_id, or an order number (every sub-order of the trade). Exit 1 when the
ledger knows no such order.

Examples:
  opentrade-callback ledger show ledger.db 4012345678901234567
  opentrade-callback ledger show ledger.db channel_1212312 --json")]
pub struct ShowArgs {
    /// The ledger database.
    #[arg(value_name = "LEDGER")]
    pub ledger: PathBuf,

    /// A req_id or an order number.
    #[arg(value_name = "ID")]
    pub id: String,

    /// The story as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Close orders: they will not be sent (refunded, too late); recorded with who, when and why.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A closed order is skipped by every run (status skipped_closed), never sent again from
the ledger and never needs attention again. Only rejected, failed or pending orders are
closed; delivered ones are named and left. Recorded with the operating system's user as
who. Takes the ledger's lock (exit 4 while a run holds it).

Examples:
  opentrade-callback ledger close ledger.db R-4012 R-4013 --reason \"refunded, B0107\"")]
pub struct CloseArgs {
    /// The ledger database.
    #[arg(value_name = "LEDGER")]
    pub ledger: PathBuf,

    /// The req_ids to close.
    #[arg(value_name = "REQ_ID", required = true)]
    pub req_ids: Vec<String>,

    /// Why they will not be sent (required; kept in the ledger).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

/// Summarize a result file (CSV or .xlsx) or a ledger: counts by status and error code, amounts, the
/// rows that need attention.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The kind of file is recognised by its first bytes. For a ledger, each order counts
once, in its state (pending counts as not_attempted, closed as skipped_closed). Exit status: 0 when no row needs attention, 1 when some do
(rejected, failed, not_attempted, invalid, conflict), 2 when the file cannot be read.

Examples:
  opentrade-callback report results.csv
  opentrade-callback report /var/lib/opentrade/ledger.db
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

    /// Latency and fault rules, JSON or TOML (see docs/reference.md "The simulated gateway and scenario files").
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
