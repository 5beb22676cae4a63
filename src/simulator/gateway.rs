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
use super::verify::{Expected, Param0, Params, TopError, parse_param0, verify_request};

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
    /// The most calls that arrived within any one second (a sliding window): what a
    /// gateway's flow control sees.
    pub max_calls_in_one_second: u64,
    /// Milliseconds from the first call to the last.
    pub arrival_span_ms: u64,
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
    /// Arrivals of the last second, and the first arrival.
    recent: std::collections::VecDeque<Instant>,
    first_arrival: Option<Instant>,
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
                recent: std::collections::VecDeque::new(),
                first_arrival: None,
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
    pub fn handle(&self, params: &Params<'_>, wall: DateTime<Utc>, now: Instant) -> Reaction {
        let mut state = self.lock();
        let state = &mut *state;
        state.stats.requests += 1;
        state.next_request += 1;
        record_arrival(state, now);
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
        let param0 = match parse_param0(params.get("param0").map(|v| v.as_ref())) {
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

/// Tracks the busiest one-second window of arrivals and their span.
fn record_arrival(state: &mut State, now: Instant) {
    let first = *state.first_arrival.get_or_insert(now);
    state.stats.arrival_span_ms = now.saturating_duration_since(first).as_millis() as u64;
    state.recent.push_back(now);
    while state
        .recent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
    {
        state.recent.pop_front();
    }
    state.stats.max_calls_in_one_second = state
        .stats
        .max_calls_in_one_second
        .max(state.recent.len() as u64);
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
    match stats.by_outcome.get_mut(outcome) {
        Some(n) => *n += 1,
        None => {
            stats.by_outcome.insert(outcome.to_owned(), 1);
        }
    }
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

fn result_json(req_id: &str, outcome: &Settled, request_id: &str) -> String {
    let result = match outcome {
        Settled::Accepted => ResultBody {
            success: true,
            req_id,
            error_code: "0000",
            error_msg: "消息处理成功",
        },
        Settled::Rejected {
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

fn error_json(error: &TopError, request_id: &str) -> String {
    let sub = !error.sub_code.is_empty();
    let body = ErrorBody {
        code: error.code,
        msg: error.msg,
        sub_code: sub.then_some(error.sub_code.as_str()),
        sub_msg: sub.then_some(error.sub_msg.as_str()),
        request_id,
    };
    serde_json::to_string(&ErrorEnvelope {
        error_response: body,
    })
    .expect("answers serialize")
}
