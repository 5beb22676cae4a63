//! The desk's people, in the ledger: users with a role and an argon2id hash
//! (`users add … --ledger`, the desk's admin page), and the sessions they hold, so a
//! session outlives a desk restart. A session is kept by the SHA-256 of its cookie's
//! value: a copy of the ledger gives nobody a way in.

use rusqlite::{OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};

use super::db::sql;
use super::{Ledger, LedgerError};

/// What a user may do on the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Role {
    /// Sees the pages and downloads.
    Viewer,
    /// Also uploads corrections and sends them.
    Clerk,
    /// Also approves the requests of others (four eyes).
    Approver,
    /// Also manages the users.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Clerk => "clerk",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "viewer" => Role::Viewer,
            "clerk" => Role::Clerk,
            "approver" => Role::Approver,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// A user of the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// argon2id, PHC string.
    pub hash: String,
    pub created_at: String,
    pub created_by: String,
    /// Set when the user may no longer log in.
    pub disabled_at: Option<String>,
}

/// A session as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub user: String,
    pub csrf: String,
    /// Unix seconds.
    pub created: i64,
    pub seen: i64,
}

/// The key a session is kept under: the SHA-256 of its cookie's value.
pub fn session_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Every user, by name.
pub fn accounts(ledger: &Ledger) -> Result<Vec<Account>, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare(
            "SELECT name, role, hash, created_at, created_by, disabled_at FROM users ORDER BY name",
        )
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map([], |row| {
            let role: String = row.get(1)?;
            Ok(Account {
                name: row.get(0)?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
                hash: row.get(2)?,
                created_at: row.get(3)?,
                created_by: row.get(4)?,
                disabled_at: row.get(5)?,
            })
        })
        .map_err(|e| sql(path, e))?;
    rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))
}

/// Adds `name` (or sets their role and password, and enables them again), by `by`;
/// whether the name was there before.
pub fn put_account(
    ledger: &Ledger,
    name: &str,
    role: Role,
    hash: &str,
    by: &str,
) -> Result<bool, LedgerError> {
    let path = &ledger.path;
    let before: bool = ledger
        .conn
        .query_row("SELECT 1 FROM users WHERE name = ?1", params![name], |_| {
            Ok(true)
        })
        .optional()
        .map_err(|e| sql(path, e))?
        .unwrap_or(false);
    ledger
        .conn
        .execute(
            "INSERT INTO users (name, role, hash, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, disabled_at = NULL",
            params![name, role.as_str(), hash, crate::clock::now_stamp(), by],
        )
        .map_err(|e| sql(path, e))?;
    Ok(before)
}

/// Disables `name` and ends their sessions; whether there was such a user.
pub fn disable(ledger: &Ledger, name: &str) -> Result<bool, LedgerError> {
    let path = &ledger.path;
    let changed = ledger
        .conn
        .execute(
            "UPDATE users SET disabled_at = ?2 WHERE name = ?1 AND disabled_at IS NULL",
            params![name, crate::clock::now_stamp()],
        )
        .map_err(|e| sql(path, e))?;
    ledger
        .conn
        .execute("DELETE FROM sessions WHERE user = ?1", params![name])
        .map_err(|e| sql(path, e))?;
    Ok(changed > 0)
}

/// Keeps a session (or its new `seen`).
pub fn save_session(
    ledger: &Ledger,
    token: &str,
    session: &StoredSession,
) -> Result<(), LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .execute(
            "INSERT INTO sessions (token, user, csrf, created, seen) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (token) DO UPDATE SET seen = excluded.seen",
            params![
                session_key(token).as_slice(),
                session.user,
                session.csrf,
                session.created,
                session.seen
            ],
        )
        .map_err(|e| sql(path, e))?;
    Ok(())
}

/// The session a cookie's value names, if the ledger keeps one.
pub fn load_session(ledger: &Ledger, token: &str) -> Result<Option<StoredSession>, LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .query_row(
            "SELECT user, csrf, created, seen FROM sessions WHERE token = ?1",
            params![session_key(token).as_slice()],
            |row| {
                Ok(StoredSession {
                    user: row.get(0)?,
                    csrf: row.get(1)?,
                    created: row.get(2)?,
                    seen: row.get(3)?,
                })
            },
        )
        .optional()
        .map_err(|e| sql(path, e))
}

/// Forgets a session (logout), and every session last seen before `stale` (unix).
pub fn drop_session(ledger: &Ledger, token: &str, stale: i64) -> Result<(), LedgerError> {
    let path = &ledger.path;
    ledger
        .conn
        .execute(
            "DELETE FROM sessions WHERE token = ?1 OR seen < ?2",
            params![session_key(token).as_slice(), stale],
        )
        .map_err(|e| sql(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Access;

    #[test]
    fn users_and_sessions_are_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = Ledger::open(&dir.path().join("ledger.db"), Access::Write).expect("ledger");
        assert!(!put_account(&ledger, "ana", Role::Clerk, "$h1", "os:root").expect("add"));
        assert!(put_account(&ledger, "ana", Role::Approver, "$h2", "bo").expect("again"));
        let ana = &accounts(&ledger).expect("accounts")[0];
        assert_eq!((ana.role, ana.hash.as_str()), (Role::Approver, "$h2"));
        let session = StoredSession {
            user: "ana".into(),
            csrf: "c".into(),
            created: 100,
            seen: 200,
        };
        save_session(&ledger, "cookie", &session).expect("save");
        assert_eq!(
            load_session(&ledger, "cookie").expect("load"),
            Some(session)
        );
        assert_eq!(load_session(&ledger, "other").expect("load"), None);
        assert!(disable(&ledger, "ana").expect("disable"));
        assert_eq!(
            load_session(&ledger, "cookie").expect("load"),
            None,
            "ended with the user"
        );
        assert!(
            accounts(&ledger).expect("accounts")[0]
                .disabled_at
                .is_some()
        );
    }
}
