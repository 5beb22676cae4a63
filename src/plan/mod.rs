//! The plan: which rows to send. Pass one indexes the first valid occurrence of every
//! req_id in the input, and notes req_ids whose rows disagree (`conflicts`); each
//! req_id of the index is then looked up in the ledger (by its key: the cost follows
//! the export, not the ledger's age), which leaves its state there. Each row of pass
//! two is decided against the entry (SPEC.md status table), payloads compared by MD5
//! of the canonical `param0`. The ledger's own orders to send again (`resend`: failed
//! or pending ones the export does not hold) follow the input. Memory follows the
//! input; rows are never held (but those of contradictory req_ids).

mod conflicts;
mod digest;
mod kept;
pub mod resend;

use std::sync::Mutex;
use std::sync::atomic::Ordering;

pub use conflicts::Conflicts;
use kept::Keeping;
pub use kept::KeptRow;
pub use resend::Resends;

use crate::input::fingerprint::{self, Fingerprints, Groups};
use crate::input::{InputError, InputRow, InputSet, parallel};
use crate::ledger::key::{KeyMap, digest_prefix};
use crate::ledger::{Ledger, LedgerError, LedgerState, OrderState, ReqKey};
use crate::status::Status;

/// The fewest bytes a CSV export spends on an order (its numbers, its req_id, a
/// result code and an `ext`): the index is sized for that many, and grows past it.
const BYTES_PER_ROW: u64 = 100;

/// The req_ids an export of `bytes` bytes can be expected to hold, at most.
fn expected_req_ids(bytes: u64) -> usize {
    usize::try_from(bytes / BYTES_PER_ROW)
        .unwrap_or(usize::MAX)
        .min(50_000_000)
}

/// A req_id's first valid occurrence in the input, its payload digest, and what the
/// ledger says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// `digest_prefix` of the payload (62 bits), and `CONTRADICTED` when another row of
    /// the req_id has another payload.
    digest: u64,
    source: u32,
    line: u32,
    /// `LedgerState::NONE` when the ledger has no order of it (an `Option` would
    /// make every slot of the index 8 bytes larger).
    ledger: LedgerState,
    /// The order's row in the ledger (`orders.id`); 0 when it has none.
    order: i64,
    /// The req_id's neighbourhood in the ledger's index (`ledger::key::neighbourhood`).
    near: i64,
}

/// The bit of `Entry::digest` that marks a req_id whose rows disagree (a digest
/// prefix leaves the top two bits free).
const CONTRADICTED: u64 = 1 << 63;

impl Entry {
    fn contradicted(&self) -> bool {
        self.digest & CONTRADICTED != 0
    }

    fn payload(&self) -> u64 {
        self.digest & !CONTRADICTED
    }
}

/// The dedup `error_code`s (SPEC.md: `dedup.*`).
pub mod code {
    pub const ALREADY_DELIVERED: &str = "dedup.already_delivered";
    pub const ALREADY_REJECTED: &str = "dedup.already_rejected";
    pub const DUPLICATE_IN_INPUT: &str = "dedup.duplicate_in_input";
    pub const CLOSED: &str = "dedup.closed";
    pub const INPUT_CONFLICT: &str = "dedup.input_conflict";
    pub const LEDGER_CONFLICT: &str = "dedup.ledger_conflict";
}

/// What to do with a valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Send,
    /// The row is not what pass one read (the file changed under the run): nothing
    /// pass one did not plan may be sent.
    Changed,
    Skip {
        status: Status,
        code: &'static str,
        message: String,
        /// The order the ledger holds about the row (`orders.id`), if it does.
        order: Option<i64>,
    },
}

/// A row of pass one reduced to what the index keeps; `None` for an invalid row.
struct Built(Option<(ReqKey, Entry)>);

impl Built {
    fn of(row: &InputRow) -> Built {
        Built::with_param0(row, None)
    }

    /// `param0`: the row's canonical JSON and MD5, when already encoded.
    fn with_param0(row: &InputRow, param0: Option<&(String, [u8; 16])>) -> Built {
        Built(row.order.as_ref().ok().map(|order| {
            let md5 = param0.map_or_else(|| order.payload_md5(), |(_, md5)| *md5);
            let entry = Entry {
                digest: digest_prefix(&md5),
                source: row.source,
                line: u32::try_from(row.line).unwrap_or(u32::MAX),
                ledger: LedgerState::NONE,
                order: 0,
                near: crate::ledger::key::neighbourhood(&order.req_id),
            };
            (ReqKey::of(&order.req_id), entry)
        }))
    }

    /// The row and its `param0`, encoded once for the index and for pass two.
    fn keeping(row: InputRow) -> (Built, KeptRow) {
        let param0 = row.order.as_ref().ok().map(|order| {
            let json = order.param0_json();
            let md5 = crate::top::payload_md5(&json);
            (json, md5)
        });
        (
            Built::with_param0(&row, param0.as_ref()),
            KeptRow { row, param0 },
        )
    }
}

/// Counts from the first pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstPass {
    pub rows: u64,
    pub invalid: u64,
}

/// What looking the input up in the ledger found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerPass {
    /// req_ids looked up.
    pub looked_up: u64,
    /// Orders of this input the ledger has.
    pub matched: u64,
}

/// The first valid occurrence of every req_id in the input, with its ledger state,
/// what pass one read (`fingerprint`), when it read the files themselves, and its rows
/// when they fit in memory (`kept`).
#[derive(Debug, Default)]
pub struct InputIndex(KeyMap<Entry>, Option<Fingerprints>, Option<Vec<KeptRow>>);

impl InputIndex {
    /// Pass one over `rows`, sequentially (the reference `build_from` must match).
    pub fn build(
        rows: impl Iterator<Item = Result<InputRow, InputError>>,
    ) -> Result<(InputIndex, FirstPass), InputError> {
        let mut index = InputIndex::default();
        let mut pass = FirstPass::default();
        for row in rows {
            index.insert(Built::of(&row?), &mut pass);
        }
        Ok((index, pass))
    }

    /// Pass one over `inputs` on every core (`input::parallel`); inserted in input
    /// order, so the first occurrence of a req_id wins exactly as in `build`.
    pub fn build_from(inputs: &InputSet) -> Result<(InputIndex, FirstPass), InputError> {
        let mut index = InputIndex::default();
        let mut pass = FirstPass::default();
        let (mut groups, mut read) = (Groups::default(), Vec::new());
        let mut keeping = Keeping::for_inputs(inputs);
        let keep = keeping.as_ref().map(Keeping::flag);
        // Room for the rows the exports' size suggests, at once: a table that grows
        // holds its old and its new slots together, the largest moment of the run.
        index.0.reserve(expected_req_ids(inputs.csv_bytes()));
        parallel::map_in_order(
            inputs,
            512,
            |_| {},
            |record| {
                let built = inputs.finish(record).map(|row| {
                    match keep.as_ref().is_some_and(|k| k.load(Ordering::Relaxed)) {
                        true => {
                            let (built, kept) = Built::keeping(row);
                            (built, Some(kept))
                        }
                        false => (Built::of(&row), None),
                    }
                });
                (fingerprint::of_record(record), built)
            },
            |batch| {
                for (record, built) in batch {
                    read.extend(groups.add(record));
                    if let Some((built, kept)) = built {
                        index.insert(built, &mut pass);
                        if let (Some(keeping), Some(kept)) = (keeping.as_mut(), kept) {
                            keeping.add(kept);
                        }
                    }
                }
                true
            },
        )?;
        read.extend(groups.finish());
        index.1 = Some(Fingerprints(read));
        index.2 = keeping.and_then(Keeping::finish);
        Ok((index, pass))
    }

    fn insert(&mut self, built: Built, pass: &mut FirstPass) {
        pass.rows += 1;
        let Some((key, entry)) = built.0 else {
            pass.invalid += 1;
            return;
        };
        let first = self.0.entry(key).or_insert(entry);
        if first.payload() != entry.digest {
            first.digest |= CONTRADICTED;
        }
    }

    /// Every row of the req_ids whose rows disagree (one more pass over the input, and
    /// only when there are such req_ids).
    pub fn conflicts(&self, inputs: &InputSet) -> Result<Conflicts, InputError> {
        if !self.0.values().any(Entry::contradicted) {
            return Ok(Conflicts::default());
        }
        Conflicts::collect(inputs, |key| {
            self.0.get(key).is_some_and(Entry::contradicted)
        })
    }

    /// Looks every req_id of the index up in `ledger` (a simulated run sees its own
    /// kind's orders too), on `threads` connections.
    pub fn absorb_ledger(
        &mut self,
        ledger: &Ledger,
        simulated: bool,
        threads: usize,
    ) -> Result<LedgerPass, LedgerError> {
        let keys: Vec<crate::ledger::lookup::Sought> = self
            .0
            .iter()
            .map(|(key, entry)| (entry.near, *key))
            .collect();
        let mut pass = LedgerPass {
            looked_up: keys.len() as u64,
            matched: 0,
        };
        crate::ledger::lookup::lookup(ledger, &keys, simulated, threads, |i, known| {
            if let Some(entry) = self.0.get_mut(&keys[i].1) {
                entry.ledger = known.state;
                entry.order = known.id;
                pass.matched += 1;
            }
        })?;
        Ok(pass)
    }

    /// Whether the index has this key (a req_id of the input).
    pub fn contains(&self, key: &ReqKey) -> bool {
        self.0.contains_key(key)
    }

    /// Records a ledger state directly (tests).
    #[cfg(test)]
    fn set_ledger(&mut self, req_id: &str, state: LedgerState) {
        if let Some(entry) = self.0.get_mut(&ReqKey::of(req_id)) {
            entry.ledger = state;
        }
    }

    /// Distinct valid req_ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The indexed input, its contradictory rows and the policy for rejected rows.
#[derive(Debug)]
pub struct Plan {
    input: KeyMap<Entry>,
    /// What pass one read, for pass two to be checked against (`None`: not checked,
    /// for plans built from rows rather than files).
    read: Option<Fingerprints>,
    conflicts: Conflicts,
    sources: Vec<String>,
    retry_rejected: bool,
    /// Pass one's rows, for pass two to take instead of reading the input again.
    kept: Mutex<Option<Vec<KeptRow>>>,
    /// The ledger's orders to send again, after the input's rows.
    resends: Resends,
}

impl Plan {
    /// `sources` names the files, for messages.
    pub fn new(
        input: InputIndex,
        conflicts: Conflicts,
        sources: Vec<String>,
        retry_rejected: bool,
    ) -> Plan {
        Plan {
            input: input.0,
            read: input.1,
            conflicts,
            sources,
            retry_rejected,
            kept: Mutex::new(input.2),
            resends: Resends::default(),
        }
    }

    /// The plan, and the ledger's orders `resends` to send after the input's rows.
    pub fn with_resends(mut self, resends: Resends) -> Plan {
        self.resends = resends;
        self
    }

    /// How many of the ledger's orders the plan sends again.
    pub fn resends_len(&self) -> usize {
        self.resends.len()
    }

    /// The ledger's orders to send again (once: the first caller takes them).
    pub fn take_resends(&self) -> Vec<crate::ledger::resend::Resend> {
        self.resends.take()
    }

    /// Pass one's rows, when it kept them (once: the first caller takes them).
    pub fn take_kept(&self) -> Option<Vec<KeptRow>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// How many calls the plan makes: one per distinct, consistent req_id the ledger
    /// does not settle, and one per order of the ledger sent again.
    pub fn sends(&self) -> u64 {
        self.input
            .values()
            .filter(|entry| {
                !entry.contradicted()
                    && self.against_ledger(entry.ledger, entry.digest, 0) == Decision::Send
            })
            .count() as u64
            + self.resends.len() as u64
    }

    /// What pass one read, group by group (`input::fingerprint`).
    pub fn read(&self) -> Option<&Fingerprints> {
        self.read.as_ref()
    }

    /// Decides a valid row of pass two, found at `line` of input `source`. Pass two
    /// reads what pass one read (its records are checked against `read`, group by
    /// group, before any is handed on), so a row that is not its req_id's first
    /// occurrence has the first one's payload unless the req_id is marked
    /// contradicted; a req_id pass one never saw means the file changed: `Changed`.
    pub fn decide(&self, source: u32, line: u64, req_id: &str) -> Decision {
        let Some(first) = self.input.get(&ReqKey::of(req_id)) else {
            return Decision::Changed;
        };
        let order = (first.order != 0).then_some(first.order);
        if first.contradicted() {
            return Decision::Skip {
                status: Status::Conflict,
                code: code::INPUT_CONFLICT,
                message: self.conflicts.message(req_id, source, line, &self.sources),
                order,
            };
        }
        if (first.source, first.line) == (source, u32::try_from(line).unwrap_or(u32::MAX)) {
            return self.against_ledger(first.ledger, first.payload(), first.order);
        }
        let place = format!("{} row {}", self.sources[first.source as usize], first.line);
        Decision::Skip {
            status: Status::DuplicateInInput,
            code: code::DUPLICATE_IN_INPUT,
            message: format!("same req_id and payload as {place}, which is sent once"),
            order,
        }
    }

    /// The decision for a req_id the ledger knows as `state` (its order `order`, 0 if
    /// none), whose payload in the input has `digest`.
    fn against_ledger(&self, state: LedgerState, digest: u64, order: i64) -> Decision {
        if state == LedgerState::NONE {
            return Decision::Send;
        }
        let order = (order != 0).then_some(order);
        let same = state.same_digest(digest);
        match (state.state(), same) {
            // Pending: planned by a run that died before its answer — sent again.
            (OrderState::Failed | OrderState::Pending, true) => Decision::Send,
            (OrderState::Rejected, _) if self.retry_rejected => Decision::Send,
            (OrderState::Closed, _) => Decision::Skip {
                status: Status::SkippedClosed,
                code: code::CLOSED,
                message: "closed in the ledger: it will not be sent (`ledger show` says who closed it and why)".into(),
                order,
            },
            (OrderState::Delivered, true) => Decision::Skip {
                status: Status::SkippedDelivered,
                code: code::ALREADY_DELIVERED,
                message: "delivered by an earlier run".into(),
                order,
            },
            (OrderState::Rejected, true) => Decision::Skip {
                status: Status::SkippedRejected,
                code: code::ALREADY_REJECTED,
                message:
                    "rejected by an earlier run; correct the row and send it with --retry-rejected"
                        .into(),
                order,
            },
            (state, false) => Decision::Skip {
                status: Status::Conflict,
                code: code::LEDGER_CONFLICT,
                message: format!(
                    "an earlier run sent this req_id with different content (ledger: {state}); \
                     a changed callback needs a new req_id{}",
                    if state == OrderState::Rejected {
                        ", or --retry-rejected to replace the rejected one"
                    } else {
                        ""
                    }
                ),
                order,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::Order;

    fn row(source: u32, line: u64, req_id: &str, success: bool) -> InputRow {
        let order = Order {
            sub_order_no: None,
            order_no: 1,
            success,
            result_code: None,
            result_desc: None,
            req_id: req_id.into(),
            ext: None,
        };
        InputRow {
            source,
            line,
            file_line: line + 1,
            order: Ok(order),
            extra: Vec::new(),
        }
    }

    fn md5_of(row: &InputRow) -> [u8; 16] {
        row.order.as_ref().expect("valid").payload_md5()
    }

    fn plan(ledger: &[(&InputRow, OrderState)], rows: &[InputRow], retry_rejected: bool) -> Plan {
        let (mut input, _) = InputIndex::build(rows.iter().cloned().map(Ok)).expect("builds");
        for (row, status) in ledger {
            let req_id = &row.order.as_ref().expect("valid").req_id;
            input.set_ledger(req_id, LedgerState::new(*status, &md5_of(row)));
        }
        let conflicts = Conflicts::of_rows(rows, |key| {
            input.0.get(key).is_some_and(Entry::contradicted)
        });
        Plan::new(
            input,
            conflicts,
            vec!["a.csv".into(), "b.csv".into()],
            retry_rejected,
        )
    }

    fn decide(plan: &Plan, row: &InputRow) -> Decision {
        let order = row.order.as_ref().expect("valid");
        plan.decide(row.source, row.line, &order.req_id)
    }

    #[test]
    fn a_row_pass_one_did_not_read_is_never_sent() {
        let rows = [row(0, 1, "a", true), row(0, 2, "b", true)];
        let plan = plan(&[], &rows, false);
        assert_eq!(decide(&plan, &rows[0]), Decision::Send);
        // A req_id pass one never read.
        assert_eq!(decide(&plan, &row(0, 2, "c", true)), Decision::Changed);
    }

    fn status(decision: Decision) -> Option<(Status, &'static str)> {
        match decision {
            Decision::Send | Decision::Changed => None,
            Decision::Skip { status, code, .. } => Some((status, code)),
        }
    }

    #[test]
    fn new_rows_are_sent_once_and_counted() {
        let rows = [
            row(0, 1, "a", true),
            row(0, 2, "b", true),
            row(1, 1, "a", true),
        ];
        let plan = plan(&[], &rows, false);
        assert_eq!(plan.sends(), 2);
        assert_eq!(decide(&plan, &rows[0]), Decision::Send);
        assert_eq!(
            status(decide(&plan, &rows[2])),
            Some((Status::DuplicateInInput, code::DUPLICATE_IN_INPUT))
        );
    }

    #[test]
    fn every_row_of_a_contradicted_req_id_is_a_conflict_naming_the_others() {
        let rows = [
            row(0, 7, "a", true),
            row(1, 3, "a", false),
            row(1, 4, "a", true),
            row(1, 5, "b", true),
        ];
        let plan = plan(&[], &rows, false);
        for (i, others) in [
            (
                0,
                "b.csv row 3 (success differs), b.csv row 4 (same content)",
            ),
            (
                1,
                "a.csv row 7 (success differs), b.csv row 4 (success differs)",
            ),
            (
                2,
                "a.csv row 7 (same content), b.csv row 3 (success differs)",
            ),
        ] {
            match decide(&plan, &rows[i]) {
                Decision::Skip {
                    status: Status::Conflict,
                    code,
                    message,
                    ..
                } => {
                    assert_eq!(code, code::INPUT_CONFLICT);
                    assert!(message.contains(others), "row {i}: {message}");
                }
                other => panic!("row {i}: expected a conflict, got {other:?}"),
            }
        }
        assert_eq!(decide(&plan, &rows[3]), Decision::Send);
        assert_eq!(plan.sends(), 1, "only b is sent");
    }

    #[test]
    fn ledger_states_decide_first_occurrences() {
        let same = row(0, 1, "a", true);
        let changed = row(0, 1, "a", false);
        let cases = [
            (
                OrderState::Delivered,
                &same,
                Some((Status::SkippedDelivered, code::ALREADY_DELIVERED)),
            ),
            (
                OrderState::Delivered,
                &changed,
                Some((Status::Conflict, code::LEDGER_CONFLICT)),
            ),
            (
                OrderState::Rejected,
                &same,
                Some((Status::SkippedRejected, code::ALREADY_REJECTED)),
            ),
            (
                OrderState::Rejected,
                &changed,
                Some((Status::Conflict, code::LEDGER_CONFLICT)),
            ),
            (OrderState::Failed, &same, None),
            (
                OrderState::Failed,
                &changed,
                Some((Status::Conflict, code::LEDGER_CONFLICT)),
            ),
            // Planned by a run that died before its answer: sent again.
            (OrderState::Pending, &same, None),
            (
                OrderState::Pending,
                &changed,
                Some((Status::Conflict, code::LEDGER_CONFLICT)),
            ),
            (
                OrderState::Closed,
                &same,
                Some((Status::SkippedClosed, code::CLOSED)),
            ),
            (
                OrderState::Closed,
                &changed,
                Some((Status::SkippedClosed, code::CLOSED)),
            ),
        ];
        for (settled, input, expected) in cases {
            let plan = plan(&[(&same, settled)], std::slice::from_ref(input), false);
            assert_eq!(
                status(decide(&plan, input)),
                expected,
                "{settled} / success={}",
                input.order.as_ref().is_ok_and(|o| o.success)
            );
            assert_eq!(plan.sends(), u64::from(expected.is_none()));
        }
    }

    #[test]
    fn retry_rejected_resends_rejected_rows_even_when_corrected() {
        let same = row(0, 1, "a", true);
        let corrected = row(0, 1, "a", false);
        for input in [&same, &corrected] {
            let plan = plan(
                &[(&same, OrderState::Rejected)],
                std::slice::from_ref(input),
                true,
            );
            assert_eq!(decide(&plan, input), Decision::Send);
        }
        let delivered = plan(
            &[(&same, OrderState::Delivered)],
            std::slice::from_ref(&same),
            true,
        );
        assert_eq!(
            status(decide(&delivered, &same)),
            Some((Status::SkippedDelivered, code::ALREADY_DELIVERED))
        );
    }

    #[test]
    fn input_req_ids_are_looked_up_in_the_ledger_and_others_pass_by() {
        use crate::ledger::record::{Recording, tests::run};
        use crate::ledger::{Access, LedgerEntry, Settled};
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        let rows = [row(0, 1, "a", true)];
        let entry = |req_id: &str, status: Settled, run_id: &str| LedgerEntry {
            req_id: req_id.into(),
            order_no: 1,
            sub_order_no: None,
            status,
            error_code: String::new(),
            error_msg: String::new(),
            sub_code: String::new(),
            sub_msg: String::new(),
            param0: String::new(),
            payload_md5: md5_of(&rows[0]),
            top_request_id: String::new(),
            attempts: 1,
            finished_at: "2026-12-01T00:30:00.000+08:00".into(),
            run_id: run_id.into(),
            source: "".into(),
            line: 1,
        };
        let ledger = crate::ledger::Ledger::open(&path, Access::Write).expect("ledger");
        let mut recording = Recording::start(ledger, &run("r1")).expect("start");
        recording
            .append(
                &[
                    entry("a", Settled::Failed, "r1"),
                    entry("other", Settled::Delivered, "r1"),
                    entry("a", Settled::Delivered, "r1"),
                ],
                &[],
            )
            .expect("append");
        drop(recording);
        let ledger = crate::ledger::Ledger::open(&path, Access::Read).expect("ledger");
        let (mut input, _) = InputIndex::build(rows.iter().cloned().map(Ok)).expect("builds");
        let pass = input.absorb_ledger(&ledger, false, 2).expect("reads");
        assert_eq!((pass.looked_up, pass.matched), (1, 1));
        let plan = Plan::new(input, Conflicts::default(), vec!["a.csv".into()], false);
        match decide(&plan, &rows[0]) {
            Decision::Skip {
                status,
                code,
                order,
                ..
            } => {
                assert_eq!(
                    (status, code),
                    (Status::SkippedDelivered, code::ALREADY_DELIVERED)
                );
                assert!(order.is_some(), "the order's row, for the sighting");
            }
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn pass_one_on_two_threads_matches_the_sequential_one() {
        // Several batches, duplicates across batch boundaries, invalid rows, two files.
        let dir = tempfile::tempdir().expect("dir");
        let mut paths = Vec::new();
        for (file, rows) in [("a.csv", 1500), ("b.csv", 700)] {
            let mut text = String::from("order_no,success,req_id\n");
            for i in 0..rows {
                match i % 97 {
                    0 => text.push_str("not-a-number,true,bad\n"),
                    1 => text.push_str(&format!("{i},true,R{}\n", i / 3)),
                    _ => text.push_str(&format!("{i},{},R{}\n", i % 2 == 0, i % 900)),
                }
            }
            let path = dir.path().join(file);
            std::fs::write(&path, text).expect("write");
            paths.push(path);
        }
        let inputs = InputSet::open(&paths, &Default::default()).expect("opens");
        let (sequential, first) = InputIndex::build(inputs.rows()).expect("builds");
        let (threaded, second) = InputIndex::build_from(&inputs).expect("builds");
        assert_eq!(first, second);
        assert_eq!((first.rows, first.invalid), (2200, 24));
        assert_eq!(sequential.len(), threaded.len());
        for (key, entry) in &sequential.0 {
            assert_eq!(threaded.0.get(key), Some(entry));
        }
    }
}
