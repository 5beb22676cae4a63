//! `taobao.trades.sold.increment.get`: the shop's trades by modification time, which
//! `reconcile` pulls to learn which trades still wait for us. The query as the platform
//! takes it, and its answer read exactly: a trade id is a 19-digit number, and a JSON
//! number is never let through a float (one that is not an exact integer is refused).

use std::fmt;

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The API.
pub const METHOD: &str = "taobao.trades.sold.increment.get";
/// The largest `page_size` the platform takes (its documented maximum).
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest window one query may span (`end_modified - start_modified <= 1 day`).
pub const MAX_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// Only what reconcile reads: less to send, less to parse.
pub const FIELDS: &str = "tid,status,modified,orders.oid,orders.num_iid,orders.status,orders.refund_status,orders.timeout_action_time";
/// The platform's time format (Beijing time).
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// One page of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// Beijing time, inclusive.
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// From 1.
    pub page_no: u32,
    pub page_size: u32,
    /// Ask for `has_next` instead of `total_results`.
    pub use_has_next: bool,
}

impl PageQuery {
    /// The call's own parameters, as the platform names them.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("fields", FIELDS.to_owned()),
            ("start_modified", self.start.format(TIME_FORMAT).to_string()),
            ("end_modified", self.end.format(TIME_FORMAT).to_string()),
            ("page_no", self.page_no.to_string()),
            ("page_size", self.page_size.to_string()),
            ("use_has_next", self.use_has_next.to_string()),
        ]
    }
}

/// One page of the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// With `use_has_next = false`: how many trades the window holds.
    pub total_results: Option<u64>,
    /// With `use_has_next = true`: whether a page follows.
    pub has_next: Option<bool>,
    pub trades: Vec<Trade>,
}

/// A trade, with the fields reconcile asked for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Trade {
    #[serde(deserialize_with = "exact_id")]
    pub tid: u64,
    #[serde(default)]
    pub status: String,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    #[serde(default)]
    pub modified: String,
    #[serde(default, deserialize_with = "sub_orders")]
    pub orders: Vec<SubOrder>,
}

impl Trade {
    /// `modified` as a time; an unreadable one sorts first (oldest).
    pub fn modified_at(&self) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(self.modified.trim(), TIME_FORMAT).ok()
    }
}

/// A sub-order of a trade.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubOrder {
    #[serde(deserialize_with = "exact_id")]
    pub oid: u64,
    #[serde(default, deserialize_with = "optional_id")]
    pub num_iid: Option<u64>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub refund_status: String,
    /// When the platform acts on its own (`yyyy-MM-dd HH:mm:ss`, Beijing time).
    #[serde(default)]
    pub timeout_action_time: String,
}

/// Why an answer could not be read as a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the trades answer cannot be read: {0}")]
pub struct PageError(pub String);

/// Reads a successful answer's body.
pub fn parse_page(body: &[u8]) -> Result<Page, PageError> {
    #[derive(Deserialize)]
    struct Envelope {
        trades_sold_increment_get_response: Option<Body>,
    }
    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "optional_id")]
        total_results: Option<u64>,
        #[serde(default)]
        has_next: Option<bool>,
        #[serde(default)]
        trades: Option<TradeList>,
    }
    #[derive(Deserialize)]
    struct TradeList {
        #[serde(default)]
        trade: Vec<Trade>,
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| PageError(e.to_string()))?;
    let body = envelope
        .trades_sold_increment_get_response
        .ok_or_else(|| PageError("no trades_sold_increment_get_response in it".into()))?;
    Ok(Page {
        total_results: body.total_results,
        has_next: body.has_next,
        trades: body.trades.map(|t| t.trade).unwrap_or_default(),
    })
}

/// `orders: {"order": [...]}`, as TOP wraps lists.
fn sub_orders<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SubOrder>, D::Error> {
    #[derive(Deserialize)]
    struct List {
        #[serde(default)]
        order: Vec<SubOrder>,
    }
    Ok(Option::<List>::deserialize(d)?
        .map(|l| l.order)
        .unwrap_or_default())
}

fn exact_id<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(ExactId)
}

fn optional_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an exact whole number or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            exact_id(d).map(Some)
        }
    }
    d.deserialize_option(Optional)
}

/// A whole number as the platform writes ids: a JSON integer (any number of digits
/// serde_json holds exactly as u64) or a string of digits. A fraction, an exponent or
/// an integer too large for u64 reaches serde as a float: refused, never rounded.
struct ExactId;

impl Visitor<'_> for ExactId {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an exact whole number")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("negative id {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(E::custom(format!(
            "id {v} is not an exact whole number (it would be rounded)"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!("id '{v}' is not a whole number")));
        }
        v.parse()
            .map_err(|_| E::custom(format!("id '{v}' is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nineteen_digit_ids_come_through_exactly() {
        let body = br#"{"trades_sold_increment_get_response":{"total_results":1,"trades":{"trade":[
            {"tid":4012345678901234567,"status":"WAIT_SELLER_SEND_GOODS","modified":"2026-12-06 10:00:00",
             "orders":{"order":[{"oid":4012345678901234568,"num_iid":"600123456789","status":"WAIT_SELLER_SEND_GOODS",
               "refund_status":"NO_REFUND","timeout_action_time":"2026-12-08 10:00:00"}]}}]}}}"#;
        let page = parse_page(body).expect("page");
        assert_eq!(page.total_results, Some(1));
        let trade = &page.trades[0];
        assert_eq!(trade.tid, 4_012_345_678_901_234_567);
        assert_eq!(trade.orders[0].oid, 4_012_345_678_901_234_568);
        assert_eq!(trade.orders[0].num_iid, Some(600_123_456_789));
        // Through an f64, both would be 4012345678901234688.
        assert_ne!(trade.tid as f64 as u64, trade.tid);
    }

    #[test]
    fn a_number_that_would_be_rounded_is_refused() {
        for tid in [
            "4.012345678901234567e18",
            "40123456789012345678901",
            "1.5",
            "-3",
        ] {
            let body = format!(
                r#"{{"trades_sold_increment_get_response":{{"trades":{{"trade":[{{"tid":{tid}}}]}}}}}}"#
            );
            assert!(parse_page(body.as_bytes()).is_err(), "{tid}");
        }
    }

    #[test]
    fn an_empty_window_and_has_next() {
        let page = parse_page(br#"{"trades_sold_increment_get_response":{"has_next":false}}"#)
            .expect("page");
        assert_eq!(page.has_next, Some(false));
        assert!(page.trades.is_empty());
        assert!(parse_page(br#"{"other":{}}"#).is_err());
    }

    #[test]
    fn the_query_names_the_window_in_beijing_time() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, TIME_FORMAT).expect("time");
        let query = PageQuery {
            start: at("2026-12-06 00:00:00"),
            end: at("2026-12-07 00:00:00"),
            page_no: 3,
            page_size: MAX_PAGE_SIZE,
            use_has_next: true,
        };
        let params = query.params();
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("start_modified"), Some("2026-12-06 00:00:00"));
        assert_eq!(get("page_no"), Some("3"));
        assert_eq!(get("page_size"), Some("100"));
        assert_eq!(get("use_has_next"), Some("true"));
    }
}
