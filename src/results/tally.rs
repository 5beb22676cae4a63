//! Counting result rows, one way for everyone: rows and first-charge amounts by status,
//! calls made, the errors of the rows that need attention (with the first message of
//! each), and the first of those rows. Fed by `ResultRow`s — a run's as they are
//! recorded, a result file's or a ledger's as they are read back — and read by the
//! stderr summary and `--summary-json`, by `report`, and by a result workbook's
//! summary sheet, so all of them say the same.

use std::collections::BTreeMap;

use super::row::ResultRow;
use crate::money::Cents;
use crate::status::Status;

/// How many rows needing attention are kept by req_id, for a listing.
const ATTENTION_KEPT: usize = 20;

/// Rows that share an error code and sub_code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorGroup {
    pub error_code: String,
    pub sub_code: String,
    pub count: u64,
    /// The message of the first such row: `error_msg — sub_msg`.
    pub message: String,
}

impl ErrorGroup {
    /// The group's code as listings show it: `15 isv.invalid-parameter`, or `B0107`.
    pub fn code(&self) -> String {
        if self.sub_code.is_empty() {
            self.error_code.clone()
        } else {
            format!("{} {}", self.error_code, self.sub_code)
        }
    }
}

/// A row that needs attention, as a listing names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    pub req_id: String,
    pub status: Status,
    pub error_code: String,
}

/// The counts of a set of result rows.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Rows and first-charge amounts, by `Status::index`.
    by_status: [(u64, Cents); Status::ALL.len()],
    calls: u64,
    errors: BTreeMap<(String, String), ErrorGroup>,
    attention: Vec<Attention>,
    attention_total: u64,
    amount_rows: u64,
}

impl Tally {
    pub fn add(&mut self, row: &ResultRow) {
        let slot = &mut self.by_status[row.status.index()];
        slot.0 += 1;
        if let Some(cents) = Cents::first_charge(&row.fields.ext) {
            slot.1 += cents;
            self.amount_rows += 1;
        }
        self.calls += u64::from(row.attempts);
        if !row.status.needs_attention() {
            return;
        }
        self.attention_total += 1;
        if !row.error_code.is_empty() {
            self.errors
                .entry((row.error_code.clone(), row.sub_code.clone()))
                .or_insert_with(|| ErrorGroup {
                    error_code: row.error_code.clone(),
                    sub_code: row.sub_code.clone(),
                    count: 0,
                    message: message(&row.error_msg, &row.sub_msg),
                })
                .count += 1;
        }
        if self.attention.len() < ATTENTION_KEPT {
            self.attention.push(Attention {
                req_id: row.fields.req_id.clone(),
                status: row.status,
                error_code: row.error_code.clone(),
            });
        }
    }

    pub fn rows(&self) -> u64 {
        self.by_status.iter().map(|(rows, _)| rows).sum()
    }

    pub fn count(&self, status: Status) -> u64 {
        self.by_status[status.index()].0
    }

    /// The first-charge amounts of the rows of `status`.
    pub fn amount(&self, status: Status) -> Cents {
        self.by_status[status.index()].1
    }

    /// The statuses that have rows, in `Status::ALL` order, with rows and amounts.
    pub fn by_status(&self) -> impl Iterator<Item = (Status, u64, Cents)> + '_ {
        Status::ALL
            .into_iter()
            .map(|status| (status, self.count(status), self.amount(status)))
            .filter(|(_, rows, _)| *rows > 0)
    }

    /// Rows that carry a first-charge amount.
    pub fn amount_rows(&self) -> u64 {
        self.amount_rows
    }

    /// Calls made (attempts, all rows together).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Whether any row needs attention (exit code 1).
    pub fn needs_attention(&self) -> bool {
        self.attention_total > 0
    }

    /// The error groups, most frequent first.
    pub fn errors(&self) -> Vec<&ErrorGroup> {
        let mut groups: Vec<&ErrorGroup> = self.errors.values().collect();
        groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.error_code, &a.sub_code).cmp(&(&b.error_code, &b.sub_code)))
        });
        groups
    }

    /// The first rows that need attention.
    pub fn attention(&self) -> &[Attention] {
        &self.attention
    }

    pub fn attention_total(&self) -> u64 {
        self.attention_total
    }
}

/// The message of a result row: `error_msg — sub_msg`, either may be empty.
pub fn message(error_msg: &str, sub_msg: &str) -> String {
    [error_msg, sub_msg]
        .iter()
        .filter(|m| !m.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" — ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::RowText;

    fn row(req_id: &str, status: Status, code: &str, ext: &str, attempts: u32) -> ResultRow {
        let mut row = ResultRow::new(
            RowText {
                req_id: req_id.into(),
                ext: ext.into(),
                ..RowText::default()
            },
            status,
            0,
            1,
        )
        .with_error(code, format!("message of {code}"));
        row.attempts = attempts;
        row
    }

    #[test]
    fn rows_amounts_calls_and_errors_are_counted_once_each() {
        let mut tally = Tally::default();
        let amount = r#"{"firstChargeAmount":"49.90"}"#;
        for row in [
            row("a", Status::Delivered, "", amount, 1),
            row("b", Status::Rejected, "B0107", amount, 1),
            row("c", Status::Rejected, "B0107", "", 2),
            row("d", Status::Failed, "15", amount, 5),
            row("e", Status::Invalid, "input.bad_number", "", 0),
        ] {
            tally.add(&row);
        }
        assert_eq!(tally.rows(), 5);
        assert_eq!(tally.calls(), 9);
        assert_eq!(tally.count(Status::Rejected), 2);
        assert_eq!(tally.amount(Status::Rejected), Cents(4990));
        assert_eq!(tally.amount_rows(), 3);
        assert_eq!(tally.attention_total(), 4);
        let errors = tally.errors();
        assert_eq!(
            (errors[0].error_code.as_str(), errors[0].count),
            ("B0107", 2),
            "most frequent first"
        );
        assert_eq!(errors[0].message, "message of B0107");
        assert_eq!(tally.attention()[0].req_id, "b");
        assert!(tally.needs_attention());
    }
}
