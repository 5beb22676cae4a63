//! Who may use the desk: users with a role and an argon2 password hash — kept in the
//! ledger (`users add … --ledger`, the admin page) or in `--users FILE` (each an admin)
//! — or, on loopback while there are none, a one-time login link that bootstraps the
//! first admin; either way a session cookie (HttpOnly, SameSite=Strict) with its own
//! CSRF token. Sessions of ledger users are kept in the ledger too (by the cookie's
//! SHA-256): they outlive a desk restart, end after 8 hours unused or 12 hours at most,
//! and a logout ends only its own.
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

mod store;

/// How long a session lasts without a new login.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long a session lasts unused.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);

/// How often a session's last use is written to the ledger (not at every request).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

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
    pub role: Role,
    pub csrf: String,
    opened: Instant,
    expires: Instant,
    seen: Instant,
    /// The one-time link's: lasts as long as this desk, whoever the users are.
    linked: bool,
}

use crate::ledger::people::Account;
pub use crate::ledger::people::Role;

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

/// Logins and sessions.
#[derive(Debug)]
pub struct Auth {
    /// The link printed at start (loopback, no users yet), until it is used.
    link: Mutex<Option<String>>,
    /// Who may log in with a password.
    accounts: std::sync::RwLock<Vec<Account>>,
    sessions: Mutex<HashMap<String, Session>>,
    turns: Mutex<HashMap<String, Turns>>,
    checks: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    /// The ledger the users and their sessions are kept in (ledger users), opened
    /// when first needed.
    store: Option<(std::path::PathBuf, Mutex<Option<crate::ledger::Ledger>>)>,
}

impl Auth {
    /// One-time link login: returns the token the link carries.
    pub fn with_link() -> (Auth, String) {
        let token = token();
        let auth = Auth::new(Vec::new());
        *auth.link.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        (auth, token)
    }

    /// The users of a `--users` file: each an admin (the file has no roles).
    pub fn with_users(users: Vec<(String, String)>) -> Auth {
        let accounts = users
            .into_iter()
            .map(|(name, hash)| Account {
                name,
                role: Role::Admin,
                hash,
                created_at: String::new(),
                created_by: String::new(),
                disabled_at: None,
            })
            .collect();
        Auth::new(accounts)
    }

    fn new(accounts: Vec<Account>) -> Auth {
        Auth {
            link: Mutex::new(None),
            accounts: std::sync::RwLock::new(accounts),
            sessions: Mutex::default(),
            turns: Mutex::default(),
            checks: tokio::sync::Semaphore::new(CHECKS),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            store: None,
        }
    }

    /// Whether the login page asks for a name and a password (some user has one).
    pub fn uses_passwords(&self) -> bool {
        self.accounts.read().is_ok_and(|a| !a.is_empty())
    }

    /// Swaps the one-time link's token for a session (its cookie value); the link is
    /// spent.
    pub fn redeem(&self, token: &str) -> Option<String> {
        let mut slot = self.link.lock().ok()?;
        let valid = slot.as_deref().is_some_and(|t| same(t, token));
        if !valid {
            return None;
        }
        *slot = None;
        drop(slot);
        // The link bootstraps the desk: its visitor may make the first admin.
        Some(self.open_session("desk", Role::Admin, true))
    }

    /// Checks a name and password (slowly: argon2, on a blocking thread) in the turn
    /// of that name and address; a failure makes their next turns later.
    pub async fn login(&self, name: &str, password: &str, peer: &str) -> Login {
        use std::sync::atomic::Ordering;
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
        let found = self.accounts.read().ok().and_then(|users| {
            users
                .iter()
                .find(|a| a.name == name && a.disabled_at.is_none())
                .map(|a| (a.hash.clone(), a.role))
        });
        let role = found.as_ref().map_or(Role::Viewer, |f| f.1);
        let hash = found.map(|f| f.0);
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
            Login::In(self.open_session(name, role, false))
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

    fn open_session(&self, user: &str, role: Role, linked: bool) -> String {
        let id = token();
        let csrf = token();
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
                    role,
                    csrf: csrf.clone(),
                    opened: now,
                    expires: now + SESSION_LIFETIME,
                    seen: now,
                    linked,
                },
            );
        }
        if linked {
            return id;
        }
        let unix = chrono::Utc::now().timestamp();
        self.with_store(|ledger| {
            crate::ledger::people::save_session(
                ledger,
                &id,
                &crate::ledger::people::StoredSession {
                    user: user.to_owned(),
                    csrf,
                    created: unix,
                    seen: unix,
                },
            )
        });
        id
    }

    /// The session a cookie names, if it is still valid: used within the last 8 hours,
    /// opened within the last 12 — by this desk, or (ledger users) by an earlier one.
    pub fn session(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut touch = false;
        let found = {
            let mut sessions = self.sessions.lock().ok()?;
            match sessions.get_mut(id) {
                Some(s) if s.expires > now && s.seen + SESSION_IDLE > now => {
                    if s.seen + TOUCH_EVERY < now {
                        s.seen = now;
                        touch = true;
                    }
                    Some(s.clone())
                }
                Some(_) => {
                    sessions.remove(id);
                    None
                }
                None => None,
            }
        };
        if let Some(session) = found {
            // A user disabled or demoted since: their role now, or no session.
            let session = match &self.store {
                Some(_) if !session.linked => Session {
                    role: self.role_of(&session.user)?,
                    ..session
                },
                _ => session,
            };
            if touch && !session.linked {
                self.touch(id, &session);
            }
            return Some(session);
        }
        self.restore(id)
    }

    /// Ends one session (a logout): the user's others go on.
    pub fn close(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
        let stale = chrono::Utc::now().timestamp() - SESSION_IDLE.as_secs() as i64;
        self.with_store(|ledger| crate::ledger::people::drop_session(ledger, id, stale));
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
        let bob = auth.open_session("bob", Role::Clerk, false);
        let first = auth.open_session("ana", Role::Clerk, false);
        for _ in 0..1030 {
            auth.open_session("ana", Role::Clerk, false);
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
