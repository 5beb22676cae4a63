//! The command line, as clap-derive types. Only shapes and help live here; `config`
//! turns these, the environment and a config file into checked settings, and nothing
//! after that sees clap.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};

use crate::input::encoding::EncodingChoice;
use crate::input::header::Field;
use crate::send::progress::ProgressMode;
use crate::top::SignMethod;

/// Reports Tmall recharge-and-get order outcomes to the Taobao Open Platform
/// (taobao.wt.trade.opentrade.resultcallback) from CSV or Excel (.xlsx) exports, exactly once per req_id.
#[derive(Debug, Parser)]
#[command(name = "opentrade-callback", version, propagate_version = true)]
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

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(DemoArgs),
    Send(Box<SendArgs>),
    Report(ReportArgs),
    Simulate(SimulateArgs),
    Ledger(LedgerArgs),
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

/// Send one callback per order in the exports (CSV or .xlsx), deduplicated against the ledger.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every input row gets one result row (in input order) with a status: delivered, rejected,
failed, not_attempted, invalid, skipped_delivered, skipped_rejected, duplicate_in_input,
conflict or would_send. Platform outcomes are appended to the ledger as they arrive; a
rerun skips what the ledger has delivered and resends what failed.

Examples:
  # Try it: the built-in simulated gateway with demo credentials
  opentrade-callback send samples/orders.csv --ledger demo/ledger.csv --out demo/results.csv \\
      --simulate --scenario samples/scenario.json
  # Check an export without sending anything
  opentrade-callback send export.csv --ledger ledger.csv --out check.csv --dry-run
  # The nightly job (credentials in the environment or --config)
  opentrade-callback send /data/export/*.csv --ledger /var/lib/opentrade/ledger.csv \\
      --out /var/lib/opentrade/results-$(date +%F).csv --qps 50
  # Finance: results as a workbook, the failed rows corrected in Excel and sent back
  opentrade-callback send export.xlsx --ledger ledger.csv --out results.xlsx
  opentrade-callback report results.xlsx --failed-only --out to-fix.xlsx
  opentrade-callback send to-fix.xlsx --ledger ledger.csv --out results-2.xlsx --retry-rejected")]
pub struct SendArgs {
    /// Exports to send: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or Excel workbooks
    /// (.xlsx); `-` reads CSV from stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The ledger of earlier outcomes; created if absent, appended to.
    #[arg(long, value_name = "PATH")]
    pub ledger: PathBuf,

    /// Where to write the results: a workbook when PATH ends in .xlsx, else CSV
    /// (replaced atomically at the end; a pipe or /dev/stdout is written in place; a
    /// ledger is never an output).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,

    /// Validate and deduplicate only; nothing is sent or written to the ledger.
    #[arg(long)]
    pub dry_run: bool,

    /// Send to an in-process simulated gateway with demo credentials instead of TOP.
    #[arg(long, conflicts_with = "dry_run")]
    pub simulate: bool,

    /// Latency and fault rules for --simulate (JSON or TOML).
    #[arg(long, value_name = "FILE", requires = "simulate")]
    pub scenario: Option<PathBuf>,

    /// TOML file with credentials and settings (see README "Configuration").
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// TOP gateway URL; also TOP_GATEWAY [default: https://eco.taobao.com/router/rest].
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,

    /// Allow a plain http:// gateway on another machine (the session key travels in
    /// every request; http to this machine is always allowed).
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// Also trust the root certificate(s) in this PEM file, e.g. a TLS-inspecting
    /// proxy's or a rehearsal gateway's; also TOP_CA_CERT. Certificates are always
    /// verified.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// md5, hmac or hmac-sha256 [default: hmac].
    #[arg(long, value_name = "METHOD")]
    pub sign_method: Option<SignMethod>,

    /// HTTP requests in flight at once [default: 8].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<NonZeroUsize>,

    /// Calls per HTTP request, through TOP's batch API (/router/batch), 1 to 50; for
    /// high latency and large files (see README) [default: 1, one request per call].
    #[arg(long, value_name = "N")]
    pub batch: Option<NonZeroUsize>,

    /// At most N calls per second, evenly spaced [default: no cap].
    #[arg(long, value_name = "N")]
    pub qps: Option<NonZeroU32>,

    /// Calls per order before it is `failed`, not counting flow-control refusals [default: 5].
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<NonZeroU32>,

    /// Time allowed for one call, e.g. 10s [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,

    /// Time allowed to connect [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// First retry delay ceiling; doubles per failure, with full jitter [default: 500ms].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub backoff_base: Option<Duration>,

    /// Largest retry delay [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub backoff_cap: Option<Duration>,

    /// The most time the run may wait out flow-control bans, all bans together; more
    /// halts the run (exit 3) [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_ban_wait: Option<Duration>,

    /// Halt (exit 3) when more than this percent of the last 100 calls failed [default: 50].
    #[arg(long, value_name = "PERCENT")]
    pub max_failure_rate: Option<f64>,

    /// Resend rows the ledger has as rejected (corrected or not).
    #[arg(long)]
    pub retry_rejected: bool,

    /// auto (a bar on a terminal, else a line every 10s), bar, log or off.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: ProgressMode,

    /// Seconds between log lines of --progress log.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s", hide = true)]
    pub progress_every: Duration,

    /// Seed for the retry jitter (tests).
    #[arg(long, hide = true)]
    pub jitter_seed: Option<u64>,

    /// Also write the summary as JSON here (for monitoring), on every exit: a run that
    /// never started (exit 2, 4) writes one with zero counts and its error.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// Also write the run's metrics here in the Prometheus textfile format (for
    /// node_exporter's textfile collector), by rename, on every exit; the last success
    /// is kept from the previous file when this run fails.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// Ping a health check in the healthchecks convention: URL/start when the run starts,
    /// URL on exit 0, URL/<exit code> otherwise, the summary as the body (a few seconds
    /// at most; never changes the run's outcome).
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<url::Url>,

    /// Post the summary to a webhook or a group robot (see --notify-format), by default
    /// only when rows need attention or the run failed (--notify-on).
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<url::Url>,

    /// The shape of the notification: the summary JSON, or a DingTalk, WeCom or Feishu
    /// group robot's text message.
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        default_value_t,
        requires = "notify_url"
    )]
    pub notify_format: crate::send::hooks::NotifyFormat,

    /// When to notify: problems (exit code other than 0) or always.
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        default_value_t,
        requires = "notify_url"
    )]
    pub notify_on: crate::send::hooks::NotifyOn,

    /// Input encoding: auto, utf-8, gbk or gb18030.
    #[arg(long, value_name = "ENCODING", default_value = "auto")]
    pub encoding: EncodingChoice,

    /// Input delimiter: comma, tab or semicolon [default: sniffed from the header].
    #[arg(long, value_name = "DELIMITER", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// The sheet of .xlsx inputs to read [default: the first].
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,

    /// Use the column HEADER for FIELD (repeatable), e.g. --map order_no=订单编号.
    #[arg(long = "map", value_name = "FIELD=HEADER", value_parser = parse_map)]
    pub map: Vec<(Field, String)>,

    /// Write the result CSV with a UTF-8 BOM so Excel shows Chinese correctly.
    #[arg(long)]
    pub excel: bool,
}

fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "," | "comma" => Ok(b','),
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        ";" | "semicolon" => Ok(b';'),
        other => Err(format!(
            "unknown delimiter '{other}': expected comma, tab or semicolon"
        )),
    }
}

fn parse_map(text: &str) -> Result<(Field, String), String> {
    let (field, header) = text
        .split_once('=')
        .ok_or("expected FIELD=HEADER, e.g. order_no=订单编号")?;
    if header.trim().is_empty() {
        return Err("the HEADER after '=' is empty".into());
    }
    Ok((field.parse()?, header.trim().to_owned()))
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
