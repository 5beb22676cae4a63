//! The TOP batch API (SPEC.md "The batch API"): many calls in one HTTP request to
//! `/router/batch`. System parameters go in the URL query; the body is the calls joined
//! by a separator, after a `#PUBLIC#` part with what they share (`method`); the
//! signature is the usual one over the query's parameters with the raw body appended.
//! The answer is the calls' answers joined the same way, in order — or one answer about
//! the whole request (a bad signature, a ban), which then applies to every call. Pure.

use super::credentials::Credentials;
use super::payload::Payload;
use super::reply::{Reply, Verdict};
use super::request::{METHOD, PARTNER_ID};
use super::sign::{PrefixSigner, SignMethod};

/// The separator between the parts of a batch body and of its answer.
pub const SEPARATOR: &str = "\r\n-S-\r\n";
/// The header in which a gateway may name another separator.
pub const SEPARATOR_HEADER: &str = "top-api-separator";
/// The most calls in one batch request.
pub const MAX_CALLS: usize = 50;

/// The `/router/batch` URL beside a `/router/rest` one: the last path segment replaced.
pub fn batch_url(rest: &reqwest::Url) -> reqwest::Url {
    let mut url = rest.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop().push("batch");
    }
    url
}

/// Encodes batches for one app: the constant query and the signature's constant
/// beginning are prepared once.
#[derive(Debug, Clone)]
pub struct BatchEncoder {
    signer: PrefixSigner,
    /// `app_key=…&format=json&partner_id=…&session=…&sign_method=…&v=2.0`.
    fixed_query: String,
    /// `#PUBLIC#method=…`.
    public: String,
}

impl BatchEncoder {
    pub fn new(credentials: &Credentials, sign_method: SignMethod) -> Self {
        // Sorted by name: app_key format partner_id session sign_method | timestamp | v.
        let prefix = format!(
            "app_key{}formatjsonpartner_id{PARTNER_ID}session{}sign_method{}",
            credentials.app_key,
            credentials.session.expose(),
            sign_method.as_str()
        );
        let fixed_query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("app_key", credentials.app_key.as_str()),
                ("format", "json"),
                ("partner_id", PARTNER_ID),
                ("session", credentials.session.expose()),
                ("sign_method", sign_method.as_str()),
                ("v", "2.0"),
            ])
            .finish();
        let public = format!(
            "#PUBLIC#{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("method", METHOD)
                .finish()
        );
        BatchEncoder {
            signer: PrefixSigner::new(sign_method, &credentials.secret, prefix.as_bytes()),
            fixed_query,
            public,
        }
    }

    /// The query string and the body of one batch of `calls`, stamped `timestamp`.
    pub fn encode(&self, timestamp: &str, calls: &[&Payload]) -> (String, String) {
        let mut body = String::with_capacity(
            self.public.len() + calls.iter().map(|c| c.form.len() + 16).sum::<usize>(),
        );
        body.push_str(&self.public);
        for call in calls {
            body.push_str(SEPARATOR);
            body.push_str("param0=");
            body.push_str(&call.form);
        }
        let sign =
            self.signer
                .sign(&[b"timestamp", timestamp.as_bytes(), b"v2.0", body.as_bytes()]);
        let mut query = String::with_capacity(self.fixed_query.len() + 80);
        query.push_str(&self.fixed_query);
        query.push_str("&timestamp=");
        query.extend(form_urlencoded::byte_serialize(timestamp.as_bytes()));
        query.push_str("&sign=");
        query.push_str(&sign);
        (query, body)
    }
}

/// The parts of a batch answer for `calls` calls: one per call, or `None` when the
/// answer is about the whole request (its parts do not match the calls).
pub fn split_answer<'a>(body: &'a [u8], separator: &str, calls: usize) -> Option<Vec<&'a [u8]>> {
    let separator = separator.as_bytes();
    if separator.is_empty() {
        return None;
    }
    let mut parts = Vec::with_capacity(calls);
    let mut rest = body;
    while let Some(at) = memchr::memmem::find(rest, separator) {
        parts.push(&rest[..at]);
        rest = &rest[at + separator.len()..];
    }
    parts.push(rest);
    (parts.len() == calls).then_some(parts)
}

/// An answer about a whole batch of `calls`, as each call's: a ban, a transient
/// failure or a fatal error stands for every call; a refusal of the request's
/// arguments (code 40/41, an `isv.*`) is no verdict on any order's data — the batch as
/// sent cannot succeed, so it is fatal; a lone result cannot answer several calls.
pub fn whole_request(mut reply: Reply, calls: usize) -> Reply {
    match reply.verdict {
        Verdict::Rejected => {
            reply.verdict = Verdict::Fatal;
            reply.error_msg = format!(
                "{} (the gateway refused the batch request as a whole: lower --batch, or run without it)",
                reply.error_msg
            );
            reply
        }
        Verdict::Delivered => Reply {
            verdict: Verdict::Transient,
            error_code: super::response::code::INVALID_RESPONSE.to_owned(),
            error_msg: format!(
                "a batch of {calls} calls got one result, which answers none of them"
            ),
            sub_code: String::new(),
            sub_msg: String::new(),
            top_request_id: reply.top_request_id,
        },
        _ => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::credentials::Secret;

    fn credentials() -> Credentials {
        Credentials {
            app_key: "12345678".into(),
            secret: Secret::new("helloworld"),
            session: Secret::new("sess"),
        }
    }

    #[test]
    fn the_batch_url_replaces_the_last_segment() {
        let rest = reqwest::Url::parse("https://eco.taobao.com/router/rest").expect("url");
        assert_eq!(
            batch_url(&rest).as_str(),
            "https://eco.taobao.com/router/batch"
        );
        let local = reqwest::Url::parse("http://127.0.0.1:9/router/rest?x=1").expect("url");
        assert_eq!(batch_url(&local).path(), "/router/batch");
    }

    #[test]
    fn the_body_is_a_public_part_and_one_part_per_call() {
        let calls = [
            Payload::new("a", r#"{"req_id":"a"}"#.into()),
            Payload::new("b", r#"{"req_id":"b"}"#.into()),
        ];
        let refs: Vec<&Payload> = calls.iter().collect();
        let (_, body) =
            BatchEncoder::new(&credentials(), SignMethod::Md5).encode("2026-11-26 12:00:00", &refs);
        let parts: Vec<&str> = body.split(SEPARATOR).collect();
        assert_eq!(
            parts[0],
            "#PUBLIC#method=taobao.wt.trade.opentrade.resultcallback"
        );
        assert_eq!(parts[1], "param0=%7B%22req_id%22%3A%22a%22%7D");
        assert_eq!(parts.len(), 3);
    }

    #[test]
    fn the_sign_covers_the_query_and_the_body_for_every_method() {
        use hmac::{Hmac, KeyInit, Mac as _};
        use md5::{Digest as _, Md5};
        let calls = [Payload::new("a", r#"{"req_id":"a","x":"订 &"}"#.into())];
        for method in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256] {
            let (query, body) = BatchEncoder::new(&credentials(), method)
                .encode("2026-11-26 12:00:00", &[&calls[0]]);
            let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let sign = pairs
                .iter()
                .find(|(k, _)| k == "sign")
                .map(|(_, v)| v.clone());
            pairs.retain(|(k, _)| k != "sign");
            pairs.sort();
            let text: String = pairs.iter().map(|(k, v)| format!("{k}{v}")).collect();
            let signed = format!("{text}{body}");
            let expected = match method {
                SignMethod::Md5 => faster_hex::hex_string_upper(&Md5::digest(format!(
                    "helloworld{signed}helloworld"
                ))),
                SignMethod::Hmac => {
                    let mut mac =
                        <Hmac<Md5> as KeyInit>::new_from_slice(b"helloworld").expect("key");
                    mac.update(signed.as_bytes());
                    faster_hex::hex_string_upper(&mac.finalize().into_bytes())
                }
                SignMethod::HmacSha256 => {
                    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"helloworld")
                        .expect("key");
                    mac.update(signed.as_bytes());
                    faster_hex::hex_string_upper(&mac.finalize().into_bytes())
                }
            };
            assert_eq!(sign, Some(expected), "{method}");
        }
    }

    #[test]
    fn an_answer_is_split_per_call_or_taken_whole() {
        let body = b"{\"a\":1}\r\n-S-\r\n{\"b\":2}";
        assert_eq!(
            split_answer(body, SEPARATOR, 2),
            Some(vec![&b"{\"a\":1}"[..], &b"{\"b\":2}"[..]])
        );
        assert_eq!(split_answer(b"{\"error_response\":{}}", SEPARATOR, 2), None);
        assert_eq!(
            split_answer(b"x|y", "|", 2),
            Some(vec![&b"x"[..], &b"y"[..]])
        );
    }
}
