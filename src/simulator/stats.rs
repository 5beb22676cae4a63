//! What the simulated gateway saw, served at `GET /__stats`: calls by outcome, the
//! exactly-once counters tests prove delivery with, and the arrival pattern a
//! platform's flow control would see.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The counters.
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
    /// transient, banned, html_502, dropped, slow, error_<code>, and the hostile
    /// wrong_req_id, echo_request, huge_answer.
    pub by_outcome: BTreeMap<String, u64>,
    /// Requests to `/router/batch`, and the calls they carried (counted in `requests` too).
    #[serde(default)]
    pub batches: u64,
    #[serde(default)]
    pub batch_calls: u64,
    /// Bytes of `huge_answer` bodies actually produced: as much as clients read.
    #[serde(default)]
    pub huge_bytes_served: u64,
}

impl Stats {
    /// One more call that got `outcome`.
    pub fn count(&mut self, outcome: &str) {
        match self.by_outcome.get_mut(outcome) {
            Some(n) => *n += 1,
            None => {
                self.by_outcome.insert(outcome.to_owned(), 1);
            }
        }
    }
}

/// Arrivals of the last second, and the first one.
#[derive(Debug, Default)]
pub struct Arrivals {
    recent: VecDeque<Instant>,
    first: Option<Instant>,
}

impl Arrivals {
    /// Notes a call arriving `now`; updates the busiest window and the span.
    pub fn record(&mut self, now: Instant, stats: &mut Stats) {
        let first = *self.first.get_or_insert(now);
        stats.arrival_span_ms = now.saturating_duration_since(first).as_millis() as u64;
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        stats.max_calls_in_one_second = stats.max_calls_in_one_second.max(self.recent.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_second_and_the_span_are_tracked() {
        let (mut arrivals, mut stats) = (Arrivals::default(), Stats::default());
        let start = Instant::now();
        for ms in [0, 100, 200, 900, 1150, 1160, 2500] {
            arrivals.record(start + Duration::from_millis(ms), &mut stats);
        }
        // 200, 900, 1150, 1160 fall within one second of each other.
        assert_eq!(stats.max_calls_in_one_second, 4);
        assert_eq!(stats.arrival_span_ms, 2500);
    }

    #[test]
    fn outcomes_are_counted_by_name() {
        let mut stats = Stats::default();
        stats.count("banned");
        stats.count("banned");
        stats.count("delivered");
        assert_eq!(stats.by_outcome["banned"], 2);
        assert_eq!(stats.by_outcome["delivered"], 1);
    }
}
