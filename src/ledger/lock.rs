//! One run per ledger: exclusive `flock`s, which the kernel drops when the holder
//! dies, so a dead run never blocks the next. Two locks: on `<ledger>.lock` beside the
//! ledger's real path (whatever symlink reaches it; it also names the holder for the
//! message the next run prints), and on the ledger file itself, which every hard link
//! shares. (SQLite's own locks are `fcntl` locks, which `flock`s do not touch.)

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::clock::beijing;

/// Held until dropped. A ledger this lock created and nobody wrote is removed then.
#[derive(Debug)]
pub struct LedgerLock {
    _sidecar: File,
    _ledger: File,
    pub path: PathBuf,
    created: Option<PathBuf>,
}

impl Drop for LedgerLock {
    fn drop(&mut self) {
        if let Some(ledger) = &self.created
            && std::fs::metadata(ledger).is_ok_and(|m| m.len() == 0)
        {
            let _ = std::fs::remove_file(ledger);
        }
    }
}

/// The sidecar lock file of a ledger: beside the file itself, whatever symlink
/// reaches it.
pub fn lock_path(ledger: &Path) -> PathBuf {
    let ledger = crate::roles::resolve(ledger);
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
    let (ledger_file, created) = lock_ledger_itself(ledger)?;
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
    Ok(LedgerLock {
        _sidecar: file,
        _ledger: ledger_file,
        path,
        created: created.then(|| ledger.to_owned()),
    })
}

/// Who holds the ledger's lock, read without touching the lock (a probe that locked,
/// however briefly, could turn the nightly run away): the holder's own note (`pid N
/// (started …)`), when the kernel's table of locks (`/proc/locks`) has a lock on the
/// lock file — a note left by a finished run whose pid now belongs to another process
/// is no holder. Without that table: when the note's process is alive. Never this
/// process. A hint for a page; `acquire` is the authority.
pub fn holder(ledger: &Path) -> Option<String> {
    let path = lock_path(ledger);
    let note = std::fs::read_to_string(&path).ok()?;
    let note = note.trim();
    let pid: u32 = note.strip_prefix("pid ")?.split(' ').next()?.parse().ok()?;
    if pid == std::process::id() {
        return None;
    }
    let held = match std::fs::read_to_string("/proc/locks") {
        Ok(table) => {
            use std::os::unix::fs::MetadataExt as _;
            let meta = std::fs::metadata(&path).ok()?;
            locked_in(&table, meta.dev(), meta.ino())
        }
        Err(_) => Path::new(&format!("/proc/{pid}")).exists(),
    };
    held.then(|| note.to_owned())
}

/// Whether the kernel's table of locks (`/proc/locks`) has a lock on the file with
/// device `dev` and inode `ino` (listed as `MAJOR:MINOR:INODE`, the device in hex).
fn locked_in(table: &str, dev: u64, ino: u64) -> bool {
    let wanted = format!(
        "{:02x}:{:02x}:{ino}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev)
    );
    table
        .lines()
        .any(|line| line.split_whitespace().any(|field| field == wanted))
}

/// Locks the ledger's inode (creating an empty ledger if there is none); says whether
/// it was created.
fn lock_ledger_itself(ledger: &Path) -> Result<(File, bool), LockError> {
    let io = |error| LockError::Io {
        path: ledger.display().to_string(),
        error,
    };
    let (file, created) = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(ledger)
    {
        Ok(file) => (file, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(ledger)
                .map_err(io)?;
            (file, false)
        }
        Err(e) => return Err(io(e)),
    };
    match file.try_lock() {
        Ok(()) => Ok((file, created)),
        Err(TryLockError::WouldBlock) => Err(LockError::Held {
            ledger: ledger.display().to_string(),
            holder: "another process (through another name of the same file)".into(),
        }),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_with_the_holder_named() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = dir.path().join("ledger.csv");
        let held = acquire(&ledger).expect("first lock");
        assert_eq!(
            holder(&ledger),
            None,
            "this process's own note is no other holder"
        );
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
    fn a_hard_link_or_a_symlink_to_a_held_ledger_is_held_too() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = dir.path().join("ledger.csv");
        let _held = acquire(&ledger).expect("first lock");
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&ledger, &hard).expect("hard link");
        let soft = dir.path().join("soft.csv");
        std::os::unix::fs::symlink(&ledger, &soft).expect("symlink");
        for other in [hard, soft] {
            assert!(
                matches!(acquire(&other), Err(LockError::Held { .. })),
                "{}",
                other.display()
            );
        }
    }

    #[test]
    fn a_ledger_created_for_the_lock_and_never_written_is_removed() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = dir.path().join("ledger.csv");
        drop(acquire(&ledger).expect("lock"));
        assert!(!ledger.exists());
        std::fs::write(&ledger, "").expect("an empty ledger of the user's");
        drop(acquire(&ledger).expect("lock"));
        assert!(ledger.exists(), "not created by the lock: left alone");
    }

    #[test]
    fn a_note_whose_pid_is_alive_but_holds_no_lock_is_no_holder() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = dir.path().join("ledger.csv");
        // A finished run's note; its pid now belongs to another process (pid 1).
        std::fs::write(
            lock_path(&ledger),
            "pid 1 (started 2026-12-01 00:30:00 +08:00)\n",
        )
        .expect("note");
        assert_eq!(holder(&ledger), None);
        // A process that does hold it is named.
        let mut child = std::process::Command::new("flock")
            .arg(lock_path(&ledger))
            .args(["sleep", "30"])
            .spawn()
            .expect("flock");
        let held = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            holder(&ledger).is_some()
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(held, "the kernel's lock is seen");
    }

    #[test]
    fn the_lock_table_is_read_by_device_and_inode() {
        let table = "1: FLOCK  ADVISORY  WRITE 2563 fe:00:10010760 0 EOF\n";
        let dev = rustix::fs::makedev(254, 0);
        assert!(locked_in(table, dev, 10_010_760));
        assert!(!locked_in(table, dev, 1_001_076));
        assert!(!locked_in(table, rustix::fs::makedev(8, 1), 10_010_760));
    }

    #[test]
    fn the_lock_file_sits_beside_the_ledger() {
        assert_eq!(
            lock_path(Path::new("/a/b/ledger.csv")),
            Path::new("/a/b/ledger.csv.lock")
        );
    }
}
