//! `reconcile`: which of the shop's trades still wait on us, by deadline. The platform's
//! trades of the window (`walk`, from the gateway through `fetch`), each sub-order put
//! in one `bucket` against the ledger, the deadlines stored in the ledger; the file
//! (`output`), the summary, its JSON and the metrics (`report`) are made from the
//! returned `Reconciled`.

pub mod bucket;
pub mod fetch;
pub mod output;
pub mod report;
pub mod walk;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};

use crate::ledger::reconcile::Known;
use crate::ledger::{Ledger, LedgerError, OrderState};
use crate::top::trades::MAX_PAGE_SIZE;
use bucket::{Bucket, Platform};
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
    let mut found = sort(
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

/// The rows and deadlines of the walk.
struct Sorted {
    rows: Vec<Row>,
    deadlines: Vec<(i64, NaiveDateTime)>,
    not_ours: u64,
    other_items: u64,
}

/// Puts every sub-order of `trades` in its bucket against the ledger, taking the
/// trades in (each freed once its rows are made), and the ledger's orders the
/// platform did not show; sorted what needs us first, soonest due first.
fn sort(
    config: &ReconcileConfig,
    ledger: &Ledger,
    trades: HashMap<u64, walk::Kept>,
    now: NaiveDateTime,
) -> Result<Sorted, LedgerError> {
    /// Trades looked up in the ledger at once: the ledger's side of a few thousand
    /// trades is held, never of all of them.
    const CHUNK: usize = 4096;
    let due_by =
        now + chrono::TimeDelta::from_std(config.due_within).unwrap_or(chrono::TimeDelta::MAX);
    let items: HashSet<u64> = config.items.iter().copied().collect();
    // By tid, for the ledger's index; a vector instead of the table (half the room).
    let mut trades: Vec<(u64, walk::Kept)> = trades.into_iter().collect();
    trades.sort_unstable_by_key(|(tid, _)| *tid);
    let tids: Vec<u64> = trades.iter().map(|(tid, _)| *tid).collect();
    let simulated = matches!(config.connection.mode, crate::send::Mode::Simulate { .. });
    let mut sorted = Sorted {
        rows: Vec::with_capacity(trades.len()),
        deadlines: Vec::new(),
        not_ours: 0,
        other_items: 0,
    };
    let looking = std::time::Instant::now();
    let mut trades = trades.into_iter();
    for chunk in tids.chunks(CHUNK) {
        let known = crate::ledger::reconcile::orders_of(ledger, chunk, simulated)?;
        for (tid, trade) in trades.by_ref().take(chunk.len()) {
            let orders = known.get(&tid).map(Vec::as_slice).unwrap_or(&[]);
            for sub in trade.orders.iter() {
                if !items.is_empty() && sub.num_iid.is_some_and(|n| !items.contains(&n)) {
                    sorted.other_items += 1;
                    continue;
                }
                let status = sub.status.as_ref().unwrap_or(&trade.status);
                let platform = Platform::of(status, &sub.refund_status);
                let matched = matching(orders, sub.oid);
                let state = bucket::ledger_state(matched.iter().map(|k| k.state));
                let Some(bucket) = bucket::of(platform, state) else {
                    sorted.not_ours += 1;
                    continue;
                };
                if let Some(deadline) = sub.deadline {
                    sorted
                        .deadlines
                        .extend(matched.iter().map(|k| (k.id, deadline)));
                }
                let closed_by_person = state == Some(OrderState::Closed);
                sorted.rows.push(Row {
                    bucket,
                    due: bucket.needs_us()
                        && !closed_by_person
                        && sub.deadline.is_none_or(|d| d <= due_by),
                    closed_by_person,
                    ledger_state: state,
                    tid,
                    oid: Some(sub.oid),
                    num_iid: sub.num_iid,
                    deadline: sub.deadline,
                    platform_status: Arc::clone(status),
                    refund_status: Arc::clone(&sub.refund_status),
                    req_ids: req_ids(&matched),
                    error_code: latest(&matched),
                });
            }
        }
    }
    tracing::info!(trades = tids.len(), took = ?looking.elapsed(), "put the trades in their buckets against the ledger");
    let scanning = std::time::Instant::now();
    // The ledger's side of a window that ends now ends now: the last window covered
    // the rest.
    let answered_by = config.to.unwrap_or(now);
    unknown(
        ledger,
        simulated,
        config.from,
        answered_by,
        &tids,
        &mut sorted.rows,
    )?;
    tracing::info!(took = ?scanning.elapsed(), "found the ledger's orders the platform did not show");
    sorted.rows.sort_unstable_by(|a, b| {
        (a.bucket, a.deadline.is_none(), a.deadline, a.tid, a.oid).cmp(&(
            b.bucket,
            b.deadline.is_none(),
            b.deadline,
            b.tid,
            b.oid,
        ))
    });
    Ok(sorted)
}

/// The ledger's orders of a sub-order: those naming it, else (exports without
/// sub-order numbers) those of its trade that name none.
fn matching(orders: &[Known], oid: u64) -> Vec<&Known> {
    let named: Vec<&Known> = orders
        .iter()
        .filter(|k| k.sub_order_no.parse::<u64>() == Ok(oid))
        .collect();
    if !named.is_empty() {
        return named;
    }
    orders
        .iter()
        .filter(|k| k.sub_order_no.is_empty())
        .collect()
}

fn req_ids(orders: &[&Known]) -> Box<str> {
    match orders {
        [] => Box::from(""),
        [one] => Box::from(one.req_id.as_str()),
        _ => {
            let ids: Vec<&str> = orders.iter().map(|k| k.req_id.as_str()).collect();
            ids.join(" ").into_boxed_str()
        }
    }
}

/// The error code of the order answered last.
fn latest(orders: &[&Known]) -> Box<str> {
    orders
        .iter()
        .max_by(|a, b| a.updated_at.cmp(&b.updated_at))
        .map_or_else(|| Box::from(""), |k| Box::from(k.error_code.as_str()))
}

/// The ledger's orders answered within the window whose trade the platform did not
/// show (`tids`, sorted, are the trades it showed).
fn unknown(
    ledger: &Ledger,
    simulated: bool,
    from: NaiveDateTime,
    to: NaiveDateTime,
    tids: &[u64],
    rows: &mut Vec<Row>,
) -> Result<(), LedgerError> {
    let mut by_trade: HashMap<(u64, String), Vec<Known>> = HashMap::new();
    crate::ledger::reconcile::answered_between(
        ledger,
        simulated,
        &crate::clock::stamp(from_beijing(from)),
        &crate::clock::stamp(from_beijing(to)),
        &mut |order_no, known| {
            let Ok(tid) = order_no.trim().parse::<u64>() else {
                return;
            };
            if tids.binary_search(&tid).is_err() {
                by_trade
                    .entry((tid, known.sub_order_no.clone()))
                    .or_default()
                    .push(known);
            }
        },
    )?;
    let nothing: Arc<str> = Arc::from("");
    for ((tid, sub), orders) in by_trade {
        let matched: Vec<&Known> = orders.iter().collect();
        rows.push(Row {
            bucket: Bucket::UnknownToPlatform,
            due: false,
            closed_by_person: false,
            ledger_state: bucket::ledger_state(orders.iter().map(|k| k.state)),
            tid,
            oid: sub.parse().ok(),
            num_iid: None,
            deadline: None,
            platform_status: Arc::clone(&nothing),
            refund_status: Arc::clone(&nothing),
            req_ids: req_ids(&matched),
            error_code: latest(&matched),
        });
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
