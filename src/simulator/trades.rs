//! The shop's trades, served as `taobao.trades.sold.increment.get` answers them: by
//! modification time, newest first, in windows of at most one day, `page_size` at most
//! 100, `total_results` or (`use_has_next`) `has_next`, ids as 19-digit JSON numbers.
//! A scenario lists trades (`trades`), generates many (`generate_trades`, for scale)
//! and can modify one between two pages (`modify_during_walk`), as a buyer or the
//! platform would while a client walks.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::verify::{Params, TopError};

/// The API served here besides the callback.
pub use super::verify::TRADES_METHOD as METHOD;
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
const MAX_PAGE_SIZE: u64 = 100;
const DEFAULT_PAGE_SIZE: u64 = 40;

/// A trade as a scenario gives it. Times are Beijing time (`yyyy-MM-dd HH:mm:ss`) or
/// relative to the simulator's start (`-2h`, `+30h`).
#[derive(Debug, Clone, Deserialize)]
pub struct TradeSpec {
    pub tid: u64,
    #[serde(default = "waiting")]
    pub status: String,
    pub modified: String,
    #[serde(default)]
    pub orders: Vec<OrderSpec>,
}

/// A sub-order as a scenario gives it; without any, the trade has one (`oid` = `tid`).
#[derive(Debug, Clone, Deserialize)]
pub struct OrderSpec {
    pub oid: u64,
    #[serde(default)]
    pub num_iid: Option<u64>,
    /// The trade's status when absent.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub refund_status: Option<String>,
    #[serde(default)]
    pub timeout_action_time: Option<String>,
}

/// Many trades, for scale: `count` single-order trades, `tid` from `first_tid` up,
/// their modification times spread over the `days` before the start, statuses taken
/// in turn from `statuses`, each due `due_hours` after its modification.
#[derive(Debug, Clone, Deserialize)]
pub struct GenerateTrades {
    pub count: u64,
    #[serde(default = "seven")]
    pub days: u32,
    #[serde(default = "first_tid")]
    pub first_tid: u64,
    #[serde(default)]
    pub num_iid: Option<u64>,
    #[serde(default = "waiting_list")]
    pub statuses: Vec<String>,
    #[serde(default = "seventy_two")]
    pub due_hours: i64,
}

/// After `after_calls` pages were served, trade `tid` is modified (now) and takes
/// `status`: it leaves the window a client is walking.
#[derive(Debug, Clone, Deserialize)]
pub struct ModifyDuringWalk {
    pub tid: u64,
    pub after_calls: u64,
    #[serde(default = "finished")]
    pub status: String,
}

fn waiting() -> String {
    "WAIT_SELLER_SEND_GOODS".into()
}
fn waiting_list() -> Vec<String> {
    vec![waiting()]
}
fn finished() -> String {
    "TRADE_FINISHED".into()
}
fn seven() -> u32 {
    7
}
fn seventy_two() -> i64 {
    72
}
fn first_tid() -> u64 {
    4_012_000_000_000_000_000
}

/// A served trade.
#[derive(Debug, Clone)]
struct Stored {
    tid: u64,
    status: String,
    /// Beijing time.
    modified: NaiveDateTime,
    orders: Vec<StoredOrder>,
}

#[derive(Debug, Clone)]
struct StoredOrder {
    oid: u64,
    num_iid: Option<u64>,
    status: Option<String>,
    refund_status: String,
    timeout_action_time: Option<String>,
}

/// The trades, newest first, and the walk's one modification still to come.
#[derive(Debug, Default)]
pub struct TradeBook {
    trades: Vec<Stored>,
    modify: Option<ModifyDuringWalk>,
    served: u64,
}

/// Why a scenario's trades cannot be served.
#[derive(Debug, Clone, thiserror::Error)]
#[error("trade {tid}: {reason}")]
pub struct TradeError {
    pub tid: u64,
    pub reason: String,
}

impl TradeBook {
    /// The book of a scenario, its relative times counted from `start`.
    pub fn new(
        specs: &[TradeSpec],
        generate: Option<&GenerateTrades>,
        modify: Option<ModifyDuringWalk>,
        start: DateTime<Utc>,
    ) -> Result<TradeBook, TradeError> {
        let now = beijing(start);
        let mut trades = Vec::with_capacity(specs.len() + generate.map_or(0, |g| g.count as usize));
        for spec in specs {
            let bad = |reason: String| TradeError {
                tid: spec.tid,
                reason,
            };
            let modified = time_of(&spec.modified, now)
                .ok_or_else(|| bad(format!("modified '{}' is no time", spec.modified)))?;
            let mut orders = Vec::new();
            for order in &spec.orders {
                let due = match &order.timeout_action_time {
                    Some(text) => Some(
                        time_of(text, now)
                            .ok_or_else(|| bad(format!("timeout_action_time '{text}' is no time")))?
                            .format(TIME_FORMAT)
                            .to_string(),
                    ),
                    None => None,
                };
                orders.push(StoredOrder {
                    oid: order.oid,
                    num_iid: order.num_iid,
                    status: order.status.clone(),
                    refund_status: order
                        .refund_status
                        .clone()
                        .unwrap_or_else(|| "NO_REFUND".into()),
                    timeout_action_time: due,
                });
            }
            if orders.is_empty() {
                orders.push(StoredOrder {
                    oid: spec.tid,
                    num_iid: None,
                    status: None,
                    refund_status: "NO_REFUND".into(),
                    timeout_action_time: None,
                });
            }
            trades.push(Stored {
                tid: spec.tid,
                status: spec.status.clone(),
                modified,
                orders,
            });
        }
        if let Some(generate) = generate {
            let span = TimeDelta::days(i64::from(generate.days)).num_milliseconds();
            let statuses = if generate.statuses.is_empty() {
                waiting_list()
            } else {
                generate.statuses.clone()
            };
            for i in 0..generate.count {
                let back = span * i as i64 / generate.count.max(1) as i64;
                let modified = now - TimeDelta::milliseconds(back);
                let modified = modified.with_nanosecond_zero();
                let tid = generate.first_tid + i;
                trades.push(Stored {
                    tid,
                    status: statuses[i as usize % statuses.len()].clone(),
                    modified,
                    orders: vec![StoredOrder {
                        oid: tid,
                        num_iid: generate.num_iid,
                        status: None,
                        refund_status: "NO_REFUND".into(),
                        timeout_action_time: Some(
                            (modified + TimeDelta::hours(generate.due_hours))
                                .format(TIME_FORMAT)
                                .to_string(),
                        ),
                    }],
                });
            }
        }
        trades.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.tid.cmp(&a.tid)));
        Ok(TradeBook {
            trades,
            modify,
            served: 0,
        })
    }

    /// Answers one page query made at `wall`: the answer's JSON, or the platform's refusal.
    pub fn page(
        &mut self,
        params: &Params<'_>,
        wall: DateTime<Utc>,
        request_id: &str,
    ) -> Result<String, TopError> {
        let get = |name: &str| {
            params
                .get(name)
                .map(|v| v.as_ref().trim())
                .filter(|v| !v.is_empty())
        };
        let time = |name: &str| -> Result<NaiveDateTime, TopError> {
            let text = get(name).ok_or_else(|| TopError::missing_argument(name))?;
            NaiveDateTime::parse_from_str(text, TIME_FORMAT)
                .map_err(|_| TopError::invalid_argument(name))
        };
        let number = |name: &str, default: u64| -> Result<u64, TopError> {
            match get(name) {
                None => Ok(default),
                Some(text) => text.parse().map_err(|_| TopError::invalid_argument(name)),
            }
        };
        let start = time("start_modified")?;
        let end = time("end_modified")?;
        if end < start {
            return Err(TopError::invalid_parameter(
                "end_modified must not be before start_modified",
            ));
        }
        if end - start > TimeDelta::days(1) {
            return Err(TopError::invalid_parameter(
                "一次请求只能查询时间跨度为一天的增量交易记录 (end_modified - start_modified <= 1 day)",
            ));
        }
        let page_no = number("page_no", 1)?;
        let page_size = number("page_size", DEFAULT_PAGE_SIZE)?;
        if page_no == 0 {
            return Err(TopError::invalid_parameter("page_no must be at least 1"));
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(TopError::invalid_parameter("page_size must be 1 to 100"));
        }
        let use_has_next = get("use_has_next") == Some("true");
        self.served += 1;
        if self
            .modify
            .as_ref()
            .is_some_and(|m| self.served > m.after_calls)
            && let Some(modify) = self.modify.take()
        {
            self.modify_now(&modify, beijing(wall));
        }
        // Newest first: the window is the run of trades modified within [start, end].
        let first = self.trades.partition_point(|t| t.modified > end);
        let last = self.trades.partition_point(|t| t.modified >= start);
        let total = last.saturating_sub(first) as u64;
        let from = first as u64 + (page_no - 1).saturating_mul(page_size);
        let to = (from.saturating_add(page_size)).min(last as u64);
        let trades: Vec<serde_json::Value> = if from < to {
            self.trades[from as usize..to as usize]
                .iter()
                .map(trade_json)
                .collect()
        } else {
            Vec::new()
        };
        let mut body = serde_json::json!({"request_id": request_id});
        if use_has_next {
            body["has_next"] = (to < last as u64).into();
        } else {
            body["total_results"] = total.into();
        }
        if !trades.is_empty() {
            body["trades"] = serde_json::json!({ "trade": trades });
        }
        Ok(serde_json::json!({ "trades_sold_increment_get_response": body }).to_string())
    }

    /// Trade `modify.tid` modified at `now`: it moves to the front with its new status.
    fn modify_now(&mut self, modify: &ModifyDuringWalk, now: NaiveDateTime) {
        if let Some(at) = self.trades.iter().position(|t| t.tid == modify.tid) {
            let mut trade = self.trades.remove(at);
            trade.modified = now.with_nanosecond_zero();
            trade.status = modify.status.clone();
            for order in &mut trade.orders {
                order.status = None;
            }
            let at = self.trades.partition_point(|t| {
                t.modified > trade.modified || (t.modified == trade.modified && t.tid > trade.tid)
            });
            self.trades.insert(at, trade);
        }
    }
}

fn trade_json(trade: &Stored) -> serde_json::Value {
    let orders: Vec<serde_json::Value> = trade
        .orders
        .iter()
        .map(|o| {
            let mut order = serde_json::json!({
                "oid": o.oid,
                "status": o.status.as_deref().unwrap_or(&trade.status),
                "refund_status": o.refund_status,
            });
            if let Some(num_iid) = o.num_iid {
                order["num_iid"] = num_iid.into();
            }
            if let Some(due) = &o.timeout_action_time {
                order["timeout_action_time"] = due.as_str().into();
            }
            order
        })
        .collect();
    serde_json::json!({
        "tid": trade.tid,
        "status": trade.status,
        "modified": trade.modified.format(TIME_FORMAT).to_string(),
        "orders": {"order": orders},
    })
}

fn beijing(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&crate::clock::beijing()).naive_local()
}

/// A time as a scenario writes it: absolute Beijing time, or `-2h` / `+30h` from `now`.
fn time_of(text: &str, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('-') {
        let d = humantime::parse_duration(rest.trim()).ok()?;
        return Some((now - TimeDelta::from_std(d).ok()?).with_nanosecond_zero());
    }
    if let Some(rest) = text.strip_prefix('+') {
        let d = humantime::parse_duration(rest.trim()).ok()?;
        return Some((now + TimeDelta::from_std(d).ok()?).with_nanosecond_zero());
    }
    NaiveDateTime::parse_from_str(text, TIME_FORMAT).ok()
}

trait WholeSeconds {
    fn with_nanosecond_zero(self) -> Self;
}

impl WholeSeconds for NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike as _;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn params(pairs: &[(&'static str, String)]) -> Params<'static> {
        pairs
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), Cow::Owned(v.clone())))
            .collect()
    }

    fn book(count: u64) -> (TradeBook, DateTime<Utc>) {
        let start = Utc::now();
        let generate = GenerateTrades {
            count,
            days: 1,
            first_tid: first_tid(),
            num_iid: None,
            statuses: waiting_list(),
            due_hours: 72,
        };
        (
            TradeBook::new(&[], Some(&generate), None, start).expect("book"),
            start,
        )
    }

    fn query(start: DateTime<Utc>, page_no: u64, has_next: bool) -> Params<'static> {
        let now = beijing(start);
        params(&[
            (
                "start_modified",
                (now - TimeDelta::days(1)).format(TIME_FORMAT).to_string(),
            ),
            ("end_modified", now.format(TIME_FORMAT).to_string()),
            ("page_no", page_no.to_string()),
            ("page_size", "100".into()),
            ("use_has_next", has_next.to_string()),
        ])
    }

    #[test]
    fn pages_are_newest_first_with_the_count_or_has_next() {
        let (mut book, start) = book(250);
        let first: serde_json::Value = serde_json::from_str(
            &book
                .page(&query(start, 1, false), start, "r")
                .expect("page"),
        )
        .expect("json");
        let body = &first["trades_sold_increment_get_response"];
        assert_eq!(body["total_results"], 250);
        assert_eq!(
            body["trades"]["trade"].as_array().expect("trades").len(),
            100
        );
        let last: serde_json::Value =
            serde_json::from_str(&book.page(&query(start, 3, true), start, "r").expect("page"))
                .expect("json");
        let body = &last["trades_sold_increment_get_response"];
        assert_eq!(body["has_next"], false);
        assert_eq!(
            body["trades"]["trade"].as_array().expect("trades").len(),
            50
        );
        // The 19 digits are in the text as they are.
        assert!(
            book.page(&query(start, 1, true), start, "r")
                .expect("page")
                .contains("\"tid\":4012000000000000099")
        );
    }

    #[test]
    fn more_than_a_day_or_a_page_over_100_is_refused() {
        let (mut book, start) = book(1);
        let mut wide = query(start, 1, false);
        wide.insert(
            Cow::Borrowed("start_modified"),
            Cow::Owned("2000-01-01 00:00:00".into()),
        );
        assert_eq!(
            book.page(&wide, start, "r").expect_err("refused").sub_code,
            "isv.invalid-parameter"
        );
        let mut big = query(start, 1, false);
        big.insert(Cow::Borrowed("page_size"), Cow::Owned("101".into()));
        assert!(book.page(&big, start, "r").is_err());
    }
}
