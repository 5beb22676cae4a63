//! What the ledger knows of the req_ids a run is about: for each key, the order's id,
//! state and payload digest, found by its index (`orders_by_key`) — the cost follows
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

const LOOKUP: &str = "SELECT id, state, payload_md5 FROM orders WHERE key = ?1 AND sim IN (0, ?2) ORDER BY sim DESC LIMIT 1";

/// Looks up every key of `keys` in the ledger (a simulated run also sees its own
/// kind's orders, which live runs never do), on `threads` connections; the answers
/// are in `keys`' order.
pub fn lookup(
    ledger: &Ledger,
    keys: &[ReqKey],
    simulated: bool,
    threads: usize,
) -> Result<Vec<Option<Known>>, LedgerError> {
    // In the index's order: each page is read once, in order.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by_key(|&i| keys[i].words());
    let threads = threads.clamp(1, 8).min(keys.len().max(1));
    let part = order.len().div_ceil(threads).max(1);
    let mut chunks = order.chunks(part);
    let first = chunks.next().unwrap_or_default();
    let found: Vec<Vec<Option<Known>>> = std::thread::scope(|scope| {
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
    let mut answers = vec![None; keys.len()];
    for (&i, known) in order.iter().zip(found.into_iter().flatten()) {
        answers[i] = known;
    }
    Ok(answers)
}

/// The answers for `keys[i]` of every `i` of `chunk`, in its order, in one read
/// transaction.
fn find(
    ledger: &Ledger,
    keys: &[ReqKey],
    chunk: &[usize],
    simulated: bool,
) -> Result<Vec<Option<Known>>, LedgerError> {
    let path = &ledger.path;
    let tx = ledger
        .conn
        .unchecked_transaction()
        .map_err(|e| sql(path, e))?;
    let mut statement = tx.prepare_cached(LOOKUP).map_err(|e| sql(path, e))?;
    let mut out = Vec::with_capacity(chunk.len());
    for &i in chunk {
        let mut rows = statement
            .query(params![keys[i].to_bytes().as_slice(), simulated])
            .map_err(|e| sql(path, e))?;
        let known = match rows.next().map_err(|e| sql(path, e))? {
            Some(row) => Some(known_of(row).map_err(|e| sql(path, e))?),
            None => None,
        };
        out.push(known);
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
        let keys: Vec<ReqKey> = ["r3", "nope", "r49", "r0"]
            .iter()
            .map(|r| ReqKey::of(r))
            .collect();
        for threads in [1, 2, 3] {
            let found = lookup(&ledger, &keys, false, threads).expect("lookup");
            assert!(found[0].is_some() && found[2].is_some() && found[3].is_some());
            assert!(found[1].is_none());
            assert_eq!(
                found[0].map(|k| k.state.state()),
                Some(OrderState::Delivered)
            );
            assert!(found[0].is_some_and(|k| k.state.same_payload(&[9; 16])));
        }
        // A simulated run sees the real orders too.
        assert!(lookup(&ledger, &keys, true, 1).expect("lookup")[0].is_some());
    }
}
