//! The retry, rate and halting policy of a run, and the pure parts of it: the
//! exponential backoff with full jitter and the failure-rate breaker.

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use super::halt::HaltReason;

/// Retry, rate and halting policy, from `config`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// HTTP requests in flight at once.
    pub concurrency: NonZeroUsize,
    /// Calls per HTTP request (`--batch`; 1 is one request per call).
    pub batch: NonZeroUsize,
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt as _, SeedableRng as _};

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
            assert!(breaker.record(true).is_none());
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
            assert!(
                breaker.record(failed).is_none(),
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
}
