//! Who may use the desk: a one-time login link (loopback, no `--users`), or names and
//! argon2 password hashes from `--users FILE`; either way a session cookie (HttpOnly,
//! SameSite=Strict) with its own CSRF token.
//!
//! Bounded under load. Logins for one name take turns: each attempt reserves the next
//! slot, later by each failure and each attempt still in flight, so guessing in
//! parallel is no faster than one after another; a queue more than `MAX_QUEUE` ahead
//! is answered "try later" at once. An address's failures (whatever the names) make
//! its next attempt wait too, as long as after the last of them. At most `CHECKS` argon2
//! checks (19 MiB each) run at a time, `WAITING` more may wait, the rest are "busy".
//! Each user holds at most `SESSIONS_PER_USER` sessions (a new login puts that user's
//! oldest away, never another user's).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordVerifier as _, phc::PasswordHash};

/// How long a session lasts without a new login.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The longest wait a failed login adds before the next answer.
const MAX_DELAY: Duration = Duration::from_secs(8);

/// Sessions at most, all users together (the oldest go first).
const MAX_SESSIONS: usize = 10_000;

/// Sessions one user may hold at once: a new login puts their oldest away.
pub const SESSIONS_PER_USER: usize = 32;

/// Password checks (argon2, 19 MiB each) running at once.
const CHECKS: usize = 2;

/// Password checks that may wait for a turn; more are answered "busy".
const WAITING: usize = 32;

/// How far ahead a name's or an address's turn may be before an attempt is refused
/// at once instead of queued.
const MAX_QUEUE: Duration = Duration::from_secs(30);

/// A random token of 32 bytes, as hex.
pub fn token() -> String {
    random_hex::<32>()
}

/// `N` random bytes as hex: tokens, and the desk's opaque ids (8 bytes).
pub fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    faster_hex::hex_string(&bytes)
}

/// Equal without telling by its timing where two tokens differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// A logged-in visitor.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    opened: Instant,
    expires: Instant,
}

/// How a login attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// A new session (its cookie value).
    In(String),
    /// Wrong name or password.
    Refused,
    /// Too many attempts or checks at once: try again after `retry`.
    Busy { retry: Duration },
}

/// One name's or address's attempts: failures (and attempts in flight, counted as
/// failures until they succeed), and when its next turn is.
#[derive(Debug, Clone, Copy)]
struct Turns {
    failures: u32,
    next: Instant,
}

/// How visitors log in.
#[derive(Debug)]
enum Method {
    /// The link printed at start, until it is used.
    Link(Mutex<Option<String>>),
    Users(Vec<(String, String)>),
}

/// Logins and sessions.
#[derive(Debug)]
pub struct Auth {
    method: Method,
    sessions: Mutex<HashMap<String, Session>>,
    turns: Mutex<HashMap<String, Turns>>,
    checks: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Auth {
    /// One-time link login: returns the token the link carries.
    pub fn with_link() -> (Auth, String) {
        let token = token();
        (
            Auth::new(Method::Link(Mutex::new(Some(token.clone())))),
            token,
        )
    }

    pub fn with_users(users: Vec<(String, String)>) -> Auth {
        Auth::new(Method::Users(users))
    }

    fn new(method: Method) -> Auth {
        Auth {
            method,
            sessions: Mutex::default(),
            turns: Mutex::default(),
            checks: tokio::sync::Semaphore::new(CHECKS),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn uses_passwords(&self) -> bool {
        matches!(self.method, Method::Users(_))
    }

    /// Swaps the one-time link's token for a session (its cookie value); the link is
    /// spent.
    pub fn redeem(&self, token: &str) -> Option<String> {
        let Method::Link(slot) = &self.method else {
            return None;
        };
        let mut slot = slot.lock().ok()?;
        let valid = slot.as_deref().is_some_and(|t| same(t, token));
        if !valid {
            return None;
        }
        *slot = None;
        drop(slot);
        Some(self.open_session("desk"))
    }

    /// Checks a name and password (slowly: argon2, on a blocking thread) in the turn
    /// of that name and address; a failure makes their next turns later.
    pub async fn login(&self, name: &str, password: &str, peer: &str) -> Login {
        use std::sync::atomic::Ordering;
        let Method::Users(users) = &self.method else {
            return Login::Refused;
        };
        let keys = [name, peer];
        let turn = match self.reserve(name, peer) {
            Ok(turn) => turn,
            Err(retry) => return Login::Busy { retry },
        };
        tokio::time::sleep_until(turn.into()).await;
        // Bounded memory: a few checks at once, a few more waiting.
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Login::Busy {
                retry: Duration::from_secs(1),
            };
        }
        let permit = self.checks.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Ok(_permit) = permit else {
            return Login::Refused;
        };
        let hash = users
            .iter()
            .find(|(user, _)| user == name)
            .map(|(_, hash)| hash.clone());
        let password = password.to_owned();
        let verified = tokio::task::spawn_blocking(move || {
            // An unknown name costs what a known one does.
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| {
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7pOWJ8n+OZo7PKyZ7sdvVbbrNUwWmBLXTFpfpM7gLjA".into()
            });
            let parsed = PasswordHash::new(&hash).ok()?;
            let good = argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Some(known && good)
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        if verified {
            self.forget_failures(&keys);
            Login::In(self.open_session(name))
        } else {
            self.failed(&keys);
            Login::Refused
        }
    }

    /// A failure just now: the name's next turn and the address's are at least
    /// their wait from now (a check takes time; the wait follows it, as it would one
    /// after another). The address counts its failures here, as they happen.
    fn failed(&self, keys: &[&str; 2]) {
        let now = Instant::now();
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        let [name, peer] = *keys;
        if let Some(entry) = turns.get_mut(name) {
            entry.next = entry.next.max(now + Self::delay_after(entry.failures));
        }
        let entry = turns.entry(peer.to_owned()).or_insert(Turns {
            failures: 0,
            next: now,
        });
        entry.failures += 1;
        entry.next = now + Self::delay_after(entry.failures);
    }

    /// The wait after `failures` failures: 250 ms doubled each time, at most `MAX_DELAY`.
    fn delay_after(failures: u32) -> Duration {
        match failures {
            0 => Duration::ZERO,
            n => (Duration::from_millis(250) * 2u32.saturating_pow(n.min(6))).min(MAX_DELAY),
        }
    }

    /// Reserves `name`'s next turn for one attempt, counted as a failure until it
    /// succeeds, and not before `peer`'s wait after its last failure: when the attempt
    /// may run, or how long until trying is worth it.
    fn reserve(&self, name: &str, peer: &str) -> Result<Instant, Duration> {
        let now = Instant::now();
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        if turns.len() > 10_000 {
            turns.retain(|_, t| t.next + Duration::from_secs(3600) > now);
        }
        let turn = [name, peer]
            .iter()
            .filter_map(|key| turns.get(*key))
            .map(|t| t.next)
            .fold(now, Instant::max);
        if turn > now + MAX_QUEUE {
            return Err(turn - now);
        }
        let entry = turns.entry(name.to_owned()).or_insert(Turns {
            failures: 0,
            next: now,
        });
        entry.failures += 1;
        entry.next = turn + Self::delay_after(entry.failures);
        Ok(turn)
    }

    /// The wait before `key`'s next attempt may run (tests).
    #[cfg(test)]
    fn delay(&self, key: &str) -> Duration {
        let turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        turns.get(key).map_or(Duration::ZERO, |t| {
            t.next.saturating_duration_since(Instant::now())
        })
    }

    fn forget_failures(&self, keys: &[&str]) {
        if let Ok(mut turns) = self.turns.lock() {
            for key in keys {
                turns.remove(*key);
            }
        }
    }

    fn open_session(&self, user: &str) -> String {
        let id = token();
        if let Ok(mut sessions) = self.sessions.lock() {
            let now = Instant::now();
            sessions.retain(|_, s| s.expires > now);
            // A user's own oldest session makes room, never another user's.
            let theirs = sessions.values().filter(|s| s.user == user).count();
            if theirs >= SESSIONS_PER_USER
                && let Some(oldest) = sessions
                    .iter()
                    .filter(|(_, s)| s.user == user)
                    .min_by_key(|(_, s)| s.opened)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.opened)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
            sessions.insert(
                id.clone(),
                Session {
                    user: user.to_owned(),
                    csrf: token(),
                    opened: now,
                    expires: now + SESSION_LIFETIME,
                },
            );
        }
        id
    }

    /// The session a cookie names, if it is still valid.
    pub fn session(&self, id: &str) -> Option<Session> {
        let sessions = self.sessions.lock().ok()?;
        sessions
            .get(id)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::hash_password;
    use super::*;

    #[test]
    fn the_link_works_once() {
        let (auth, token) = Auth::with_link();
        assert!(auth.redeem("not-it").is_none());
        let session = auth.redeem(&token).expect("first use");
        assert!(auth.session(&session).is_some());
        assert!(auth.redeem(&token).is_none(), "spent");
        auth.close(&session);
        assert!(auth.session(&session).is_none());
    }

    #[tokio::test]
    async fn passwords_are_checked_and_failures_slow_the_next_try() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        let auth = Auth::with_users(vec![("ana".into(), hash)]);
        assert_eq!(auth.login("ana", "wrong", "1.2.3.4").await, Login::Refused);
        assert!(auth.delay("ana") >= Duration::from_millis(400));
        assert!(auth.delay("1.2.3.4") >= Duration::from_millis(400));
        assert_eq!(
            auth.login("bob", "correct horse", "5.6.7.8").await,
            Login::Refused
        );
        let session = auth.login("ana", "correct horse", "9.9.9.9").await;
        assert!(matches!(session, Login::In(_)));
        assert_eq!(auth.delay("ana"), Duration::ZERO);
    }

    #[test]
    fn attempts_in_flight_take_turns_and_a_long_queue_is_refused() {
        let auth = Auth::with_users(Vec::new());
        let now = Instant::now();
        let turns: Vec<Result<Instant, Duration>> =
            (0..20).map(|_| auth.reserve("ana", "1.2.3.4")).collect();
        // Each one later than the one before, by a growing wait.
        let starts: Vec<Duration> = turns
            .iter()
            .filter_map(|t| t.ok())
            .map(|t| t.saturating_duration_since(now))
            .collect();
        assert!(starts[0] < Duration::from_millis(50));
        assert!(starts.windows(2).all(|w| w[1] > w[0]), "{starts:?}");
        assert!(
            starts.len() < 10,
            "a queue beyond 30 s is refused: {starts:?}"
        );
        assert!(turns.iter().any(Result::is_err));
    }

    #[test]
    fn a_users_many_sessions_never_put_another_users_away() {
        let auth = Auth::with_users(Vec::new());
        let bob = auth.open_session("bob");
        let first = auth.open_session("ana");
        for _ in 0..1030 {
            auth.open_session("ana");
        }
        assert!(auth.session(&bob).is_some(), "bob's session stays");
        assert!(auth.session(&first).is_none(), "ana's oldest went");
        let count = auth
            .sessions
            .lock()
            .expect("sessions")
            .values()
            .filter(|s| s.user == "ana")
            .count();
        assert_eq!(count, SESSIONS_PER_USER);
    }
}
