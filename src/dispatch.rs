//! Delivering one order: waits out flow-control bans (one gate for all workers) and
//! the QPS cap, calls, retries transient failures with exponential backoff and full
//! jitter, feeds the failure-rate breaker, and halts the run on fatal answers. The
//! outcome is always data (`Delivery`), never an error. Concurrency itself is the
//! caller's `buffer_unordered`.

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;

use crate::halt::{Halt, HaltReason};
use crate::order::Payload;
use crate::pace::Pacer;
use crate::top::{Reply, TopClient, Verdict};

/// Retry, rate and halting policy, from `config`.
#[derive(Debug, Clone)]
pub struct Policy {
    pub concurrency: NonZeroUsize,
    /// Calls per second, evenly spaced (no bursts: the platform bans bursting apps).
    pub qps: Option<NonZeroU32>,
    /// Calls per order, not counting calls refused by flow control.
    pub max_attempts: NonZeroU32,
    pub backoff: Backoff,
    pub max_ban_wait: Duration,
    /// A ban whose length the gateway did not state.
    pub unknown_ban: Duration,
    pub breaker: BreakerPolicy,
    /// Seeds the backoff jitter; from entropy when `None`.
    pub seed: Option<u64>,
}

/// Exponential backoff with full jitter: a uniform delay in 0..=min(cap, base·2^(n-1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The delay after the `failure`-th failure (1-based), `unit` drawn from [0, 1).
    pub fn delay(self, failure: u32, unit: f64) -> Duration {
        let exponent = failure.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// `--max-failure-rate`: over the last `window` calls, armed once `window` calls ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    pub window: usize,
    /// Percent, 0–100; the breaker trips when failures exceed it.
    pub max_percent: f64,
}

/// The failure-rate window. Pure.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    recent: VecDeque<bool>,
    failures: usize,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            recent: VecDeque::with_capacity(policy.window + 1),
            failures: 0,
        }
    }

    /// Records one call; returns the trip reason when the window is full and too bad.
    pub fn record(&mut self, failed: bool) -> Option<HaltReason> {
        self.recent.push_back(failed);
        self.failures += usize::from(failed);
        if self.recent.len() > self.policy.window && self.recent.pop_front() == Some(true) {
            self.failures -= 1;
        }
        let full = self.recent.len() == self.policy.window && self.policy.window > 0;
        let rate = 100.0 * self.failures as f64 / self.policy.window.max(1) as f64;
        (full && rate > self.policy.max_percent).then_some(HaltReason::FailureRate {
            failed: self.failures,
            window: self.policy.window,
            max_percent: self.policy.max_percent,
        })
    }
}

/// How one order ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The platform answered; `reply.verdict` says how (delivered or rejected).
    Settled { reply: Reply, attempts: u32 },
    /// Attempts ran out, a fatal answer or a ban halted the run, or the run stopped
    /// while this order waited to retry.
    Failed {
        reply: Reply,
        attempts: u32,
        note: Option<&'static str>,
    },
    /// The run halted before the first call.
    NotAttempted,
}

/// One flow-control gate for every worker.
#[derive(Debug, Default)]
struct BanGate {
    until: Mutex<Option<Instant>>,
}

impl BanGate {
    /// Closes the gate until `now + length`; true when this starts or extends a ban.
    fn ban(&self, length: Duration) -> bool {
        let until = Instant::now() + length;
        let mut current = self.until.lock().unwrap_or_else(|p| p.into_inner());
        // Calls in flight when the ban began report the same ban: extend only by more
        // than a second's rounding.
        if current.is_none_or(|c| until > c + Duration::from_secs(1)) {
            *current = Some(until);
            return true;
        }
        false
    }

    async fn wait(&self) {
        loop {
            let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }
}

/// Sends orders through one client under one policy.
#[derive(Debug)]
pub struct Dispatcher {
    client: TopClient,
    policy: Policy,
    halt: std::sync::Arc<Halt>,
    gate: BanGate,
    pacer: Option<Pacer>,
    breaker: Mutex<Breaker>,
    rng: Mutex<StdRng>,
}

impl Dispatcher {
    pub fn new(client: TopClient, policy: Policy, halt: std::sync::Arc<Halt>) -> Self {
        let pacer = policy.qps.map(Pacer::new);
        let rng = match policy.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        Dispatcher {
            client,
            breaker: Mutex::new(Breaker::new(policy.breaker)),
            policy,
            halt,
            gate: BanGate::default(),
            pacer,
            rng: Mutex::new(rng),
        }
    }

    /// Delivers one order: same req_id and payload on every attempt.
    pub async fn deliver(&self, payload: &Payload) -> Delivery {
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut last: Option<Reply> = None;
        loop {
            tokio::select! {
                biased;
                _ = self.halt.halted() => return cut_short(attempts, last),
                _ = self.ready() => {}
            }
            if self.halt.is_halted() {
                return cut_short(attempts, last);
            }
            attempts += 1;
            let reply = self.client.call(payload).await;
            match reply.verdict {
                Verdict::Delivered | Verdict::Rejected => {
                    self.record(false);
                    return Delivery::Settled { reply, attempts };
                }
                Verdict::Fatal => {
                    self.halt.trigger(HaltReason::Fatal {
                        code: reply.error_code.clone(),
                        msg: reply.error_msg.clone(),
                        sub_code: reply.sub_code.clone(),
                        sub_msg: reply.sub_msg.clone(),
                    });
                    return Delivery::Failed {
                        reply,
                        attempts,
                        note: None,
                    };
                }
                Verdict::RateLimited { ban } => {
                    let ban = ban.unwrap_or(self.policy.unknown_ban);
                    if ban > self.policy.max_ban_wait {
                        self.halt.trigger(HaltReason::BanTooLong {
                            ban,
                            max: self.policy.max_ban_wait,
                        });
                        return Delivery::Failed {
                            reply,
                            attempts,
                            note: None,
                        };
                    }
                    if self.gate.ban(ban) {
                        tracing::warn!(
                            "flow control: the gateway banned the app for {}; every worker pauses",
                            humantime::format_duration(ban)
                        );
                    }
                    last = Some(reply);
                }
                Verdict::Transient => {
                    failures += 1;
                    self.record(true);
                    if failures >= self.policy.max_attempts.get() {
                        return Delivery::Failed {
                            reply,
                            attempts,
                            note: None,
                        };
                    }
                    let delay = self.policy.backoff.delay(failures, self.unit());
                    tracing::debug!(
                        "{}: {} — retry {} in {delay:?}",
                        reply.error_code,
                        reply.error_msg,
                        failures + 1
                    );
                    last = Some(reply);
                    tokio::select! {
                        biased;
                        _ = self.halt.halted() => return cut_short(attempts, last),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Waits until no ban is in force and the rate cap allows a call.
    async fn ready(&self) {
        self.gate.wait().await;
        if let Some(pacer) = &self.pacer {
            pacer.ready().await;
            // A ban that began while waiting for the slot still applies.
            self.gate.wait().await;
        }
    }

    fn record(&self, failed: bool) {
        let tripped = self
            .breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(failed);
        if let Some(reason) = tripped {
            self.halt.trigger(reason);
        }
    }

    fn unit(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random::<f64>()
    }
}

fn cut_short(attempts: u32, last: Option<Reply>) -> Delivery {
    match last {
        Some(reply) if attempts > 0 => Delivery::Failed {
            reply,
            attempts,
            note: Some("the run halted before the next attempt"),
        },
        _ => Delivery::NotAttempted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        let ceilings: Vec<u128> = (1..=6).map(|n| backoff.delay(n, 1.0).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn backoff_jitter_spans_zero_to_the_ceiling() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
        };
        assert_eq!(backoff.delay(3, 0.0), Duration::ZERO);
        assert_eq!(backoff.delay(3, 0.5), Duration::from_millis(200));
        assert_eq!(
            backoff.delay(u32::MAX, 1.0),
            Duration::from_secs(10),
            "no overflow"
        );
    }

    #[test]
    fn seeded_jitter_is_repeatable() {
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..5).map(|_| rng.random::<f64>()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
    }

    #[test]
    fn breaker_is_armed_only_after_a_full_window() {
        let mut breaker = Breaker::new(BreakerPolicy {
            window: 10,
            max_percent: 50.0,
        });
        for _ in 0..9 {
            assert_eq!(breaker.record(true), None);
        }
        assert!(breaker.record(true).is_some(), "ten failures of ten");
    }

    #[test]
    fn breaker_trips_only_above_the_rate_over_the_last_window() {
        let mut breaker = Breaker::new(BreakerPolicy {
            window: 4,
            max_percent: 50.0,
        });
        for failed in [true, true, false, false, true, false, true] {
            assert_eq!(
                breaker.record(failed),
                None,
                "at most 2 of the last 4 failed"
            );
        }
        assert!(matches!(
            breaker.record(true),
            Some(HaltReason::FailureRate {
                failed: 3,
                window: 4,
                ..
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn one_ban_pauses_every_waiter_once() {
        let gate = std::sync::Arc::new(BanGate::default());
        assert!(gate.ban(Duration::from_secs(3)));
        assert!(
            !gate.ban(Duration::from_secs(3)),
            "the same ban reported by another call"
        );
        let started = Instant::now();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let gate = std::sync::Arc::clone(&gate);
                tokio::spawn(async move { gate.wait().await })
            })
            .collect();
        for waiter in waiters {
            waiter.await.expect("joined");
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
    }
}
