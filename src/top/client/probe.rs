//! A probe: a signed call without `param0`, which no gateway can act on — what `check`
//! proves the credentials, the session and the clock with.

use chrono::{DateTime, Utc};

use super::super::response::{Expected, Reply};
use super::TopClient;

/// What a probe (a call without `param0`) found.
#[derive(Debug, Clone)]
pub struct Probe {
    pub reply: Reply,
    /// The gateway's clock, from its answer's `Date` header.
    pub gateway_time: Option<DateTime<Utc>>,
}

impl TopClient {
    /// Sends a signed call without `param0`, which no gateway can act on (`encode_probe`).
    pub async fn probe(&self) -> Probe {
        let settings = &*self.settings;
        let body = crate::top::request::encode_probe(
            &settings.credentials,
            settings.sign_method,
            &self.timestamp(),
        );
        let sent = self.post_form(body).await;
        let (mut reply, gateway_time) = match sent {
            Ok(response) => {
                let gateway_time = response
                    .headers()
                    .get(reqwest::header::DATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
                    .map(|t| t.with_timezone(&Utc));
                let expected = Expected {
                    redactor: Some(&self.redactor),
                    ..Expected::default()
                };
                let reply = self.answer_of(response, expected).await;
                (reply, gateway_time)
            }
            Err(err) => (self.transport_reply(&err).await, None),
        };
        reply.redact(&self.redactor);
        Probe {
            reply,
            gateway_time,
        }
    }
}
