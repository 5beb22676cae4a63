//! `reconcile`: which of the shop's trades still wait on us, by deadline. The platform's
//! trades of the window (`walk`, from the gateway through `fetch`), each sub-order put
//! in one `bucket` against the ledger, the deadlines stored in the ledger; the file
//! (`output`), the summary, its JSON and the metrics (`report`) are made from the
//! returned `Reconciled`.

pub mod bucket;
pub mod fetch;
pub mod output;
pub mod report;
pub mod robot;
mod sort;
pub mod walk;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};

use crate::ledger::{Ledger, LedgerError, OrderState};
use crate::top::trades::MAX_PAGE_SIZE;
use bucket::Bucket;
use walk::{Pages, Walked};

/// What `reconcile` is told, checked by `config::build_reconcile`.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    pub connection: crate::send::Connection,
    pub ledger: PathBuf,
    pub out: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    /// The window's start, Beijing time.
    pub from: NaiveDateTime,
    /// Its end; `None`: now, and then trades modified during the walk are caught too.
    pub to: Option<NaiveDateTime>,
    pub due_within: Duration,
    /// The recharge-and-get items (`num_iid`); empty: every item.
    pub items: Vec<u64>,
    pub qps: Option<std::num::NonZeroU32>,
    pub daily_quota: Option<u64>,
    pub max_ban_wait: Duration,
    /// The health check and the robot (`--ping-url`, `--notify-url`).
    pub hooks: crate::send::hooks::Hooks,
}

/// One line of the result: a sub-order on the platform, or an order of the ledger the
/// platform did not show. Compact: a million are held to be sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub bucket: Bucket,
    /// Waits on us and falls due within `--due-within` (or has no deadline said).
    pub due: bool,
    /// Closed in the ledger by a person, though the platform still waits: not due.
    pub closed_by_person: bool,
    pub ledger_state: Option<OrderState>,
    pub tid: u64,
    /// The sub-order (`None` for an order only the ledger knows without one).
    pub oid: Option<u64>,
    pub num_iid: Option<u64>,
    /// `timeout_action_time`, Beijing time.
    pub deadline: Option<NaiveDateTime>,
    pub platform_status: Arc<str>,
    pub refund_status: Arc<str>,
    /// The ledger's req_ids of it, space-separated.
    pub req_ids: Box<str>,
    pub error_code: Box<str>,
}

/// What a reconcile found.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub windows: u64,
    /// Calls for the windows (`minimum_calls` when nothing moved), then for the trades
    /// modified during the walk.
    pub calls: u64,
    pub catch_up_calls: u64,
    /// Every call made, tries of a failed one included: what the platform counts.
    pub calls_made: u64,
    /// Time spent waiting for the platform's answers (set by the caller that knows).
    pub waited: std::time::Duration,
    /// The documented minimum of calls for the windows as they were.
    pub minimum_calls: u64,
    pub rereads: u64,
    pub rewalks: u64,
    pub trades: u64,
    /// Sub-orders not paid yet (nothing for us), and of other items.
    pub not_ours: u64,
    pub other_items: u64,
    pub rows: Vec<Row>,
    pub calls_today: u64,
    pub daily_quota: Option<u64>,
    pub deadlines_stored: u64,
}

impl Reconciled {
    pub fn count(&self, bucket: Bucket) -> u64 {
        self.rows.iter().filter(|r| r.bucket == bucket).count() as u64
    }

    pub fn due(&self, bucket: Bucket) -> u64 {
        self.rows
            .iter()
            .filter(|r| r.bucket == bucket && r.due)
            .count() as u64
    }

    pub fn due_total(&self) -> u64 {
        self.rows.iter().filter(|r| r.due).count() as u64
    }
}

/// Why reconcile could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Stopped(#[from] fetch::Stop),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Walks the window through `pages`, buckets every sub-order against `ledger`, stores
/// the deadlines and the calls made (also when the walk stops: the platform counted
/// them). `now` is the walk's start; `clock` tells the time for the last window.
pub async fn reconcile<P: Pages<Stop = fetch::Stop>>(
    config: &ReconcileConfig,
    ledger: &Ledger,
    pages: &mut P,
    made: impl Fn(&P) -> u64,
    now: DateTime<Utc>,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<Reconciled, ReconcileError> {
    use crate::ledger::store::Store as _;
    let beijing_now = to_beijing(now);
    // A window that ends now ends a whole second before the walk starts: a trade
    // modified during the walk is then modified after the window (the platform's
    // times are whole seconds), leaves it, and is caught by the last window.
    let to = config
        .to
        .unwrap_or_else(|| whole_second(beijing_now) - chrono::TimeDelta::seconds(1));
    let day = beijing_now.format("%Y-%m-%d").to_string();
    let used = ledger.calls_on(&day)?;
    let mut walked = Walked::default();
    let mut catch_up = Walked::default();
    let walking = std::time::Instant::now();
    let walk = walk_all(config, pages, to, &mut walked, &mut catch_up, &clock).await;
    tracing::info!(took = ?walking.elapsed(), "walked the windows");
    let calls = made(pages);
    if let Err(stop) = walk {
        crate::ledger::reconcile::store(ledger, &[], &day, calls)?;
        return Err(stop.into());
    }
    let (windows, window_calls, catch_up_calls) = (walked.windows, walked.calls, catch_up.calls);
    let minimum = minimum_of(&walked, config, to);
    walked.merge(catch_up);
    let trades = walked.trades.len() as u64;
    let mut found = sort::sort(
        config,
        ledger,
        std::mem::take(&mut walked.trades),
        beijing_now,
    )?;
    let deadlines = std::mem::take(&mut found.deadlines);
    let storing = std::time::Instant::now();
    crate::ledger::reconcile::store(ledger, &deadlines, &day, calls)?;
    tracing::info!(deadlines = deadlines.len(), took = ?storing.elapsed(), "stored the deadlines");
    Ok(Reconciled {
        from: config.from,
        to,
        windows,
        calls: window_calls,
        catch_up_calls,
        calls_made: calls,
        waited: std::time::Duration::ZERO,
        minimum_calls: minimum,
        rereads: walked.rereads,
        rewalks: walked.rewalks,
        trades,
        not_ours: found.not_ours,
        other_items: found.other_items,
        rows: found.rows,
        calls_today: used + calls,
        daily_quota: config.daily_quota,
        deadlines_stored: deadlines.len() as u64,
    })
}

/// The windows of the range, then (when it ends now) the trades modified meanwhile.
async fn walk_all<P: Pages>(
    config: &ReconcileConfig,
    pages: &mut P,
    to: NaiveDateTime,
    walked: &mut Walked,
    catch_up: &mut Walked,
    clock: &impl Fn() -> DateTime<Utc>,
) -> Result<(), P::Stop> {
    for (start, end) in walk::windows(config.from, to) {
        walked.window(pages, start, end, MAX_PAGE_SIZE).await?;
    }
    if config.to.is_none() {
        // Trades modified while the windows were walked left them: one more window
        // from a little before the walk began until now, again while it was long.
        let mut since = to;
        for _ in 0..3 {
            let until = to_beijing(clock());
            let before = catch_up.calls;
            catch_up
                .window(
                    pages,
                    since - walk::CATCH_UP_OVERLAP,
                    until.max(since),
                    MAX_PAGE_SIZE,
                )
                .await?;
            if catch_up.calls - before <= 1 {
                break;
            }
            since = until;
        }
    }
    Ok(())
}

/// The documented minimum of calls for the windows of `[from, to]`, as many trades as
/// each held (one pass: each trade counted in its window).
fn minimum_of(walked: &Walked, config: &ReconcileConfig, to: NaiveDateTime) -> u64 {
    let windows = walk::windows(config.from, to);
    let mut counts = vec![0u64; windows.len()];
    for trade in walked.trades.values() {
        let Some(at) = trade.modified else { continue };
        let index = windows.partition_point(|(_, end)| *end < at);
        if let Some(count) = counts.get_mut(index)
            && at >= windows[index].0
        {
            *count += 1;
        }
    }
    counts
        .iter()
        .map(|c| walk::minimum_calls(*c, MAX_PAGE_SIZE))
        .sum()
}

fn whole_second(at: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike as _;
    at.with_nanosecond(0).unwrap_or(at)
}

pub fn to_beijing(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&crate::clock::beijing()).naive_local()
}

pub fn from_beijing(at: NaiveDateTime) -> DateTime<Utc> {
    crate::clock::beijing()
        .from_local_datetime(&at)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}
