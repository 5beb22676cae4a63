//! The plan's digest: what it sends, as one SHA-256 (`plan_digest` in the summary,
//! the runs table, the desk's approvals).

use super::{Decision, Entry, Plan};
use crate::ledger::ReqKey;

impl Plan {
    /// The digest of exactly what the plan sends: SHA-256 over each call's req_id key
    /// and payload digest, in key order (so it does not depend on how the index is
    /// laid out), as 64 hex digits. Two plans with the same digest send the same
    /// payloads under the same req_ids.
    pub fn digest(&self) -> String {
        use sha2::Digest as _;
        // References into the index, sorted (a third of the memory of copies: the
        // index is at its largest now).
        let mut sends: Vec<(&ReqKey, &Entry)> = self
            .input
            .iter()
            .filter(|(_, entry)| {
                !entry.contradicted()
                    && self.against_ledger(entry.ledger, entry.digest, 0) == Decision::Send
            })
            .collect();
        sends.sort_unstable_by_key(|(key, _)| key.words());
        let resends: Vec<([u64; 2], u64)> = {
            let mut calls: Vec<_> = self.resends.calls().collect();
            calls.sort_unstable();
            calls
        };
        let mut hasher = sha2::Sha256::new();
        let mut sent = |key: [u64; 2], payload: u64| {
            hasher.update(key[0].to_be_bytes());
            hasher.update(key[1].to_be_bytes());
            hasher.update(payload.to_be_bytes());
        };
        // Both lists in key order, merged: the one order of every call.
        let (mut i, mut j) = (0, 0);
        while i < sends.len() || j < resends.len() {
            let take_send = j == resends.len()
                || (i < sends.len() && (sends[i].0.words(), sends[i].1.payload()) <= resends[j]);
            if take_send {
                sent(sends[i].0.words(), sends[i].1.payload());
                i += 1;
            } else {
                sent(resends[j].0, resends[j].1);
                j += 1;
            }
        }
        faster_hex::hex_string(&hasher.finalize())
    }
}
