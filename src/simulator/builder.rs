//! Scenarios built in code, typed, for tests and tools: the same rules a scenario file
//! holds, with the same defaults, without a JSON string to get wrong.
//!
//! ```
//! use opentrade_callback::simulator::{Fault, Matcher, Scenario};
//! let scenario = Scenario::default()
//!     .latency_ms(20)
//!     .on(Matcher::req_id("B"), Fault::reject("B0107", "订单已退款"))
//!     .on(Matcher::prefix("T-"), Fault::transient(2));
//! assert_eq!(scenario.rules.len(), 2);
//! ```

use super::scenario::{BatchAnswers, Fault, Matcher, Rule, Scenario};
use super::trades::{GenerateTrades, ModifyDuringWalk, OrderSpec, TradeSpec};

impl Scenario {
    /// Adds a rule: calls `matcher` matches experience `fault` (rules apply in order).
    pub fn on(mut self, matcher: Matcher, fault: Fault) -> Self {
        self.rules.push(Rule { matcher, fault });
        self
    }

    /// Every answer this much later.
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }

    /// A random extra delay of up to `ms`, seeded.
    pub fn jitter_ms(mut self, ms: u64, seed: u64) -> Self {
        self.jitter_ms = ms;
        self.seed = seed;
        self
    }

    /// The most calls a batch request may carry.
    pub fn max_batch(mut self, calls: usize) -> Self {
        self.max_batch = calls;
        self
    }

    /// How batch answers come back.
    pub fn batch_answers(mut self, answers: BatchAnswers) -> Self {
        self.batch_answers = answers;
        self
    }

    /// A trade of the shop with one sub-order (`oid` = `tid`): its status, when it was
    /// modified and its deadline (`-2h`, `+30h` from the simulator's start, or Beijing
    /// time), and its refund status.
    pub fn trade(
        mut self,
        tid: u64,
        status: &str,
        modified: &str,
        due: Option<&str>,
        refund_status: Option<&str>,
    ) -> Self {
        self.trades.push(TradeSpec {
            tid,
            status: status.to_owned(),
            modified: modified.to_owned(),
            orders: vec![OrderSpec {
                oid: tid,
                num_iid: None,
                status: None,
                refund_status: refund_status.map(str::to_owned),
                timeout_action_time: due.map(str::to_owned),
            }],
        });
        self
    }

    /// `count` waiting trades modified over the `days` before the start, from `first_tid` up.
    pub fn generate_trades(mut self, count: u64, days: u32, first_tid: u64) -> Self {
        self.generate_trades = Some(GenerateTrades {
            count,
            days,
            first_tid,
            num_iid: None,
            statuses: vec!["WAIT_SELLER_SEND_GOODS".into()],
            due_hours: 72,
        });
        self
    }

    /// After `after_calls` trades pages, trade `tid` is modified (now) to `status`.
    pub fn modify_during_walk(mut self, tid: u64, after_calls: u64, status: &str) -> Self {
        self.modify_during_walk = Some(ModifyDuringWalk {
            tid,
            after_calls,
            status: status.to_owned(),
        });
        self
    }

    /// The app lacks the trade permission.
    pub fn deny_trades(mut self) -> Self {
        self.deny_trades = true;
        self
    }
}

impl Matcher {
    /// Calls about this req_id.
    pub fn req_id(req_id: &str) -> Self {
        Matcher {
            req_id: Some(req_id.to_owned()),
            ..Matcher::default()
        }
    }

    /// Calls whose req_id starts with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        Matcher {
            req_id_prefix: Some(prefix.to_owned()),
            ..Matcher::default()
        }
    }

    /// Calls about this order number.
    pub fn order_no(order_no: u64) -> Self {
        Matcher {
            order_no: Some(order_no),
            ..Matcher::default()
        }
    }
}

impl Fault {
    /// `result.success = false` with this code and message.
    pub fn reject(error_code: &str, error_msg: &str) -> Self {
        Fault::Reject {
            error_code: error_code.to_owned(),
            error_msg: error_msg.to_owned(),
        }
    }

    /// `times` platform-side errors (code 15, `isp.remote-service-error`) per req_id.
    pub fn transient(times: u32) -> Self {
        Fault::Transient {
            times,
            code: 15,
            sub_code: "isp.remote-service-error".to_owned(),
        }
    }

    /// A flow-control ban of the whole app, started by the first matching call.
    pub fn ban(seconds: u64) -> Self {
        Fault::Ban {
            seconds,
            times: 1,
            sub_code: None,
        }
    }

    /// `ban`, answered with another sub_code (the platform bans under
    /// `accesscontrol.limited-by-app-access-count` too).
    pub fn ban_as(seconds: u64, sub_code: &str) -> Self {
        Fault::Ban {
            seconds,
            times: 1,
            sub_code: Some(sub_code.to_owned()),
        }
    }

    /// `times` HTML 502 pages per req_id.
    pub fn html_502(times: u32) -> Self {
        Fault::Html502 { times }
    }

    /// `times` connections closed unanswered per req_id.
    pub fn drop(times: u32) -> Self {
        Fault::Drop { times }
    }

    /// A permanent `isv.*` error.
    pub fn invalid(sub_code: &str, sub_msg: &str) -> Self {
        Fault::Invalid {
            sub_code: sub_code.to_owned(),
            sub_msg: sub_msg.to_owned(),
        }
    }

    /// Any TOP error code, every time.
    pub fn error(code: u32, msg: &str) -> Self {
        Fault::Error {
            code,
            msg: msg.to_owned(),
            sub_code: String::new(),
            sub_msg: String::new(),
            times: None,
        }
    }

    /// The app's daily quota spent (code 7 `limited-by-app-access-count`).
    pub fn daily_quota() -> Self {
        Fault::DailyQuota
    }

    /// The API not open to the app (code 7 `limited-by-app-api-access-count`).
    pub fn api_not_open() -> Self {
        Fault::ApiNotOpen
    }

    /// An expired session (code 27).
    pub fn session_expired() -> Self {
        Fault::SessionExpired
    }

    /// The first call processed, then answered after `delay_ms`.
    pub fn slow_first(delay_ms: u64) -> Self {
        Fault::SlowFirst { delay_ms }
    }
}
