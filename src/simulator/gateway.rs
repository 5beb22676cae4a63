//! The simulated gateway's behaviour for one call: verification, flow-control bans,
//! scenario faults, and idempotency by req_id — the same req_id and payload gets the
//! same answer again; a different payload under an accepted req_id is refused. Owns
//! the counters served at `/__stats`. No sockets here: `server` does the HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::scenario::{Fault, Scenario};
use super::verify::{Expected, Param0, TopError, parse_param0, verify_request};

/// What the simulator saw, for tests to prove exactly-once acceptance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Calls to `/router/rest`.
    pub requests: u64,
    /// Distinct req_ids accepted (`result.success = true`) — each at most once.
    pub accepted: u64,
    /// Distinct req_ids rejected by the business (`result.success = false`).
    pub rejected: u64,
    /// Calls answered from the record of an earlier call with the same req_id and payload.
    pub duplicates: u64,
    /// Calls refused because an accepted req_id came with a different payload.
    pub conflicts: u64,
    /// Calls that arrived while a flow-control ban was in force.
    pub calls_during_ban: u64,
    pub bans_started: u64,
    /// Calls by what they got: delivered, duplicate, rejected, conflict, invalid,
    /// transient, banned, html_502, dropped, slow, error_<code>.
    pub by_outcome: BTreeMap<String, u64>,
}

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
}

/// The state of one simulated gateway.
#[derive(Debug)]
pub struct Gateway {
    expected: Expected,
    scenario: Scenario,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    records: HashMap<String, Record>,
    /// How often rule N fired for a req_id.
    hits: HashMap<(usize, String), u32>,
    /// How many bans each rule started.
    bans_fired: HashMap<usize, u32>,
    ban_until: Option<Instant>,
    rng: StdRng,
    next_request: u64,
    stats: Stats,
}

#[derive(Debug)]
struct Record {
    digest: [u8; 16],
    outcome: Settled,
}

#[derive(Debug, Clone)]
enum Settled {
    Accepted,
    Rejected {
        error_code: String,
        error_msg: String,
    },
}

/// What the scenario decided for a call that reached the business layer.
enum Business {
    Normal,
    Reject {
        error_code: String,
        error_msg: String,
    },
    Invalid {
        sub_code: String,
        sub_msg: String,
    },
}

impl Gateway {
    pub fn new(expected: Expected, scenario: Scenario) -> Self {
        let rng = StdRng::seed_from_u64(scenario.seed);
        Gateway {
            expected,
            scenario,
            state: Mutex::new(State {
                records: HashMap::new(),
                hits: HashMap::new(),
                bans_fired: HashMap::new(),
                ban_until: None,
                rng,
                next_request: 0,
                stats: Stats::default(),
            }),
        }
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters to a test double; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides the answer to one call made at `now` (`wall` for the timestamp check).
    pub fn handle(
        &self,
        params: &BTreeMap<String, String>,
        wall: DateTime<Utc>,
        now: Instant,
    ) -> Reaction {
        let mut state = self.lock();
        let state = &mut *state;
        state.stats.requests += 1;
        state.next_request += 1;
        let request_id = format!("sim{:08x}", state.next_request);
        let mut delay = self.scenario.latency();
        if self.scenario.jitter_ms > 0 {
            delay += Duration::from_millis(state.rng.random_range(0..=self.scenario.jitter_ms));
        }
        let banned_for = state
            .ban_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero());
        if banned_for.is_some() {
            state.stats.calls_during_ban += 1;
        }

        if let Err(error) = verify_request(params, &self.expected, wall) {
            count(&mut state.stats, &format!("error_{}", error.code));
            return Reaction {
                delay,
                answer: Answer::Json(error_json(&error, &request_id)),
            };
        }
        if let Some(remaining) = banned_for {
            count(&mut state.stats, "banned");
            return Reaction {
                delay,
                answer: Answer::Json(error_json(&ban_error(remaining), &request_id)),
            };
        }
        let param0 = match parse_param0(params.get("param0")) {
            Ok(param0) => param0,
            Err(error) => {
                count(&mut state.stats, "invalid");
                return Reaction {
                    delay,
                    answer: Answer::Json(error_json(&error, &request_id)),
                };
            }
        };

        let mut business = Business::Normal;
        for (index, rule) in self.scenario.rules.iter().enumerate() {
            if !rule.matcher.matches(&param0.req_id, param0.order_no) {
                continue;
            }
            let key = (index, param0.req_id.clone());
            let fired = state.hits.get(&key).copied().unwrap_or(0);
            let fire = |state: &mut State| *state.hits.entry(key.clone()).or_insert(0) += 1;
            match &rule.fault {
                Fault::Transient {
                    times,
                    code,
                    sub_code,
                } if fired < *times => {
                    fire(state);
                    count(&mut state.stats, "transient");
                    let error = TopError {
                        code: *code,
                        msg: "Remote service error",
                        sub_code: sub_code.clone(),
                        sub_msg: "服务暂时不可用,请稍后重试".into(),
                    };
                    return Reaction {
                        delay,
                        answer: Answer::Json(error_json(&error, &request_id)),
                    };
                }
                Fault::Html502 { times } if fired < *times => {
                    fire(state);
                    count(&mut state.stats, "html_502");
                    return Reaction {
                        delay,
                        answer: Answer::BadGatewayHtml,
                    };
                }
                Fault::Drop { times } if fired < *times => {
                    fire(state);
                    count(&mut state.stats, "dropped");
                    return Reaction {
                        delay,
                        answer: Answer::Drop,
                    };
                }
                Fault::Ban { seconds, times }
                    if state.bans_fired.get(&index).copied().unwrap_or(0) < *times =>
                {
                    *state.bans_fired.entry(index).or_insert(0) += 1;
                    let length = Duration::from_secs(*seconds);
                    state.ban_until = Some(now + length);
                    state.stats.bans_started += 1;
                    count(&mut state.stats, "banned");
                    return Reaction {
                        delay,
                        answer: Answer::Json(error_json(&ban_error(length), &request_id)),
                    };
                }
                Fault::Error {
                    code,
                    msg,
                    sub_code,
                    sub_msg,
                    times,
                } if times.is_none_or(|t| fired < t) => {
                    fire(state);
                    count(&mut state.stats, &format!("error_{code}"));
                    let body = json!({"error_response": {
                        "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg,
                        "request_id": request_id}});
                    return Reaction {
                        delay,
                        answer: Answer::Json(body.to_string()),
                    };
                }
                Fault::SlowFirst { delay_ms } if fired < 1 => {
                    fire(state);
                    count(&mut state.stats, "slow");
                    delay += Duration::from_millis(*delay_ms);
                }
                Fault::Reject {
                    error_code,
                    error_msg,
                } => {
                    business = Business::Reject {
                        error_code: error_code.clone(),
                        error_msg: error_msg.clone(),
                    };
                    break;
                }
                Fault::Invalid { sub_code, sub_msg } => {
                    business = Business::Invalid {
                        sub_code: sub_code.clone(),
                        sub_msg: sub_msg.clone(),
                    };
                    break;
                }
                _ => {}
            }
        }
        let body = settle(state, &param0, business, &request_id);
        Reaction {
            delay,
            answer: Answer::Json(body),
        }
    }
}

/// The business layer: idempotent by req_id.
fn settle(state: &mut State, param0: &Param0, business: Business, request_id: &str) -> String {
    if let Some(record) = state.records.get(&param0.req_id) {
        if record.digest == param0.digest {
            let outcome = record.outcome.clone();
            state.stats.duplicates += 1;
            count(&mut state.stats, "duplicate");
            return result_json(&param0.req_id, &outcome, request_id);
        }
        if matches!(record.outcome, Settled::Accepted) {
            state.stats.conflicts += 1;
            count(&mut state.stats, "conflict");
            let error = TopError::invalid_parameter("req_id 已处理,且本次内容不同")
                .with_sub_code("isv.req-id-conflict");
            return error_json(&error, request_id);
        }
    }
    let outcome = match business {
        Business::Invalid { sub_code, sub_msg } => {
            count(&mut state.stats, "invalid");
            let error = TopError {
                code: 50,
                msg: "Remote service error",
                sub_code,
                sub_msg,
            };
            return error_json(&error, request_id);
        }
        Business::Reject {
            error_code,
            error_msg,
        } => {
            state.stats.rejected += 1;
            count(&mut state.stats, "rejected");
            Settled::Rejected {
                error_code,
                error_msg,
            }
        }
        Business::Normal => {
            state.stats.accepted += 1;
            count(&mut state.stats, "delivered");
            Settled::Accepted
        }
    };
    let body = result_json(&param0.req_id, &outcome, request_id);
    state.records.insert(
        param0.req_id.clone(),
        Record {
            digest: param0.digest,
            outcome,
        },
    );
    body
}

impl TopError {
    fn with_sub_code(mut self, sub_code: &str) -> Self {
        self.sub_code = sub_code.to_owned();
        self
    }
}

fn count(stats: &mut Stats, outcome: &str) {
    *stats.by_outcome.entry(outcome.to_owned()).or_insert(0) += 1;
}

fn ban_error(remaining: Duration) -> TopError {
    // Whole seconds, rounded up: the client must not come back early.
    let seconds = remaining.as_millis().div_ceil(1000);
    TopError {
        code: 7,
        msg: "App Call Limited",
        sub_code: "accesscontrol.limited-by-app-access-count".into(),
        sub_msg: format!("This ban will last for {seconds} more seconds"),
    }
}

fn result_json(req_id: &str, outcome: &Settled, request_id: &str) -> String {
    let result = match outcome {
        Settled::Accepted => json!({
            "success": true, "req_id": req_id, "error_code": "0000", "error_msg": "消息处理成功"}),
        Settled::Rejected {
            error_code,
            error_msg,
        } => json!({
            "success": false, "req_id": req_id, "error_code": error_code, "error_msg": error_msg}),
    };
    json!({"wt_trade_opentrade_resultcallback_response": {"result": result, "request_id": request_id}})
        .to_string()
}

fn error_json(error: &TopError, request_id: &str) -> String {
    let mut body = serde_json::Map::new();
    body.insert("code".into(), json!(error.code));
    body.insert("msg".into(), json!(error.msg));
    if !error.sub_code.is_empty() {
        body.insert("sub_code".into(), json!(error.sub_code));
        body.insert("sub_msg".into(), json!(error.sub_msg));
    }
    body.insert("request_id".into(), json!(request_id));
    json!({ "error_response": body }).to_string()
}
