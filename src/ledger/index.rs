//! The compact values dedup works with — a req_id as its 128-bit XXH3 hash, a ledger
//! state as status plus the first 62 bits of the payload MD5 — and the checks of one
//! ledger line. A torn last line is reported, not fatal; any other damaged line is.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{Read, Seek, SeekFrom};

use super::{HEADER, LedgerError, Settled, col};

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
    /// No state: tag 3 is no status.
    pub const NONE: LedgerState = LedgerState(3);

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

/// Checks one ledger line's fields; returns its req_id, status and payload digest.
pub(crate) fn check_fields<'a>(
    fields: &[&'a [u8]; HEADER.len()],
) -> Result<(&'a str, Settled, [u8; 16]), String> {
    let req_id =
        std::str::from_utf8(fields[col::REQ_ID]).map_err(|_| "req_id is not UTF-8".to_owned())?;
    if req_id.is_empty() {
        return Err("req_id is empty".into());
    }
    let status = match fields[col::STATUS] {
        b"delivered" => Settled::Delivered,
        b"rejected" => Settled::Rejected,
        b"failed" => Settled::Failed,
        other => {
            return Err(format!(
                "unknown status '{}'",
                String::from_utf8_lossy(other)
            ));
        }
    };
    let md5 = parse_md5(fields[col::PAYLOAD_MD5])
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
    // Ten million of these per large ledger: the SIMD decoder (with validation) is
    // about ten times the `hex` crate's speed here.
    let mut out = [0u8; 16];
    if hex_digits.len() != 32 {
        return None;
    }
    faster_hex::hex_decode(hex_digits, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_packs_status_and_digest() {
        for status in [Settled::Delivered, Settled::Rejected, Settled::Failed] {
            let state = LedgerState::new(status, &[7; 16]);
            assert_eq!(state.status(), status);
            assert!(state.same_payload(&[7; 16]));
            assert!(!state.same_payload(&[8; 16]));
        }
    }

    #[test]
    fn keys_differ_for_different_req_ids() {
        assert_eq!(ReqKey::of("a"), ReqKey::of("a"));
        assert_ne!(ReqKey::of("a"), ReqKey::of("b"));
    }
}
