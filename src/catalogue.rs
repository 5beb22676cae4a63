//! Final business codes: a `success:false` answer whose `error_code` the platform
//! uses for a state that no retry or correction can change (`21011` 订单号已关闭: too
//! late, the order is closed). Shipped with Chinese advice, extendable in the config
//! (`[business_codes]`); such a code is never retried, whatever
//! `retry_business_codes` says, and its advice is what finance reads.

use std::sync::OnceLock;

/// A known final code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct KnownCode {
    #[serde(default)]
    pub code: String,
    /// What the platform means, in Chinese.
    pub meaning: String,
    pub advice_zh: String,
    #[serde(default)]
    pub advice_en: String,
}

/// The codes shipped.
fn built_in() -> Vec<KnownCode> {
    vec![KnownCode {
        code: "21011".into(),
        meaning: "订单号已关闭".into(),
        advice_zh: "为时已晚：平台已关闭这笔订单，重发或更正都不会成功；请在工作台或账本中关闭它并写明原因（不要重试）。".into(),
        advice_en: "Too late: the platform has closed this order; no resend or correction can succeed. Close it (with a reason) instead of retrying.".into(),
    }]
}

static CATALOGUE: OnceLock<Vec<KnownCode>> = OnceLock::new();

/// Adds the config's codes (theirs win over the shipped ones); once per process, before
/// the first lookup. A second call changes nothing.
pub fn install(extra: Vec<KnownCode>) {
    let mut codes = extra;
    for shipped in built_in() {
        if !codes.iter().any(|c| c.code == shipped.code) {
            codes.push(shipped);
        }
    }
    let _ = CATALOGUE.set(codes);
}

/// The known final code `code`, if it is one.
pub fn known(code: &str) -> Option<&'static KnownCode> {
    let code = code.trim();
    if code.is_empty() {
        return None;
    }
    CATALOGUE
        .get_or_init(built_in)
        .iter()
        .find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_closed_order_code_is_known_and_final() {
        let code = super::known("21011").expect("shipped");
        assert_eq!(code.meaning, "订单号已关闭");
        assert!(code.advice_zh.contains("关闭"));
        assert!(super::known("B0107").is_none());
        assert!(super::known("").is_none());
    }
}
