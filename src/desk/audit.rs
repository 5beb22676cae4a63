//! The desk's audit log, `DIR/audit.log`: one JSON object per line, appended and synced
//! — time (Beijing), user, action (login, upload, preview, send, download, …), and
//! what the action touched: the file's SHA-256, counts, the run id. Never rewritten.
//!
//! It is the desk's own file and nothing else: a regular file, never a symlink, never
//! the ledger or any file whose first line is the ledger's header (checked at start and
//! at every reopen). A line that cannot be written refuses the action it records (no
//! audit, no action); a log rotated or deleted under the desk is reopened at its path.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why the audit log cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the audit log {} is not the desk's own file: {why} — remove it (the desk makes a new one) or point --results-dir elsewhere",
        path.display()
    )]
    NotItsOwn { path: PathBuf, why: &'static str },
}

/// The open audit log.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    /// The ledger's device and inode: never to be written as the log.
    ledger: Option<(u64, u64)>,
    file: Mutex<Open>,
}

#[derive(Debug)]
struct Open {
    file: File,
    identity: (u64, u64),
}

impl Audit {
    /// Opens `DIR/audit.log`, which must not be `ledger` (however it is reached).
    pub fn open(dir: &Path, ledger: &Path) -> Result<Audit, AuditError> {
        let path = dir.join("audit.log");
        let ledger = std::fs::metadata(ledger).ok().map(|m| (m.dev(), m.ino()));
        let open = open_log(&path, ledger)?;
        Ok(Audit {
            path,
            ledger,
            file: Mutex::new(open),
        })
    }

    /// Appends one event: `fields` (an object) after the time, user and action, and
    /// syncs it. An error means the line is not in the log: the caller refuses the
    /// action (or, for one already done, says so).
    pub fn record(
        &self,
        user: &str,
        action: &str,
        fields: serde_json::Value,
    ) -> Result<(), AuditError> {
        let mut event = serde_json::json!({
            "time": crate::clock::now_stamp(),
            "user": user,
            "action": action,
        });
        if let (Some(event), serde_json::Value::Object(fields)) = (event.as_object_mut(), fields) {
            event.extend(fields);
        }
        let mut line = event.to_string();
        line.push('\n');
        let mut open = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // Rotated (another file at the path now) or deleted: reopen at the path.
        let here = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if here != Some(open.identity) {
            *open = open_log(&self.path, self.ledger)?;
        }
        let io = |error| AuditError::Io {
            path: self.path.clone(),
            error,
        };
        open.file.write_all(line.as_bytes()).map_err(io)?;
        open.file.sync_data().map_err(io)
    }

    /// `record`, for an action already done: a failure is logged, as nothing can be
    /// undone.
    pub fn record_done(&self, user: &str, action: &str, fields: serde_json::Value) {
        if let Err(error) = self.record(user, action, fields) {
            tracing::error!("desk: {error}; the {action} of {user} is not in the audit log");
        }
    }
}

/// Opens (or creates) the log at `path`: a regular file of its own, not a symlink,
/// not the ledger, not a ledger.
fn open_log(path: &Path, ledger: Option<(u64, u64)>) -> Result<Open, AuditError> {
    let io = |error| AuditError::Io {
        path: path.to_owned(),
        error,
    };
    let not_its_own = |why| AuditError::NotItsOwn {
        path: path.to_owned(),
        why,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(not_its_own("it is a symlink")),
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(not_its_own("it is not a regular file"));
        }
        _ => {}
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o640)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let identity = (meta.dev(), meta.ino());
    if Some(identity) == ledger {
        return Err(not_its_own("it is the ledger"));
    }
    let mut head = Vec::with_capacity(256);
    std::io::Read::read_to_end(&mut std::io::Read::take(&file, 512), &mut head).map_err(io)?;
    if crate::columns::is_ledger_head(&head) {
        return Err(not_its_own(
            "it is a ledger (its first line is the ledger header)",
        ));
    }
    Ok(Open { file, identity })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    }

    #[test]
    fn events_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("audit.log"), "{\"earlier\":1}\n").expect("seed");
        let audit = Audit::open(dir.path(), &dir.path().join("ledger.csv")).expect("open");
        audit
            .record("ana", "upload", serde_json::json!({"rows": 3}))
            .expect("recorded");
        audit
            .record("ana", "send", serde_json::json!({"run_id": "r1"}))
            .expect("recorded");
        let lines = lines(&dir.path().join("audit.log"));
        assert_eq!(lines.len(), 3, "kept the earlier line");
        assert_eq!(lines[1]["action"], "upload");
        assert_eq!(lines[1]["rows"], 3);
        assert_eq!(lines[2]["run_id"], "r1");
        assert!(
            lines[2]["time"]
                .as_str()
                .is_some_and(|t| t.contains("+08:00"))
        );
    }

    #[test]
    fn a_rotated_or_deleted_log_is_reopened() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("audit.log");
        let audit = Audit::open(dir.path(), &dir.path().join("ledger.csv")).expect("open");
        audit
            .record("ana", "a", serde_json::json!({}))
            .expect("one");
        std::fs::rename(&log, dir.path().join("audit.log.1")).expect("rotate");
        audit
            .record("ana", "b", serde_json::json!({}))
            .expect("two");
        assert_eq!(lines(&log)[0]["action"], "b");
        std::fs::remove_file(&log).expect("delete");
        audit
            .record("ana", "c", serde_json::json!({}))
            .expect("three");
        assert_eq!(lines(&log)[0]["action"], "c");
    }

    #[test]
    fn the_ledger_or_a_link_is_never_the_log() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = dir.path().join("ledger.csv");
        std::fs::write(
            &ledger,
            format!("{}\n", crate::columns::LEDGER_HEADER.join(",")),
        )
        .expect("ledger");
        let results = dir.path().join("results");
        std::fs::create_dir(&results).expect("dir");
        std::fs::hard_link(&ledger, results.join("audit.log")).expect("hard link");
        let err = Audit::open(&results, &ledger).expect_err("the ledger");
        assert!(err.to_string().contains("it is the ledger"), "{err}");
        std::fs::remove_file(results.join("audit.log")).expect("rm");
        std::os::unix::fs::symlink(&ledger, results.join("audit.log")).expect("symlink");
        let err = Audit::open(&results, &ledger).expect_err("a link");
        assert!(err.to_string().contains("symlink"), "{err}");
        let before = std::fs::read(&ledger).expect("read");
        // A log that turns into a link to the ledger after start: refused, not written.
        std::fs::remove_file(results.join("audit.log")).expect("rm");
        let audit = Audit::open(&results, &ledger).expect("open");
        std::fs::remove_file(results.join("audit.log")).expect("rm");
        std::os::unix::fs::symlink(&ledger, results.join("audit.log")).expect("symlink");
        assert!(audit.record("ana", "send", serde_json::json!({})).is_err());
        assert_eq!(std::fs::read(&ledger).expect("read"), before);
    }
}
