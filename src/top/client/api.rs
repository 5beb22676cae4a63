//! Calls of the app's other APIs (the trades API `reconcile` reads), signed as the
//! callback is: the body of a successful answer, or a classified `Reply`.

use super::super::response::{Expected, Reply, answer_too_large, classify_answer_to};
use super::super::trades::{self, Page, PageQuery};
use super::{MAX_ANSWER_BYTES, TopClient, read_body};

impl TopClient {
    /// One call of `method` with its own `params`: the answer's body when it is not an
    /// error, else what went wrong, classified as a callback's answer would be.
    pub async fn call_api(
        &self,
        method: &str,
        params: &[(&str, &str)],
    ) -> Result<bytes::Bytes, Reply> {
        let settings = &*self.settings;
        let body = crate::top::request::encode_call(
            &settings.credentials,
            settings.sign_method,
            &self.timestamp(),
            method,
            params,
        );
        let expected = Expected {
            redactor: Some(&self.redactor),
            ..Expected::default()
        };
        let mut reply = match self.post_form(body).await {
            Ok(response) => {
                let status = response.status().as_u16();
                match read_body(response).await {
                    Ok(Some(body)) if (200..300).contains(&status) && !is_error(&body) => {
                        return Ok(body);
                    }
                    Ok(Some(body)) => {
                        classify_answer_to(status, &body, &settings.overrides, expected)
                    }
                    Ok(None) => answer_too_large(MAX_ANSWER_BYTES),
                    Err(err) => self.transport_reply(&err).await,
                }
            }
            Err(err) => self.transport_reply(&err).await,
        };
        reply.redact(&self.redactor);
        Err(reply)
    }

    /// One page of `taobao.trades.sold.increment.get`. An answer that is no page (a
    /// proxy's mangled body) is transient, as a callback's would be.
    pub async fn trades_page(&self, query: &PageQuery) -> Result<Page, Reply> {
        let params = query.params();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = self.call_api(trades::METHOD, &pairs).await?;
        trades::parse_page(&body).map_err(|error| self.unreadable(&error.to_string()))
    }

    /// The reply for an answer that could not be read, `why` (which may quote the
    /// answer) redacted of the secret and the session.
    pub fn unreadable(&self, why: &str) -> Reply {
        let mut reply = Reply::unreadable(why);
        reply.redact(&self.redactor);
        reply
    }
}

/// Whether a body is TOP's `error_response` (the first key of its object).
fn is_error(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(64)]);
    text.trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with("\"error_response\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_answer_is_told_by_its_first_key() {
        assert!(super::is_error(br#" { "error_response": {"code": 7}}"#));
        assert!(!super::is_error(
            br#"{"trades_sold_increment_get_response":{}}"#
        ));
    }
}
