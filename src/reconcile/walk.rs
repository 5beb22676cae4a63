//! Walking the platform's trades as TOP asks them to be walked: windows of at most one
//! day by modification time, each paged from its last page back to its first, so that
//! a trade modified during the walk (it leaves the window: everything after it moves
//! one place forward) is never stepped over — at worst read twice.
//!
//! Per window: page 1 is asked without `use_has_next`, for `total_results` (the last
//! page's number); a window of one page is then done in one call. Pages N down to 2 are
//! asked with `use_has_next`: the last page's `has_next` (or more trades on it than counted) says the window grew meanwhile
//! (then it is walked again), a page shorter than counted or holding a trade already
//! read says trades left the window meanwhile, so page 1 may have taken one from page
//! 2: it is read once more. Windows end at the walk's start; trades modified during
//! the walk are caught by a last window from a little before it started until now.
//! The calls, when nothing moves: one per page, the documented minimum.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};

use crate::top::trades::{MAX_WINDOW, Page, PageQuery, TIME_FORMAT, Trade};

/// Where pages come from (the gateway, or a test's book).
pub trait Pages {
    type Stop;
    fn page(
        &mut self,
        query: &PageQuery,
    ) -> impl std::future::Future<Output = Result<Page, Self::Stop>>;
}

/// A trade as the walk keeps it: what reconcile reads of it, compactly (a million
/// of them are held at once), each distinct status text held once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub modified: Option<NaiveDateTime>,
    pub status: Arc<str>,
    pub orders: Box<[KeptOrder]>,
}

/// A sub-order as the walk keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptOrder {
    pub oid: u64,
    pub num_iid: Option<u64>,
    /// `None`: the trade's.
    pub status: Option<Arc<str>>,
    pub refund_status: Arc<str>,
    /// `timeout_action_time`, Beijing time.
    pub deadline: Option<NaiveDateTime>,
}

/// How a walk went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walked {
    /// Every trade seen, its latest version (by `modified`) by tid.
    pub trades: HashMap<u64, Kept>,
    /// Each status text seen, once.
    names: HashMap<String, Arc<str>>,
    pub windows: u64,
    pub calls: u64,
    /// Page 1 read again because trades left a window while it was walked.
    pub rereads: u64,
    /// Windows walked again because they grew while walked.
    pub rewalks: u64,
}

/// How many times a window that keeps growing is walked again before the walk goes on
/// with what it has (and says so).
const MAX_REWALKS: u32 = 3;
/// How far before the walk's start the last window reaches back: trades the platform
/// indexed late.
pub const CATCH_UP_OVERLAP: TimeDelta = TimeDelta::minutes(5);

/// The windows of at most one day that cover `[from, to]`, oldest first.
pub fn windows(from: NaiveDateTime, to: NaiveDateTime) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    let mut windows = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + MAX_WINDOW).min(to);
        windows.push((start, end));
        start = end;
    }
    if windows.is_empty() {
        windows.push((from, to));
    }
    windows
}

/// The documented minimum of calls for a window holding `trades` trades.
pub fn minimum_calls(trades: u64, page_size: u32) -> u64 {
    trades.div_ceil(u64::from(page_size)).max(1)
}

impl Walked {
    /// Walks `[start, end]` (at most a day) into `self`.
    pub async fn window<P: Pages>(
        &mut self,
        pages: &mut P,
        start: NaiveDateTime,
        end: NaiveDateTime,
        page_size: u32,
    ) -> Result<(), P::Stop> {
        self.windows += 1;
        let query = |page_no: u32, use_has_next: bool| PageQuery {
            start,
            end,
            page_no,
            page_size,
            use_has_next,
        };
        let mut walks = 0;
        loop {
            walks += 1;
            self.calls += 1;
            let first = pages.page(&query(1, false)).await?;
            let total = first.total_results.unwrap_or(first.trades.len() as u64);
            let last = minimum_calls(total, page_size);
            if last <= 1 {
                self.keep(first.trades);
                return Ok(());
            }
            let mut read: HashMap<u64, ()> = HashMap::new();
            let mut later = Vec::new();
            let mut moved = false;
            let mut grew = false;
            for page_no in (2..=last).rev() {
                self.calls += 1;
                let page = pages.page(&query(page_no as u32, true)).await?;
                let counted = if page_no == last {
                    total - (last - 1) * u64::from(page_size)
                } else {
                    u64::from(page_size)
                };
                if page_no == last
                    && (page.has_next == Some(true) || page.trades.len() as u64 > counted)
                {
                    grew = true;
                    break;
                }
                if (page.trades.len() as u64) < counted
                    || page.trades.iter().any(|t| read.contains_key(&t.tid))
                {
                    moved = true;
                }
                for trade in page.trades {
                    read.insert(trade.tid, ());
                    later.push(trade);
                }
            }
            if grew && walks <= MAX_REWALKS {
                self.rewalks += 1;
                continue;
            }
            self.keep(later);
            if moved {
                self.rereads += 1;
                self.calls += 1;
                let again = pages.page(&query(1, true)).await?;
                self.keep(again.trades);
            }
            self.keep(first.trades);
            return Ok(());
        }
    }

    /// Takes in `other`'s trades (their latest versions) and counts.
    pub fn merge(&mut self, other: Walked) {
        self.windows += other.windows;
        self.calls += other.calls;
        self.rereads += other.rereads;
        self.rewalks += other.rewalks;
        self.keep_kept(other.trades);
    }

    /// Keeps each trade's latest version.
    fn keep(&mut self, trades: Vec<Trade>) {
        for trade in trades {
            let modified = trade.modified_at();
            if self
                .trades
                .get(&trade.tid)
                .is_some_and(|old| old.modified > modified)
            {
                continue;
            }
            let kept = Kept {
                modified,
                status: self.name(&trade.status),
                orders: trade
                    .orders
                    .iter()
                    .map(|o| KeptOrder {
                        oid: o.oid,
                        num_iid: o.num_iid,
                        status: (!o.status.is_empty()).then(|| self.name(&o.status)),
                        refund_status: self.name(&o.refund_status),
                        deadline: NaiveDateTime::parse_from_str(
                            o.timeout_action_time.trim(),
                            TIME_FORMAT,
                        )
                        .ok(),
                    })
                    .collect(),
            };
            self.trades.insert(trade.tid, kept);
        }
    }

    /// Keeps the trades `other` kept where they are newer.
    fn keep_kept(&mut self, other: HashMap<u64, Kept>) {
        for (tid, kept) in other {
            if self
                .trades
                .get(&tid)
                .is_some_and(|old| old.modified > kept.modified)
            {
                continue;
            }
            self.trades.insert(tid, kept);
        }
    }

    /// `text`, held once.
    fn name(&mut self, text: &str) -> Arc<str> {
        if let Some(name) = self.names.get(text) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(text);
        self.names.insert(text.to_owned(), Arc::clone(&name));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::trades::SubOrder;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, TIME_FORMAT).expect("time")
    }

    /// A book of trades, newest first, that can move one between two calls.
    struct Book {
        trades: Vec<Trade>,
        calls: u64,
        /// After this many calls, trade `.1` is modified at `.2` (leaves or joins).
        modify: Option<(u64, u64, NaiveDateTime)>,
        added: Option<(u64, Trade)>,
    }

    fn trade(tid: u64, modified: NaiveDateTime) -> Trade {
        Trade {
            tid,
            status: "WAIT_SELLER_SEND_GOODS".into(),
            modified: modified.format(TIME_FORMAT).to_string(),
            orders: vec![SubOrder {
                oid: tid,
                num_iid: None,
                status: String::new(),
                refund_status: String::new(),
                timeout_action_time: String::new(),
            }],
        }
    }

    fn book(count: u64, start: NaiveDateTime) -> Book {
        let mut trades: Vec<Trade> = (0..count)
            .map(|i| trade(1000 + i, start + TimeDelta::seconds(i as i64)))
            .collect();
        trades.reverse();
        Book {
            trades,
            calls: 0,
            modify: None,
            added: None,
        }
    }

    impl Pages for Book {
        type Stop = ();
        async fn page(&mut self, q: &PageQuery) -> Result<Page, ()> {
            self.calls += 1;
            if let Some((after, tid, when)) = self.modify
                && self.calls > after
            {
                self.modify = None;
                if let Some(i) = self.trades.iter().position(|t| t.tid == tid) {
                    let mut t = self.trades.remove(i);
                    t.modified = when.format(TIME_FORMAT).to_string();
                    t.status = "TRADE_FINISHED".into();
                    self.trades.insert(0, t);
                }
            }
            if let Some((after, _)) = &self.added
                && self.calls > *after
            {
                let (_, t) = self.added.take().expect("added");
                self.trades.push(t);
                self.trades
                    .sort_by_key(|t| std::cmp::Reverse(t.modified_at()));
            }
            let inside: Vec<&Trade> = self
                .trades
                .iter()
                .filter(|t| t.modified_at().is_some_and(|m| m >= q.start && m <= q.end))
                .collect();
            let size = q.page_size as usize;
            let from = (q.page_no as usize - 1) * size;
            let trades: Vec<Trade> = inside
                .iter()
                .skip(from)
                .take(size)
                .map(|t| (*t).clone())
                .collect();
            Ok(Page {
                total_results: (!q.use_has_next).then_some(inside.len() as u64),
                has_next: q.use_has_next.then_some(from + size < inside.len()),
                trades,
            })
        }
    }

    #[tokio::test]
    async fn a_still_window_takes_one_call_per_page() {
        let start = at("2026-12-06 00:00:00");
        let end = at("2026-12-07 00:00:00");
        for (count, calls) in [(0, 1), (1, 1), (100, 1), (101, 2), (250, 3), (1000, 10)] {
            let mut book = book(count, start);
            let mut walked = Walked::default();
            walked
                .window(&mut book, start, end, 100)
                .await
                .expect("walk");
            assert_eq!(walked.trades.len() as u64, count);
            assert_eq!(walked.calls, calls, "{count}");
            assert_eq!(book.calls, calls);
            assert_eq!(walked.calls, minimum_calls(count, 100));
        }
    }

    #[tokio::test]
    async fn a_trade_modified_mid_walk_misses_nobody_wherever_it_was() {
        let start = at("2026-12-06 00:00:00");
        let end = at("2026-12-06 23:59:59");
        // The trade that leaves sits on page 1, 2 or the last; it leaves after 1, 2
        // or 3 calls. Nobody else may be missed.
        for tid_offset in [449, 420, 399, 350, 301, 250, 1, 0] {
            for after in 1..=4 {
                let mut book = book(450, start);
                let leaving = 1000 + tid_offset;
                book.modify = Some((after, leaving, at("2026-12-07 00:30:00")));
                let mut walked = Walked::default();
                walked
                    .window(&mut book, start, end, 100)
                    .await
                    .expect("walk");
                for i in 0..450 {
                    let tid = 1000 + i;
                    if tid == leaving {
                        // It is wherever it was when read, or gone: the last window has it.
                        continue;
                    }
                    assert!(
                        walked.trades.contains_key(&tid),
                        "trade {tid} missed when {leaving} left after {after} calls"
                    );
                }
                // The trade that left is caught by the last window.
                let mut catch_up = Walked::default();
                catch_up
                    .window(
                        &mut book,
                        end - CATCH_UP_OVERLAP,
                        at("2026-12-07 01:00:00"),
                        100,
                    )
                    .await
                    .expect("catch up");
                assert_eq!(&*catch_up.trades[&leaving].status, "TRADE_FINISHED");
            }
        }
    }

    #[tokio::test]
    async fn a_window_that_grows_while_walked_is_walked_again() {
        let start = at("2026-12-06 00:00:00");
        let end = at("2026-12-06 23:59:59");
        let mut book = book(250, start);
        book.added = Some((1, trade(9999, start + TimeDelta::seconds(120))));
        let mut walked = Walked::default();
        walked
            .window(&mut book, start, end, 100)
            .await
            .expect("walk");
        assert_eq!(walked.trades.len(), 251);
        assert_eq!(walked.rewalks, 1);
    }

    #[test]
    fn windows_are_a_day_at_most_and_cover_the_range() {
        let w = windows(at("2026-12-01 12:00:00"), at("2026-12-04 00:00:00"));
        assert_eq!(w.len(), 3);
        assert_eq!(w[0], (at("2026-12-01 12:00:00"), at("2026-12-02 12:00:00")));
        assert_eq!(w[2].1, at("2026-12-04 00:00:00"));
        assert!(w.iter().all(|(s, e)| *e - *s <= MAX_WINDOW));
    }
}
