//! Encoding one call of `taobao.wt.trade.opentrade.resultcallback` as the form body
//! the gateway expects: system parameters, `param0`, signature. Pure; the clock is an
//! argument so tests can sign with any time.

use chrono::{DateTime, Utc};

use super::credentials::Credentials;
use super::sign::{PrefixSigner, SignMethod, sign_params};
use crate::clock::beijing;

/// The API this tool calls.
pub const METHOD: &str = "taobao.wt.trade.opentrade.resultcallback";
/// Identifies this client to the platform, as the official SDKs do.
pub const PARTNER_ID: &str = concat!("opentrade-callback-", env!("CARGO_PKG_VERSION"));

/// The gateway's clock: `yyyy-MM-dd HH:mm:ss` in GMT+8, whatever the machine's zone.
pub fn format_timestamp(now: DateTime<Utc>) -> String {
    now.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Encodes calls for one app: the constant system parameters are encoded, and their
/// part of the signature digested, once. Equal to `encode_form` but for the order of
/// the pairs (tested), which the gateway does not care about.
#[derive(Debug, Clone)]
pub struct RequestEncoder {
    signer: PrefixSigner,
    /// `app_key=…&format=json&method=…&partner_id=…&session=…&sign_method=…&v=2.0`.
    fixed_form: String,
    /// The sorted text between `param0`'s value and `timestamp`.
    middle: String,
}

impl RequestEncoder {
    pub fn new(credentials: &Credentials, sign_method: SignMethod) -> Self {
        // Sorted by name: app_key format method | param0 | partner_id session
        // sign_method | timestamp | v.
        let prefix = format!("app_key{}formatjsonmethod{METHOD}", credentials.app_key);
        let middle = format!(
            "partner_id{PARTNER_ID}session{}sign_method{}",
            credentials.session.expose(),
            sign_method.as_str()
        );
        let fixed_form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("app_key", credentials.app_key.as_str()),
                ("format", "json"),
                ("method", METHOD),
                ("partner_id", PARTNER_ID),
                ("session", credentials.session.expose()),
                ("sign_method", sign_method.as_str()),
                ("v", "2.0"),
            ])
            .finish();
        RequestEncoder {
            signer: PrefixSigner::new(sign_method, &credentials.secret, prefix.as_bytes()),
            fixed_form,
            middle,
        }
    }

    /// The body of one call: `param0_form` is `param0_json` form-encoded (once per order).
    pub fn encode(&self, timestamp: &str, param0_json: &str, param0_form: &str) -> String {
        let sign = self.signer.sign(&[
            b"param0",
            param0_json.as_bytes(),
            self.middle.as_bytes(),
            b"timestamp",
            timestamp.as_bytes(),
            b"v2.0",
        ]);
        let mut body = String::with_capacity(self.fixed_form.len() + param0_form.len() + 128);
        body.push_str(&self.fixed_form);
        body.push_str("&timestamp=");
        body.extend(form_urlencoded::byte_serialize(timestamp.as_bytes()));
        body.push_str("&param0=");
        body.push_str(param0_form);
        body.push_str("&sign=");
        body.push_str(&sign);
        body
    }
}

/// The signed body of a call without `param0`: a probe that cannot change anything. A
/// gateway that checks the app key, the signature, the timestamp and the session
/// before the arguments (as TOP does) answers it 40 `Missing required arguments:param0`
/// only when all of them passed.
pub fn encode_probe(credentials: &Credentials, sign_method: SignMethod, timestamp: &str) -> String {
    signed_form(credentials, sign_method, timestamp, METHOD, &[])
}

/// The signed body of a call of another API of the same app (`top::trades`): every
/// system parameter, `params`, and the sign over them.
pub fn encode_call(
    credentials: &Credentials,
    sign_method: SignMethod,
    timestamp: &str,
    method: &str,
    params: &[(&str, &str)],
) -> String {
    signed_form(credentials, sign_method, timestamp, method, params)
}

/// Builds the signed, form-urlencoded (UTF-8) body of one call: the reference the
/// faster `RequestEncoder` is checked against.
pub fn encode_form(
    credentials: &Credentials,
    sign_method: SignMethod,
    timestamp: &str,
    param0_json: &str,
) -> String {
    signed_form(
        credentials,
        sign_method,
        timestamp,
        METHOD,
        &[("param0", param0_json)],
    )
}

/// Every system parameter, the call's own `extra` ones, and the sign over them,
/// form-encoded.
fn signed_form(
    credentials: &Credentials,
    sign_method: SignMethod,
    timestamp: &str,
    method: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("app_key", credentials.app_key.as_str()),
        ("format", "json"),
        ("method", method),
        ("partner_id", PARTNER_ID),
        ("session", credentials.session.expose()),
        ("sign_method", sign_method.as_str()),
        ("timestamp", timestamp),
        ("v", "2.0"),
    ];
    params.extend_from_slice(extra);
    let sign = sign_params(sign_method, credentials.secret.expose(), &params);
    params.push(("sign", &sign));
    form_urlencoded::Serializer::new(String::with_capacity(
        512 + extra.iter().map(|(_, v)| v.len() * 2).sum::<usize>(),
    ))
    .extend_pairs(params)
    .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::credentials::Secret;
    use crate::top::payload::form_value;
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

    fn sorted_pairs(body: &str) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        pairs.sort();
        pairs
    }

    proptest::proptest! {
        #[test]
        fn the_fast_encoder_equals_the_reference(
            json in "\\PC{0,80}",
            app_key in "[0-9]{1,10}",
            secret in "\\PC{1,40}",
            session in "[0-9a-zA-Z]{1,40}",
            seconds in 0i64..4_000_000_000,
            method in proptest::prop_oneof![
                proptest::strategy::Just(SignMethod::Md5),
                proptest::strategy::Just(SignMethod::Hmac),
                proptest::strategy::Just(SignMethod::HmacSha256)
            ],
        ) {
            let credentials = Credentials { app_key, secret: Secret::new(secret), session: Secret::new(session) };
            let timestamp = format_timestamp(Utc.timestamp_opt(seconds, 0).single().expect("valid"));
            let fast = RequestEncoder::new(&credentials, method).encode(&timestamp, &json, &form_value(&json));
            let reference = encode_form(&credentials, method, &timestamp, &json);
            proptest::prop_assert_eq!(sorted_pairs(&fast), sorted_pairs(&reference));
        }
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
