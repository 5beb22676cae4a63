//! A probe: a signed call without `param0`, which no gateway can act on — what `check`
//! proves the credentials, the session and the clock with.

use chrono::{DateTime, Utc};

use super::super::response::{Expected, Reply, answer_too_large, classify_answer_to};
use super::{MAX_ANSWER_BYTES, TopClient, read_body};

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
                let status = response.status().as_u16();
                let gateway_time = response
                    .headers()
                    .get(reqwest::header::DATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
                    .map(|t| t.with_timezone(&Utc));
                let reply = match read_body(response).await {
                    Ok(Some(body)) => classify_answer_to(
                        status,
                        &body,
                        &settings.overrides,
                        Expected {
                            redactor: Some(&self.redactor),
                            ..Expected::default()
                        },
                    ),
                    Ok(None) => answer_too_large(MAX_ANSWER_BYTES),
                    Err(err) => self.transport_reply(&err).await,
                };
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
