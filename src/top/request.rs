//! Encoding one call of `taobao.wt.trade.opentrade.resultcallback` as the form body
//! the gateway expects: system parameters, `param0`, signature. Pure; the clock is an
//! argument so tests can sign with any time.

use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};

use super::sign::{SignMethod, sign_params};

/// The API this tool calls.
pub const METHOD: &str = "taobao.wt.trade.opentrade.resultcallback";
/// Identifies this client to the platform, as the official SDKs do.
pub const PARTNER_ID: &str = concat!("opentrade-callback-", env!("CARGO_PKG_VERSION"));

/// A value that must never be printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for signing and sending only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What identifies and authorizes the merchant's app.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app_key: String,
    pub secret: Secret,
    pub session: Secret,
}

/// The gateway's clock: `yyyy-MM-dd HH:mm:ss` in GMT+8, whatever the machine's zone.
pub fn format_timestamp(now: DateTime<Utc>) -> String {
    now.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// China Standard Time, UTC+8 all year (no daylight saving).
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// Builds the signed, form-urlencoded (UTF-8) body of one call.
pub fn encode_form(
    credentials: &Credentials,
    sign_method: SignMethod,
    timestamp: &str,
    param0_json: &str,
) -> String {
    let mut params = [
        ("app_key", credentials.app_key.as_str()),
        ("format", "json"),
        ("method", METHOD),
        ("param0", param0_json),
        ("partner_id", PARTNER_ID),
        ("session", credentials.session.expose()),
        ("sign_method", sign_method.as_str()),
        ("timestamp", timestamp),
        ("v", "2.0"),
        ("sign", ""),
    ];
    let sign = sign_params(sign_method, credentials.secret.expose(), &params);
    params[9].1 = &sign;
    form_urlencoded::Serializer::new(String::with_capacity(512 + param0_json.len() * 2))
        .extend_pairs(params)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn credentials() -> Credentials {
        Credentials {
            app_key: "12345678".into(),
            secret: Secret::new("helloworld"),
            session: Secret::new("test"),
        }
    }

    #[test]
    fn timestamp_is_beijing_time() {
        let utc = Utc
            .with_ymd_and_hms(2023, 12, 31, 16, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(format_timestamp(utc), "2024-01-01 00:00:00");
    }

    #[test]
    fn secret_debug_never_shows_the_value() {
        let shown = format!("{:?}", credentials());
        assert!(!shown.contains("helloworld"), "{shown}");
        assert!(!shown.contains("\"test\""), "{shown}");
    }

    #[test]
    fn form_carries_every_system_parameter_and_a_valid_sign() {
        let body = encode_form(
            &credentials(),
            SignMethod::Md5,
            "2016-01-01 12:00:00",
            r#"{"a":1}"#,
        );
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get("method"), METHOD);
        assert_eq!(get("app_key"), "12345678");
        assert_eq!(get("session"), "test");
        assert_eq!(get("timestamp"), "2016-01-01 12:00:00");
        assert_eq!(get("format"), "json");
        assert_eq!(get("v"), "2.0");
        assert_eq!(get("sign_method"), "md5");
        assert_eq!(get("partner_id"), PARTNER_ID);
        assert_eq!(get("param0"), r#"{"a":1}"#);
        let unsigned: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| k != "sign")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            get("sign"),
            sign_params(SignMethod::Md5, "helloworld", &unsigned)
        );
    }

    #[test]
    fn form_encodes_utf8_and_reserved_characters() {
        let body = encode_form(
            &credentials(),
            SignMethod::Hmac,
            "2016-01-01 12:00:00",
            "订购 &=+",
        );
        assert!(
            body.contains("param0=%E8%AE%A2%E8%B4%AD+%26%3D%2B"),
            "{body}"
        );
    }
}
