//! `--qps`: calls spaced evenly on an absolute timeline. The gateway bans an app that
//! bursts, so no one-second window may hold more than the cap — and a nightly batch
//! wants the cap, not less.
//!
//! Why not a GCRA limiter (governor): it restarts its schedule from the moment a
//! waiter actually wakes, so every timer overshoot is added to every later interval —
//! measured at 189 calls/s for a cap of 200. Here slots follow `first + k·period`;
//! a slot missed by less than `JITTER` is kept, a longer gap (nothing to send, a ban)
//! restarts the timeline without a catch-up burst. A waiter that comes to its slot
//! more than `JITTER` late (its task was not polled in time) gives the slot up and
//! takes the next free one: calls held up together must not leave together. Pure
//! apart from the clock.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How late a call may reach the gateway after its slot (timer overshoot, the send
/// path, the gateway's own queue) while still counting as on time; also the margin the
/// period leaves for it. On a busy 2-core machine 2 ms and then 10 ms were each
/// measured too little (a window of 201 at a cap of 200, once in three runs); 15 ms
/// costs 1.5 % of the rate, inside the ±2 % asked of it.
const JITTER: Duration = Duration::from_millis(15);

/// Hands out evenly spaced slots.
#[derive(Debug)]
pub struct Pacer {
    period: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// At most `per_second` calls in any one-second window: with slots `period` apart
    /// and each call up to `JITTER` late, `n = cap + 1` calls span at least
    /// `cap·period − JITTER`, which this period makes a full second.
    pub fn new(per_second: NonZeroU32) -> Self {
        let nanos = (Duration::from_secs(1) + JITTER)
            .as_nanos()
            .div_ceil(u128::from(per_second.get()));
        let period = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        Pacer {
            period,
            next: Mutex::new(None),
        }
    }

    #[cfg(test)]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The slot for the next call, given the time now.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let slot = match *next {
            Some(slot) if slot + JITTER >= now => slot,
            _ => now,
        };
        *next = Some(slot + self.period);
        slot
    }

    /// Waits for the next slot; returns within `JITTER` of a slot of its own.
    pub async fn ready(&self) {
        let mut slot = self.reserve(Instant::now());
        loop {
            tokio::time::sleep_until(slot).await;
            let now = Instant::now();
            if !self.missed(slot, now) {
                return;
            }
            slot = self.reserve(now);
        }
    }

    /// Whether a call at `now` is too late for `slot`: sent now, it could share a
    /// second with the calls of the slots after it.
    fn missed(&self, slot: Instant, now: Instant) -> bool {
        now > slot + JITTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(qps: u32) -> Pacer {
        Pacer::new(NonZeroU32::new(qps).expect("positive"))
    }

    #[test]
    fn slots_follow_an_absolute_timeline_despite_late_wakeups() {
        let pacer = pacer(200);
        assert_eq!(pacer.period(), Duration::from_micros(5075));
        let start = Instant::now();
        let mut now = start;
        let mut slots = Vec::new();
        for _ in 0..1000 {
            let slot = pacer.reserve(now);
            slots.push(slot);
            // Every waiter wakes 1 ms after its slot.
            now = slot.max(now) + Duration::from_millis(1);
        }
        // 1,000 calls at 200/s take 5 s (and the 1.5 % margin), not 6 s.
        let span = slots[999] - slots[0];
        assert_eq!(span, pacer.period() * 999);
        assert!(span < Duration::from_millis(5075), "{span:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_held_up_past_its_slot_takes_a_new_one() {
        let pacer = pacer(200);
        let start = Instant::now();
        // 64 calls reserve their slots; all are held up 100 ms (a stalled task), then
        // each is polled: none may leave in the slot it missed.
        let slots: Vec<Instant> = (0..64).map(|_| pacer.reserve(start)).collect();
        tokio::time::advance(Duration::from_millis(100)).await;
        let now = Instant::now();
        let missed = slots.iter().filter(|&&s| pacer.missed(s, now)).count();
        assert_eq!(missed, 17, "the slots of the first 85 ms are gone");
        assert!(!pacer.missed(slots[20], now));
        // A late waiter is given the next free slot, after every slot still held.
        let again = pacer.reserve(now);
        assert_eq!(again, slots[63] + pacer.period());
        // And `ready` itself returns on time for a fresh waiter.
        let due = again + pacer.period();
        pacer.ready().await;
        let woke = Instant::now();
        // (tokio's timer fires on whole milliseconds)
        assert!(
            woke >= due && woke < due + Duration::from_millis(1),
            "{:?}",
            woke - due
        );
    }

    #[test]
    fn no_one_second_window_holds_more_than_the_cap_even_with_jitter() {
        for qps in [1, 7, 50, 200, 1000] {
            let pacer = pacer(qps);
            let start = Instant::now();
            let mut now = start;
            let mut sent = Vec::new();
            for k in 0..(3 * qps as usize) {
                let slot = pacer.reserve(now);
                // Alternate on-time and maximally late sends.
                let at = slot + if k % 2 == 0 { Duration::ZERO } else { JITTER };
                sent.push(at);
                now = at;
            }
            let worst = sent
                .iter()
                .map(|&from| {
                    sent.iter()
                        .filter(|&&t| t >= from && t < from + Duration::from_secs(1))
                        .count()
                })
                .max()
                .unwrap_or(0);
            assert!(
                worst <= qps as usize,
                "cap {qps}: {worst} calls in one second"
            );
        }
    }

    #[test]
    fn a_gap_restarts_the_timeline_without_a_burst() {
        let pacer = pacer(100);
        let start = Instant::now();
        assert_eq!(pacer.reserve(start), start);
        // Nothing to send for a second: the next calls are spaced from now, not crammed
        // into the slots that were missed.
        let later = start + Duration::from_secs(1);
        let first = pacer.reserve(later);
        let second = pacer.reserve(later);
        assert_eq!(first, later);
        assert_eq!(second - first, pacer.period());
    }

    #[test]
    fn the_rate_is_within_two_percent_of_the_cap() {
        for qps in [1, 10, 200, 5000] {
            let rate = 1.0 / pacer(qps).period().as_secs_f64();
            assert!(
                rate <= f64::from(qps) && rate >= f64::from(qps) * 0.98,
                "cap {qps}: {rate}"
            );
        }
    }
}
