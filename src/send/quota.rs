//! The day's call budget (`daily_quota` in the config): the calls the ledger counts
//! for today (every run, the desk and `reconcile` alike) plus this run's may not pass
//! it. Each call takes one before it goes out; none left halts the run before the call.
//! Also what the night's summary says of the ledger's orders falling due.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{SendConfig, SendError};
use crate::ledger::{self, Access, Ledger};

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

/// Today's calls against `daily_quota`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUse {
    pub quota: u64,
    /// Made today before the run, by every command.
    pub used_before: u64,
    /// Made today, the run's included.
    pub used: u64,
}

/// The ledger's orders needing attention that fall due within a day (deadlines from
/// `reconcile`), read after the run; none for a dry run or a ledger that cannot be read.
pub fn due_soon(config: &SendConfig) -> (u64, Vec<crate::ledger::reconcile::DueOrder>) {
    if config.is_dry_run() || !config.ledger.exists() {
        return (0, Vec::new());
    }
    let until = crate::clock::stamp(chrono::Utc::now() + chrono::TimeDelta::days(1));
    Ledger::open(&config.ledger, Access::Read)
        .and_then(|ledger| ledger::reconcile::due_by(&ledger, config.is_simulated(), &until, 5))
        .unwrap_or_else(|error| {
            tracing::warn!("the orders falling due could not be read: {error}");
            (0, Vec::new())
        })
}

/// Today's call budget of a run that calls (`daily_quota`), from the calls the
/// ledger counts for today; logged before the first call.
pub fn budget(
    config: &SendConfig,
    ledger: Option<&Ledger>,
    needed: u64,
) -> Result<Option<Arc<Budget>>, SendError> {
    use crate::ledger::store::Store as _;
    let Some(quota) = config.daily_quota.filter(|_| !config.is_dry_run()) else {
        return Ok(None);
    };
    let today = crate::clock::beijing_day(chrono::Utc::now());
    let used = match ledger {
        Some(ledger) => ledger.calls_on(&today)?,
        None => 0,
    };
    let budget = Budget::new(quota, used);
    let left = quota.saturating_sub(used);
    tracing::info!(
        "daily_quota {quota}: {used} calls made today, {left} left; this run needs {needed} (retries besides)"
    );
    if budget.nearly_spent(needed) {
        tracing::warn!(
            "this run takes today's calls past 70% of daily_quota ({} of {quota}){}",
            used + needed,
            if needed > left {
                format!("; only {left} fit: it stops before the call that would pass it")
            } else {
                String::new()
            }
        );
    }
    Ok(Some(Arc::new(budget)))
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
