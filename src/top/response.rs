//! Classifying the gateway's answer — or the lack of one — into what the job does next.
//! Every TOP code and transport failure is decided in `classify_error`,
//! `classify_answer` and `classify_transport`, each case with its reason, so a reader
//! can audit them against SPEC.md "Error families". Pure; no I/O.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::redact::Redactor;
pub use super::reply::{ErrorClass, Overrides, Reply, TransportFailure, Verdict, advice};

/// A call that got no answer: worth another try with the same req_id — the gateway is
/// idempotent by req_id, so a call that did arrive is answered again — except when the
/// TLS handshake failed: no call can get through until the certificate is trusted.
pub fn classify_transport(failure: TransportFailure, detail: &str) -> Reply {
    let verdict = match failure {
        TransportFailure::Tls => Verdict::Fatal,
        _ => Verdict::Transient,
    };
    Reply::own(verdict, failure.to_string(), detail)
}

/// Classifies an HTTP answer: status first, then the TOP JSON body.
pub fn classify_answer(status: u16, body: &[u8], overrides: &Overrides) -> Reply {
    classify_answer_to(status, body, overrides, Expected::default())
}

/// What an answer must be to count as one call's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    /// The call's req_id: a result about another req_id is no answer to this call (a
    /// proxy's mix-up, a replayed or forged answer) — transient.
    pub req_id: Option<&'a str>,
    /// A delivery or a rejection must name `req_id` (a part of a batch answer, which is
    /// otherwise matched to its call by position only): one that does not is transient.
    pub named: bool,
    /// Masks the secrets in text quoted from the body.
    pub redactor: Option<&'a Redactor>,
}

/// `classify_answer` for the call `expected` describes.
pub fn classify_answer_to(
    status: u16,
    body: &[u8],
    overrides: &Overrides,
    expected: Expected<'_>,
) -> Reply {
    let shown = |body: &[u8]| match expected.redactor {
        Some(redactor) => snippet(&redactor.bytes(body)),
        None => snippet(body),
    };
    match status {
        200..=299 => {}
        // Timeout, throttling and server-side trouble, typically an HTML page from a
        // proxy in front of the gateway: the request may well succeed later.
        408 | 429 | 500..=599 => {
            return Reply::own(
                Verdict::Transient,
                format!("http.{status}"),
                format!("HTTP {status}: {}", shown(body)),
            );
        }
        // Any other status means the URL or the request is wrong for every order.
        _ => {
            return Reply::own(
                Verdict::Fatal,
                format!("http.{status}"),
                format!(
                    "HTTP {status} from the gateway (check --gateway): {}",
                    shown(body)
                ),
            );
        }
    }
    let invalid = || invalid_response(&shown(body));
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        // A 200 carrying HTML or garbage: a misbehaving proxy; try again.
        Err(_) => return invalid(),
    };
    if let Some(error) = envelope.error_response {
        let code = error.code.map(|c| c.to_string()).unwrap_or_default();
        let reply = classify_error(
            &code,
            text(&error.msg),
            text(&error.sub_code),
            text(&error.sub_msg),
            text(&error.request_id),
            overrides,
        );
        // An error part names no req_id: a batch part's rejection may be another call's.
        return unnamed_unless(reply, expected, false);
    }
    let Some(wrapper) = envelope.wt_trade_opentrade_resultcallback_response else {
        return invalid();
    };
    let Some(result) = wrapper.result else {
        return invalid();
    };
    if let (Some(sent), Some(named)) = (expected.req_id, result.req_id.as_deref())
        && sent != named
    {
        return Reply::own(
            Verdict::Transient,
            code::WRONG_REQ_ID,
            format!(
                "the answer is about req_id '{named}', not '{sent}', the one sent: not an answer to this call"
            ),
        );
    }
    let names_it = result.req_id.is_some();
    let error_code = text(&result.error_code).to_owned();
    let verdict = match result.success.as_ref().map(truthy) {
        Some(Some(true)) => Verdict::Delivered,
        // The platform processed the order and said no: permanent, unless the merchant
        // knows this `error_code` means "try later".
        Some(Some(false)) => overrides.get(&error_code).unwrap_or_else(|| {
            if overrides.retries_business(&error_code) {
                Verdict::Transient
            } else {
                Verdict::Rejected
            }
        }),
        _ => return invalid(),
    };
    let reply = Reply {
        verdict,
        error_code,
        error_msg: text(&result.error_msg).to_owned(),
        sub_code: String::new(),
        sub_msg: String::new(),
        top_request_id: text(&wrapper.request_id).to_owned(),
    };
    unnamed_unless(reply, expected, names_it)
}

/// `reply`, unless `expected` needs a delivery or a rejection to name its req_id and
/// the answer does not: then no outcome, but a transient failure, retried on its own.
fn unnamed_unless(reply: Reply, expected: Expected<'_>, names_it: bool) -> Reply {
    if !expected.named
        || names_it
        || !matches!(reply.verdict, Verdict::Delivered | Verdict::Rejected)
    {
        return reply;
    }
    Reply {
        verdict: Verdict::Transient,
        error_code: code::UNNAMED_ANSWER.to_owned(),
        error_msg: format!(
            "a batch answer part that names no req_id ({} {}{}) may be another call's: not taken as an outcome",
            reply.error_code,
            reply.error_msg,
            if reply.sub_code.is_empty() {
                String::new()
            } else {
                format!(" {}", reply.sub_code)
            }
        ),
        sub_code: String::new(),
        sub_msg: String::new(),
        top_request_id: reply.top_request_id,
    }
}

/// Classifies a TOP `error_response`. The order of the checks is the policy.
pub fn classify_error(
    code: &str,
    msg: &str,
    sub_code: &str,
    sub_msg: &str,
    request_id: &str,
    overrides: &Overrides,
) -> Reply {
    let verdict = overrides
        .get(sub_code)
        .unwrap_or_else(|| builtin_verdict(code, sub_code, sub_msg));
    Reply {
        verdict,
        error_code: code.to_owned(),
        error_msg: msg.to_owned(),
        sub_code: sub_code.to_owned(),
        sub_msg: sub_msg.to_owned(),
        top_request_id: request_id.to_owned(),
    }
}

fn builtin_verdict(code: &str, sub_code: &str, sub_msg: &str) -> Verdict {
    let code: i64 = code.trim().parse().unwrap_or(-1);
    match code {
        // This API is not open to the app: no call can succeed, ever — halt.
        7 if sub_code.ends_with("limited-by-app-api-access-count") => return Verdict::Fatal,
        // App Call Limited: the whole app is banned, and the answer says for how long
        // ("This ban will last for N more seconds"). Those seconds decide, whatever
        // the sub_code: TOP documents `limited-by-app-access-count` as "应用调用次数超限，
        // 包含调用频率超限", a frequency limit as well as the daily count. The ban is
        // waited out or not by its length (`send::deliver`, --max-ban-wait).
        7 => {
            let ban = parse_ban(sub_msg);
            // Only when no length is stated may the sub_code alone decide: the app's
            // daily quota, spent until 00:00 Beijing time — halt.
            if ban.is_none() && sub_code.ends_with("limited-by-app-access-count") {
                return Verdict::Fatal;
            }
            return Verdict::RateLimited { ban };
        }
        // 11-13 insufficient permissions; 22 invalid method; 24-29 missing/invalid
        // signature, session or app key; 31 timestamp out of range (clock skew);
        // 32-34 missing/invalid/unsupported version. The same for every order.
        11..=13 | 22 | 24..=29 | 31..=34 => return Verdict::Fatal,
        // 9 method not allowed, 21 missing method, 23 invalid format, 30 missing
        // timestamp, 42 forbidden, 47 invalid encoding: a request this tool built
        // wrongly or that is refused outright — every order would get the same.
        9 | 21 | 23 | 30 | 42 | 47 => return Verdict::Fatal,
        _ => {}
    }
    // The sub_code family is the platform's own statement of who is at fault.
    if sub_code.starts_with("isp.") {
        return Verdict::Transient;
    }
    if sub_code.starts_with("isv.") {
        return Verdict::Rejected;
    }
    match code {
        // Service currently unavailable.
        10 => Verdict::Transient,
        // Missing, invalid or wrong arguments, or a business error without sub_code:
        // this order's data.
        40 | 41 | 43 | 50 => Verdict::Rejected,
        // 1 unknown, 3 upload failed, 15 remote service error without sub_code, and
        // codes not documented: retry, bounded by --max-attempts; the row ends
        // `failed` and a later run sends it again.
        _ => Verdict::Transient,
    }
}

/// Reads "This ban will last for 3 more seconds" (the gateway's wording): the whole
/// seconds stated, `Duration::MAX` for a number too large to hold, `None` when no
/// length is stated (or a negative one). What a zero or an absent length means is the
/// caller's policy (`send::deliver`).
pub fn parse_ban(sub_msg: &str) -> Option<Duration> {
    let lower = sub_msg.to_ascii_lowercase();
    let rest = &lower[lower.find("last for")? + "last for".len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().map_or(Duration::MAX, Duration::from_secs))
}

fn invalid_response(shown: &str) -> Reply {
    Reply::own(
        Verdict::Transient,
        code::INVALID_RESPONSE,
        format!("answer is not TOP JSON: {shown}"),
    )
}

/// The tool's own codes for answers that are not usable.
pub mod code {
    /// Not TOP JSON, or not the shape of this API's answer.
    pub const INVALID_RESPONSE: &str = "net.invalid_response";
    /// A result about another req_id.
    pub const WRONG_REQ_ID: &str = "net.wrong_req_id";
    /// A batch answer part that names no req_id, so cannot be matched to its call.
    pub const UNNAMED_ANSWER: &str = "net.unnamed_answer";
    /// A body over the size limit.
    pub const ANSWER_TOO_LARGE: &str = "net.answer_too_large";
}

/// An answer body over `limit` bytes: not read further, and never a TOP answer.
pub fn answer_too_large(limit: usize) -> Reply {
    Reply::own(
        Verdict::Transient,
        code::ANSWER_TOO_LARGE,
        format!(
            "the answer is larger than {} KiB, which no TOP answer is; it was not read",
            limit / 1024
        ),
    )
}

/// The start of a body, on one line, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        "(empty body)".to_owned()
    } else {
        flat
    }
}

fn truthy(value: &serde_json::Value) -> Option<bool> {
    match value {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) if s == "true" => Some(true),
        serde_json::Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn text<'a>(value: &'a Option<Cow<'_, str>>) -> &'a str {
    value.as_deref().unwrap_or("")
}

/// A TOP code is a number in JSON answers, but some proxies quote it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Code {
    Number(i64),
    Text(String),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Number(n) => write!(f, "{n}"),
            Code::Text(s) => f.write_str(s),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    wt_trade_opentrade_resultcallback_response: Option<Wrapper<'a>>,
    #[serde(borrow, default)]
    error_response: Option<ErrorBody<'a>>,
}

#[derive(Deserialize)]
struct Wrapper<'a> {
    #[serde(borrow, default)]
    result: Option<ResultBody<'a>>,
    #[serde(borrow, default)]
    request_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ResultBody<'a> {
    #[serde(default)]
    success: Option<serde_json::Value>,
    #[serde(borrow, default)]
    req_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error_msg: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(default)]
    code: Option<Code>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sub_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sub_msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    request_id: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn none() -> Overrides {
        Overrides::default()
    }

    fn expect(req_id: &str) -> Expected<'_> {
        Expected {
            req_id: Some(req_id),
            ..Expected::default()
        }
    }

    #[test]
    fn a_batch_part_that_names_no_req_id_is_no_outcome() {
        let named = Expected {
            req_id: Some("R"),
            named: true,
            redactor: None,
        };
        let unnamed_result = br#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":true,"error_code":"0000"},"request_id":"q"}}"#;
        let reply = classify_answer_to(200, unnamed_result, &none(), named);
        assert_eq!(reply.verdict, Verdict::Transient);
        assert_eq!(reply.error_code, code::UNNAMED_ANSWER);
        let rejection = error_body(15, "isv.invalid-parameter", "bad");
        let reply = classify_answer_to(200, &rejection, &none(), named);
        assert_eq!(
            (reply.verdict, reply.error_code.as_str()),
            (Verdict::Transient, code::UNNAMED_ANSWER)
        );
        // A ban or a platform fault is about the app, not a call: taken as it is.
        let ban = error_body(
            7,
            "accesscontrol.limited-by-api-access-count",
            "This ban will last for 3 more seconds",
        );
        assert!(matches!(
            classify_answer_to(200, &ban, &none(), named).verdict,
            Verdict::RateLimited { .. }
        ));
        // A part that names its own req_id, and a single call's answer, are outcomes.
        let own = br#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":true,"req_id":"R","error_code":"0000"},"request_id":"q"}}"#;
        assert_eq!(
            classify_answer_to(200, own, &none(), named).verdict,
            Verdict::Delivered
        );
        assert_eq!(
            classify_answer_to(200, &rejection, &none(), expect("R")).verdict,
            Verdict::Rejected
        );
    }

    #[test]
    fn a_quoted_body_is_masked_before_it_is_cut() {
        let redactor = Redactor::new(["SESSION-SECRET-VALUE"]);
        let mut body = vec![b'x'; 110];
        body.extend_from_slice(b"SESSION-SECRET-VALUE and more");
        let reply = classify_answer_to(
            502,
            &body,
            &none(),
            Expected {
                redactor: Some(&redactor),
                ..Expected::default()
            },
        );
        assert!(!reply.error_msg.contains("SESSION"), "{}", reply.error_msg);
        assert!(reply.error_msg.contains("***"), "{}", reply.error_msg);
    }

    fn error_body(code: i64, sub_code: &str, sub_msg: &str) -> Vec<u8> {
        serde_json::json!({"error_response": {
            "code": code, "msg": "Remote service error", "sub_code": sub_code,
            "sub_msg": sub_msg, "request_id": "rid-1"}})
        .to_string()
        .into_bytes()
    }

    fn verdict_of(code: i64, sub_code: &str) -> Verdict {
        classify_answer(200, &error_body(code, sub_code, ""), &none()).verdict
    }

    #[test]
    fn result_success_true_is_delivered_with_platform_words() {
        let body = r#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":true,"req_id":"r1","error_code":"0000","error_msg":"消息处理成功"},"request_id":"abc"}}"#;
        let reply = classify_answer(200, body.as_bytes(), &none());
        assert_eq!(reply.verdict, Verdict::Delivered);
        assert_eq!(reply.error_code, "0000");
        assert_eq!(reply.error_msg, "消息处理成功");
        assert_eq!(reply.top_request_id, "abc");
    }

    #[test]
    fn result_success_false_is_rejected() {
        let body = r#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":false,"req_id":"r1","error_code":"E101","error_msg":"\u8ba2\u5355\u4e0d\u5b58\u5728"},"request_id":"abc"}}"#;
        let reply = classify_answer(200, body.as_bytes(), &none());
        assert_eq!(reply.verdict, Verdict::Rejected);
        assert_eq!(reply.error_code, "E101");
        assert_eq!(reply.error_msg, "订单不存在");
    }

    #[test]
    fn result_error_code_override_turns_rejection_into_transient() {
        let body = r#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":false,"error_code":"SYSTEM_BUSY"}}}"#;
        let overrides = Overrides::new(HashMap::from([(
            "SYSTEM_BUSY".into(),
            ErrorClass::Transient,
        )]));
        assert_eq!(
            classify_answer(200, body.as_bytes(), &overrides).verdict,
            Verdict::Transient
        );
    }

    #[test]
    fn isv_sub_codes_are_rejected_and_keep_every_field() {
        let reply = classify_answer(
            200,
            &error_body(50, "isv.invalid-parameter", "非法参数"),
            &none(),
        );
        assert_eq!(reply.verdict, Verdict::Rejected);
        assert_eq!(
            (
                reply.error_code.as_str(),
                reply.error_msg.as_str(),
                reply.sub_code.as_str(),
                reply.sub_msg.as_str(),
                reply.top_request_id.as_str()
            ),
            (
                "50",
                "Remote service error",
                "isv.invalid-parameter",
                "非法参数",
                "rid-1"
            )
        );
    }

    #[test]
    fn business_argument_codes_are_rejected() {
        for code in [40, 41, 43, 50] {
            assert_eq!(verdict_of(code, ""), Verdict::Rejected, "code {code}");
        }
    }

    #[test]
    fn isp_sub_codes_and_code_10_are_transient() {
        assert_eq!(
            verdict_of(15, "isp.remote-service-timeout"),
            Verdict::Transient
        );
        assert_eq!(
            verdict_of(50, "isp.top-remote-connection-timeout"),
            Verdict::Transient
        );
        assert_eq!(verdict_of(10, ""), Verdict::Transient);
    }

    #[test]
    fn unknown_codes_without_family_are_transient() {
        assert_eq!(verdict_of(1, ""), Verdict::Transient);
        assert_eq!(verdict_of(15, ""), Verdict::Transient);
        assert_eq!(verdict_of(999, "weird"), Verdict::Transient);
    }

    #[test]
    fn credential_permission_and_version_codes_are_fatal() {
        for code in [11, 12, 13, 22, 24, 25, 26, 27, 28, 29, 31, 32, 33, 34] {
            assert_eq!(verdict_of(code, ""), Verdict::Fatal, "code {code}");
        }
    }

    #[test]
    fn fatal_codes_win_over_sub_code_families() {
        assert_eq!(verdict_of(27, "isv.invalid-sessionkey"), Verdict::Fatal);
        assert_eq!(verdict_of(25, "isp.whatever"), Verdict::Fatal);
    }

    #[test]
    fn malformed_request_codes_are_fatal() {
        for code in [9, 21, 23, 30, 42, 47] {
            assert_eq!(verdict_of(code, ""), Verdict::Fatal, "code {code}");
        }
    }

    #[test]
    fn clock_skew_is_fatal_with_advice() {
        assert_eq!(verdict_of(31, ""), Verdict::Fatal);
        assert!(advice("31", "").is_some_and(|a| a.contains("clock")));
    }

    #[test]
    fn flow_control_parses_the_ban_length() {
        let reply = classify_answer(
            200,
            &error_body(
                7,
                "accesscontrol.limited-by-api-access-count",
                "This ban will last for 3 more seconds",
            ),
            &none(),
        );
        assert_eq!(
            reply.verdict,
            Verdict::RateLimited {
                ban: Some(Duration::from_secs(3))
            }
        );
    }

    #[test]
    fn the_seconds_stated_decide_whatever_the_sub_code() {
        let of = |sub_code: &str, sub_msg: &str| {
            classify_answer(200, &error_body(7, sub_code, sub_msg), &none()).verdict
        };
        let three = Verdict::RateLimited {
            ban: Some(Duration::from_secs(3)),
        };
        for sub_code in [
            "accesscontrol.limited-by-app-access-count",
            "accesscontrol.limited-by-api-access-count",
            "accesscontrol.some-new-limit",
            "",
        ] {
            assert_eq!(
                of(sub_code, "This ban will last for 3 more seconds"),
                three,
                "{sub_code}"
            );
        }
        // The API not open to the app is never waited for.
        assert_eq!(
            of(
                "accesscontrol.limited-by-app-api-access-count",
                "This ban will last for 3 more seconds"
            ),
            Verdict::Fatal
        );
    }

    #[test]
    fn the_daily_quota_and_an_api_not_open_are_fatal_a_ban_is_not() {
        let of = |sub_code: &str| {
            classify_answer(200, &error_body(7, sub_code, "App Call Limited"), &none()).verdict
        };
        assert_eq!(
            of("accesscontrol.limited-by-app-access-count"),
            Verdict::Fatal
        );
        assert_eq!(
            of("accesscontrol.limited-by-app-api-access-count"),
            Verdict::Fatal
        );
        assert_eq!(
            of("accesscontrol.limited-by-api-access-count"),
            Verdict::RateLimited { ban: None }
        );
        assert!(
            advice("7", "accesscontrol.limited-by-app-access-count")
                .is_some_and(|a| a.contains("00:00 Beijing"))
        );
        assert!(
            advice("7", "accesscontrol.limited-by-app-api-access-count")
                .is_some_and(|a| a.contains("not open to the app"))
        );
    }

    #[test]
    fn listed_business_codes_are_retried_not_rejected() {
        let overrides = Overrides::default()
            .with_retry_business_codes(vec!["B01*".into(), "SYSTEM_BUSY".into()]);
        let body = |code: &str| {
            format!(
                r#"{{"wt_trade_opentrade_resultcallback_response":{{"result":{{"success":false,"req_id":"r","error_code":"{code}","error_msg":"x"}},"request_id":"q"}}}}"#
            )
        };
        for (code, verdict) in [
            ("B0107", Verdict::Transient),
            ("SYSTEM_BUSY", Verdict::Transient),
            ("B0207", Verdict::Rejected),
            ("SYSTEM_BUSY_2", Verdict::Rejected),
        ] {
            assert_eq!(
                classify_answer(200, body(code).as_bytes(), &overrides).verdict,
                verdict,
                "{code}"
            );
        }
    }

    #[test]
    fn flow_control_without_a_length_is_still_rate_limited() {
        assert_eq!(verdict_of(7, ""), Verdict::RateLimited { ban: None });
    }

    #[test]
    fn a_result_about_another_req_id_is_not_a_delivery() {
        let body = br#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":true,"req_id":"OTHER","error_code":"0000","error_msg":"ok"},"request_id":"r"}}"#;
        let reply = classify_answer_to(200, body, &none(), expect("MINE"));
        assert_eq!(reply.verdict, Verdict::Transient);
        assert_eq!(reply.error_code, code::WRONG_REQ_ID);
        assert!(
            reply.error_msg.contains("'OTHER'") && reply.error_msg.contains("'MINE'"),
            "{}",
            reply.error_msg
        );
        assert_eq!(
            classify_answer_to(200, body, &none(), expect("OTHER")).verdict,
            Verdict::Delivered
        );
    }

    #[test]
    fn secrets_are_redacted_from_every_word_of_the_gateway() {
        let mut reply = Reply::own(Verdict::Rejected, "E sess-123", "echo: session=sess-123&x");
        reply.sub_msg = "sign with TOPSECRET".into();
        reply.redact(&Redactor::new(["sess-123", "TOPSECRET", ""]));
        assert_eq!(reply.error_code, "E ***");
        assert_eq!(reply.error_msg, "echo: session=***&x");
        assert_eq!(reply.sub_msg, "sign with ***");
    }

    #[test]
    fn ban_lengths_out_of_range_are_stated_not_guessed() {
        assert_eq!(
            parse_ban("This ban will last for 0 more seconds"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_ban("This ban will last for 999999999999999999999999999999 more seconds"),
            Some(Duration::MAX)
        );
        assert_eq!(parse_ban("This ban will last for -5 more seconds"), None);
    }

    #[test]
    fn ban_parser_reads_only_the_gateway_wording() {
        assert_eq!(
            parse_ban("This ban will last for 71804 more seconds"),
            Some(Duration::from_secs(71804))
        );
        assert_eq!(
            parse_ban("this ban will LAST FOR  5 more seconds"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_ban("banned"), None);
        assert_eq!(parse_ban("last for ever"), None);
    }

    #[test]
    fn sub_code_override_wins_over_prefix() {
        let overrides = Overrides::new(HashMap::from([
            ("isv.system-busy".to_string(), ErrorClass::Transient),
            ("isp.bad-data".to_string(), ErrorClass::Rejected),
            ("isv.app-frozen".to_string(), ErrorClass::Fatal),
        ]));
        let classify =
            |sub: &str| classify_answer(200, &error_body(15, sub, ""), &overrides).verdict;
        assert_eq!(classify("isv.system-busy"), Verdict::Transient);
        assert_eq!(classify("isp.bad-data"), Verdict::Rejected);
        assert_eq!(classify("isv.app-frozen"), Verdict::Fatal);
        assert_eq!(classify("isv.other"), Verdict::Rejected);
    }

    #[test]
    fn quoted_codes_are_read_like_numbers() {
        let body = br#"{"error_response":{"code":"27","msg":"Invalid session"}}"#;
        let reply = classify_answer(200, body, &none());
        assert_eq!(
            (reply.verdict, reply.error_code.as_str()),
            (Verdict::Fatal, "27")
        );
    }

    #[test]
    fn server_errors_throttling_and_timeouts_are_transient() {
        for status in [408, 429, 500, 502, 503, 504] {
            let reply = classify_answer(
                status,
                b"<html><title>502 Bad Gateway</title></html>",
                &none(),
            );
            assert_eq!(reply.verdict, Verdict::Transient, "HTTP {status}");
            assert_eq!(reply.error_code, format!("http.{status}"));
        }
    }

    #[test]
    fn other_http_statuses_are_fatal() {
        for status in [301, 400, 401, 403, 404, 405] {
            let reply = classify_answer(status, b"nope", &none());
            assert_eq!(reply.verdict, Verdict::Fatal, "HTTP {status}");
            assert_eq!(reply.error_code, format!("http.{status}"));
        }
    }

    #[test]
    fn html_or_garbage_with_200_is_transient() {
        for body in [&b"<html>maintenance</html>"[..], b"", b"{}", b"{\"wt_trade_opentrade_resultcallback_response\":{}}", b"{\"wt_trade_opentrade_resultcallback_response\":{\"result\":{\"success\":\"maybe\"}}}"] {
            let reply = classify_answer(200, body, &none());
            assert_eq!(reply.verdict, Verdict::Transient, "{}", String::from_utf8_lossy(body));
            assert_eq!(reply.error_code, "net.invalid_response");
        }
    }

    #[test]
    fn transport_failures_are_transient_with_net_codes() {
        for (failure, code) in [
            (TransportFailure::Timeout, "net.timeout"),
            (TransportFailure::Connect, "net.connect"),
            (TransportFailure::Reset, "net.reset"),
        ] {
            let reply = classify_transport(failure, "detail");
            assert_eq!(
                (reply.verdict, reply.error_code.as_str()),
                (Verdict::Transient, code)
            );
        }
        let tls = classify_transport(TransportFailure::Tls, "untrusted");
        assert_eq!(
            (tls.verdict, tls.error_code.as_str()),
            (Verdict::Fatal, "net.tls")
        );
    }
}
