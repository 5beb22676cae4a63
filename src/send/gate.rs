//! Flow control (TOP code 7): one gate for every worker. While the platform bans the
//! app, nobody calls; a ban reported by several calls in flight is one ban.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// One flow-control gate for every worker.
#[derive(Debug, Default)]
pub struct BanGate {
    until: Mutex<Option<Instant>>,
}

impl BanGate {
    /// Closes the gate until `now + length`; true when this starts or extends a ban.
    pub fn ban(&self, length: Duration) -> bool {
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

    pub async fn wait(&self) {
        loop {
            let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
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
