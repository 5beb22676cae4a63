//! The desk's audit log, `DIR/audit.log`: one JSON object per line, appended and synced
//! — time (Beijing), user, action (login, upload, preview, send, download, …), and
//! what the action touched: the file's SHA-256, counts, the run id. Never rewritten.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The open audit log.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    file: Mutex<File>,
}

impl Audit {
    pub fn open(dir: &Path) -> std::io::Result<Audit> {
        let path = dir.join("audit.log");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Audit {
            path,
            file: Mutex::new(file),
        })
    }

    /// Appends one event: `fields` (an object) after the time, user and action. A
    /// failed write is logged, not fatal to the request (the action already happened).
    pub fn record(&self, user: &str, action: &str, fields: serde_json::Value) {
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
        let written = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("audit log poisoned"))
            .and_then(|mut file| {
                file.write_all(line.as_bytes())?;
                file.sync_data()
            });
        if let Err(error) = written {
            tracing::error!("cannot append to {}: {error}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("audit.log"), "{\"earlier\":1}\n").expect("seed");
        let audit = Audit::open(dir.path()).expect("open");
        audit.record("ana", "upload", serde_json::json!({"rows": 3}));
        audit.record("ana", "send", serde_json::json!({"run_id": "r1"}));
        let text = std::fs::read_to_string(dir.path().join("audit.log")).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
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
}
