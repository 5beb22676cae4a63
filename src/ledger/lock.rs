//! One run per ledger: an exclusive `flock` on `<ledger>.lock`, which the kernel
//! drops when the holder dies, so a dead run never blocks the next. The lock file
//! names its holder for the message the next run prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::clock::beijing;

/// Held until dropped.
#[derive(Debug)]
pub struct LedgerLock {
    _file: File,
    pub path: PathBuf,
}

/// The sidecar lock file of a ledger.
pub fn lock_path(ledger: &Path) -> PathBuf {
    let mut name = ledger
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "ledger".into());
    name.push(".lock");
    ledger.with_file_name(name)
}

/// Why a ledger could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds the lock (exit 4).
    #[error(
        "ledger {ledger} is in use by {holder}; wait for that run to finish (one run per ledger)"
    )]
    Held { ledger: String, holder: String },
    #[error("cannot lock {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

/// Takes the ledger's lock or fails at once: `LockError::Held` when another run holds it.
pub fn acquire(ledger: &Path) -> Result<LedgerLock, LockError> {
    let path = lock_path(ledger);
    let io = |error| LockError::Io {
        path: path.display().to_string(),
        error,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "another process".to_owned()
            } else {
                holder.to_owned()
            };
            return Err(LockError::Held {
                ledger: ledger.display().to_string(),
                holder,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let started = chrono::Utc::now().with_timezone(&beijing());
    let note = format!(
        "pid {} (started {})\n",
        std::process::id(),
        started.format("%Y-%m-%d %H:%M:%S %:z")
    );
    // Best effort: the lock itself is what matters.
    let _ = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(note.as_bytes()));
    Ok(LedgerLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_with_the_holder_named() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = dir.path().join("ledger.csv");
        let held = acquire(&ledger).expect("first lock");
        let err = acquire(&ledger).expect_err("second lock must fail");
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        assert!(acquire(&ledger).is_ok(), "released on drop");
    }

    #[test]
    fn the_lock_file_sits_beside_the_ledger() {
        assert_eq!(
            lock_path(Path::new("/a/b/ledger.csv")),
            Path::new("/a/b/ledger.csv.lock")
        );
    }
}
