//! `send`'s flags: the job's inputs and outputs, the gateway, pacing and retries, what
//! it reports and where. Only shapes and help; `config` checks them.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use crate::input::encoding::EncodingChoice;
use crate::input::header::Field;
use crate::send::hooks::{NotifyFormat, NotifyOn, PingAttention};
use crate::send::progress::ProgressMode;
use crate::top::SignMethod;

/// Send one callback per order in the exports (CSV or .xlsx), deduplicated against the ledger.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = "\
Every input row gets one result row (in input order) with a status: delivered, rejected,
failed, not_attempted, invalid, skipped_delivered, skipped_rejected, skipped_closed,
duplicate_in_input, conflict or would_send. The ledger is the shop's SQLite database of
orders: outcomes are committed to it as they arrive; a rerun skips what it has delivered,
and every run sends its failed orders again (rows with source `ledger`).

Examples:
  # Try it: the built-in simulated gateway with demo credentials
  opentrade-callback send samples/orders.csv --ledger demo/ledger.db --out demo/results.csv \\
      --simulate --scenario samples/scenario.json
  # Check an export without sending anything
  opentrade-callback send export.csv --ledger ledger.db --out check.csv --dry-run
  # The nightly job (credentials in the environment or --config)
  opentrade-callback send /data/export/*.csv --ledger /var/lib/opentrade/ledger.db \\
      --out /var/lib/opentrade/results-$(date +%F).csv --qps 50
  # Finance: results as a workbook, the failed rows corrected in Excel and sent back
  opentrade-callback send export.xlsx --ledger ledger.db --out results.xlsx
  opentrade-callback report results.xlsx --failed-only --out to-fix.xlsx
  opentrade-callback send to-fix.xlsx --ledger ledger.db --out results-2.xlsx --retry-rejected")]
pub struct SendArgs {
    /// Exports to send: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or Excel workbooks
    /// (.xlsx); `-` reads CSV from stdin.
    #[arg(required_unless_present = "from_reconcile", value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The global `--env-file`, a role of its own (set by the dispatcher).
    #[arg(skip)]
    pub env_file: Option<PathBuf>,

    /// The ledger of earlier outcomes; created if absent, appended to (else `ledger` in
    /// the config file).
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// Where to write the results: a workbook when PATH ends in .xlsx, else CSV
    /// (replaced atomically at the end; a pipe or /dev/stdout is written in place; a
    /// ledger is never an output). Else `out` in the config file. {date} in PATH is the
    /// run's Beijing date (YYYY-MM-DD, whatever the host's time zone), {run} its run id:
    /// results/{date}-{run}.xlsx gives each run its own file.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub pace: PaceArgs,

    #[command(flatten)]
    pub reporting: ReportingArgs,

    #[command(flatten)]
    pub reading: ReadingArgs,
}

/// Where the calls go: a dry run, the simulator, or a gateway with its configuration.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// Validate and deduplicate only; nothing is sent or written to the ledger.
    #[arg(help_heading = "Where calls go", long)]
    pub dry_run: bool,

    /// Send to an in-process simulated gateway with demo credentials instead of TOP.
    #[arg(help_heading = "Where calls go", long, conflicts_with = "dry_run")]
    pub simulate: bool,

    /// Latency and fault rules for --simulate (JSON or TOML).
    #[arg(
        help_heading = "Where calls go",
        long,
        value_name = "FILE",
        requires = "simulate"
    )]
    pub scenario: Option<PathBuf>,

    /// TOML file with credentials and settings (see docs/reference.md "Configuration"); else
    /// OPENTRADE_CONFIG. Credentials: TOP_APP_KEY, TOP_APP_SECRET, TOP_SESSION.
    #[arg(help_heading = "Where calls go", long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// TOP gateway URL; also TOP_GATEWAY [default: https://eco.taobao.com/router/rest].
    #[arg(help_heading = "Where calls go", long, value_name = "URL")]
    pub gateway: Option<String>,

    /// Allow a plain http:// gateway on another machine (the session key travels in
    /// every request; http to this machine is always allowed).
    #[arg(help_heading = "Where calls go", long)]
    pub allow_insecure_http: bool,

    /// Also trust the root certificate(s) in this PEM file, e.g. a TLS-inspecting
    /// proxy's or a rehearsal gateway's; also TOP_CA_CERT. Certificates are always
    /// verified.
    #[arg(help_heading = "Where calls go", long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// md5, hmac or hmac-sha256 [default: hmac].
    #[arg(help_heading = "Where calls go", long, value_name = "METHOD")]
    pub sign_method: Option<SignMethod>,
}

/// How fast, how often, and which orders: pacing, retries, what is sent again.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PaceArgs {
    /// HTTP requests in flight at once [default: 8].
    #[arg(help_heading = "Pace and retries", long, value_name = "N")]
    pub concurrency: Option<NonZeroUsize>,

    /// Calls per HTTP request, through TOP's batch API (/router/batch), 1 to 50; for
    /// high latency and large files (see docs/reference.md) [default: 1, one request per call].
    #[arg(help_heading = "Pace and retries", long, value_name = "N")]
    pub batch: Option<NonZeroUsize>,

    /// At most N calls per second, evenly spaced [default: no cap].
    #[arg(help_heading = "Pace and retries", long, value_name = "N")]
    pub qps: Option<NonZeroU32>,

    /// Calls per order before it is `failed`, not counting flow-control refusals [default: 5].
    #[arg(help_heading = "Pace and retries", long, value_name = "N")]
    pub max_attempts: Option<NonZeroU32>,

    /// Time allowed for one call, e.g. 10s [default: 10s].
    #[arg(help_heading = "Pace and retries", long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,

    /// Time allowed to connect [default: 5s].
    #[arg(help_heading = "Pace and retries", long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// First retry delay ceiling; doubles per failure, with full jitter [default: 500ms].
    #[arg(help_heading = "Pace and retries", long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub backoff_base: Option<Duration>,

    /// Largest retry delay [default: 30s].
    #[arg(help_heading = "Pace and retries", long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub backoff_cap: Option<Duration>,

    /// The most time the run may wait out flow-control bans, all bans together; more
    /// halts the run (exit 3) [default: 5m].
    #[arg(help_heading = "Pace and retries", long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_ban_wait: Option<Duration>,

    /// Halt (exit 3) when more than this percent of the last 100 calls failed [default: 50].
    #[arg(help_heading = "Pace and retries", long, value_name = "PERCENT")]
    pub max_failure_rate: Option<f64>,

    /// Resend rows the ledger has as rejected (corrected or not).
    #[arg(help_heading = "Pace and retries", long)]
    pub retry_rejected: bool,

    /// Send the ledger's failed orders again (from the param0 they were sent with,
    /// even when the export no longer holds them) for this many days after their first
    /// failure; their rows' source is `ledger` [default: 7].
    #[arg(
        help_heading = "Pace and retries",
        long,
        value_name = "DAYS",
        conflicts_with = "no_resend_failed"
    )]
    pub resend_failed_days: Option<u32>,

    /// Send only the export's rows: never the ledger's failed orders.
    #[arg(help_heading = "Pace and retries", long)]
    pub no_resend_failed: bool,

    /// Also send the orders a `reconcile` file lists as retry_due, from the param0
    /// the ledger stored (whatever their age); INPUT may then be left out.
    #[arg(help_heading = "Pace and retries", long, value_name = "FILE")]
    pub from_reconcile: Option<PathBuf>,

    /// Seed for the retry jitter (tests).
    #[arg(help_heading = "Pace and retries", long, hide = true)]
    pub jitter_seed: Option<u64>,
}

/// What the run reports, and where: progress, the summary, metrics, hooks.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReportingArgs {
    /// auto (a bar on a terminal, else a line every 10s), bar, log or off.
    #[arg(
        help_heading = "Reports",
        long,
        value_name = "MODE",
        default_value = "auto"
    )]
    pub progress: ProgressMode,

    /// Seconds between log lines of --progress log [default: 10s].
    #[arg(help_heading = "Reports", long, value_name = "DURATION", value_parser = humantime::parse_duration, hide = true)]
    pub progress_every: Option<Duration>,

    /// Also write the summary as JSON here (for monitoring), on every exit: a run that
    /// never started (exit 2, 4) writes one with zero counts and its error.
    #[arg(help_heading = "Reports", long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// Also write the run's metrics here in the Prometheus textfile format (for
    /// node_exporter's textfile collector), by rename, on every exit; the last success
    /// is kept from the previous file when this run fails.
    #[arg(help_heading = "Reports", long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// Exit with CODE instead of 3 when the run halted for a reason worth retrying
    /// later unchanged (halt_reason gateway_down, banned, daily_quota, interrupted,
    /// input, crashed), so a service manager can retry those and only those
    /// (systemd Restart=on-failure with RestartPreventExitStatus=2 3 4, a CronJob's pod
    /// failure policy). 5 to 125, not a code of its own.
    #[arg(help_heading = "Reports", long, value_name = "CODE", value_parser = retryable_exit_code)]
    pub retryable_exit_code: Option<u8>,

    /// Ping a health check in the healthchecks convention: URL/start when the run starts,
    /// URL on exit 0 (and on exit 1, see --ping-attention), URL/<exit code> otherwise,
    /// the summary as the body; a run that finds the ledger held by another (exit 4)
    /// pings URL/log, not a failure of the running one (a few seconds at most; never
    /// changes the run's outcome; redirects followed only within the URL's own origin;
    /// its key never shown in a log). Else OPENTRADE_PING_URL.
    #[arg(help_heading = "Reports", long, value_name = "URL")]
    pub ping_url: Option<url::Url>,

    /// What rows needing attention (exit 1) are to the health check: a success whose
    /// summary names them, or a failure (URL/1).
    #[arg(
        help_heading = "Reports",
        long,
        value_name = "AS",
        value_enum,
        default_value_t
    )]
    pub ping_attention: PingAttention,

    /// Post the summary to a webhook or a group robot (see --notify-format), by default
    /// only when rows need attention or the run failed (--notify-on). A robot that
    /// answers with an error code is a failed notification (a warning); a signed robot
    /// (加签) takes notify_secret from --config. Else OPENTRADE_NOTIFY_URL.
    #[arg(help_heading = "Reports", long, value_name = "URL")]
    pub notify_url: Option<url::Url>,

    /// The shape of the notification: the summary JSON, or a DingTalk, WeCom or Feishu
    /// group robot's text message [default: json; also OPENTRADE_NOTIFY_FORMAT].
    #[arg(help_heading = "Reports", long, value_name = "FORMAT", value_enum)]
    pub notify_format: Option<NotifyFormat>,

    /// When to notify: problems (exit code other than 0) or always.
    #[arg(
        help_heading = "Reports",
        long,
        value_name = "WHEN",
        value_enum,
        default_value_t
    )]
    pub notify_on: NotifyOn,
}

/// How the exports are read, and the result CSV written for Excel.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReadingArgs {
    /// Input encoding: auto, utf-8, gbk or gb18030.
    #[arg(
        help_heading = "Reading exports",
        long,
        value_name = "ENCODING",
        default_value = "auto"
    )]
    pub encoding: EncodingChoice,

    /// Input delimiter: comma, tab or semicolon [default: sniffed from the header].
    #[arg(help_heading = "Reading exports", long, value_name = "DELIMITER", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// The sheet of .xlsx inputs to read [default: the first].
    #[arg(help_heading = "Reading exports", long, value_name = "NAME")]
    pub sheet: Option<String>,

    /// Use the column HEADER for FIELD (repeatable), e.g. --map order_no=订单编号.
    #[arg(help_heading = "Reading exports", long = "map", value_name = "FIELD=HEADER", value_parser = parse_map)]
    pub map: Vec<(Field, String)>,

    /// Write the result CSV with a UTF-8 BOM so Excel shows Chinese correctly.
    #[arg(help_heading = "Reading exports", long)]
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

// The values of `--notify-format` and `--notify-on`, for clap (the types are the
// hooks', which know nothing of the command line).

impl clap::ValueEnum for NotifyFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            NotifyFormat::Json,
            NotifyFormat::Dingtalk,
            NotifyFormat::Wecom,
            NotifyFormat::Feishu,
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use clap::builder::PossibleValue;
        Some(match self {
            NotifyFormat::Json => PossibleValue::new("json").help("The summary document itself"),
            NotifyFormat::Dingtalk => PossibleValue::new("dingtalk")
                .help("A DingTalk group robot (`{\"msgtype\":\"text\",…}`)"),
            NotifyFormat::Wecom => {
                PossibleValue::new("wecom").help("A WeCom (企业微信) group robot")
            }
            NotifyFormat::Feishu => PossibleValue::new("feishu")
                .help("A Feishu (飞书) group robot (`{\"msg_type\":\"text\",…}`)"),
        })
    }
}

impl clap::ValueEnum for PingAttention {
    fn value_variants<'a>() -> &'a [Self] {
        &[PingAttention::Success, PingAttention::Fail]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use clap::builder::PossibleValue;
        Some(match self {
            PingAttention::Success => PossibleValue::new("success")
                .help("A success with a note: URL, the summary naming the rows as the body"),
            PingAttention::Fail => PossibleValue::new("fail").help("A failure: URL/1"),
        })
    }
}

impl clap::ValueEnum for NotifyOn {
    fn value_variants<'a>() -> &'a [Self] {
        &[NotifyOn::Problems, NotifyOn::Always]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use clap::builder::PossibleValue;
        Some(match self {
            NotifyOn::Problems => PossibleValue::new("problems")
                .help("When rows need attention or the run failed (exit code other than 0)"),
            NotifyOn::Always => PossibleValue::new("always").help("After every run"),
        })
    }
}

/// `--retryable-exit-code`: a code no other outcome has.
fn retryable_exit_code(text: &str) -> Result<u8, String> {
    match text.parse::<u8>() {
        Ok(code @ 5..=125) => Ok(code),
        _ => Err(format!(
            "{text}: a code from 5 to 125 (0-4 and 126 and above are taken)"
        )),
    }
}
