//! Flow control (TOP code 7): one gate for every worker. While the platform bans the
//! app, nobody calls; a ban reported by several calls in flight is one ban. The gate
//! also keeps the run's total time banned, which `--max-ban-wait` bounds: one long ban
//! or many short ones, a run never waits for ever.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The shortest ban waited out: a gateway that says "0 seconds" (or less than one)
/// still gets a second, so a run cannot spin on it.
pub const MIN_BAN: Duration = Duration::from_secs(1);

/// One flow-control gate for every worker.
#[derive(Debug)]
pub struct BanGate {
    state: Mutex<State>,
    /// The most time the run may spend banned, all bans together.
    max_total: Duration,
}

#[derive(Debug, Default)]
struct State {
    until: Option<Instant>,
    total: Duration,
}

/// What a reported ban did to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ban {
    /// A new ban, or a longer one: the gate is closed until it ends.
    Started,
    /// The ban in force, reported again by another call.
    Same,
    /// Waiting it out would bring the run's time banned to `total`, over the limit.
    Exceeded { total: Duration },
}

impl BanGate {
    pub fn new(max_total: Duration) -> Self {
        BanGate {
            state: Mutex::new(State::default()),
            max_total,
        }
    }

    /// Closes the gate for `length` from now, unless the run's time banned would
    /// exceed the limit.
    pub fn ban(&self, length: Duration) -> Ban {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(until) = now.checked_add(length.max(MIN_BAN)) else {
            return Ban::Exceeded {
                total: Duration::MAX,
            };
        };
        // Calls in flight when the ban began report the same ban: extend only by more
        // than a second's rounding.
        if state
            .until
            .is_some_and(|current| until <= current + Duration::from_secs(1))
        {
            return Ban::Same;
        }
        let in_force = state.until.filter(|c| *c > now).unwrap_or(now);
        let total = state.total.saturating_add(until - in_force);
        if total > self.max_total {
            return Ban::Exceeded { total };
        }
        state.until = Some(until);
        state.total = total;
        Ban::Started
    }

    /// The run's time banned so far (each ban counted in full when it began).
    pub fn banned(&self) -> Duration {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// True when no ban is in force now.
    pub fn is_open(&self) -> bool {
        let until = self.state.lock().unwrap_or_else(|p| p.into_inner()).until;
        until.is_none_or(|until| until <= Instant::now())
    }

    pub async fn wait(&self) {
        loop {
            let until = self.state.lock().unwrap_or_else(|p| p.into_inner()).until;
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_ban_pauses_every_waiter_once() {
        let gate = std::sync::Arc::new(BanGate::new(Duration::from_secs(300)));
        assert_eq!(gate.ban(Duration::from_secs(3)), Ban::Started);
        assert_eq!(
            gate.ban(Duration::from_secs(3)),
            Ban::Same,
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

    #[tokio::test(start_paused = true)]
    async fn many_short_bans_add_up_to_the_limit() {
        let gate = BanGate::new(Duration::from_secs(10));
        for _ in 0..3 {
            assert_eq!(gate.ban(Duration::from_secs(3)), Ban::Started);
            gate.wait().await;
        }
        assert_eq!(
            gate.ban(Duration::from_secs(3)),
            Ban::Exceeded {
                total: Duration::from_secs(12)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_and_absurd_lengths_never_spin_or_overflow() {
        let gate = BanGate::new(Duration::from_secs(5));
        let started = Instant::now();
        assert_eq!(gate.ban(Duration::ZERO), Ban::Started);
        gate.wait().await;
        assert_eq!(
            started.elapsed(),
            MIN_BAN,
            "a zero ban still waits a second"
        );
        assert_eq!(
            gate.ban(Duration::MAX),
            Ban::Exceeded {
                total: Duration::MAX
            }
        );
    }
}
