//! A scenario's rules applied to one verified call: the first rule that matches the
//! call and still has budget for it decides (`Fired`); `slow_first` rules passed on
//! the way add their delay. Budgets count per rule and req_id (bans: per rule).

use std::collections::HashMap;
use std::time::Duration;

use super::scenario::{Fault, Rule};
use super::stats::Stats;

/// What the rules decided for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired<'r> {
    /// A platform-side error; the call is not processed.
    Transient { code: u32, sub_code: &'r str },
    /// A proxy's HTML 502 page.
    Html502,
    /// The connection is closed unanswered.
    Drop,
    /// A flow-control ban of the whole app starts now.
    Ban { length: Duration, sub_code: &'r str },
    /// Any TOP error.
    Error {
        code: u32,
        msg: &'r str,
        sub_code: &'r str,
        sub_msg: &'r str,
    },
    /// The call reaches the business layer, which decides as told.
    Business(Business<'r>),
    /// Hostile: a success about another req_id.
    WrongReqId,
    /// Hostile: the request echoed back in an error.
    EchoRequest,
    /// Hostile: an endless-looking answer.
    HugeAnswer { bytes: u64 },
}

/// What the business layer does with a call that reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Business<'r> {
    Normal,
    Reject {
        error_code: &'r str,
        error_msg: &'r str,
    },
    Invalid {
        sub_code: &'r str,
        sub_msg: &'r str,
    },
}

/// How much of each rule's budget is spent.
#[derive(Debug, Default)]
pub struct Budget {
    /// How often rule N fired for a req_id.
    hits: HashMap<(usize, String), u32>,
    /// How many bans each rule started.
    bans: HashMap<usize, u32>,
}

impl Budget {
    /// Applies `rules` to a call for `req_id` / `order_no`, adding `slow_first` delays
    /// to `delay`.
    pub fn fire<'r>(
        &mut self,
        rules: &'r [Rule],
        req_id: &str,
        order_no: u64,
        stats: &mut Stats,
        delay: &mut Duration,
    ) -> Fired<'r> {
        for (index, rule) in rules.iter().enumerate() {
            if !rule.matcher.matches(req_id, order_no) {
                continue;
            }
            let key = (index, req_id.to_owned());
            let fired = self.hits.get(&key).copied().unwrap_or(0);
            let mut spend = || *self.hits.entry(key.clone()).or_insert(0) += 1;
            match &rule.fault {
                Fault::Transient {
                    times,
                    code,
                    sub_code,
                } if fired < *times => {
                    spend();
                    return Fired::Transient {
                        code: *code,
                        sub_code,
                    };
                }
                Fault::Html502 { times } if fired < *times => {
                    spend();
                    return Fired::Html502;
                }
                Fault::Drop { times } if fired < *times => {
                    spend();
                    return Fired::Drop;
                }
                Fault::Ban {
                    seconds,
                    times,
                    sub_code,
                } if self.bans.get(&index).copied().unwrap_or(0) < *times => {
                    *self.bans.entry(index).or_insert(0) += 1;
                    return Fired::Ban {
                        length: Duration::from_secs(*seconds),
                        sub_code: sub_code.as_deref().unwrap_or(super::answer::BAN_SUB_CODE),
                    };
                }
                Fault::Error {
                    code,
                    msg,
                    sub_code,
                    sub_msg,
                    times,
                } if times.is_none_or(|t| fired < t) => {
                    spend();
                    return Fired::Error {
                        code: *code,
                        msg,
                        sub_code,
                        sub_msg,
                    };
                }
                Fault::SlowFirst { delay_ms } if fired < 1 => {
                    spend();
                    stats.count("slow");
                    *delay += Duration::from_millis(*delay_ms);
                }
                Fault::Reject {
                    error_code,
                    error_msg,
                } => {
                    return Fired::Business(Business::Reject {
                        error_code,
                        error_msg,
                    });
                }
                Fault::Invalid { sub_code, sub_msg } => {
                    return Fired::Business(Business::Invalid { sub_code, sub_msg });
                }
                Fault::WrongReqId => return Fired::WrongReqId,
                Fault::EchoRequest => return Fired::EchoRequest,
                Fault::DailyQuota => {
                    return Fired::Error {
                        code: 7,
                        msg: "App Call Limited",
                        sub_code: "accesscontrol.limited-by-app-access-count",
                        sub_msg: "This app has reached its call limit for today",
                    };
                }
                Fault::ApiNotOpen => {
                    return Fired::Error {
                        code: 7,
                        msg: "App Call Limited",
                        sub_code: "accesscontrol.limited-by-app-api-access-count",
                        sub_msg: "This API is not open to the app",
                    };
                }
                Fault::SessionExpired => {
                    return Fired::Error {
                        code: 27,
                        msg: "Invalid session",
                        sub_code: "invalid-sessionkey",
                        sub_msg: "The session has expired",
                    };
                }
                Fault::HugeAnswer { bytes } => return Fired::HugeAnswer { bytes: *bytes },
                _ => {}
            }
        }
        Fired::Business(Business::Normal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::Scenario;

    fn rules(json: &str) -> Vec<Rule> {
        serde_json::from_str::<Scenario>(json)
            .expect("scenario")
            .rules
    }

    fn fire<'r>(budget: &mut Budget, rules: &'r [Rule], req_id: &str) -> (Fired<'r>, Duration) {
        let mut delay = Duration::ZERO;
        let fired = budget.fire(rules, req_id, 1, &mut Stats::default(), &mut delay);
        (fired, delay)
    }

    #[test]
    fn a_budget_is_spent_per_req_id_then_service_is_normal() {
        let rules = rules(r#"{"rules":[{"req_id_prefix":"T","fault":"transient","times":2}]}"#);
        let mut budget = Budget::default();
        for _ in 0..2 {
            assert!(matches!(
                fire(&mut budget, &rules, "T1").0,
                Fired::Transient { .. }
            ));
        }
        assert_eq!(
            fire(&mut budget, &rules, "T1").0,
            Fired::Business(Business::Normal)
        );
        assert!(
            matches!(fire(&mut budget, &rules, "T2").0, Fired::Transient { .. }),
            "another req_id has its own budget"
        );
        assert_eq!(
            fire(&mut budget, &rules, "X").0,
            Fired::Business(Business::Normal)
        );
    }

    #[test]
    fn a_slow_first_rule_delays_and_lets_the_next_rule_decide() {
        let rules = rules(
            r#"{"rules":[{"req_id":"S","fault":"slow_first","delay_ms":300},{"req_id":"S","fault":"reject"}]}"#,
        );
        let mut budget = Budget::default();
        let (fired, delay) = fire(&mut budget, &rules, "S");
        assert!(matches!(fired, Fired::Business(Business::Reject { .. })));
        assert_eq!(delay, Duration::from_millis(300));
        assert_eq!(
            fire(&mut budget, &rules, "S").1,
            Duration::ZERO,
            "only the first"
        );
    }

    #[test]
    fn a_ban_rule_starts_at_most_times_bans_whoever_calls() {
        let rules = rules(r#"{"rules":[{"fault":"ban","seconds":2,"times":1}]}"#);
        let mut budget = Budget::default();
        assert_eq!(
            fire(&mut budget, &rules, "A").0,
            Fired::Ban {
                length: Duration::from_secs(2),
                sub_code: "accesscontrol.limited-by-api-access-count",
            }
        );
        assert_eq!(
            fire(&mut budget, &rules, "B").0,
            Fired::Business(Business::Normal)
        );
    }
}
