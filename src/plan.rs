//! The plan: which rows to send. Pass one indexes the first valid occurrence of every
//! req_id in the input; then each row is decided against that index and the ledger
//! (SPEC.md status table), payloads compared by MD5 of the canonical `param0`. Only
//! the indexes are held, never the rows. Pure apart from the iterator it is fed.

use crate::input::{InputError, InputRow};
use crate::ledger::index::{KeyMap, digest_prefix};
use crate::ledger::{LedgerIndex, ReqKey, Settled};
use crate::status::Status;

/// Where a req_id first occurs validly in the input, and its payload digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FirstSeen {
    digest: u64,
    source: u32,
    line: u32,
}

/// The dedup `error_code`s (SPEC.md: `dedup.*`).
pub mod code {
    pub const ALREADY_DELIVERED: &str = "dedup.already_delivered";
    pub const ALREADY_REJECTED: &str = "dedup.already_rejected";
    pub const DUPLICATE_IN_INPUT: &str = "dedup.duplicate_in_input";
    pub const INPUT_CONFLICT: &str = "dedup.input_conflict";
    pub const LEDGER_CONFLICT: &str = "dedup.ledger_conflict";
}

/// What to do with a valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Send,
    Skip {
        status: Status,
        code: &'static str,
        message: String,
    },
}

/// Counts from the first pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstPass {
    pub rows: u64,
    pub invalid: u64,
}

/// The first valid occurrence of every req_id in the input.
#[derive(Debug, Default)]
pub struct InputIndex(KeyMap<FirstSeen>);

impl InputIndex {
    /// Pass one over `rows`.
    pub fn build(
        rows: impl Iterator<Item = Result<InputRow, InputError>>,
    ) -> Result<(InputIndex, FirstPass), InputError> {
        let mut index = InputIndex::default();
        let mut pass = FirstPass::default();
        for row in rows {
            let row = row?;
            pass.rows += 1;
            let Ok(order) = &row.order else {
                pass.invalid += 1;
                continue;
            };
            let digest = digest_prefix(&order.payload().md5);
            index
                .0
                .entry(ReqKey::of(&order.req_id))
                .or_insert(FirstSeen {
                    digest,
                    source: row.source,
                    line: u32::try_from(row.line).unwrap_or(u32::MAX),
                });
        }
        Ok((index, pass))
    }

    /// Distinct valid req_ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The ledger and input indexes, and the policy for rejected rows.
#[derive(Debug)]
pub struct Plan {
    ledger: LedgerIndex,
    input: KeyMap<FirstSeen>,
    sources: Vec<String>,
    retry_rejected: bool,
}

impl Plan {
    /// Joins the ledger's index and the input's (pass one). `sources` names the files.
    pub fn new(
        ledger: LedgerIndex,
        input: InputIndex,
        sources: Vec<String>,
        retry_rejected: bool,
    ) -> Plan {
        Plan {
            ledger,
            input: input.0,
            sources,
            retry_rejected,
        }
    }

    /// How many calls the plan makes: one per distinct req_id the ledger does not settle.
    pub fn sends(&self) -> u64 {
        self.input
            .iter()
            .filter(|(key, first)| self.against_ledger(**key, first.digest) == Decision::Send)
            .count() as u64
    }

    /// Decides a valid row of pass two, found at `line` of input `source`.
    pub fn decide(&self, source: u32, line: u64, req_id: &str, payload_md5: &[u8; 16]) -> Decision {
        let key = ReqKey::of(req_id);
        let digest = digest_prefix(payload_md5);
        let Some(first) = self.input.get(&key) else {
            // The file changed between passes; `InputSet` refuses that, so this is
            // unreachable in practice. Send rather than lose the row.
            return self.against_ledger(key, digest);
        };
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        if (first.source, first.line) != (source, line) {
            let place = format!("{} row {}", self.sources[first.source as usize], first.line);
            return if first.digest == digest {
                Decision::Skip {
                    status: Status::DuplicateInInput,
                    code: code::DUPLICATE_IN_INPUT,
                    message: format!("same req_id and payload as {place}, which is sent once"),
                }
            } else {
                Decision::Skip {
                    status: Status::Conflict,
                    code: code::INPUT_CONFLICT,
                    message: format!(
                        "req_id also at {place} with different content; a req_id identifies one callback — correct one of the two rows"
                    ),
                }
            };
        }
        self.against_ledger(key, digest)
    }

    fn against_ledger(&self, key: ReqKey, digest: u64) -> Decision {
        let Some(state) = self.ledger.get(key) else {
            return Decision::Send;
        };
        let same = state.same_digest(digest);
        match (state.status(), same) {
            (Settled::Failed, true) => Decision::Send,
            (Settled::Rejected, _) if self.retry_rejected => Decision::Send,
            (Settled::Delivered, true) => Decision::Skip {
                status: Status::SkippedDelivered,
                code: code::ALREADY_DELIVERED,
                message: "delivered by an earlier run".into(),
            },
            (Settled::Rejected, true) => Decision::Skip {
                status: Status::SkippedRejected,
                code: code::ALREADY_REJECTED,
                message:
                    "rejected by an earlier run; correct the row and send it with --retry-rejected"
                        .into(),
            },
            (status, false) => Decision::Skip {
                status: Status::Conflict,
                code: code::LEDGER_CONFLICT,
                message: format!(
                    "an earlier run sent this req_id with different content (ledger: {status}); \
                     a changed callback needs a new req_id{}",
                    if status == Settled::Rejected {
                        ", or --retry-rejected to replace the rejected one"
                    } else {
                        ""
                    }
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::RowFields;
    use crate::ledger::LedgerState;
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
            fields: RowFields::of_order(&order),
            order: Ok(order),
        }
    }

    fn md5_of(row: &InputRow) -> [u8; 16] {
        row.order.as_ref().expect("valid").payload().md5
    }

    fn plan(ledger: &[(&InputRow, Settled)], rows: &[InputRow], retry_rejected: bool) -> Plan {
        let mut index = LedgerIndex::default();
        for (row, status) in ledger {
            let req_id = &row.order.as_ref().expect("valid").req_id;
            index.insert(ReqKey::of(req_id), LedgerState::new(*status, &md5_of(row)));
        }
        let (input, _) = InputIndex::build(rows.iter().cloned().map(Ok)).expect("builds");
        Plan::new(
            index,
            input,
            vec!["a.csv".into(), "b.csv".into()],
            retry_rejected,
        )
    }

    fn decide(plan: &Plan, row: &InputRow) -> Decision {
        plan.decide(
            row.source,
            row.line,
            &row.order.as_ref().expect("valid").req_id,
            &md5_of(row),
        )
    }

    fn status(decision: Decision) -> Option<(Status, &'static str)> {
        match decision {
            Decision::Send => None,
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
    fn a_later_row_with_other_content_is_a_conflict_naming_the_first() {
        let rows = [row(0, 7, "a", true), row(1, 3, "a", false)];
        let plan = plan(&[], &rows, false);
        match decide(&plan, &rows[1]) {
            Decision::Skip {
                status: Status::Conflict,
                code,
                message,
            } => {
                assert_eq!(code, code::INPUT_CONFLICT);
                assert!(message.contains("a.csv row 7"), "{message}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(
            decide(&plan, &rows[0]),
            Decision::Send,
            "the first occurrence is still sent"
        );
    }

    #[test]
    fn ledger_states_decide_first_occurrences() {
        let same = row(0, 1, "a", true);
        let changed = row(0, 1, "a", false);
        let cases = [
            (
                Settled::Delivered,
                &same,
                Some((Status::SkippedDelivered, code::ALREADY_DELIVERED)),
            ),
            (
                Settled::Delivered,
                &changed,
                Some((Status::Conflict, code::LEDGER_CONFLICT)),
            ),
            (
                Settled::Rejected,
                &same,
                Some((Status::SkippedRejected, code::ALREADY_REJECTED)),
            ),
            (
                Settled::Rejected,
                &changed,
                Some((Status::Conflict, code::LEDGER_CONFLICT)),
            ),
            (Settled::Failed, &same, None),
            (
                Settled::Failed,
                &changed,
                Some((Status::Conflict, code::LEDGER_CONFLICT)),
            ),
        ];
        for (settled, input, expected) in cases {
            let plan = plan(&[(&same, settled)], std::slice::from_ref(input), false);
            assert_eq!(
                status(decide(&plan, input)),
                expected,
                "{settled} / success={}",
                input.fields.success
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
                &[(&same, Settled::Rejected)],
                std::slice::from_ref(input),
                true,
            );
            assert_eq!(decide(&plan, input), Decision::Send);
        }
        let delivered = plan(
            &[(&same, Settled::Delivered)],
            std::slice::from_ref(&same),
            true,
        );
        assert_eq!(
            status(decide(&delivered, &same)),
            Some((Status::SkippedDelivered, code::ALREADY_DELIVERED))
        );
    }
}
