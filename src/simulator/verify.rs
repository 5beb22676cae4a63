//! The simulated gateway's checks of a request: system parameters, signature, clock
//! skew, credentials and the `param0` schema. Written apart from `top::sign` and
//! `top::request` on purpose (HMAC built from the RFC 2104 formula, parameters sorted
//! by a `BTreeMap`), so one bug cannot make client and simulator agree. Pure.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use md5::{Digest, Md5};
use serde_json::Value;
use sha2::Sha256;

/// The only method this gateway serves.
const SERVED_METHOD: &str = "taobao.wt.trade.opentrade.resultcallback";
/// The shop's trades (`trades` serves it).
pub const TRADES_METHOD: &str = "taobao.trades.sold.increment.get";

/// A request's parameters, sorted by name, borrowed from the body where possible.
pub type Params<'a> = BTreeMap<Cow<'a, str>, Cow<'a, str>>;

/// A TOP `error_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopError {
    pub code: u32,
    pub msg: Cow<'static, str>,
    pub sub_code: String,
    pub sub_msg: String,
}

impl TopError {
    pub(super) fn new(code: u32, msg: impl Into<Cow<'static, str>>) -> Self {
        TopError {
            code,
            msg: msg.into(),
            sub_code: String::new(),
            sub_msg: String::new(),
        }
    }

    pub fn with_sub(mut self, sub_code: &str, sub_msg: impl Into<String>) -> Self {
        self.sub_code = sub_code.to_owned();
        self.sub_msg = sub_msg.into();
        self
    }

    /// A missing top-level argument, as TOP words it: code 40 `Missing required arguments:NAME`.
    pub fn missing_argument(name: &str) -> Self {
        TopError::new(40, format!("Missing required arguments:{name}"))
    }

    /// A malformed top-level argument, as TOP words it: code 41 `Invalid arguments:NAME`.
    pub fn invalid_argument(name: &str) -> Self {
        TopError::new(41, format!("Invalid arguments:{name}"))
    }

    /// The business layer's refusal of bad data: code 15 with an `isv.*` sub_code
    /// (SPEC.md's example answer).
    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        TopError::new(15, "Remote service error").with_sub(
            "isv.invalid-parameter",
            format!("非法参数: {}", detail.into()),
        )
    }
}

/// The credentials and tolerance the gateway checks against.
#[derive(Debug, Clone)]
pub struct Expected {
    pub app_key: String,
    pub secret: String,
    pub session: String,
    pub max_skew: Duration,
}

/// Checks everything but `param0`, in the order the real gateway reports problems.
pub fn verify_request(
    params: &Params<'_>,
    expected: &Expected,
    now: DateTime<Utc>,
) -> Result<(), TopError> {
    check_method(params.get("method").map(|v| v.as_ref()))?;
    verify_system(params, expected, now, b"")
}

/// Checks a batch request's URL parameters, its signature covering `body` too.
pub fn verify_batch(
    params: &Params<'_>,
    body: &[u8],
    expected: &Expected,
    now: DateTime<Utc>,
) -> Result<(), TopError> {
    verify_system(params, expected, now, body)
}

/// The method of a call: only this API is served.
pub fn check_method(method: Option<&str>) -> Result<(), TopError> {
    match method.filter(|m| !m.is_empty()) {
        None => Err(TopError::new(21, "Missing Method")),
        Some(SERVED_METHOD | TRADES_METHOD) => Ok(()),
        Some(_) => Err(TopError::new(22, "Invalid Method")),
    }
}

/// A call's own `session` in a batch, when it names one: it must be the app's.
pub fn check_session(session: Option<&str>, expected: &Expected) -> Result<(), TopError> {
    match session.filter(|s| !s.is_empty()) {
        None => Ok(()),
        Some(session) if session == expected.session => Ok(()),
        Some(_) => Err(TopError::new(27, "Invalid Session").with_sub(
            "isv.invalid-sessionkey",
            "session key is invalid or expired",
        )),
    }
}

/// The system parameters, the clock and the signature over `params` (then `appended`).
fn verify_system(
    params: &Params<'_>,
    expected: &Expected,
    now: DateTime<Utc>,
    appended: &[u8],
) -> Result<(), TopError> {
    let get = |name: &str| {
        params
            .get(name)
            .map(|v| v.as_ref())
            .filter(|v| !v.is_empty())
    };
    match get("app_key") {
        None => return Err(TopError::new(28, "Missing App Key")),
        Some(key) if key == expected.app_key => {}
        Some(_) => return Err(TopError::new(29, "Invalid App Key")),
    }
    match get("v") {
        None => return Err(TopError::new(32, "Missing Version")),
        Some("2.0") => {}
        Some("1.0") => return Err(TopError::new(34, "Unsupported Version")),
        Some(_) => return Err(TopError::new(33, "Invalid Version")),
    }
    // Without format=json the real gateway answers XML, which this one does not speak.
    if get("format") != Some("json") {
        return Err(TopError::new(23, "Invalid Format").with_sub(
            "isv.invalid-format",
            "this simulator answers format=json only",
        ));
    }
    let Some(timestamp) = get("timestamp") else {
        return Err(TopError::new(30, "Missing Timestamp"));
    };
    check_timestamp(timestamp, now, expected.max_skew)?;
    let sign_method = get("sign_method").unwrap_or("md5");
    let Some(sign) = get("sign") else {
        return Err(TopError::new(24, "Missing Signature"));
    };
    let Some(wanted) = expected_sign(sign_method, &expected.secret, params, appended) else {
        return Err(TopError::new(25, "Invalid Signature").with_sub(
            "isv.invalid-sign-method",
            format!("unsupported sign_method '{sign_method}'"),
        ));
    };
    if sign != wanted {
        return Err(TopError::new(25, "Invalid Signature"));
    }
    match get("session") {
        None => Err(TopError::new(26, "Missing Session")),
        Some(session) if session == expected.session => Ok(()),
        Some(_) => Err(TopError::new(27, "Invalid Session").with_sub(
            "isv.invalid-sessionkey",
            "session key is invalid or expired",
        )),
    }
}

fn check_timestamp(
    timestamp: &str,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<(), TopError> {
    let invalid = |detail: &str| {
        Err(TopError::new(31, "Invalid Timestamp").with_sub("isv.invalid-timestamp", detail))
    };
    let Some(sent) = parse_timestamp(timestamp) else {
        return invalid("timestamp must be yyyy-MM-dd HH:mm:ss in GMT+8, or epoch milliseconds");
    };
    let skew = (now - sent).abs();
    if skew.to_std().unwrap_or(Duration::MAX) > max_skew {
        return invalid("timestamp is more than 10 minutes away from the gateway's clock");
    }
    Ok(())
}

/// A timestamp in either form TOP accepts: `yyyy-MM-dd HH:mm:ss` in GMT+8 (as the Java
/// SDK and this tool send it) or epoch milliseconds (as the Python SDK sends it).
fn parse_timestamp(timestamp: &str) -> Option<DateTime<Utc>> {
    if !timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return DateTime::from_timestamp_millis(timestamp.parse().ok()?);
    }
    let naive = NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%d %H:%M:%S").ok()?;
    let gmt8 = FixedOffset::east_opt(28_800).expect("valid offset");
    Some(naive.and_local_timezone(gmt8).single()?.with_timezone(&Utc))
}

/// The sign the gateway computes, or `None` for an unknown method: the parameters
/// but `sign` (empty values skipped) sorted by name, then `appended` (a batch's body).
fn expected_sign(
    method: &str,
    secret: &str,
    params: &Params<'_>,
    appended: &[u8],
) -> Option<String> {
    let mut text = Vec::new();
    for (name, value) in params
        .iter()
        .filter(|(name, value)| name.as_ref() != "sign" && !value.is_empty())
    {
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(value.as_bytes());
    }
    text.extend_from_slice(appended);
    let digest = match method {
        "md5" => {
            let mut wrapped = secret.as_bytes().to_vec();
            wrapped.extend_from_slice(&text);
            wrapped.extend_from_slice(secret.as_bytes());
            Md5::digest(&wrapped).to_vec()
        }
        "hmac" => rfc2104::<Md5>(secret.as_bytes(), &text),
        "hmac-sha256" => rfc2104::<Sha256>(secret.as_bytes(), &text),
        _ => return None,
    };
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    Some(hex)
}

/// HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), 64-byte blocks (MD5, SHA-256).
fn rfc2104<D: Digest>(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        let hashed = D::digest(key);
        block_key[..hashed.len()].copy_from_slice(&hashed);
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = D::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = D::new();
    outer.update(block_key.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// The parts of a valid `param0` the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param0 {
    pub req_id: String,
    pub order_no: u64,
    /// Digest of the fields with names sorted: equal for equal payloads, whatever the
    /// order the client wrote them in.
    pub digest: [u8; 16],
}

/// Checks `param0` against the `OrderResultDto` schema of SPEC.md.
pub fn parse_param0(raw: Option<&str>) -> Result<Param0, TopError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Err(TopError::missing_argument("param0"));
    };
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(raw) else {
        return Err(TopError::invalid_argument("param0"));
    };
    for (name, value) in &fields {
        let ok = match name.as_str() {
            "order_no" | "sub_order_no" => value.is_u64(),
            "success" => value.is_boolean(),
            "req_id" => value.as_str().is_some_and(|s| !s.trim().is_empty()),
            "result_code" | "result_desc" => value.is_string(),
            "ext" => value
                .as_str()
                .is_some_and(|s| matches!(serde_json::from_str::<Value>(s), Ok(Value::Object(_)))),
            _ => return Err(TopError::invalid_parameter(format!("unknown field {name}"))),
        };
        if !ok {
            return Err(TopError::invalid_parameter(format!(
                "{name} has the wrong type: {value}"
            )));
        }
    }
    for required in ["order_no", "success", "req_id"] {
        if !fields.contains_key(required) {
            return Err(TopError::invalid_parameter(format!(
                "{required} is required"
            )));
        }
    }
    // The known fields in a fixed order, whatever order the client wrote them in; the
    // types were checked above.
    let mut digest = Md5::new();
    for name in [
        "ext",
        "order_no",
        "req_id",
        "result_code",
        "result_desc",
        "sub_order_no",
        "success",
    ] {
        digest.update(name.as_bytes());
        match fields.get(name) {
            None => digest.update([0]),
            Some(Value::String(text)) => {
                digest.update([1]);
                digest.update(text.as_bytes());
            }
            Some(Value::Number(n)) => {
                digest.update([2]);
                digest.update(n.as_u64().unwrap_or_default().to_le_bytes());
            }
            Some(Value::Bool(b)) => digest.update([3, u8::from(*b)]),
            Some(_) => digest.update([4]),
        }
        digest.update([0xFF]);
    }
    Ok(Param0 {
        req_id: fields["req_id"].as_str().unwrap_or_default().to_owned(),
        order_no: fields["order_no"].as_u64().unwrap_or_default(),
        digest: digest.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn expected() -> Expected {
        Expected {
            app_key: "12345678".into(),
            secret: "helloworld".into(),
            session: "test".into(),
            max_skew: Duration::from_secs(600),
        }
    }

    fn noon() -> DateTime<Utc> {
        // 2016-01-01 12:00:00 in GMT+8.
        Utc.with_ymd_and_hms(2016, 1, 1, 4, 0, 0)
            .single()
            .expect("valid")
    }

    fn signed(method: &str) -> Params<'static> {
        let mut params: Params<'static> = [
            ("app_key", "12345678"),
            ("format", "json"),
            ("method", SERVED_METHOD),
            ("session", "test"),
            ("sign_method", method),
            ("timestamp", "2016-01-01 12:00:00"),
            ("v", "2.0"),
        ]
        .into_iter()
        .map(|(k, v)| (Cow::Owned(k.to_owned()), Cow::Owned(v.to_owned())))
        .collect();
        let sign = expected_sign(method, "helloworld", &params, b"").expect("known method");
        params.insert("sign".into(), sign.into());
        params
    }

    #[test]
    fn published_md5_vector_is_reproduced_independently() {
        let params: Params<'static> = [
            ("app_key", "12345678"),
            ("fields", "num_iid,title,nick,price,num"),
            ("format", "json"),
            ("method", "taobao.item.seller.get"),
            ("num_iid", "11223344"),
            ("session", "test"),
            ("sign_method", "md5"),
            ("timestamp", "2016-01-01 12:00:00"),
            ("v", "2.0"),
        ]
        .into_iter()
        .map(|(k, v)| (Cow::Owned(k.to_owned()), Cow::Owned(v.to_owned())))
        .collect();
        assert_eq!(
            expected_sign("md5", "helloworld", &params, b"").as_deref(),
            Some("66987CB115214E59E6EC978214934FB8")
        );
        let mut hmac = params.clone();
        hmac.insert("sign_method".into(), "hmac".into());
        assert_eq!(
            expected_sign("hmac", "helloworld", &hmac, b"").as_deref(),
            Some("D56D7858309C31B6251083A874D48273")
        );
    }

    #[test]
    fn rfc2104_matches_rfc4231_test_case_2() {
        let mac = rfc2104::<Sha256>(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            faster_hex::hex_string(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn long_keys_are_hashed_first() {
        // RFC 2202 test case 6: HMAC-MD5 with an 80-byte key.
        let mac = rfc2104::<Md5>(
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            faster_hex::hex_string(&mac),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }

    #[test]
    fn all_three_sign_methods_verify() {
        for method in ["md5", "hmac", "hmac-sha256"] {
            assert_eq!(
                verify_request(&signed(method), &expected(), noon()),
                Ok(()),
                "{method}"
            );
        }
    }

    #[test]
    fn wrong_secret_is_code_25() {
        let mut wrong = expected();
        wrong.secret = "other".into();
        assert_eq!(
            verify_request(&signed("md5"), &wrong, noon()).map_err(|e| e.code),
            Err(25)
        );
    }

    #[test]
    fn lower_case_sign_is_refused() {
        let mut params = signed("hmac");
        let lower = params["sign"].to_ascii_lowercase();
        params.insert("sign".into(), lower.into());
        assert_eq!(
            verify_request(&params, &expected(), noon()).map_err(|e| e.code),
            Err(25)
        );
    }

    #[test]
    fn skew_over_ten_minutes_is_code_31() {
        let eleven_late = noon() + chrono::Duration::minutes(11);
        let nine_late = noon() + chrono::Duration::minutes(9);
        assert_eq!(
            verify_request(&signed("md5"), &expected(), eleven_late).map_err(|e| e.code),
            Err(31)
        );
        assert_eq!(
            verify_request(&signed("md5"), &expected(), nine_late),
            Ok(())
        );
    }

    #[test]
    fn epoch_milliseconds_are_a_timestamp_too_with_the_same_skew() {
        // The Python SDK's form: str(int(time.time() * 1000)).
        let mut params = signed("md5");
        params.insert(
            "timestamp".into(),
            noon().timestamp_millis().to_string().into(),
        );
        params.remove("sign");
        let sign = expected_sign("md5", "helloworld", &params, b"").expect("known method");
        params.insert("sign".into(), sign.into());
        let at = |minutes| noon() + chrono::Duration::minutes(minutes);
        assert_eq!(verify_request(&params, &expected(), at(-9)), Ok(()));
        assert_eq!(verify_request(&params, &expected(), at(9)), Ok(()));
        for off in [-11, 11] {
            assert_eq!(
                verify_request(&params, &expected(), at(off)).map_err(|e| e.code),
                Err(31)
            );
        }
        for bad in [
            "",
            "12:00",
            "1451620800000.5",
            "-1451620800000",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_missing_system_parameter_has_its_code() {
        for (name, code) in [
            ("method", 21),
            ("app_key", 28),
            ("v", 32),
            ("format", 23),
            ("timestamp", 30),
            ("sign", 24),
        ] {
            let mut params = signed("md5");
            params.remove(name);
            assert_eq!(
                verify_request(&params, &expected(), noon()).map_err(|e| e.code),
                Err(code),
                "{name}"
            );
        }
    }

    #[test]
    fn wrong_session_is_code_27_after_a_valid_sign() {
        let mut wrong = expected();
        wrong.session = "other".into();
        assert_eq!(
            verify_request(&signed("md5"), &wrong, noon()).map_err(|e| e.code),
            Err(27)
        );
    }

    #[test]
    fn param0_schema_is_enforced() {
        let check = |json: &str| parse_param0(Some(json)).map_err(|e| (e.code, e.sub_code));
        assert!(check(r#"{"order_no":1,"success":true,"req_id":"r"}"#).is_ok());
        assert!(check(r#"{"order_no":12345678901234567890,"success":true,"req_id":"r","ext":"{\"a\":\"1\"}"}"#).is_ok());
        let invalid = Err((15, "isv.invalid-parameter".to_owned()));
        assert_eq!(
            check(r#"{"order_no":"1","success":true,"req_id":"r"}"#),
            invalid
        );
        assert_eq!(
            check(r#"{"order_no":1.5e3,"success":true,"req_id":"r"}"#),
            invalid
        );
        assert_eq!(
            check(r#"{"order_no":1,"success":"true","req_id":"r"}"#),
            invalid
        );
        assert_eq!(check(r#"{"order_no":1,"success":true}"#), invalid);
        assert_eq!(
            check(r#"{"order_no":1,"success":true,"req_id":"r","ext":{"a":1}}"#),
            invalid
        );
        assert_eq!(
            check(r#"{"order_no":1,"success":true,"req_id":"r","ext":"not json"}"#),
            invalid
        );
        assert_eq!(
            check(r#"{"order_no":1,"success":true,"req_id":"r","result_code":null}"#),
            invalid
        );
        assert_eq!(
            check(r#"{"orderNo":1,"success":true,"req_id":"r"}"#),
            invalid
        );
        // Top-level argument errors as TOP words them: no sub_code, the name in `msg`.
        let shape = |e: TopError| (e.code, e.msg.into_owned(), e.sub_code);
        assert_eq!(
            parse_param0(Some("[1]")).map_err(shape),
            Err((41, "Invalid arguments:param0".to_owned(), String::new()))
        );
        assert_eq!(
            parse_param0(None).map_err(shape),
            Err((
                40,
                "Missing required arguments:param0".to_owned(),
                String::new()
            ))
        );
    }

    #[test]
    fn payload_digest_ignores_field_order() {
        let a = parse_param0(Some(r#"{"order_no":1,"success":true,"req_id":"r"}"#)).expect("valid");
        let b = parse_param0(Some(r#"{"req_id":"r","success":true,"order_no":1}"#)).expect("valid");
        let c =
            parse_param0(Some(r#"{"req_id":"r","success":false,"order_no":1}"#)).expect("valid");
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }
}
