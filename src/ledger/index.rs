//! Reading a ledger into the dedup index: req_id → (status, payload digest), the
//! latest line winning. Sized for ten million lines in well under a gigabyte: a
//! req_id is kept as its 128-bit XXH3 hash and the payload MD5 as its first 62 bits.
//! A torn last line is reported, not fatal; any other damaged line is.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::{HEADER, LedgerError, SIMULATED_RUN_PREFIX, Settled, col};

/// A req_id as the indexes hold it. Two req_ids share a key with odds of about
/// 2^-128 per pair: far below any other failure this job can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqKey([u64; 2]);

impl ReqKey {
    pub fn of(req_id: &str) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_128(req_id.as_bytes());
        ReqKey([hash as u64, (hash >> 64) as u64])
    }
}

impl Hash for ReqKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a uniform hash: hand it over as it is.
        state.write_u64(self.0[0]);
    }
}

/// A hasher for keys that are already hashes.
#[derive(Debug, Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by `ReqKey`.
pub type KeyMap<V> = HashMap<ReqKey, V, BuildHasherDefault<PassThrough>>;

/// A req_id's state in the ledger: its status and a 62-bit payload digest, packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerState(u64);

impl LedgerState {
    pub fn new(status: Settled, payload_md5: &[u8; 16]) -> Self {
        let tag = match status {
            Settled::Delivered => 0,
            Settled::Rejected => 1,
            Settled::Failed => 2,
        };
        LedgerState((digest_prefix(payload_md5) << 2) | tag)
    }

    pub fn status(self) -> Settled {
        match self.0 & 3 {
            0 => Settled::Delivered,
            1 => Settled::Rejected,
            _ => Settled::Failed,
        }
    }

    /// Whether the recorded payload is `payload_md5` (to 62 bits).
    pub fn same_payload(self, payload_md5: &[u8; 16]) -> bool {
        self.same_digest(digest_prefix(payload_md5))
    }

    /// Whether the recorded payload has this `digest_prefix`.
    pub fn same_digest(self, prefix: u64) -> bool {
        self.0 >> 2 == prefix
    }
}

/// The first 62 bits of an MD5 digest.
pub fn digest_prefix(md5: &[u8; 16]) -> u64 {
    u64::from_be_bytes(md5[..8].try_into().expect("8 of 16 bytes")) >> 2
}

/// req_id → latest state.
#[derive(Debug, Default)]
pub struct LedgerIndex {
    map: KeyMap<LedgerState>,
}

impl LedgerIndex {
    pub fn get(&self, key: ReqKey) -> Option<LedgerState> {
        self.map.get(&key).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn insert(&mut self, key: ReqKey, state: LedgerState) {
        self.map.insert(key, state);
    }
}

/// What reading a ledger found.
#[derive(Debug, Default)]
pub struct LoadedLedger {
    pub index: LedgerIndex,
    /// Whether the file exists with at least a complete header line.
    pub has_header: bool,
    /// Complete data lines read.
    pub lines: u64,
    /// Bytes up to the end of the last complete line; a writer cuts the file here.
    pub complete_len: u64,
    /// The file's length; more than `complete_len` when the last line is torn.
    pub file_len: u64,
    /// Lines of `--simulate` runs left out of the index (live runs only).
    pub simulated_ignored: u64,
}

impl LoadedLedger {
    pub fn torn_bytes(&self) -> u64 {
        self.file_len - self.complete_len
    }
}

/// Reads `path` (absent means empty). `include_simulated` keeps lines of simulated
/// runs, which only a simulated run may trust.
pub fn load(path: &Path, include_simulated: bool) -> Result<LoadedLedger, LedgerError> {
    let mut index = LedgerIndex::default();
    // ~100 bytes a line: size the map once instead of rehashing it at 10M lines.
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    index.map.reserve(((size / 90) as usize).min(1 << 26));
    let mut simulated_ignored = 0;
    let shape = super::scan::walk(path, |line| {
        if !include_simulated
            && line.record[col::RUN_ID].starts_with(SIMULATED_RUN_PREFIX.as_bytes())
        {
            simulated_ignored += 1;
            return;
        }
        index.map.insert(
            ReqKey::of(line.req_id),
            LedgerState::new(line.status, &line.payload_md5),
        );
    })?;
    Ok(LoadedLedger {
        index,
        has_header: shape.has_header,
        lines: shape.lines,
        complete_len: shape.complete_len,
        file_len: shape.file_len,
        simulated_ignored,
    })
}

/// Checks one ledger line; returns its req_id, status and payload digest.
pub(crate) fn check_record(record: &csv::ByteRecord) -> Result<(&str, Settled, [u8; 16]), String> {
    if record.len() != HEADER.len() {
        return Err(format!(
            "{} fields instead of {}",
            record.len(),
            HEADER.len()
        ));
    }
    let req_id =
        std::str::from_utf8(&record[col::REQ_ID]).map_err(|_| "req_id is not UTF-8".to_owned())?;
    if req_id.is_empty() {
        return Err("req_id is empty".into());
    }
    let status: Settled = std::str::from_utf8(&record[col::STATUS])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "unknown status '{}'",
                String::from_utf8_lossy(&record[col::STATUS])
            )
        })?;
    let md5 = parse_md5(&record[col::PAYLOAD_MD5])
        .ok_or_else(|| "payload_md5 is not 32 hex digits".to_owned())?;
    Ok((req_id, status, md5))
}

pub(crate) fn corrupt_or_read(path: &str, line: u64, error: csv::Error) -> LedgerError {
    let line = error.position().map_or(line, |p| p.line());
    match error.into_kind() {
        csv::ErrorKind::Io(source) => LedgerError::Read {
            path: path.to_owned(),
            error: source,
        },
        other => LedgerError::Corrupt {
            path: path.to_owned(),
            line,
            reason: format!("{other:?}"),
        },
    }
}

/// The length up to and including the last `\n`.
pub(crate) fn complete_length(file: &mut File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(pos) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// 32 hex digits, either case.
pub fn parse_md5(hex_digits: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(hex_digits, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(byte: u8) -> [u8; 16] {
        [byte; 16]
    }

    fn line(req_id: &str, status: &str, md5_hex: &str, run_id: &str) -> String {
        format!(
            "{req_id},1,,{status},0000,,{md5_hex},rid,1,2026-01-01T00:00:00.000+08:00,{run_id}\n"
        )
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let path = dir.path().join("ledger.csv");
        std::fs::write(&path, text).expect("write ledger");
        path
    }

    fn header() -> String {
        format!("{}\n", HEADER.join(","))
    }

    #[test]
    fn state_packs_status_and_digest() {
        for status in [Settled::Delivered, Settled::Rejected, Settled::Failed] {
            let state = LedgerState::new(status, &md5(7));
            assert_eq!(state.status(), status);
            assert!(state.same_payload(&md5(7)));
            assert!(!state.same_payload(&md5(8)));
        }
    }

    #[test]
    fn a_missing_ledger_is_empty() {
        let dir = tempfile::tempdir().expect("dir");
        let loaded = load(&dir.path().join("none.csv"), false).expect("absent is fine");
        assert!(loaded.index.is_empty() && !loaded.has_header);
    }

    #[test]
    fn the_latest_line_per_req_id_wins() {
        let dir = tempfile::tempdir().expect("dir");
        let a = hex::encode([1u8; 16]);
        let text = header()
            + &line("r1", "failed", &a, "x")
            + &line("r1", "delivered", &a, "y")
            + &line("r2", "rejected", &a, "y");
        let loaded = load(&write(&dir, &text), false).expect("loads");
        assert_eq!(loaded.lines, 3);
        assert_eq!(
            loaded.index.get(ReqKey::of("r1")).map(LedgerState::status),
            Some(Settled::Delivered)
        );
        assert_eq!(
            loaded.index.get(ReqKey::of("r2")).map(LedgerState::status),
            Some(Settled::Rejected)
        );
        assert_eq!(loaded.torn_bytes(), 0);
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_measured() {
        let dir = tempfile::tempdir().expect("dir");
        let a = hex::encode([1u8; 16]);
        let text = header() + &line("r1", "delivered", &a, "x") + "r2,1,,deliv";
        let loaded = load(&write(&dir, &text), false).expect("torn tail is not fatal");
        assert_eq!(
            (loaded.lines, loaded.torn_bytes()),
            (1, "r2,1,,deliv".len() as u64)
        );
        assert!(loaded.index.get(ReqKey::of("r2")).is_none());
    }

    #[test]
    fn a_torn_header_means_a_new_ledger() {
        let dir = tempfile::tempdir().expect("dir");
        let loaded = load(&write(&dir, "req_id,ord"), false).expect("loads");
        assert!(!loaded.has_header);
        assert_eq!(loaded.complete_len, 0);
    }

    #[test]
    fn a_wrong_header_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let err = load(&write(&dir, "order_no,success,req_id\n1,true,a\n"), false)
            .expect_err("not a ledger");
        assert!(matches!(err, LedgerError::Header { .. }), "{err}");
    }

    #[test]
    fn a_damaged_line_in_the_middle_names_its_line() {
        let dir = tempfile::tempdir().expect("dir");
        let a = hex::encode([1u8; 16]);
        for (bad, reason) in [
            (
                "r2,1,,shipped,0000,,".to_owned() + &a + ",rid,1,t,x\n",
                "unknown status",
            ),
            (
                "r2,1,,delivered,0000,,xyz,rid,1,t,x\n".to_owned(),
                "payload_md5",
            ),
            ("r2,1,delivered\n".to_owned(), "fields"),
        ] {
            let text = header()
                + &line("r1", "delivered", &a, "x")
                + &bad
                + &line("r3", "delivered", &a, "x");
            match load(&write(&dir, &text), false) {
                Err(LedgerError::Corrupt {
                    line,
                    reason: found,
                    ..
                }) => {
                    assert_eq!(line, 3, "{found}");
                    assert!(found.contains(reason), "{found}");
                }
                other => panic!("expected a corrupt line error, got {other:?}"),
            }
        }
    }

    #[test]
    fn simulated_lines_are_ignored_by_live_runs_only() {
        let dir = tempfile::tempdir().expect("dir");
        let a = hex::encode([1u8; 16]);
        let path = write(
            &dir,
            &(header() + &line("r1", "delivered", &a, "sim-20260101")),
        );
        let live = load(&path, false).expect("loads");
        assert_eq!((live.index.len(), live.simulated_ignored), (0, 1));
        let rehearsal = load(&path, true).expect("loads");
        assert_eq!(rehearsal.index.len(), 1);
    }
}
