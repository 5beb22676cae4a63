//! One call's `param0`, encoded once and reused by every attempt (retries resend the
//! same bytes), with the digest the ledger compares. Pure.

use md5::{Digest, Md5};

/// `param0` as JSON, as form-encoded, and its MD5.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The call's req_id: an answer must be about it.
    pub req_id: String,
    /// Compact `param0` JSON.
    pub json: String,
    /// `json` form-urlencoded, as it goes into the request body.
    pub form: String,
    /// MD5 of `json`, the ledger's `payload_md5`.
    pub md5: [u8; 16],
}

impl Payload {
    /// The payload of the call about `req_id` whose `param0` is `json`.
    pub fn new(req_id: &str, json: String) -> Self {
        let md5 = payload_md5(&json);
        let form = form_value(&json);
        Payload {
            req_id: req_id.to_owned(),
            json,
            form,
            md5,
        }
    }
}

/// MD5 of a canonical `param0` JSON text: the ledger's `payload_md5`.
pub fn payload_md5(param0_json: &str) -> [u8; 16] {
    Md5::digest(param0_json.as_bytes()).into()
}

/// `value` form-urlencoded (UTF-8).
pub fn form_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_carries_its_form_and_digest() {
        let payload = Payload::new("R", r#"{"a":"订 &"}"#.to_owned());
        assert_eq!(payload.form, "%7B%22a%22%3A%22%E8%AE%A2+%26%22%7D");
        assert_eq!(
            payload.md5,
            <[u8; 16]>::from(Md5::digest(payload.json.as_bytes()))
        );
    }
}
