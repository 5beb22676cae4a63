//! What the ledger knows of the req_ids a run is about: for each key, the order's id,
//! state and payload digest, found in the dedup index (`order_keys`) — the cost follows
//! the export, not the ledger's age. The keys are looked up in their index's order, on
//! a connection per thread.

use rusqlite::params;

use super::db::sql;
use super::{Ledger, LedgerError, LedgerState, OrderState, ReqKey};

/// What the ledger says of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The order's row (`orders.id`), for the rows the run records about it.
    pub id: i64,
    pub state: LedgerState,
}

/// A live run's question: its own kind of order only. (No `IN` list: SQLite builds
/// one as a temporary tree on every execution.)
const LOOKUP_LIVE: &str =
    "SELECT id, state, payload_md5 FROM order_keys WHERE near = ?1 AND key = ?2 AND sim = 0";
/// A simulated run's: its own kind first, else a real one (the key's entries are
/// neighbours in the index: read backwards, the simulated one comes first).
const LOOKUP_SIMULATED: &str = "SELECT id, state, payload_md5 FROM order_keys WHERE near = ?1 AND key = ?2 ORDER BY sim DESC LIMIT 1";

/// A req_id to look up: its neighbourhood (`key::neighbourhood`) and its key.
pub type Sought = (i64, ReqKey);

/// Looks up every key of `keys` in the ledger (a simulated run also sees its own
/// kind's orders, which live runs never do), on `threads` connections; `found` hears
/// of each key the ledger has, by its place in `keys`.
pub fn lookup(
    ledger: &Ledger,
    keys: &[Sought],
    simulated: bool,
    threads: usize,
    mut found: impl FnMut(usize, Known),
) -> Result<(), LedgerError> {
    // In the index's order: each page is read once, in order, and a night's req_ids
    // made in sequence fall on the few pages of their neighbourhood.
    let mut order: Vec<u32> = (0..u32::try_from(keys.len()).unwrap_or(u32::MAX)).collect();
    order.sort_unstable_by_key(|&i| {
        let (near, key) = keys[i as usize];
        (near, key.words())
    });
    let threads = threads.clamp(1, 8).min(keys.len().max(1));
    let part = order.len().div_ceil(threads).max(1);
    let mut chunks = order.chunks(part);
    let first = chunks.next().unwrap_or_default();
    let parts: Vec<Vec<(u32, Known)>> = std::thread::scope(|scope| {
        // The other parts on connections of their own, the first on this one.
        let path = &ledger.path;
        let handles: Vec<_> = chunks
            .map(|chunk| {
                scope.spawn(move || {
                    let reader = Ledger::open(path, super::Access::Read)?;
                    find(&reader, keys, chunk, simulated)
                })
            })
            .collect();
        let mut all = vec![find(ledger, keys, first, simulated)?];
        for handle in handles {
            all.push(handle.join().map_err(|_| LedgerError::Sql {
                path: path.display().to_string(),
                error: "a lookup thread failed".into(),
            })??);
        }
        Ok::<_, LedgerError>(all)
    })?;
    for (i, known) in parts.into_iter().flatten() {
        found(i as usize, known);
    }
    Ok(())
}

/// What the ledger has of `keys[i]` for each `i` of `chunk` (only the keys it has),
/// in one read transaction.
fn find(
    ledger: &Ledger,
    keys: &[Sought],
    chunk: &[u32],
    simulated: bool,
) -> Result<Vec<(u32, Known)>, LedgerError> {
    let path = &ledger.path;
    let tx = ledger
        .conn
        .unchecked_transaction()
        .map_err(|e| sql(path, e))?;
    let query = if simulated {
        LOOKUP_SIMULATED
    } else {
        LOOKUP_LIVE
    };
    let mut statement = tx.prepare_cached(query).map_err(|e| sql(path, e))?;
    let mut out = Vec::new();
    for &i in chunk {
        let (near, key) = keys[i as usize];
        let mut rows = statement
            .query(params![near, key.to_bytes().as_slice()])
            .map_err(|e| sql(path, e))?;
        if let Some(row) = rows.next().map_err(|e| sql(path, e))? {
            out.push((i, known_of(row).map_err(|e| sql(path, e))?));
        }
    }
    Ok(out)
}

fn known_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Known> {
    let id: i64 = row.get(0)?;
    let state: String = row.get(1)?;
    let md5: Vec<u8> = row.get(2)?;
    let md5: [u8; 16] = md5.as_slice().try_into().unwrap_or([0; 16]);
    let state = state.parse().unwrap_or(OrderState::Pending);
    Ok(Known {
        id,
        state: LedgerState::new(state, &md5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::{Recording, tests::entry, tests::run};
    use crate::ledger::{Access, Settled};

    #[test]
    fn keys_are_found_in_their_order_on_several_threads() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = Ledger::open(&dir.path().join("ledger.db"), Access::Write).expect("ledger");
        let mut recording = Recording::start(ledger, &run("run-1")).expect("start");
        let entries: Vec<_> = (0..50)
            .map(|i| entry(&format!("r{i}"), Settled::Delivered, "run-1"))
            .collect();
        recording.append(&entries, &[]).expect("append");
        drop(recording);
        let ledger = Ledger::open(&dir.path().join("ledger.db"), Access::Read).expect("ledger");
        let keys: Vec<Sought> = ["r3", "nope", "r49", "r0"]
            .iter()
            .map(|r| (crate::ledger::key::neighbourhood(r), ReqKey::of(r)))
            .collect();
        let answers = |simulated: bool, threads: usize| {
            let mut answers = vec![None; keys.len()];
            lookup(&ledger, &keys, simulated, threads, |i, known| {
                answers[i] = Some(known)
            })
            .expect("lookup");
            answers
        };
        for threads in [1, 2, 3] {
            let found = answers(false, threads);
            assert!(found[0].is_some() && found[2].is_some() && found[3].is_some());
            assert!(found[1].is_none());
            assert_eq!(
                found[0].map(|k| k.state.state()),
                Some(OrderState::Delivered)
            );
            assert!(found[0].is_some_and(|k| k.state.same_payload(&[9; 16])));
        }
        // A simulated run sees the real orders too.
        assert!(answers(true, 1)[0].is_some());
    }
}
