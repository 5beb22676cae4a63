//! The day's call budget (`daily_quota` in the config): the calls the ledger counts
//! for today (every run, the desk and `reconcile` alike) plus this run's may not pass
//! it. Each call takes one before it goes out; none left halts the run before the call.

use std::sync::atomic::{AtomicU64, Ordering};

/// What is left of today's calls.
#[derive(Debug)]
pub struct Budget {
    pub quota: u64,
    /// Calls made today before this run.
    pub used_before: u64,
    taken: AtomicU64,
}

impl Budget {
    pub fn new(quota: u64, used_before: u64) -> Self {
        Budget {
            quota,
            used_before,
            taken: AtomicU64::new(0),
        }
    }

    /// Takes one call; false when it would pass the quota (nothing taken).
    pub fn take(&self) -> bool {
        let left = self.quota.saturating_sub(self.used_before);
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < left).then_some(taken + 1)
            })
            .is_ok()
    }

    /// Calls made today, this run's included.
    pub fn used(&self) -> u64 {
        self.used_before + self.taken.load(Ordering::Acquire)
    }

    /// Whether `needed` more calls reach 70 % of the quota: worth a warning.
    pub fn nearly_spent(&self, needed: u64) -> bool {
        (self.used_before + needed).saturating_mul(10) >= self.quota.saturating_mul(7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_stop_at_the_quota_whoever_made_the_earlier_ones() {
        let budget = Budget::new(10, 7);
        assert!(budget.take() && budget.take() && budget.take());
        assert!(!budget.take());
        assert_eq!(budget.used(), 10);
        assert!(!Budget::new(5, 9).take());
        assert!(Budget::new(100, 60).nearly_spent(10));
        assert!(!Budget::new(100, 10).nearly_spent(10));
    }
}
