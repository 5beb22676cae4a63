//! The order being reported: the API's `OrderResultDto` (SPEC.md "The API being
//! called") and its canonical `param0` JSON, whose MD5 the ledger compares. Pure
//! values; reading rows into orders lives in `input`, sending them in `top`.

use serde::{Deserialize, Serialize};

use crate::top::payload::{Payload, payload_md5};

/// One callback's business content. Field order is the canonical JSON order and so
/// part of the ledger's `payload_md5`: never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_order_no: Option<u64>,
    pub order_no: u64,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_desc: Option<String>,
    pub req_id: String,
    /// A JSON object, as compact JSON text: the API wants it as a *string*.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
}

impl Order {
    /// The canonical `param0`: compact JSON, snake_case names, integers exact, absent
    /// optional fields omitted rather than null.
    pub fn param0_json(&self) -> String {
        serde_json::to_string(self).expect("an Order always serializes")
    }

    /// The ledger's `payload_md5` of this order (what dedup compares).
    pub fn payload_md5(&self) -> [u8; 16] {
        payload_md5(&self.param0_json())
    }

    /// Encodes `param0`, its digest and its form encoding: everything a send needs.
    pub fn payload(&self) -> Payload {
        Payload::new(&self.req_id, self.param0_json())
    }

    /// The order a canonical `param0` (as the ledger keeps it) describes: `None` unless
    /// writing it again gives the very same text (so its digest is the same).
    pub fn from_param0(json: &str) -> Option<Order> {
        let order: Order = serde_json::from_str(json).ok()?;
        (order.param0_json() == json).then_some(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn example() -> Order {
        Order {
            sub_order_no: Some(212312),
            order_no: 12345678,
            success: true,
            result_code: Some("0000".into()),
            result_desc: Some("订购成功".into()),
            req_id: "channel_1212312".into(),
            ext: Some(r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#.into()),
        }
    }

    #[test]
    fn param0_matches_the_reference_example() {
        assert_eq!(
            example().param0_json(),
            r#"{"sub_order_no":212312,"order_no":12345678,"success":true,"result_code":"0000","result_desc":"订购成功","req_id":"channel_1212312","ext":"{\"firstChargeAmount\":\"100\",\"firstChargeTime\":\"1704038400000\"}"}"#
        );
    }

    #[test]
    fn absent_optional_fields_are_omitted_not_null() {
        let order = Order {
            sub_order_no: None,
            order_no: 1,
            success: false,
            result_code: None,
            result_desc: None,
            req_id: "r".into(),
            ext: None,
        };
        assert_eq!(
            order.param0_json(),
            r#"{"order_no":1,"success":false,"req_id":"r"}"#
        );
    }

    #[test]
    fn nineteen_digit_order_numbers_stay_exact() {
        let mut order = example();
        order.order_no = 4_294_967_295_123_456_789;
        order.sub_order_no = Some(18_446_744_073_709_551_615);
        let json = order.param0_json();
        assert!(json.contains(r#""order_no":4294967295123456789"#), "{json}");
        assert!(
            json.contains(r#""sub_order_no":18446744073709551615"#),
            "{json}"
        );
    }

    #[test]
    fn a_kept_param0_reads_back_into_the_same_order() {
        let order = example();
        let json = order.param0_json();
        assert_eq!(Order::from_param0(&json), Some(order));
        assert_eq!(Order::from_param0(r#"{"order_no":1,"success":true}"#), None);
        assert_eq!(
            Order::from_param0(r#"{"success":true,"order_no":1,"req_id":"r"}"#),
            None,
            "not canonical: another digest"
        );
    }

    #[test]
    fn payload_md5_is_md5_of_the_json() {
        let payload = example().payload();
        assert_eq!(
            payload.md5,
            <[u8; 16]>::from(Md5::digest(payload.json.as_bytes()))
        );
    }
}
