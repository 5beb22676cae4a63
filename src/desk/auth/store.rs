//! The users and sessions a desk keeps in the ledger: who may log in (the admin page
//! changes them), each session's last use written there (at most once a minute), and
//! a session an earlier desk opened found again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Account, Auth, Role, SESSION_IDLE, SESSION_LIFETIME, Session};

impl Auth {
    /// The users of the ledger at `ledger`, their sessions kept there too.
    pub fn with_ledger_users(accounts: Vec<Account>, ledger: &std::path::Path) -> Auth {
        Auth::new(accounts).keeping_in(ledger)
    }

    /// Users and sessions kept in the ledger at `ledger` from now on (the link's
    /// visitor makes the first admin there).
    pub fn keeping_in(mut self, ledger: &std::path::Path) -> Auth {
        self.store = Some((ledger.to_owned(), Mutex::new(None)));
        self
    }

    /// A user added or changed on the admin page (already in the ledger).
    pub fn put(&self, account: Account) {
        if let Ok(mut accounts) = self.accounts.write() {
            accounts.retain(|a| a.name != account.name);
            accounts.push(account);
        }
    }

    /// A user disabled on the admin page: their sessions end.
    pub fn disable(&self, name: &str) {
        if let Ok(mut accounts) = self.accounts.write() {
            for account in accounts.iter_mut().filter(|a| a.name == name) {
                account.disabled_at = Some(crate::clock::now_stamp());
            }
        }
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|_, s| s.user != name);
        }
    }

    /// The users, for the admin page.
    pub fn accounts(&self) -> Vec<Account> {
        self.accounts.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// Whether users are managed in the ledger (the admin page can change them).
    pub fn keeps_users(&self) -> bool {
        self.store.is_some()
    }

    /// `user`'s role, if they may log in now.
    pub(super) fn role_of(&self, user: &str) -> Option<Role> {
        let accounts = self.accounts.read().ok()?;
        accounts
            .iter()
            .find(|a| a.name == user && a.disabled_at.is_none())
            .map(|a| a.role)
    }

    /// Runs `work` on the ledger the sessions are kept in; a failure is logged (a
    /// session not kept lasts as long as the desk does).
    pub(super) fn with_store(
        &self,
        work: impl FnOnce(&crate::ledger::Ledger) -> Result<(), crate::ledger::LedgerError>,
    ) {
        let Some((path, held)) = &self.store else {
            return;
        };
        let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none() {
            *held = crate::ledger::Ledger::open(path, crate::ledger::Access::Write).ok();
        }
        let Some(ledger) = held.as_ref() else {
            tracing::warn!("desk: the ledger keeping the sessions cannot be opened");
            return;
        };
        if let Err(error) = work(ledger) {
            tracing::warn!("desk: a session could not be kept in the ledger: {error}");
            *held = None;
        }
    }

    /// A session an earlier desk opened, from the ledger, if it is still valid.
    pub(super) fn restore(&self, id: &str) -> Option<Session> {
        self.store.as_ref()?;
        let mut stored = None;
        self.with_store(|ledger| {
            stored = crate::ledger::people::load_session(ledger, id)?;
            Ok(())
        });
        let stored = stored?;
        let unix = chrono::Utc::now().timestamp();
        let age = Duration::from_secs(u64::try_from(unix - stored.created).ok()?);
        let idle = Duration::from_secs(u64::try_from(unix - stored.seen).ok()?);
        if age >= SESSION_LIFETIME || idle >= SESSION_IDLE {
            return None;
        }
        let role = self.role_of(&stored.user)?;
        let now = Instant::now();
        let session = Session {
            user: stored.user,
            role,
            csrf: stored.csrf,
            opened: now.checked_sub(age).unwrap_or(now),
            expires: now + (SESSION_LIFETIME - age),
            seen: now,
            linked: false,
        };
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(id.to_owned(), session.clone());
        }
        self.touch(id, &session);
        Some(session)
    }

    /// Writes a session's last use to the ledger.
    pub(super) fn touch(&self, id: &str, session: &Session) {
        let unix = chrono::Utc::now().timestamp();
        let created = unix - i64::try_from(session.opened.elapsed().as_secs()).unwrap_or(0);
        self.with_store(|ledger| {
            crate::ledger::people::save_session(
                ledger,
                id,
                &crate::ledger::people::StoredSession {
                    user: session.user.clone(),
                    csrf: session.csrf.clone(),
                    created,
                    seen: unix,
                },
            )
        });
    }
}
