//! `reconcile`: its flags and help.

use std::path::PathBuf;
use std::time::Duration;

use super::ConnectArgs;

/// Ask the platform which of the shop's trades still wait for a callback
/// (taobao.trades.sold.increment.get), put every sub-order in one bucket against the
/// ledger, and store each one's deadline.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Buckets: missing_callback (the platform waits; the ledger never sent it), retry_due
(failed or unanswered: `send --from-reconcile FILE` sends them again from the ledger),
data_fix (rejected: correct and resubmit), platform_pending (delivered; the platform
has not acted yet), finished_without_us, unknown_to_platform, closed (closed or
refunded: stop retrying), done. Trades not paid yet are counted, not listed.

The trades API takes windows of at most one day: --since 7d is walked as 7 windows,
each paged from its last page back to its first (so a trade modified meanwhile is never
stepped over), 100 trades a page. Needs the app's trade permission (`check` probes it).

Exit status: 0 nothing that waits on us falls due within --due-within, 1 some do (they
are listed first), 2 configuration or files, 3 halted (the platform refused, or the next
call would pass daily_quota), 4 another run holds the ledger.

Examples:
  opentrade-callback --env-file /etc/opentrade/env reconcile --ledger ledger.db --since 7d --out reconcile.xlsx
  opentrade-callback reconcile --ledger ledger.db --from 2026-12-01 --to 2026-12-03 --out rec.csv
  opentrade-callback reconcile --simulate --scenario trades.json --ledger demo/ledger.db")]
pub struct ReconcileArgs {
    /// The ledger to compare with (else `ledger` in the config); its lock is taken.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// The window: trades modified this long ago until now.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with_all = ["from", "to"])]
    pub since: Option<Duration>,

    /// The window's start instead (Beijing time: 2026-12-01 or 2026-12-01 08:00:00).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// The window's end (Beijing time; default now).
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,

    /// Write every sub-order's bucket, deadline and advice: CSV, or a workbook (.xlsx);
    /// {date} is the Beijing date (results/reconcile-{date}.xlsx).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Orders that wait on us and fall due within this make the exit status 1.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "24h")]
    pub due_within: Duration,

    /// Write a JSON summary (buckets, due, calls) here, on every exit.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Write Prometheus textfile metrics here (opentrade_callback_reconcile_*).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,

    /// At most this many calls per second.
    #[arg(long, value_name = "N")]
    pub qps: Option<std::num::NonZeroU32>,

    /// A flow-control ban up to this long is waited out; a longer one halts (exit 3).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "60s")]
    pub max_ban_wait: Duration,

    /// How long one page may take.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// md5, hmac or hmac-sha256.
    #[arg(long, value_name = "METHOD")]
    pub sign_method: Option<crate::top::SignMethod>,

    /// Ask the built-in simulated gateway (demo credentials) instead of TOP.
    #[arg(long)]
    pub simulate: bool,

    /// The simulated shop's trades (`trades`, `generate_trades`; JSON or TOML).
    #[arg(long, value_name = "FILE", requires = "simulate")]
    pub scenario: Option<PathBuf>,

    /// Ping a health check: URL/start, then URL on exit 0 and URL/<exit code>
    /// otherwise — orders falling due (exit 1) are a failure here. Else
    /// OPENTRADE_RECONCILE_PING_URL (a check of its own, not the nightly send's).
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<url::Url>,

    /// Post the summary (buckets, the orders falling due) to a webhook or a group
    /// robot when orders fall due or reconcile fails. Else OPENTRADE_NOTIFY_URL.
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<url::Url>,

    /// json, dingtalk, wecom or feishu [default: json; also OPENTRADE_NOTIFY_FORMAT].
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub notify_format: Option<crate::send::hooks::NotifyFormat>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}
