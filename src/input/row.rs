//! One input row's cells turned into an `Order` — or into every reason it cannot be
//! one — and the text the result CSV shows for it. Pure.

use std::borrow::Cow;

use super::header::Field;
use super::values::{self, RowError, code};
use crate::columns::RowText;
use crate::columns::unguard;
use crate::csvio::Oversize;
use crate::order::Order;

/// The decoded, trimmed cells of one row, by field; `None` when the file has no
/// such column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cells<'a>([Option<Cow<'a, str>>; 9]);

impl<'a> Cells<'a> {
    pub fn set(&mut self, field: Field, text: impl Into<Cow<'a, str>>) {
        self.0[field as usize] = Some(text.into());
    }

    pub fn get(&self, field: Field) -> &str {
        self.0[field as usize].as_deref().unwrap_or("")
    }

    /// True when every cell is empty: an empty line or a row of bare delimiters.
    pub fn is_blank(&self) -> bool {
        self.0.iter().flatten().all(|c| c.is_empty())
    }
}

/// What reading one record found, in any format: its fields' text, and what is wrong
/// with the record itself. `finish` is the one way a record becomes a row.
#[derive(Debug, Default)]
pub struct ReadRecord<'a> {
    pub cells: Cells<'a>,
    /// The record broke a size limit as a whole.
    pub oversize: Option<Oversize>,
    /// Cells cut at `MAX_CELL_BYTES`.
    pub too_long: Vec<Field>,
    /// What the reader could not take for a value (bytes in the wrong encoding, an
    /// Excel error or date cell, an inexact number).
    pub unreadable: Option<RowError>,
    /// How the record's shape disagrees with the header (`input.field_count`).
    pub shape: Option<String>,
}

impl ReadRecord<'_> {
    /// `None` for a blank record; else the order, or every reason it is not one: its
    /// size first, then what could not be read, then its shape, then its values. A row
    /// refused for its size, encoding or shape shows its cells as found.
    pub fn finish(self) -> Option<Result<Order, Box<Invalid>>> {
        if self.cells.is_blank() && self.unreadable.is_none() && self.oversize.is_none() {
            return None;
        }
        let built = build_order(&self.cells);
        let refusal = oversize(self.oversize, &self.too_long)
            .or(self.unreadable)
            .or_else(|| {
                self.shape
                    .map(|message| RowError::new(values::code::FIELD_COUNT, message))
            });
        let Some(error) = refusal else {
            return Some(built);
        };
        let fields = match built {
            Ok(order) => RowText::of_order(&order),
            Err(invalid) => invalid.fields,
        };
        Some(Err(Box::new(Invalid { error, fields })))
    }
}

/// Why a row broke a size limit, if it did: the whole row, or some of its cells.
fn oversize(record: Option<Oversize>, cells: &[Field]) -> Option<RowError> {
    let kib = |bytes: usize| bytes / 1024;
    match record {
        Some(Oversize::Bytes) => Some(RowError::new(
            values::code::ROW_TOO_LONG,
            format!(
                "the row is longer than {} KiB; no callback row is that long — a quote is probably not closed, or the file is not an export",
                kib(crate::csvio::MAX_RECORD_BYTES)
            ),
        )),
        Some(Oversize::Fields) => Some(RowError::new(
            values::code::ROW_TOO_LONG,
            format!(
                "the row has more than {} fields; a delimiter is probably wrong",
                crate::csvio::MAX_FIELDS
            ),
        )),
        None if !cells.is_empty() => {
            let names: Vec<&str> = cells.iter().map(|f| f.name()).collect();
            Some(RowError::new(
                values::code::CELL_TOO_LONG,
                format!(
                    "{} is longer than {} KiB; only its start is shown",
                    names.join(", "),
                    kib(values::MAX_CELL_BYTES)
                ),
            ))
        }
        None => None,
    }
}

/// A row that cannot be sent: why, and its cells as found, for the result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub error: RowError,
    pub fields: RowText,
}

/// Builds the order a row describes, checking every field; on failure the error
/// carries the first problem's code and every problem's message.
pub fn build_order(cells: &Cells<'_>) -> Result<Order, Box<Invalid>> {
    let mut errors: Vec<RowError> = Vec::new();
    let mut note = |result: Result<(), RowError>| {
        if let Err(e) = result {
            errors.push(e);
        }
    };

    let req_id = unguard(cells.get(Field::ReqId)).to_owned();
    note(if req_id.is_empty() {
        Err(missing(Field::ReqId))
    } else {
        values::check_req_id(&req_id)
    });

    let order_no =
        required(cells, Field::OrderNo).and_then(|t| values::parse_order_number("order_no", t));
    let sub_order_no = match cells.get(Field::SubOrderNo) {
        "" => Ok(None),
        text => values::parse_order_number("sub_order_no", text).map(Some),
    };
    let success = required(cells, Field::Success).and_then(values::parse_success);
    let ext = build_ext(cells);

    let order_no = order_no.map_err(|e| errors.push(e)).ok();
    let sub_order_no = sub_order_no.map_err(|e| errors.push(e)).ok();
    let success = success.map_err(|e| errors.push(e)).ok();
    let (ext_shown, ext) = ext;
    let ext = ext.map_err(|e| errors.push(e)).ok();

    let optional = |field| Some(unguard(cells.get(field)).to_owned()).filter(|s| !s.is_empty());
    if let (true, Some(order_no), Some(sub_order_no), Some(success), Some(ext)) =
        (errors.is_empty(), order_no, sub_order_no, success, ext)
    {
        let order = Order {
            sub_order_no,
            order_no,
            success,
            result_code: optional(Field::ResultCode),
            result_desc: optional(Field::ResultDesc),
            req_id,
            ext,
        };
        return Ok(order);
    }
    let shown = RowText {
        order_no: cells.get(Field::OrderNo).to_owned(),
        sub_order_no: cells.get(Field::SubOrderNo).to_owned(),
        success: cells.get(Field::Success).to_owned(),
        result_code: unguard(cells.get(Field::ResultCode)).to_owned(),
        result_desc: unguard(cells.get(Field::ResultDesc)).to_owned(),
        req_id,
        ext: ext_shown,
        extra: Vec::new(),
    };
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Err(Box::new(Invalid {
        error: RowError::new(errors[0].code, message),
        fields: shown,
    }))
}

fn missing(field: Field) -> RowError {
    RowError::new(
        code::MISSING_FIELD,
        format!("{field} is empty; it is required"),
    )
}

fn required<'c>(cells: &'c Cells<'_>, field: Field) -> Result<&'c str, RowError> {
    match cells.get(field) {
        "" => Err(missing(field)),
        text => Ok(text),
    }
}

/// `ext` from its own column, the first-charge columns, or both (which must agree).
fn build_ext(cells: &Cells<'_>) -> (String, Result<Option<String>, RowError>) {
    super::first_charge::ext_from(
        cells.get(Field::Ext),
        cells.get(Field::FirstChargeAmount),
        cells.get(Field::FirstChargeTime),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(pairs: &[(Field, &'static str)]) -> Cells<'static> {
        let mut cells = Cells::default();
        for (field, text) in pairs {
            cells.set(*field, *text);
        }
        cells
    }

    fn base() -> Vec<(Field, &'static str)> {
        vec![
            (Field::OrderNo, "4012345678901234567"),
            (Field::Success, "true"),
            (Field::ReqId, "r-1"),
        ]
    }

    #[test]
    fn a_minimal_row_builds_an_order() {
        let order = build_order(&cells(&base())).expect("valid");
        assert_eq!(order.order_no, 4_012_345_678_901_234_567);
        assert_eq!(RowText::of_order(&order).success, "true");
        assert_eq!((order.result_code, order.ext), (None, None));
    }

    #[test]
    fn first_charge_columns_assemble_ext() {
        let mut pairs = base();
        pairs.extend([
            (Field::FirstChargeAmount, "100"),
            (Field::FirstChargeTime, "2024-01-01 00:00:00"),
        ]);
        let order = build_order(&cells(&pairs));
        assert_eq!(
            order.expect("valid").ext.as_deref(),
            Some(r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#)
        );
    }

    #[test]
    fn ext_that_agrees_with_the_columns_is_kept_and_completed() {
        let mut pairs = base();
        pairs.extend([
            (
                Field::Ext,
                r#"{"firstChargeAmount": "100.00", "channel":"x"}"#,
            ),
            (Field::FirstChargeAmount, "100"),
            (Field::FirstChargeTime, "1704038400000"),
        ]);
        let order = build_order(&cells(&pairs));
        assert_eq!(
            order.expect("valid").ext.as_deref(),
            Some(
                r#"{"firstChargeAmount":"100.00","channel":"x","firstChargeTime":"1704038400000"}"#
            )
        );
    }

    #[test]
    fn ext_that_disagrees_with_the_columns_is_invalid() {
        let mut pairs = base();
        pairs.extend([
            (Field::Ext, r#"{"firstChargeAmount":"50"}"#),
            (Field::FirstChargeAmount, "100"),
        ]);
        let invalid = build_order(&cells(&pairs)).expect_err("mismatch");
        assert_eq!(invalid.error.code, code::EXT_MISMATCH);
        assert_eq!(invalid.fields.ext, r#"{"firstChargeAmount":"50"}"#);
    }

    #[test]
    fn every_problem_is_reported_with_the_first_code() {
        let invalid = build_order(&cells(&[
            (Field::OrderNo, "4.01E+18"),
            (Field::Success, "perhaps"),
            (Field::ReqId, ""),
        ]))
        .expect_err("invalid");
        let (err, shown) = (invalid.error, invalid.fields);
        assert_eq!(err.code, code::MISSING_FIELD);
        assert!(err.message.contains("req_id is empty"), "{}", err.message);
        assert!(
            err.message.contains("scientific notation"),
            "{}",
            err.message
        );
        assert!(err.message.contains("success 'perhaps'"), "{}", err.message);
        assert_eq!(
            (shown.order_no.as_str(), shown.success.as_str()),
            ("4.01E+18", "perhaps")
        );
    }

    #[test]
    fn invalid_first_charge_values_are_shown_as_ext_for_correction() {
        let mut pairs = base();
        pairs.extend([
            (Field::FirstChargeAmount, "abc"),
            (Field::FirstChargeTime, "1704038400000"),
        ]);
        let invalid = build_order(&cells(&pairs)).expect_err("bad amount");
        assert_eq!(invalid.error.code, code::BAD_AMOUNT);
        assert_eq!(
            invalid.fields.ext,
            r#"{"firstChargeAmount":"abc","firstChargeTime":"1704038400000"}"#
        );
    }

    #[test]
    fn the_ext_of_an_invalid_row_sent_back_uncorrected_is_still_invalid() {
        for (ext, code) in [
            (
                r#"{"firstChargeAmount":"abc","firstChargeTime":"1704038400000"}"#,
                code::BAD_AMOUNT,
            ),
            (r#"{"firstChargeAmount":"12.345"}"#, code::BAD_AMOUNT),
            (r#"{"firstChargeTime":"2024-01-01"}"#, code::BAD_TIME),
            (r#"{"firstChargeAmount": 12.345}"#, code::BAD_AMOUNT),
        ] {
            let mut pairs = base();
            pairs.push((Field::Ext, ext));
            let invalid = build_order(&cells(&pairs)).expect_err(ext);
            assert_eq!(invalid.error.code, code, "{ext}");
        }
    }

    #[test]
    fn guarded_text_from_a_result_file_is_unguarded() {
        let mut pairs = base();
        pairs.push((Field::ResultDesc, "'-1 元"));
        let order = build_order(&cells(&pairs));
        assert_eq!(order.expect("valid").result_desc.as_deref(), Some("-1 元"));
    }

    #[test]
    fn blank_rows_are_recognised() {
        assert!(cells(&[(Field::OrderNo, ""), (Field::ReqId, "")]).is_blank());
        assert!(!cells(&[(Field::OrderNo, "1")]).is_blank());
    }
}
