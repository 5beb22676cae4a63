//! Scenario files: the simulated gateway's latency and fault rules, in JSON or TOML.
//! Rules are tried in file order; the first that matches a call and still has budget
//! for it decides. Parsing and matching only; the effects live in `gateway`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Added to every answer.
    #[serde(default)]
    pub latency_ms: u64,
    /// A uniformly random extra delay of 0..=jitter_ms.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Seeds the jitter, so runs are repeatable.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The most calls a batch request may carry; more is refused with code 41.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How a batch answer's parts come back.
    #[serde(default)]
    pub batch_answers: BatchAnswers,
    /// The shop's trades, served by `taobao.trades.sold.increment.get`.
    #[serde(default)]
    pub trades: Vec<super::trades::TradeSpec>,
    /// Many generated trades besides, for scale.
    #[serde(default)]
    pub generate_trades: Option<super::trades::GenerateTrades>,
    /// A trade modified between two pages of a walk.
    #[serde(default)]
    pub modify_during_walk: Option<super::trades::ModifyDuringWalk>,
    /// The app lacks the trade permission: the trades API answers code 11.
    #[serde(default)]
    pub deny_trades: bool,
}

/// How the parts of a batch answer come back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchAnswers {
    /// In request order, each result naming its req_id, as the platform answers.
    #[default]
    InOrder,
    /// A hostile proxy: the parts in reverse order, the results' req_ids removed, so
    /// only their position (now wrong) ties them to a call.
    ReversedUnnamed,
}

fn default_max_batch() -> usize {
    crate::top::batch::MAX_CALLS
}

/// Which calls a rule applies to; every given condition must hold.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Matcher {
    pub req_id: Option<String>,
    pub req_id_prefix: Option<String>,
    pub order_no: Option<u64>,
}

impl Matcher {
    pub fn matches(&self, req_id: &str, order_no: u64) -> bool {
        self.req_id.as_deref().is_none_or(|id| id == req_id)
            && self
                .req_id_prefix
                .as_deref()
                .is_none_or(|p| req_id.starts_with(p))
            && self.order_no.is_none_or(|n| n == order_no)
    }

    fn is_empty(&self) -> bool {
        self.req_id.is_none() && self.req_id_prefix.is_none() && self.order_no.is_none()
    }
}

/// One rule: a matcher and what happens.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    #[serde(flatten)]
    pub matcher: Matcher,
    #[serde(flatten)]
    pub fault: Fault,
}

/// What a matching call experiences.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// The business says no: `result.success = false` (recorded, like an acceptance).
    Reject {
        #[serde(default = "default_reject_code")]
        error_code: String,
        #[serde(default = "default_reject_msg")]
        error_msg: String,
    },
    /// `times` platform-side `isp.*` errors for each matching req_id, then normal service.
    Transient {
        #[serde(default = "one")]
        times: u32,
        #[serde(default = "default_transient_code")]
        code: u32,
        #[serde(default = "default_transient_sub_code")]
        sub_code: String,
    },
    /// The first `times` matching calls start a flow-control ban of `seconds` for the
    /// whole app: every call is refused with code 7 until it passes.
    Ban {
        seconds: u64,
        #[serde(default = "one")]
        times: u32,
        /// The ban's sub_code (`accesscontrol.limited-by-api-access-count` unless said:
        /// the platform bans under `limited-by-app-access-count` too).
        #[serde(default)]
        sub_code: Option<String>,
    },
    /// `times` HTML 502 pages for each matching req_id (a proxy in front of the gateway).
    #[serde(rename = "html_502", alias = "html502")]
    Html502 {
        #[serde(default = "one")]
        times: u32,
    },
    /// The first call of each matching req_id is processed, then answered after
    /// `delay_ms` — longer than the client's timeout, so it retries into a duplicate.
    SlowFirst { delay_ms: u64 },
    /// `times` calls of each matching req_id have their connection closed unanswered.
    Drop {
        #[serde(default = "one")]
        times: u32,
    },
    /// A permanent `isv.*` error for the matching req_ids.
    Invalid {
        #[serde(default = "default_invalid_sub_code")]
        sub_code: String,
        #[serde(default = "default_invalid_sub_msg")]
        sub_msg: String,
    },
    /// The app's daily call quota is spent: code 7 `limited-by-app-access-count`, every
    /// time (it resets at 00:00 Beijing time).
    DailyQuota,
    /// The API is not open to the app: code 7 `limited-by-app-api-access-count`.
    ApiNotOpen,
    /// The seller's authorization has expired: code 27 `Invalid session`.
    SessionExpired,
    /// A hostile gateway: `result.success = true` about another req_id than the call's.
    WrongReqId,
    /// A hostile gateway: an `isv.*` error whose `sub_msg` echoes the request back,
    /// session key and all.
    EchoRequest,
    /// A hostile gateway: HTTP 200 with a body of `bytes` bytes, streamed.
    HugeAnswer { bytes: u64 },
    /// Any TOP error, e.g. code 27 to revoke the session mid-run; `times` per req_id,
    /// or every time when absent.
    Error {
        code: u32,
        #[serde(default)]
        msg: String,
        #[serde(default)]
        sub_code: String,
        #[serde(default)]
        sub_msg: String,
        times: Option<u32>,
    },
}

fn one() -> u32 {
    1
}
fn default_reject_code() -> String {
    "BIZ_REJECTED".into()
}
fn default_reject_msg() -> String {
    "订单状态不允许回调".into()
}
fn default_transient_code() -> u32 {
    15
}
fn default_transient_sub_code() -> String {
    "isp.remote-service-error".into()
}
fn default_invalid_sub_code() -> String {
    "isv.invalid-parameter".into()
}
fn default_invalid_sub_msg() -> String {
    "非法参数".into()
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("scenario file {path} is not valid {format}: {message}")]
    Parse {
        path: String,
        format: &'static str,
        message: String,
    },
    #[error("scenario file {path}: {message}")]
    Trades { path: String, message: String },
    #[error(
        "scenario file {path}: rule {index} matches every call; give req_id, req_id_prefix or order_no"
    )]
    MatchesEverything { path: String, index: usize },
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            latency_ms: 0,
            jitter_ms: 0,
            seed: 0,
            rules: Vec::new(),
            max_batch: default_max_batch(),
            batch_answers: BatchAnswers::default(),
            trades: Vec::new(),
            generate_trades: None,
            modify_during_walk: None,
            deny_trades: false,
        }
    }
}

impl Scenario {
    /// The trades this scenario serves, relative times counted from `start`.
    pub fn trade_book(
        &self,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Result<super::trades::TradeBook, super::trades::TradeError> {
        super::trades::TradeBook::new(
            &self.trades,
            self.generate_trades.as_ref(),
            self.modify_during_walk.clone(),
            start,
        )
    }

    /// Reads a `.toml` file as TOML and anything else as JSON.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let shown = path.display().to_string();
        let text = crate::textfile::read(path).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            error: source,
        })?;
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let scenario: Scenario = if is_toml {
            toml::from_str(&text).map_err(|e| ScenarioError::Parse {
                path: shown.clone(),
                format: "TOML",
                message: e.to_string(),
            })?
        } else {
            serde_json::from_str(&text).map_err(|e| ScenarioError::Parse {
                path: shown.clone(),
                format: "JSON",
                message: e.to_string(),
            })?
        };
        if let Err(error) = scenario.trade_book(chrono::Utc::now()) {
            return Err(ScenarioError::Trades {
                path: shown,
                message: error.to_string(),
            });
        }
        if let Some(index) = scenario.rules.iter().position(|r| r.matcher.is_empty()) {
            return Err(ScenarioError::MatchesEverything {
                path: shown,
                index: index + 1,
            });
        }
        Ok(scenario)
    }

    /// The fixed part of every answer's delay.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rules_parse_with_defaults() {
        let scenario: Scenario = serde_json::from_str(
            r#"{"latency_ms": 5, "rules": [
                {"req_id": "A", "fault": "reject"},
                {"req_id_prefix": "T-", "fault": "transient", "times": 2},
                {"order_no": 7, "fault": "ban", "seconds": 3},
                {"req_id": "H", "fault": "html_502"},
                {"req_id": "S", "fault": "slow_first", "delay_ms": 500},
                {"req_id": "D", "fault": "drop"},
                {"req_id": "I", "fault": "invalid"},
                {"req_id": "E", "fault": "error", "code": 27}
            ]}"#,
        )
        .expect("valid scenario");
        assert_eq!(scenario.rules.len(), 8);
        assert!(matches!(
            &scenario.rules[1].fault,
            Fault::Transient {
                times: 2,
                code: 15,
                ..
            }
        ));
        assert!(matches!(
            &scenario.rules[2].fault,
            Fault::Ban {
                seconds: 3,
                times: 1,
                sub_code: None,
            }
        ));
        assert!(matches!(
            &scenario.rules[7].fault,
            Fault::Error {
                code: 27,
                times: None,
                ..
            }
        ));
    }

    #[test]
    fn toml_rules_parse() {
        let scenario: Scenario = toml::from_str(
            "latency_ms = 1\n[[rules]]\nreq_id_prefix = \"X\"\nfault = \"drop\"\ntimes = 3\n",
        )
        .expect("valid scenario");
        assert!(matches!(scenario.rules[0].fault, Fault::Drop { times: 3 }));
    }

    #[test]
    fn matcher_needs_every_condition() {
        let m = Matcher {
            req_id: None,
            req_id_prefix: Some("T-".into()),
            order_no: Some(5),
        };
        assert!(m.matches("T-1", 5));
        assert!(!m.matches("T-1", 6));
        assert!(!m.matches("X-1", 5));
    }

    #[test]
    fn a_rule_without_matcher_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"rules":[{"fault":"drop"}]}"#).expect("write");
        assert!(matches!(
            Scenario::load(&path),
            Err(ScenarioError::MatchesEverything { index: 1, .. })
        ));
    }
}
