//! What the gateway's answer — or the lack of one — means, as values: the `Verdict`,
//! the `Reply` with the platform's own words (redactable), the classes a config file
//! may force on a code, and the advice shown for a code. `response` decides them.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// What an answer means for the order and for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `result.success = true`: done for good.
    Delivered,
    /// The platform refused this order for good: only changed data can help.
    Rejected,
    /// Platform-side or network trouble: the same request may succeed later.
    Transient,
    /// Flow control (code 7): the whole app is banned for `ban`, if the gateway said.
    RateLimited { ban: Option<Duration> },
    /// Credentials, permissions or clock: nothing else in the batch can succeed.
    Fatal,
}

/// A class a config file may force onto a `sub_code` (or a `result.error_code`),
/// because real gateways misuse the `isv.`/`isp.` prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Rejected,
    Transient,
    Fatal,
}

impl FromStr for ErrorClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "rejected" => Ok(ErrorClass::Rejected),
            "transient" => Ok(ErrorClass::Transient),
            "fatal" => Ok(ErrorClass::Fatal),
            other => Err(format!(
                "unknown class '{other}': expected rejected, transient or fatal"
            )),
        }
    }
}

impl From<ErrorClass> for Verdict {
    fn from(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Rejected => Verdict::Rejected,
            ErrorClass::Transient => Verdict::Transient,
            ErrorClass::Fatal => Verdict::Fatal,
        }
    }
}

/// Per-code classes that win over the built-in rules.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    classes: HashMap<String, ErrorClass>,
    /// `retry_business_codes`: a `success:false` answer whose `error_code` matches one
    /// (`B01*`: a prefix; else the whole code) is transient, not a rejection.
    retry_business: Vec<String>,
}

impl Overrides {
    pub fn new(classes: HashMap<String, ErrorClass>) -> Self {
        Overrides {
            classes,
            retry_business: Vec::new(),
        }
    }

    /// Also retries the business codes matching `patterns`.
    pub fn with_retry_business_codes(mut self, patterns: Vec<String>) -> Self {
        self.retry_business = patterns;
        self
    }

    pub(super) fn get(&self, code: &str) -> Option<Verdict> {
        if code.is_empty() {
            return None;
        }
        self.classes.get(code).copied().map(Verdict::from)
    }

    /// Whether a business refusal with `error_code` is to be retried.
    pub(super) fn retries_business(&self, error_code: &str) -> bool {
        !error_code.is_empty()
            && crate::catalogue::known(error_code).is_none()
            && self
                .retry_business
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => error_code.starts_with(prefix),
                    None => pattern == error_code,
                })
    }
}

/// One answer, classified, with the platform's own words kept verbatim for the
/// result CSV (SPEC.md: platform codes are copied verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub verdict: Verdict,
    /// TOP `code` or `result.error_code`, or one of the tool's own (`net.*`, `http.NNN`).
    pub error_code: String,
    pub error_msg: String,
    pub sub_code: String,
    pub sub_msg: String,
    pub top_request_id: String,
}

impl Reply {
    pub(super) fn own(verdict: Verdict, code: impl Into<String>, msg: impl Into<String>) -> Self {
        Reply {
            verdict,
            error_code: code.into(),
            error_msg: msg.into(),
            sub_code: String::new(),
            sub_msg: String::new(),
            top_request_id: String::new(),
        }
    }

    /// An answer that is not what the API returns (a proxy's mangled body): transient,
    /// as a callback's would be.
    pub fn unreadable(why: &str) -> Self {
        Reply::own(
            Verdict::Transient,
            "answer.unreadable",
            crate::text::visible(why).into_owned(),
        )
    }

    /// Replaces every occurrence of each of `secrets` in the gateway's words with
    /// `***`: a gateway that echoes the request must not carry the session key into
    /// results, logs or the ledger.
    pub fn redact(&mut self, redactor: &super::redact::Redactor) {
        for text in [
            &mut self.error_code,
            &mut self.error_msg,
            &mut self.sub_code,
            &mut self.sub_msg,
            &mut self.top_request_id,
        ] {
            redactor.text(text);
        }
    }
}

/// Why no answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No complete answer within the request timeout.
    Timeout,
    /// The TCP or TLS connection could not be opened.
    Connect,
    /// The connection broke (reset, closed early, truncated answer).
    Reset,
    /// The TLS handshake failed: an untrusted or wrong certificate, no CA certificates,
    /// or no TLS at all. Nothing changes by trying again.
    Tls,
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportFailure::Timeout => "net.timeout",
            TransportFailure::Connect => "net.connect",
            TransportFailure::Reset => "net.reset",
            TransportFailure::Tls => "net.tls",
        })
    }
}

/// What to do about a fatal or recurring platform code, for the summary.
pub fn advice(error_code: &str, sub_code: &str) -> Option<&'static str> {
    Some(match error_code {
        "7" if sub_code.ends_with("limited-by-app-access-count") => {
            "the app's daily call quota is spent: it resets at 00:00 Beijing time; run again after that (or ask the open platform for a larger quota)"
        }
        "7" if sub_code.ends_with("limited-by-app-api-access-count") => {
            "this API is not open to the app yet: apply for it on the open platform console; no call can succeed until it is"
        }
        "7" => {
            "flow control: the app exceeded its call quota; lower --qps or --concurrency, or wait for the ban to end"
        }
        "11" | "12" | "13" => {
            "the app or the seller lacks permission for this API: apply for it on the open platform console"
        }
        "24" | "25" => {
            "signature refused: TOP_APP_SECRET does not belong to TOP_APP_KEY, or --sign-method differs from the app's setting"
        }
        "26" | "27" => {
            "session refused: TOP_SESSION is missing, wrong or expired; authorize the app again and set the new session key"
        }
        "28" | "29" => "app key refused: check TOP_APP_KEY",
        "31" => {
            "the gateway rejects this machine's clock (more than 10 minutes off): synchronize it (NTP)"
        }
        "22" | "32" | "33" | "34" => {
            "the gateway does not know this method or version: check --gateway points at a TOP gateway"
        }
        "net.timeout" => {
            "no answer in time: the gateway is slow or unreachable; raise --timeout or lower --concurrency"
        }
        "net.connect" => "cannot connect: check --gateway, DNS and the firewall",
        "net.tls" => {
            "the gateway's TLS certificate cannot be trusted: the message says why; --ca-cert FILE (or TOP_CA_CERT) adds a trusted root"
        }
        "net.reset" => {
            "connections are being cut: check proxies between this machine and the gateway"
        }
        "net.invalid_response" | "net.answer_too_large" => {
            "the gateway answered with something that is not TOP JSON: check --gateway and proxies"
        }
        "net.wrong_req_id" => {
            "answers name other req_ids than the calls: a proxy mixes up answers, or something answers in the gateway's place; check --gateway and proxies"
        }
        _ if sub_code.starts_with("isp.") => {
            "platform-side trouble: resubmit the failed rows later"
        }
        _ if sub_code.starts_with("isv.") => {
            "the platform refused the row's data: correct it, then resubmit with --retry-rejected"
        }
        _ if error_code.starts_with("http.5") => {
            "the gateway or a proxy in front of it is failing: resubmit the failed rows later"
        }
        _ if error_code.starts_with("http.") => {
            "the gateway URL answers with an HTTP error: check --gateway"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_business_code_is_never_retried_whatever_the_patterns_say() {
        let overrides = Overrides::default().with_retry_business_codes(vec!["2*".into()]);
        assert!(!overrides.retries_business("21011"), "too late: closed");
        assert!(overrides.retries_business("22000"));
    }
}
