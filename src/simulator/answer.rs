//! The simulated gateway's answers, in the platform's shapes: the result wrapper,
//! `error_response`, the flow-control ban, a proxy's 502 page, a dropped connection.

use std::time::Duration;

use serde::Serialize;

use super::verify::{Params, TopError};

/// How the server answers one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// How long to wait before answering (latency, jitter, slow faults).
    pub delay: Duration,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// HTTP 200 with a TOP JSON body.
    Json(String),
    /// HTTP 502 with an HTML page, as a proxy in front of the gateway sends.
    BadGatewayHtml,
    /// Close the connection without answering.
    Drop,
    /// HTTP 200 with `bytes` bytes of body, streamed (a hostile gateway).
    Huge(u64),
}

/// A business outcome the gateway records for a req_id.
#[derive(Debug, Clone)]
pub enum Verdict {
    Accepted,
    Rejected {
        error_code: String,
        error_msg: String,
    },
}

/// Code 7, "This ban will last for N more seconds", N rounded up: a client must not
/// come back early.
/// The sub_code of a flow-control ban, unless a scenario names another.
pub const BAN_SUB_CODE: &str = "accesscontrol.limited-by-api-access-count";

pub fn ban_error(remaining: Duration, sub_code: &str) -> TopError {
    let seconds = remaining.as_millis().div_ceil(1000);
    TopError {
        code: 7,
        msg: "App Call Limited".into(),
        sub_code: sub_code.into(),
        sub_msg: format!("This ban will last for {seconds} more seconds"),
    }
}

#[derive(Serialize)]
struct ResultEnvelope<'a> {
    wt_trade_opentrade_resultcallback_response: ResultWrapper<'a>,
}

#[derive(Serialize)]
struct ResultWrapper<'a> {
    result: ResultBody<'a>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct ResultBody<'a> {
    success: bool,
    req_id: &'a str,
    error_code: &'a str,
    error_msg: &'a str,
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error_response: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_msg: Option<&'a str>,
    request_id: &'a str,
}

/// `{"wt_trade_opentrade_resultcallback_response":{"result":{…},"request_id":…}}`.
pub fn result_json(req_id: &str, verdict: &Verdict, request_id: &str) -> String {
    let result = match verdict {
        Verdict::Accepted => ResultBody {
            success: true,
            req_id,
            error_code: "0000",
            error_msg: "消息处理成功",
        },
        Verdict::Rejected {
            error_code,
            error_msg,
        } => ResultBody {
            success: false,
            req_id,
            error_code,
            error_msg,
        },
    };
    let envelope = ResultEnvelope {
        wt_trade_opentrade_resultcallback_response: ResultWrapper { result, request_id },
    };
    serde_json::to_string(&envelope).expect("answers serialize")
}

/// `{"error_response":{"code":…,"msg":…,"sub_code":…,"sub_msg":…,"request_id":…}}`.
pub fn error_json(error: &TopError, request_id: &str) -> String {
    let sub = !error.sub_code.is_empty();
    let body = ErrorBody {
        code: error.code,
        msg: &error.msg,
        sub_code: sub.then_some(error.sub_code.as_str()),
        sub_msg: sub.then_some(error.sub_msg.as_str()),
        request_id,
    };
    serde_json::to_string(&ErrorEnvelope {
        error_response: body,
    })
    .expect("answers serialize")
}

/// The request echoed back in every way a careless gateway or proxy might: form-encoded
/// with `+` and with `%20`, decoded, as JSON text (escaped again, so `\u00e9` stays in
/// the words), each value once more percent-decoded, and each value form-encoded then
/// half-decoded (`%xx` decoded, `+` kept), named and bare.
pub fn echo(params: &Params<'_>) -> String {
    let form: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let raw: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let json: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_ref())))
        .collect();
    let decoded: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            let again: String = form_urlencoded::parse(format!("x={v}").as_bytes())
                .map(|(_, v)| v.into_owned())
                .collect();
            format!("{k}={again}")
        })
        .collect();
    let half: Vec<String> = params
        .values()
        .map(|v| {
            let encoded: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
            half_decode(&encoded)
        })
        .collect();
    let named: Vec<String> = params
        .iter()
        .zip(&half)
        .map(|((k, _), v)| format!("{k}={v}"))
        .collect();
    format!(
        "request: {form} | {} | {} | {} | {} | {} | values: {}",
        form.replace('+', "%20"),
        raw.join("&"),
        ascii_json(&serde_json::Value::Object(json).to_string()),
        decoded.join("&"),
        named.join("&"),
        half.join(" , "),
    )
}

/// `%xx` escapes decoded, `+` left as it is: what a gateway that decodes only half of
/// the form encoding echoes.
fn half_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// JSON text with every non-ASCII character as `\uXXXX`.
pub fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// An answer's JSON with every `req_id` member removed.
pub fn without_req_id(json: &str) -> String {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("req_id");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut value) => {
            strip(&mut value);
            value.to_string()
        }
        Err(_) => json.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_have_the_platform_shapes() {
        assert_eq!(
            result_json("R1", &Verdict::Accepted, "sim1"),
            r#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":true,"req_id":"R1","error_code":"0000","error_msg":"消息处理成功"},"request_id":"sim1"}}"#
        );
        let error = TopError::invalid_parameter("x");
        assert_eq!(
            error_json(&error, "sim2"),
            r#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isv.invalid-parameter","sub_msg":"非法参数: x","request_id":"sim2"}}"#
        );
    }

    #[test]
    fn a_ban_is_announced_in_whole_seconds_rounded_up() {
        assert_eq!(
            ban_error(Duration::from_millis(2001), BAN_SUB_CODE).sub_msg,
            "This ban will last for 3 more seconds"
        );
    }
}
