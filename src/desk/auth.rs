//! Who may use the desk: a one-time login link (loopback, no `--users`), or names and
//! argon2 password hashes from `--users FILE`; either way a session cookie (HttpOnly,
//! SameSite=Strict) with its own CSRF token. Failed logins are slowed down.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};

/// How long a session lasts without a new login.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The longest wait a failed login adds before the next answer.
const MAX_DELAY: Duration = Duration::from_secs(8);

/// Sessions at most (the oldest go first).
const MAX_SESSIONS: usize = 1024;

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
    expires: Instant,
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
    failures: Mutex<HashMap<String, (u32, Instant)>>,
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
            failures: Mutex::default(),
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

    /// Checks a name and password (slowly: argon2, on a blocking thread); a failure
    /// makes the next attempt for that name or address wait longer.
    pub async fn login(&self, name: &str, password: &str, peer: &str) -> Option<String> {
        let Method::Users(users) = &self.method else {
            return None;
        };
        let wait = self.delay(name).max(self.delay(peer));
        tokio::time::sleep(wait).await;
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
            self.forget_failures(&[name, peer]);
            Some(self.open_session(name))
        } else {
            self.fail(&[name, peer]);
            None
        }
    }

    fn delay(&self, key: &str) -> Duration {
        let Ok(failures) = self.failures.lock() else {
            return MAX_DELAY;
        };
        match failures.get(key) {
            Some((count, _)) => {
                (Duration::from_millis(250) * 2u32.saturating_pow((*count).min(6))).min(MAX_DELAY)
            }
            None => Duration::ZERO,
        }
    }

    fn fail(&self, keys: &[&str]) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() > 10_000 {
                failures.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(3600));
            }
            for key in keys {
                let entry = failures
                    .entry((*key).to_owned())
                    .or_insert((0, Instant::now()));
                entry.0 += 1;
                entry.1 = Instant::now();
            }
        }
    }

    fn forget_failures(&self, keys: &[&str]) {
        if let Ok(mut failures) = self.failures.lock() {
            for key in keys {
                failures.remove(*key);
            }
        }
    }

    fn open_session(&self, user: &str) -> String {
        let id = token();
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|_, s| s.expires > Instant::now());
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
            sessions.insert(
                id.clone(),
                Session {
                    user: user.to_owned(),
                    csrf: token(),
                    expires: Instant::now() + SESSION_LIFETIME,
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
        assert!(auth.login("ana", "wrong", "1.2.3.4").await.is_none());
        assert!(auth.delay("ana") >= Duration::from_millis(500));
        assert!(auth.delay("1.2.3.4") >= Duration::from_millis(500));
        assert!(
            auth.login("bob", "correct horse", "5.6.7.8")
                .await
                .is_none()
        );
        let session = auth.login("ana", "correct horse", "9.9.9.9").await;
        assert!(session.is_some());
        assert_eq!(auth.delay("ana"), Duration::ZERO);
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
