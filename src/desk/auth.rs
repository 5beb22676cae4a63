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
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};

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

/// `--users FILE` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read --users {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--users {}, line {line}: {reason}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("--users {}: no users in it; add one with `opentrade-callback users add NAME --users {}`", path.display(), path.display())]
    Empty { path: PathBuf },
    #[error(
        "--users {} has mode {mode:o}: other users could change who may log in, or read the password hashes; run: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Open { path: PathBuf, mode: u32 },
}

/// The shortest and longest password taken, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=1024;

/// Whether `password` may be one: long enough, not so long it is a paste gone wrong,
/// not blank, no control characters (a terminal's or a file's, never a person's).
pub fn check_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars > *PASSWORD_CHARS.end() {
        return Err(format!(
            "the password has {chars} characters, more than the {} taken; nothing is cut short — give a shorter one",
            PASSWORD_CHARS.end()
        ));
    }
    if password.trim().is_empty() {
        return Err("the password is only spaces: give one with letters, digits or signs".into());
    }
    if chars < *PASSWORD_CHARS.start() {
        return Err(format!(
            "the password must have at least {} characters",
            PASSWORD_CHARS.start()
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(
            "the password holds a control character (a tab, an escape…): type it again".into(),
        );
    }
    Ok(())
}

/// `name:hash` lines; `#` comments and blank lines are allowed.
pub fn read_users(path: &Path) -> Result<Vec<(String, String)>, UsersError> {
    let text = crate::textfile::read(path).map_err(|error| UsersError::Read {
        path: path.to_owned(),
        error,
    })?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|error| UsersError::Read {
                path: path.to_owned(),
                error,
            })?
            .permissions()
            .mode();
        // Writable by anyone but its owner, or readable by everyone: refused. (Group
        // read is a deployment's choice: root-owned, read by the service's group.)
        if mode & 0o026 != 0 {
            return Err(UsersError::Open {
                path: path.to_owned(),
                mode: mode & 0o7777,
            });
        }
    }
    let users = parse_users(&text).map_err(|(line, reason)| UsersError::Line {
        path: path.to_owned(),
        line,
        reason,
    })?;
    if users.is_empty() {
        return Err(UsersError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(users)
}

fn parse_users(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut users: Vec<(String, String)> = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, hash)) = line.split_once(':') else {
            return Err((at + 1, "expected name:hash".into()));
        };
        check_name(name).map_err(|reason| (at + 1, reason))?;
        if PasswordHash::new(hash).is_err() {
            return Err((
                at + 1,
                format!("the hash of '{name}' is not a PHC string ($argon2id$…)"),
            ));
        }
        if users.iter().any(|(other, _)| other == name) {
            return Err((at + 1, format!("'{name}' is listed twice")));
        }
        users.push((name.to_owned(), hash.to_owned()));
    }
    Ok(users)
}

/// A user name: 1-64 letters, digits, `.`, `_`, `-` or `@`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "'{}' is not a user name (1-64 letters, digits, '.', '_', '-', '@')",
            crate::text::visible(name)
        )),
    }
}

/// The argon2id hash of a password, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
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

    #[test]
    fn passwords_are_refused_when_blank_short_long_or_with_controls() {
        assert!(check_password("correct horse").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        for (bad, why) in [
            ("          ", "only spaces"),
            (
                "\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}",
                "only spaces",
            ),
            ("short", "at least 10"),
            ("with\ttab-inside", "control character"),
        ] {
            let err = check_password(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let long = "y".repeat(5000);
        assert!(
            check_password(&long)
                .expect_err("long")
                .contains("5000 characters")
        );
    }

    #[test]
    fn users_files_are_checked_line_by_line() {
        let hash = hash_password("x").expect("hash");
        let good = format!("# finance\nana:{hash}\n\nbob.li:{hash}\n");
        assert_eq!(parse_users(&good).expect("valid").len(), 2);
        assert_eq!(parse_users("ana").expect_err("no hash").0, 1);
        assert!(
            parse_users("ana:plain")
                .expect_err("plain")
                .1
                .contains("PHC")
        );
        let twice = format!("ana:{hash}\nana:{hash}\n");
        assert_eq!(parse_users(&twice).expect_err("twice").0, 2);
        assert!(parse_users(&format!("a b:{hash}")).is_err());
    }
}
