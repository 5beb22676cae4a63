//! The simulated gateway's decision for one call, in the order the platform makes it:
//! verification, an app-wide flow-control ban, the `param0` schema, the scenario's
//! faults (`rules`), then the business layer — idempotent by req_id: the same req_id
//! and payload gets the same answer again, a different payload under an accepted
//! req_id is refused. No sockets here: `server` does the HTTP.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

use super::answer::{
    Answer, Reaction, Verdict, ascii_json, ban_error, echo, error_json, result_json, without_req_id,
};
use super::rules::{Budget, Business, Fired};
use super::scenario::{BatchAnswers, Scenario};
use super::stats::{Arrivals, Stats};
use super::verify::{
    Expected, Param0, Params, TopError, check_method, check_session, parse_param0, verify_batch,
    verify_request,
};

/// The state of one simulated gateway.
#[derive(Debug)]
pub struct Gateway {
    expected: Expected,
    scenario: Scenario,
    state: Mutex<State>,
    huge_served: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct State {
    /// What the business layer decided per req_id, with the payload's digest.
    records: HashMap<String, Record>,
    budget: Budget,
    ban_until: Option<Instant>,
    /// The sub_code the ban in force is answered with.
    ban_sub_code: String,
    arrivals: Arrivals,
    rng: StdRng,
    next_request: u64,
    stats: Stats,
    /// The shop's trades (`taobao.trades.sold.increment.get`).
    trades: super::trades::TradeBook,
}

#[derive(Debug)]
struct Record {
    digest: [u8; 16],
    verdict: Verdict,
}

impl Gateway {
    pub fn new(expected: Expected, scenario: Scenario) -> Self {
        let rng = StdRng::seed_from_u64(scenario.seed);
        // A scenario file's trades were checked when it was read.
        let trades = scenario.trade_book(Utc::now()).unwrap_or_default();
        Gateway {
            expected,
            scenario,
            state: Mutex::new(State {
                records: HashMap::new(),
                budget: Budget::default(),
                ban_until: None,
                ban_sub_code: String::new(),
                arrivals: Arrivals::default(),
                rng,
                next_request: 0,
                stats: Stats::default(),
                trades,
            }),
            huge_served: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> Stats {
        let mut stats = self.lock().stats.clone();
        stats.huge_bytes_served = self.huge_served.load(std::sync::atomic::Ordering::Relaxed);
        stats
    }

    /// `bytes` more of a huge answer were produced.
    pub fn note_served(&self, bytes: u64) {
        self.huge_served
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
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
        state.arrivals.record(now, &mut state.stats);
        let request_id = next_request_id(state);
        let mut delay = self.latency(state);
        let answer = self.answer(state, params, wall, now, &request_id, &mut delay);
        Reaction { delay, answer }
    }

    fn answer(
        &self,
        state: &mut State,
        params: &Params<'_>,
        wall: DateTime<Utc>,
        now: Instant,
        request_id: &str,
        delay: &mut Duration,
    ) -> Answer {
        if let Err(error) = verify_request(params, &self.expected, wall) {
            return refuse(
                &mut state.stats,
                &format!("error_{}", error.code),
                &error,
                request_id,
            );
        }
        if params.get("method").map(|m| m.as_ref()) == Some(super::trades::METHOD) {
            if let Some(remaining) = banned_for(state, now) {
                state.stats.calls_during_ban += 1;
                let error = ban_error(remaining, &state.ban_sub_code);
                return refuse(&mut state.stats, "banned", &error, request_id);
            }
            if self.scenario.deny_trades {
                let error = TopError::new(11, "Insufficient isv permissions").with_sub(
                    "isv.permission-api-package-limit",
                    "scope ipackage permission denied: taobao.trades.sold.increment.get",
                );
                return refuse(&mut state.stats, "trades_refused", &error, request_id);
            }
            return match state.trades.page(params, wall, request_id) {
                Ok(body) => {
                    state.stats.count("trades_page");
                    Answer::Json(body)
                }
                Err(error) => refuse(&mut state.stats, "trades_refused", &error, request_id),
            };
        }
        self.call(state, params, now, request_id, delay)
    }

    /// Decides a batch request made at `now`: checked as a whole (signature with the
    /// body, a ban in force, the number of calls), then call by call as `handle` would,
    /// the answers joined by `separator`. A fault that can only be the whole HTTP
    /// answer (a 502 page, a dropped connection, a huge body) is the whole answer.
    pub fn handle_batch(
        &self,
        query: &Params<'_>,
        body: &[u8],
        separator: &str,
        wall: DateTime<Utc>,
        now: Instant,
    ) -> Reaction {
        let mut state = self.lock();
        let state = &mut *state;
        state.stats.batches += 1;
        let mut delay = self.latency(state);
        let request_id = next_request_id(state);
        let whole = |state: &mut State, outcome: &str, error: &TopError| {
            refuse(&mut state.stats, outcome, error, &request_id)
        };
        if let Err(error) = verify_batch(query, body, &self.expected, wall) {
            let answer = whole(state, &format!("error_{}", error.code), &error);
            return Reaction { delay, answer };
        }
        if let Some(remaining) = banned_for(state, now) {
            state.stats.calls_during_ban += 1;
            let error = ban_error(remaining, &state.ban_sub_code);
            let answer = whole(state, "banned", &error);
            return Reaction { delay, answer };
        }
        let (public, calls) = split_batch(body, separator);
        if calls.is_empty() || calls.len() > self.scenario.max_batch {
            let error = TopError::invalid_argument("batch").with_sub(
                "isv.invalid-parameter",
                format!(
                    "a batch carries 1 to {} calls, not {}",
                    self.scenario.max_batch,
                    calls.len()
                ),
            );
            let answer = whole(state, "error_41", &error);
            return Reaction { delay, answer };
        }
        let mut answers = Vec::with_capacity(calls.len());
        for part in calls {
            state.stats.requests += 1;
            state.stats.batch_calls += 1;
            state.arrivals.record(now, &mut state.stats);
            let request_id = next_request_id(state);
            let mut params = public.clone();
            params.extend(form_urlencoded::parse(part.as_bytes()));
            let checked = check_method(params.get("method").map(|v| v.as_ref())).and_then(|()| {
                check_session(params.get("session").map(|v| v.as_ref()), &self.expected)
            });
            let answer = match checked {
                Err(error) => refuse(
                    &mut state.stats,
                    &format!("error_{}", error.code),
                    &error,
                    &request_id,
                ),
                Ok(()) => self.call(state, &params, now, &request_id, &mut delay),
            };
            match answer {
                Answer::Json(json) => answers.push(json),
                whole => {
                    return Reaction {
                        delay,
                        answer: whole,
                    };
                }
            }
        }
        if self.scenario.batch_answers == BatchAnswers::ReversedUnnamed {
            answers.reverse();
            for answer in &mut answers {
                *answer = without_req_id(answer);
            }
        }
        Reaction {
            delay,
            answer: Answer::Json(answers.join(separator)),
        }
    }

    /// The scenario's latency with its jitter.
    fn latency(&self, state: &mut State) -> Duration {
        let mut delay = self.scenario.latency();
        if self.scenario.jitter_ms > 0 {
            delay += Duration::from_millis(state.rng.random_range(0..=self.scenario.jitter_ms));
        }
        delay
    }

    /// One verified call: a ban in force, the `param0` schema, the scenario's faults,
    /// the business layer.
    fn call(
        &self,
        state: &mut State,
        params: &Params<'_>,
        now: Instant,
        request_id: &str,
        delay: &mut Duration,
    ) -> Answer {
        if let Some(remaining) = banned_for(state, now) {
            state.stats.calls_during_ban += 1;
            let error = ban_error(remaining, &state.ban_sub_code);
            return refuse(&mut state.stats, "banned", &error, request_id);
        }
        let refuse = |stats: &mut Stats, outcome: &str, error: &TopError| {
            refuse(stats, outcome, error, request_id)
        };
        let param0 = match parse_param0(params.get("param0").map(|v| v.as_ref())) {
            Ok(param0) => param0,
            Err(error) => return refuse(&mut state.stats, "invalid", &error),
        };
        let fired = state.budget.fire(
            &self.scenario.rules,
            &param0.req_id,
            param0.order_no,
            &mut state.stats,
            delay,
        );
        match fired {
            Fired::Transient { code, sub_code } => {
                let error = TopError {
                    code,
                    msg: "Remote service error".into(),
                    sub_code: sub_code.to_owned(),
                    sub_msg: "服务暂时不可用,请稍后重试".into(),
                };
                refuse(&mut state.stats, "transient", &error)
            }
            Fired::Html502 => {
                state.stats.count("html_502");
                Answer::BadGatewayHtml
            }
            Fired::Drop => {
                state.stats.count("dropped");
                Answer::Drop
            }
            Fired::Ban { length, sub_code } => {
                state.ban_until = Some(now + length);
                state.ban_sub_code = sub_code.to_owned();
                state.stats.bans_started += 1;
                refuse(&mut state.stats, "banned", &ban_error(length, sub_code))
            }
            Fired::Error {
                code,
                msg,
                sub_code,
                sub_msg,
            } => {
                state.stats.count(&format!("error_{code}"));
                let body = serde_json::json!({"error_response": {
                    "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg,
                    "request_id": request_id}});
                Answer::Json(body.to_string())
            }
            Fired::Business(business) => Answer::Json(settle(state, &param0, business, request_id)),
            Fired::WrongReqId => {
                state.stats.count("wrong_req_id");
                let other = format!("{}-other", param0.req_id);
                Answer::Json(result_json(&other, &Verdict::Accepted, request_id))
            }
            Fired::EchoRequest => {
                let error = TopError::invalid_parameter(echo(params));
                state.stats.count("echo_request");
                // As Python's json.dumps writes it: every non-ASCII character escaped.
                Answer::Json(ascii_json(&error_json(&error, request_id)))
            }
            Fired::HugeAnswer { bytes } => {
                state.stats.count("huge_answer");
                Answer::Huge(bytes)
            }
        }
    }
}

/// A TOP error answer, counted under `outcome`.
fn refuse(stats: &mut Stats, outcome: &str, error: &TopError, request_id: &str) -> Answer {
    stats.count(outcome);
    Answer::Json(error_json(error, request_id))
}

fn next_request_id(state: &mut State) -> String {
    state.next_request += 1;
    format!("sim{:08x}", state.next_request)
}

/// How long the ban in force still lasts, if one is.
fn banned_for(state: &State, now: Instant) -> Option<Duration> {
    state
        .ban_until
        .and_then(|until| until.checked_duration_since(now))
        .filter(|d| !d.is_zero())
}

/// A batch body's `#PUBLIC#` parameters and its call parts.
fn split_batch<'b>(body: &'b [u8], separator: &str) -> (Params<'b>, Vec<&'b str>) {
    let text = std::str::from_utf8(body).unwrap_or("");
    let mut parts: Vec<&str> = text.split(separator).collect();
    let mut public = Params::new();
    if let Some(first) = parts.first()
        && let Some(shared) = first.strip_prefix("#PUBLIC#")
    {
        public.extend(form_urlencoded::parse(shared.as_bytes()));
        parts.remove(0);
    }
    parts.retain(|p| !p.is_empty());
    (public, parts)
}

/// The business layer: idempotent by req_id.
fn settle(state: &mut State, param0: &Param0, business: Business<'_>, request_id: &str) -> String {
    if let Some(record) = state.records.get(&param0.req_id) {
        if record.digest == param0.digest {
            let verdict = record.verdict.clone();
            state.stats.duplicates += 1;
            state.stats.count("duplicate");
            return result_json(&param0.req_id, &verdict, request_id);
        }
        if matches!(record.verdict, Verdict::Accepted) {
            state.stats.conflicts += 1;
            state.stats.count("conflict");
            let mut error = TopError::invalid_parameter("req_id 已处理,且本次内容不同");
            error.sub_code = "isv.req-id-conflict".to_owned();
            return error_json(&error, request_id);
        }
    }
    let verdict = match business {
        Business::Invalid { sub_code, sub_msg } => {
            state.stats.count("invalid");
            let error = TopError {
                code: 15,
                msg: "Remote service error".into(),
                sub_code: sub_code.to_owned(),
                sub_msg: sub_msg.to_owned(),
            };
            return error_json(&error, request_id);
        }
        Business::Reject {
            error_code,
            error_msg,
        } => {
            state.stats.rejected += 1;
            state.stats.count("rejected");
            Verdict::Rejected {
                error_code: error_code.to_owned(),
                error_msg: error_msg.to_owned(),
            }
        }
        Business::Normal => {
            state.stats.accepted += 1;
            state.stats.count("delivered");
            Verdict::Accepted
        }
    };
    let body = result_json(&param0.req_id, &verdict, request_id);
    state.records.insert(
        param0.req_id.clone(),
        Record {
            digest: param0.digest,
            verdict,
        },
    );
    body
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::simulator::SimulatorConfig;
    use crate::top::request::{encode_form, format_timestamp};
    use crate::top::{Credentials, Secret, SignMethod};

    fn gateway(scenario: &str) -> Gateway {
        let config = SimulatorConfig::demo()
            .with_scenario(serde_json::from_str(scenario).expect("scenario"));
        Gateway::new(config.expected(), config.scenario)
    }

    /// A signed call with the demo credentials, as the client encodes it.
    fn call(req_id: &str, success: bool) -> String {
        let credentials = Credentials {
            app_key: crate::simulator::DEMO_APP_KEY.into(),
            secret: Secret::new(crate::simulator::DEMO_SECRET),
            session: Secret::new(crate::simulator::DEMO_SESSION),
        };
        let param0 = format!(r#"{{"order_no":1,"success":{success},"req_id":"{req_id}"}}"#);
        encode_form(
            &credentials,
            SignMethod::Hmac,
            &format_timestamp(Utc::now()),
            &param0,
        )
    }

    fn answer(gateway: &Gateway, body: &str) -> Answer {
        let params: Params<'_> = form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
            .collect();
        gateway.handle(&params, Utc::now(), Instant::now()).answer
    }

    fn json(answer: Answer) -> serde_json::Value {
        match answer {
            Answer::Json(text) => serde_json::from_str(&text).expect("JSON"),
            other => panic!("expected JSON, got {other:?}"),
        }
    }

    #[test]
    fn a_call_is_accepted_once_and_answered_again_as_a_duplicate() {
        let gateway = gateway("{}");
        for _ in 0..2 {
            let body = json(answer(&gateway, &call("R1", true)));
            let result = &body["wt_trade_opentrade_resultcallback_response"]["result"];
            assert_eq!(result["success"], true);
            assert_eq!(result["req_id"], "R1");
        }
        let stats = gateway.stats();
        assert_eq!(
            (stats.requests, stats.accepted, stats.duplicates),
            (2, 1, 1)
        );
    }

    #[test]
    fn another_payload_under_an_accepted_req_id_is_a_conflict() {
        let gateway = gateway("{}");
        json(answer(&gateway, &call("R1", true)));
        let body = json(answer(&gateway, &call("R1", false)));
        assert_eq!(body["error_response"]["sub_code"], "isv.req-id-conflict");
        assert_eq!(gateway.stats().conflicts, 1);
    }

    #[test]
    fn a_tampered_call_is_refused_before_anything_else() {
        let gateway = gateway(r#"{"rules":[{"req_id":"R1","fault":"drop"}]}"#);
        let body = call("R1", true).replace("success%22%3Atrue", "success%22%3Afalse");
        assert_eq!(json(answer(&gateway, &body))["error_response"]["code"], 25);
        assert_eq!(gateway.stats().by_outcome["error_25"], 1);
    }

    #[test]
    fn a_ban_refuses_every_call_until_it_passes() {
        let gateway = gateway(r#"{"rules":[{"req_id":"B","fault":"ban","seconds":60}]}"#);
        let first = json(answer(&gateway, &call("B", true)));
        assert_eq!(first["error_response"]["code"], 7);
        let other = json(answer(&gateway, &call("X", true)));
        assert_eq!(other["error_response"]["code"], 7);
        let stats = gateway.stats();
        assert_eq!(
            (stats.bans_started, stats.calls_during_ban, stats.accepted),
            (1, 1, 0)
        );
    }

    #[test]
    fn faults_answer_as_a_proxy_or_not_at_all() {
        let gateway = gateway(
            r#"{"rules":[{"req_id":"H","fault":"html_502"},{"req_id":"D","fault":"drop"}]}"#,
        );
        assert_eq!(answer(&gateway, &call("H", true)), Answer::BadGatewayHtml);
        assert_eq!(answer(&gateway, &call("D", true)), Answer::Drop);
        assert!(matches!(
            answer(&gateway, &call("D", true)),
            Answer::Json(_)
        ));
    }

    #[test]
    fn a_rejection_is_recorded_like_an_acceptance() {
        let gateway = gateway(r#"{"rules":[{"req_id":"R","fault":"reject","error_code":"B1"}]}"#);
        for _ in 0..2 {
            let body = json(answer(&gateway, &call("R", true)));
            let result = &body["wt_trade_opentrade_resultcallback_response"]["result"];
            assert_eq!(
                (result["success"].as_bool(), result["error_code"].as_str()),
                (Some(false), Some("B1"))
            );
        }
        assert_eq!(gateway.stats().rejected, 1);
    }
}
