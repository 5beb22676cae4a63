//! Appending outcomes durably. Each batch of whole lines goes to the kernel in one
//! write, so a killed process leaves at most a torn last line; a syncer thread
//! fsyncs at most ~200 ms or 1,000 lines after an append, and `finish` fsyncs at
//! the end. A failed write is cut back to the last whole line before it is reported.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::scan::Shape;
use super::{HEADER, LedgerEntry, LedgerError};

/// How often appended lines are forced to disk.
#[derive(Debug, Clone, Copy)]
pub struct SyncPolicy {
    pub max_delay: Duration,
    pub max_lines: u64,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            max_delay: Duration::from_millis(200),
            max_lines: 1000,
        }
    }
}

/// The one appender of a ledger (the caller holds its lock).
#[derive(Debug)]
pub struct LedgerWriter {
    path: PathBuf,
    file: File,
    /// Length of the file up to its last whole line.
    good_len: u64,
    /// Reused buffer for formatting lines.
    buf: Vec<u8>,
    syncer: Option<Syncer>,
    appended: u64,
}

impl LedgerWriter {
    /// Opens `path` for appending after a scan found it `shape`d so: starts an empty
    /// (or new) ledger with its header, ends a last line that lacks its line break, or
    /// cuts a torn last line off. A non-empty file without the header is never touched.
    pub fn open(path: &Path, shape: &Shape, policy: SyncPolicy) -> Result<Self, LedgerError> {
        let shown = path.display().to_string();
        let write_error = |source| LedgerError::Write {
            path: shown.clone(),
            error: source,
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(write_error)?;
        let actual_len = file.metadata().map_err(write_error)?.len();
        if !shape.has_header && actual_len > 0 {
            return Err(LedgerError::Header {
                path: shown,
                found: "(changed since it was read)".into(),
            });
        }
        if actual_len > shape.complete_len {
            // Only a torn tail may be here: the lock kept other writers out since load.
            tracing::warn!(
                "ledger {shown}: cutting off a torn last line ({} bytes) left by an interrupted run",
                actual_len - shape.complete_len
            );
            file.set_len(shape.complete_len).map_err(write_error)?;
        }
        let mut writer = LedgerWriter {
            path: path.to_owned(),
            file,
            good_len: shape.complete_len.min(actual_len),
            buf: Vec::with_capacity(64 * 1024),
            syncer: None,
            appended: 0,
        };
        if writer.good_len == 0 {
            writer
                .write_lines(|w| w.write_record(HEADER))
                .map_err(write_error)?;
            writer.file.sync_all().map_err(write_error)?;
            // A new file's name is durable only once its directory is synced.
            sync_parent(path).map_err(write_error)?;
        } else if shape.newline_missing {
            writer.file.write_all(b"\n").map_err(write_error)?;
            writer.good_len += 1;
        }
        let clone = writer.file.try_clone().map_err(write_error)?;
        writer.syncer = Some(Syncer::spawn(clone, policy).map_err(write_error)?);
        Ok(writer)
    }

    /// Appends `entries` as whole lines, in one write.
    pub fn append(&mut self, entries: &[LedgerEntry]) -> Result<(), LedgerError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write_lines(|w| {
            for entry in entries {
                write_entry(w, entry)?;
            }
            Ok(())
        })
        .map_err(|source| LedgerError::Write {
            path: self.path.display().to_string(),
            error: source,
        })?;
        self.appended += entries.len() as u64;
        if let Some(syncer) = &self.syncer {
            syncer
                .note(entries.len() as u64)
                .map_err(|source| LedgerError::Write {
                    path: self.path.display().to_string(),
                    error: source,
                })?;
        }
        Ok(())
    }

    /// Lines appended by this writer.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Stops the syncer and forces everything to disk.
    pub fn finish(mut self) -> Result<(), LedgerError> {
        let write_error = |source| LedgerError::Write {
            path: self.path.display().to_string(),
            error: source,
        };
        if let Some(syncer) = self.syncer.take() {
            syncer.stop().map_err(write_error)?;
        }
        self.file.sync_data().map_err(write_error)
    }

    fn write_lines(
        &mut self,
        fill: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>,
    ) -> std::io::Result<()> {
        let mut lines = crate::csvio::ledger_writer(std::mem::take(&mut self.buf));
        fill(&mut lines).map_err(std::io::Error::other)?;
        let mut bytes = lines.into_inner().map_err(|e| e.into_error())?;
        let written = self.file.write_all(&bytes);
        let len = bytes.len() as u64;
        bytes.clear();
        self.buf = bytes;
        if let Err(e) = written {
            // Never leave half a line for the next append to continue.
            let _ = self.file.set_len(self.good_len);
            return Err(e);
        }
        self.good_len += len;
        Ok(())
    }
}

impl Drop for LedgerWriter {
    fn drop(&mut self) {
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.stop();
        }
    }
}

/// One ledger line, field by field (no allocation: this runs for every outcome).
fn write_entry<W: std::io::Write>(w: &mut csv::Writer<W>, entry: &LedgerEntry) -> csv::Result<()> {
    let mut order_no = itoa::Buffer::new();
    let mut sub_order_no = itoa::Buffer::new();
    let mut attempts = itoa::Buffer::new();
    let mut md5 = [0u8; 32];
    faster_hex::hex_encode(&entry.payload_md5, &mut md5).expect("32 hex digits for 16 bytes");
    w.write_field(&entry.req_id)?;
    w.write_field(order_no.format(entry.order_no))?;
    w.write_field(entry.sub_order_no.map_or("", |n| sub_order_no.format(n)))?;
    w.write_field(entry.status.as_str())?;
    w.write_field(&entry.error_code)?;
    w.write_field(&entry.sub_code)?;
    w.write_field(md5)?;
    w.write_field(&entry.top_request_id)?;
    w.write_field(attempts.format(entry.attempts))?;
    w.write_field(&entry.finished_at)?;
    w.write_field(&*entry.run_id)?;
    w.write_record(None::<&[u8]>)
}

/// A new file's name is durable only once its directory is synced.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// The thread that turns appends into fsyncs, in groups.
#[derive(Debug)]
struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<SyncState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    pending: u64,
    stop: bool,
    error: Option<std::io::Error>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Syncer {
    fn spawn(file: File, policy: SyncPolicy) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ledger-sync".into())
            .spawn(move || sync_loop(&file, &worker, policy))?;
        Ok(Syncer {
            shared,
            thread: Some(thread),
        })
    }

    /// Records `lines` appended; reports an earlier fsync failure.
    fn note(&self, lines: u64) -> std::io::Result<()> {
        let mut state = self.shared.lock();
        if let Some(error) = state.error.take() {
            return Err(error);
        }
        state.pending += lines;
        self.shared.wake.notify_one();
        Ok(())
    }

    fn stop(mut self) -> std::io::Result<()> {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match self.shared.lock().error.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sync_loop(file: &File, shared: &Shared, policy: SyncPolicy) {
    loop {
        let mut state = shared.lock();
        while state.pending == 0 && !state.stop {
            state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if state.pending == 0 {
            return;
        }
        // Gather more lines for one fsync, but not longer than the policy allows.
        let deadline = Instant::now() + policy.max_delay;
        while state.pending < policy.max_lines && !state.stop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = shared
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        state.pending = 0;
        let stop = state.stop;
        drop(state);
        if let Err(error) = file.sync_data() {
            shared.lock().error = Some(error);
            return;
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Settled;
    use crate::ledger::scan::walk;

    fn entry(req_id: &str) -> LedgerEntry {
        LedgerEntry {
            req_id: req_id.into(),
            order_no: 4_012_345_678_901_234_567,
            sub_order_no: None,
            status: Settled::Delivered,
            error_code: "0000".into(),
            sub_code: String::new(),
            payload_md5: [9; 16],
            top_request_id: "sim1".into(),
            attempts: 1,
            finished_at: "2026-11-25T21:00:00.000+08:00".into(),
            run_id: "run-1".into(),
        }
    }

    /// A writer for the ledger at `path`, as a run opens it after its scan.
    fn open_writer(path: &Path) -> LedgerWriter {
        let shape = walk(path, |_| {}).expect("scan");
        LedgerWriter::open(path, &shape, SyncPolicy::default()).expect("open")
    }

    #[test]
    fn a_new_ledger_gets_a_header_and_reads_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.csv");
        let mut writer = open_writer(&path);
        writer
            .append(&[entry("a"), entry("b,with comma")])
            .expect("append");
        writer.finish().expect("finish");
        let mut req_ids = Vec::new();
        let shape = walk(&path, |line| req_ids.push(line.req_id.to_owned())).expect("reload");
        assert_eq!(shape.lines, 2);
        assert_eq!(req_ids, ["a", "b,with comma"]);
    }

    #[test]
    fn a_torn_tail_is_cut_before_appending() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.csv");
        let mut writer = open_writer(&path);
        writer.append(&[entry("a")]).expect("append");
        writer.finish().expect("finish");
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(b"torn,4012").expect("tear");
        let mut writer = open_writer(&path);
        writer.append(&[entry("b")]).expect("append");
        writer.finish().expect("finish");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("torn"), "{text}");
        assert_eq!(walk(&path, |_| {}).expect("reload").lines, 2);
    }

    #[test]
    fn syncs_happen_without_further_appends() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.csv");
        let policy = SyncPolicy {
            max_delay: Duration::from_millis(5),
            max_lines: 1000,
        };
        let mut writer =
            LedgerWriter::open(&path, &walk(&path, |_| {}).expect("scan"), policy).expect("open");
        writer.append(&[entry("a")]).expect("append");
        // No further append: the syncer must get there on its own, well within 10 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let pending = loop {
            let pending = writer.syncer.as_ref().map(|s| s.shared.lock().pending);
            if pending == Some(0) || std::time::Instant::now() > deadline {
                break pending;
            }
            std::thread::yield_now();
        };
        assert_eq!(pending, Some(0), "the syncer ran on its own deadline");
        writer.finish().expect("finish");
    }
}
