//! A run's writes to the ledger, by its one writer (the recorder's thread): the run
//! itself (`runs`, `run_inputs`), every order it is about to send as `pending` with
//! its `param0` (so a run that dies mid-way leaves them to be sent again), every
//! outcome (`outcomes`, and the order's new state), every export row about a known
//! order it did not send (`sightings`), the calls of each Beijing day. Each group of
//! writes is one transaction; one with outcomes is committed and synced before the
//! caller counts it written (`Recording::write` says why orders about to be sent alone
//! need not wait for the disk). The caller groups what has piled up meanwhile, so the
//! commits stay few when outcomes come fast. The statements are `rows`.

use rusqlite::params;

mod rows;

use self::rows::{Ids, outcome_rows, pending_rows};
use super::db::sql;
use super::{Ledger, LedgerEntry, LedgerError, ReqKey};

/// An order the run is about to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOrder {
    pub key: ReqKey,
    pub req_id: String,
    pub order_no: u64,
    pub sub_order_no: Option<u64>,
    pub param0: String,
    pub payload_md5: [u8; 16],
}

/// An export row about an order the ledger knows, not sent by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub order_id: i64,
    pub source: std::sync::Arc<str>,
    pub line: u64,
    /// The row's status in the results (`skipped_delivered`, `conflict`, …).
    pub status: &'static str,
}

/// What a run is, as the ledger records it when it starts.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub run_id: String,
    /// Who or what started it: `cron`, `shell:USER`, `desk:NAME`.
    pub started_by: String,
    pub started_at: String,
    pub simulated: bool,
    pub plan_digest: String,
    /// Each input: its name and, for a file, its SHA-256 and size.
    pub inputs: Vec<(String, Option<(String, u64)>)>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub exit_code: u8,
    pub counts: serde_json::Value,
    pub results: String,
    pub error: Option<String>,
}

/// The run's writer.
#[derive(Debug)]
pub struct Recording {
    ledger: Ledger,
    run_id: String,
    sim: bool,
    /// The ids of the orders written as pending, for their outcomes.
    ids: Ids,
    appended: u64,
    /// Whether commits wait for the disk (`synchronous = FULL`, as opened).
    synced: bool,
}

impl Recording {
    /// Records that the run starts: its row and its inputs, in one transaction.
    pub fn start(ledger: Ledger, run: &RunStart) -> Result<Recording, LedgerError> {
        let path = ledger.path.clone();
        let tx = ledger
            .conn
            .unchecked_transaction()
            .map_err(|e| sql(&path, e))?;
        tx.execute(
            "INSERT INTO runs (id, started_by, started_at, simulated, plan_digest) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run.run_id, run.started_by, run.started_at, run.simulated, run.plan_digest],
        )
        .map_err(|e| sql(&path, e))?;
        for (position, (name, file)) in run.inputs.iter().enumerate() {
            let (sha256, bytes) = match file {
                Some((sha256, bytes)) => (Some(sha256.as_str()), Some(*bytes as i64)),
                None => (None, None),
            };
            tx.execute(
                "INSERT INTO run_inputs (run_id, position, name, sha256, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run.run_id, position as i64, name, sha256, bytes],
            )
            .map_err(|e| sql(&path, e))?;
        }
        tx.commit().map_err(|e| sql(&path, e))?;
        Ok(Recording {
            ledger,
            run_id: run.run_id.clone(),
            sim: run.simulated,
            ids: Ids::default(),
            appended: 0,
            synced: true,
        })
    }

    /// Writes `orders` as pending, with their `param0`, in one transaction: they are in
    /// the ledger before any of them is sent.
    pub fn pending(&mut self, orders: &[PendingOrder]) -> Result<(), LedgerError> {
        self.write(orders, &[], &[])
    }

    /// Writes a group of outcomes and sightings in one transaction, and adds their
    /// calls to their Beijing days.
    pub fn append(
        &mut self,
        entries: &[LedgerEntry],
        sightings: &[Sighting],
    ) -> Result<(), LedgerError> {
        self.write(&[], entries, sightings)
    }

    /// Writes one group in one transaction: orders about to be sent (as pending), and
    /// the outcomes and sightings that came before them. A group with outcomes is
    /// synced before this returns. One of pending orders alone is committed without
    /// waiting for the disk: the write-ahead log has it when the calls go out, so a
    /// run that dies (killed, crashed) leaves them pending, and the next synced commit
    /// takes it to the disk with everything before it. Only a machine that loses
    /// power in between loses them, and with them no answer: the export still holds
    /// them.
    pub fn write(
        &mut self,
        orders: &[PendingOrder],
        entries: &[LedgerEntry],
        sightings: &[Sighting],
    ) -> Result<(), LedgerError> {
        if orders.is_empty() && entries.is_empty() && sightings.is_empty() {
            return Ok(());
        }
        let path = &self.ledger.path;
        let synced = !entries.is_empty() || !sightings.is_empty();
        if synced != self.synced {
            let level = if synced { "FULL" } else { "NORMAL" };
            self.ledger
                .conn
                .pragma_update(None, "synchronous", level)
                .map_err(|e| sql(path, e))?;
            self.synced = synced;
        }
        let tx = self
            .ledger
            .conn
            .unchecked_transaction()
            .map_err(|e| sql(path, e))?;
        let run = (self.run_id.as_str(), self.sim);
        pending_rows(&tx, run, &mut self.ids, orders).map_err(|e| sql(path, e))?;
        outcome_rows(&tx, run, &self.ids, entries, sightings).map_err(|e| sql(path, e))?;
        tx.commit().map_err(|e| sql(path, e))?;
        self.appended += entries.len() as u64;
        Ok(())
    }

    /// Outcomes written by this run.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Records how the run ended (its calls summed from its outcomes).
    pub fn finish(self, end: &RunEnd) -> Result<(), LedgerError> {
        let path = &self.ledger.path;
        self.ledger
            .conn
            .execute(
                "UPDATE runs SET finished_at = ?2, exit_code = ?3, counts = ?4, results = ?5, error = ?6,
                     calls = (SELECT coalesce(sum(attempts), 0) FROM outcomes WHERE run_id = ?1)
                 WHERE id = ?1",
                params![
                    self.run_id,
                    crate::clock::now_stamp(),
                    end.exit_code,
                    end.counts.to_string(),
                    end.results,
                    end.error,
                ],
            )
            .map_err(|e| sql(path, e))?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ledger::{Access, Settled};

    pub(crate) fn entry(req_id: &str, status: Settled, run_id: &str) -> LedgerEntry {
        LedgerEntry {
            req_id: req_id.into(),
            order_no: 4_012_345_678_901_234_567,
            sub_order_no: None,
            status,
            error_code: "0000".into(),
            error_msg: "ok".into(),
            sub_code: String::new(),
            sub_msg: String::new(),
            param0: format!("{{\"req_id\":\"{req_id}\"}}"),
            payload_md5: [9; 16],
            top_request_id: "sim1".into(),
            attempts: 2,
            finished_at: "2026-11-25T21:00:00.000+08:00".into(),
            run_id: run_id.into(),
            source: "in.csv".into(),
            line: 2,
        }
    }

    /// A new ledger in `dir` with run `r1` recording on it.
    pub(crate) fn recording(dir: &std::path::Path) -> (std::path::PathBuf, Recording) {
        let path = dir.join("ledger.db");
        let recording = Recording::start(
            Ledger::open(&path, Access::Write).expect("ledger"),
            &run("r1"),
        )
        .expect("start");
        (path, recording)
    }

    pub(crate) fn run(run_id: &str) -> RunStart {
        RunStart {
            run_id: run_id.into(),
            started_by: "test".into(),
            started_at: crate::clock::now_stamp(),
            simulated: false,
            plan_digest: "d".into(),
            inputs: vec![("in.csv".into(), Some(("00".repeat(32), 10)))],
        }
    }

    #[test]
    fn a_run_writes_pending_orders_then_their_outcomes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        let ledger = Ledger::open(&path, Access::Write).expect("ledger");
        let mut recording = Recording::start(ledger, &run("run-1")).expect("start");
        recording
            .pending(&[PendingOrder {
                key: ReqKey::of("a"),
                req_id: "a".into(),
                order_no: 1,
                sub_order_no: None,
                param0: "{}".into(),
                payload_md5: [9; 16],
            }])
            .expect("pending");
        let raw = rusqlite::Connection::open(&path).expect("raw");
        let state: String = raw
            .query_row("SELECT state FROM orders WHERE req_id = 'a'", [], |r| {
                r.get(0)
            })
            .expect("an order");
        assert_eq!(state, "pending");
        recording
            .append(
                &[
                    entry("a", Settled::Delivered, "run-1"),
                    entry("b", Settled::Failed, "run-1"),
                ],
                &[],
            )
            .expect("append");
        assert_eq!(recording.appended(), 2);
        recording
            .finish(&RunEnd {
                exit_code: 1,
                counts: serde_json::json!({"delivered": 1, "failed": 1}),
                results: "r.csv".into(),
                error: None,
            })
            .expect("finish");
        let states: Vec<(String, String, Option<String>)> = raw
            .prepare("SELECT req_id, state, first_failed_at FROM orders ORDER BY req_id")
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(states[0], ("a".into(), "delivered".into(), None));
        assert_eq!(states[1].1, "failed");
        assert!(states[1].2.is_some(), "the resend window starts");
        let (calls, day): (i64, String) = raw
            .query_row("SELECT calls, day FROM calls_per_day", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("calls");
        assert_eq!((calls, day.as_str()), (4, "2026-11-25"));
        let run_calls: i64 = raw
            .query_row("SELECT calls FROM runs WHERE id = 'run-1'", [], |r| {
                r.get(0)
            })
            .expect("run");
        assert_eq!(run_calls, 4);
    }
}
