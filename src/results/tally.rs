//! Counting result rows: rows and first-charge amounts (to the cent) by status, the
//! errors of the rows that need attention, and the first of those rows. Shared by
//! `report` and the summary sheet of a result workbook, so both say the same.

use std::collections::BTreeMap;

use super::workbook::SheetSummary;
use crate::input::values::amount_cents;
use crate::status::Status;

/// How many rows needing attention are kept by req_id, for a listing.
const ATTENTION_KEPT: usize = 20;

/// The counts of a result file (or of a ledger's latest states).
#[derive(Debug, Default, Clone)]
pub struct ResultTally {
    pub rows: u64,
    /// Rows and first-charge cents per status.
    pub by_status: BTreeMap<Status, (u64, u128)>,
    /// (error_code, sub_code) → rows and the first row's message.
    pub by_error: BTreeMap<(String, String), (u64, String)>,
    /// The first rows that need attention: req_id, status, error_code.
    pub attention: Vec<(String, Status, String)>,
    pub attention_total: u64,
    /// Rows with a first-charge amount.
    pub amount_rows: u64,
}

/// (error_code, sub_code) and (rows, first message).
pub type ErrorGroup<'a> = (&'a (String, String), &'a (u64, String));

/// One result row, as the tally reads it.
#[derive(Debug, Clone, Copy)]
pub struct Counted<'a> {
    pub req_id: &'a str,
    pub status: Status,
    pub error_code: &'a str,
    pub sub_code: &'a str,
    pub message: &'a str,
    pub cents: Option<u128>,
}

impl ResultTally {
    pub fn add(&mut self, row: Counted<'_>) {
        self.rows += 1;
        let entry = self.by_status.entry(row.status).or_default();
        entry.0 += 1;
        if let Some(cents) = row.cents {
            entry.1 += cents;
            self.amount_rows += 1;
        }
        if row.status.needs_attention() {
            if !row.error_code.is_empty() {
                let error = self
                    .by_error
                    .entry((row.error_code.to_owned(), row.sub_code.to_owned()))
                    .or_insert_with(|| (0, row.message.to_owned()));
                error.0 += 1;
            }
            self.attention_total += 1;
            if self.attention.len() < ATTENTION_KEPT {
                self.attention
                    .push((row.req_id.to_owned(), row.status, row.error_code.to_owned()));
            }
        }
    }

    /// The error groups, most frequent first.
    pub fn errors(&self) -> Vec<ErrorGroup<'_>> {
        let mut errors: Vec<_> = self.by_error.iter().collect();
        errors.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0)));
        errors
    }

    /// What a result workbook's summary sheet shows.
    pub fn sheet_summary(&self) -> SheetSummary {
        SheetSummary {
            by_status: self
                .by_status
                .iter()
                .map(|(status, (rows, cents))| (*status, *rows, *cents))
                .collect(),
            errors: self
                .errors()
                .into_iter()
                .map(|((code, sub), (rows, message))| {
                    (code.clone(), sub.clone(), *rows, message.clone())
                })
                .collect(),
        }
    }
}

/// `firstChargeAmount` of an ext JSON text, in cents.
pub fn first_charge_cents(ext: &str) -> Option<u128> {
    let value: serde_json::Value = serde_json::from_str(ext).ok()?;
    match value.get("firstChargeAmount")? {
        serde_json::Value::String(s) => amount_cents(s.trim()),
        serde_json::Value::Number(n) => amount_cents(&n.to_string()),
        _ => None,
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

    #[test]
    fn amounts_are_read_from_ext_to_the_cent() {
        assert_eq!(
            first_charge_cents(r#"{"firstChargeAmount":"49.90"}"#),
            Some(4990)
        );
        assert_eq!(
            first_charge_cents(r#"{"firstChargeAmount":100}"#),
            Some(10000)
        );
        assert_eq!(first_charge_cents(r#"{"other":1}"#), None);
        assert_eq!(first_charge_cents(""), None);
    }

    #[test]
    fn rows_needing_attention_are_grouped_by_their_codes() {
        let mut tally = ResultTally::default();
        let row = |req_id, status, code: &'static str| Counted {
            req_id,
            status,
            error_code: code,
            sub_code: "",
            message: "m",
            cents: Some(100),
        };
        tally.add(row("a", Status::Delivered, "0000"));
        tally.add(row("b", Status::Rejected, "B1"));
        tally.add(row("c", Status::Rejected, "B1"));
        tally.add(row("d", Status::Failed, "net.timeout"));
        assert_eq!(tally.by_status[&Status::Rejected], (2, 200));
        assert_eq!(tally.attention_total, 3);
        let summary = tally.sheet_summary();
        assert_eq!(summary.errors[0].0, "B1");
        assert_eq!(summary.errors[0].2, 2);
    }
}
