//! The compact values dedup works with: a req_id as its 128-bit XXH3 hash (`ReqKey`,
//! and maps keyed by it; the ledger's `orders.key`), a ledger state as the order's
//! state plus the first 61 bits of the payload MD5 (`LedgerState`). The index built
//! from them is the plan's.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::OrderState;

/// Where a req_id's entry sits in the dedup index (`order_keys`): its first 8 bytes,
/// in their order. Req_ids made in sequence (a prefix, a date, a number) sit together,
/// so a night's lookups read the few pages of recent orders however old the ledger
/// is. Stored signed, the top bit flipped, so SQLite's integer order is the bytes'.
pub fn neighbourhood(req_id: &str) -> i64 {
    let mut bytes = [0u8; 8];
    let head = &req_id.as_bytes()[..req_id.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// A req_id as the indexes hold it. Two req_ids share a key with odds of about
/// 2^-128 per pair: far below any other failure this job can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqKey([u64; 2]);

impl ReqKey {
    pub fn of(req_id: &str) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_128(req_id.as_bytes());
        ReqKey([hash as u64, (hash >> 64) as u64])
    }

    /// The key's two words, for digests over keys.
    pub fn words(self) -> [u64; 2] {
        self.0
    }

    /// The key as the ledger stores it (`orders.key`, 16 bytes, big-endian words: the
    /// ledger's index sorts as `words` do).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.0[0].to_be_bytes());
        bytes[8..].copy_from_slice(&self.0[1].to_be_bytes());
        bytes
    }

    /// A key from the ledger's 16 bytes.
    pub fn from_bytes(bytes: &[u8; 16]) -> Self {
        let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        ReqKey([word(0), word(8)])
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

/// A req_id's state in the ledger: its state and a 61-bit payload digest, packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerState(u64);

impl LedgerState {
    /// No state: tag 7 is no state.
    pub const NONE: LedgerState = LedgerState(7);

    pub fn new(state: OrderState, payload_md5: &[u8; 16]) -> Self {
        let tag = match state {
            OrderState::Delivered => 0,
            OrderState::Rejected => 1,
            OrderState::Failed => 2,
            OrderState::Pending => 3,
            OrderState::Closed => 4,
        };
        LedgerState((digest_prefix(payload_md5) << 3) | tag)
    }

    pub fn state(self) -> OrderState {
        match self.0 & 7 {
            0 => OrderState::Delivered,
            1 => OrderState::Rejected,
            2 => OrderState::Failed,
            3 => OrderState::Pending,
            _ => OrderState::Closed,
        }
    }

    /// Whether the recorded payload is `payload_md5` (to 61 bits).
    pub fn same_payload(self, payload_md5: &[u8; 16]) -> bool {
        self.same_digest(digest_prefix(payload_md5))
    }

    /// Whether the recorded payload has this `digest_prefix`.
    pub fn same_digest(self, prefix: u64) -> bool {
        self.0 >> 3 == prefix
    }
}

/// The first 61 bits of an MD5 digest.
pub fn digest_prefix(md5: &[u8; 16]) -> u64 {
    u64::from_be_bytes(md5[..8].try_into().expect("8 of 16 bytes")) >> 3
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
    fn neighbourhoods_are_in_the_req_ids_byte_order() {
        let ids = [
            "",
            "A",
            "CZ2026",
            "CZ20261124000001",
            "CZ202612",
            "b",
            "订单",
        ];
        for pair in ids.windows(2) {
            assert!(neighbourhood(pair[0]) < neighbourhood(pair[1]), "{pair:?}");
        }
        // Past 8 bytes, one neighbourhood: the key orders within it.
        assert_eq!(
            neighbourhood("CZ20261124000001"),
            neighbourhood("CZ20261124999999")
        );
    }

    #[test]
    fn state_packs_state_and_digest() {
        for order in OrderState::ALL {
            let state = LedgerState::new(order, &[7; 16]);
            assert_eq!(state.state(), order);
            assert!(state.same_payload(&[7; 16]));
            assert!(!state.same_payload(&[8; 16]));
            assert_ne!(state, LedgerState::NONE);
        }
    }

    #[test]
    fn keys_go_to_bytes_and_back_in_the_same_order() {
        let a = ReqKey::of("a");
        let b = ReqKey::of("b");
        assert_eq!(ReqKey::from_bytes(&a.to_bytes()), a);
        assert_eq!(a.words().cmp(&b.words()), a.to_bytes().cmp(&b.to_bytes()));
    }

    #[test]
    fn keys_differ_for_different_req_ids() {
        assert_eq!(ReqKey::of("a"), ReqKey::of("a"));
        assert_ne!(ReqKey::of("a"), ReqKey::of("b"));
    }
}
