//! Reading one cell's text as the value it stands for — order numbers (`number`),
//! booleans, req_ids, amounts, times and ext JSON (`ext`) — and recognising what Excel
//! does to them. Every refusal
//! is a `RowError` with an `input.*` code and a message that says how to fix the
//! export. Pure.

mod ext;
mod number;

use std::fmt;

pub use ext::{
    ExtPairs, canonical_ext, check_ext_value, is_canonical_ext, parse_amount, parse_charge_time,
    parse_ext,
};
use number::looks_scientific;
pub use number::parse_order_number;

/// Why a row cannot be sent (SPEC.md status `invalid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// `input.*`.
    pub code: &'static str,
    pub message: String,
}

impl RowError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        RowError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The codes, in one place so the reference's table (docs/reference.md) and the tests agree.
pub mod code {
    pub const MISSING_FIELD: &str = "input.missing_field";
    pub const SCIENTIFIC: &str = "input.scientific_notation";
    pub const DECIMAL: &str = "input.decimal_number";
    pub const SEPARATORS: &str = "input.thousands_separator";
    pub const BAD_NUMBER: &str = "input.bad_number";
    pub const BAD_SUCCESS: &str = "input.bad_success";
    pub const BAD_REQ_ID: &str = "input.bad_req_id";
    pub const BAD_EXT: &str = "input.bad_ext";
    pub const EXT_MISMATCH: &str = "input.ext_mismatch";
    pub const BAD_AMOUNT: &str = "input.bad_amount";
    pub const BAD_TIME: &str = "input.bad_time";
    pub const FIELD_COUNT: &str = "input.field_count";
    pub const BAD_ENCODING: &str = "input.bad_encoding";
    pub const ROW_TOO_LONG: &str = "input.row_too_long";
    pub const CELL_TOO_LONG: &str = "input.cell_too_long";
    /// A workbook number cell that cannot hold the order number exactly.
    pub const INEXACT_NUMBER: &str = "input.inexact_number";
    /// A workbook error value (`#N/A`, `#REF!`, ...) in a column the tool uses.
    pub const EXCEL_ERROR: &str = "input.excel_error";
    /// A workbook date cell where a text or a number belongs.
    pub const DATE_CELL: &str = "input.date_cell";
}

/// The longest cell read; the rest of a longer one is dropped and the row is invalid.
pub const MAX_CELL_BYTES: usize = 16 * 1024;

/// The longest req_id accepted; the platform's idempotency keys are short serials.
pub const MAX_REQ_ID_CHARS: usize = 64;

/// Trims what exports leave around values: ASCII white space, no-break and
/// full-width spaces, zero-width characters and stray BOMs.
pub fn clean(text: &str) -> &str {
    text.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '\u{00A0}' | '\u{3000}' | '\u{200B}' | '\u{FEFF}')
    })
}

/// `clean` of a cell that may be owned, still borrowed where it was.
pub fn clean_cow(text: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(clean(text)),
        Cow::Owned(text) if clean(&text).len() == text.len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(clean(&text).to_owned()),
    }
}

/// The merchant's success flag: true/false, 1/0, yes/no, y/n, 是/否, 成功/失败, in any case.
pub fn parse_success(text: &str) -> Result<bool, RowError> {
    match text.to_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "是" | "成功" | "t" => Ok(true),
        "false" | "0" | "no" | "n" | "否" | "失败" | "f" => Ok(false),
        _ => Err(RowError::new(
            code::BAD_SUCCESS,
            format!(
                "success '{text}' is not a yes/no value; write true or false (1/0, yes/no, 是/否, 成功/失败 also work)"
            ),
        )),
    }
}

/// A req_id: the idempotency key, sent verbatim.
pub fn check_req_id(text: &str) -> Result<(), RowError> {
    if looks_scientific(&text.to_ascii_uppercase()) && text.contains('.') {
        return Err(RowError::new(
            code::SCIENTIFIC,
            format!(
                "req_id '{text}' is in scientific notation: Excel converted a numeric serial. Format the column as Text and export again"
            ),
        ));
    }
    if text.chars().count() > MAX_REQ_ID_CHARS {
        return Err(RowError::new(
            code::BAD_REQ_ID,
            format!(
                "req_id is {} characters long; at most {MAX_REQ_ID_CHARS} are accepted",
                text.chars().count()
            ),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(RowError::new(
            code::BAD_REQ_ID,
            "req_id contains a control character (tab or line break)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of<T: std::fmt::Debug>(result: Result<T, RowError>) -> &'static str {
        result.expect_err("should be refused").code
    }

    #[test]
    fn clean_trims_export_whitespace() {
        assert_eq!(clean(" \u{3000}12\u{00A0}\t"), "12");
        assert_eq!(clean("\u{FEFF}order_no"), "order_no");
    }

    #[test]
    fn success_accepts_the_usual_spellings() {
        for yes in ["true", "TRUE", "True", "1", "yes", "Y", "是", "成功"] {
            assert_eq!(parse_success(yes), Ok(true), "{yes}");
        }
        for no in ["false", "FALSE", "0", "no", "N", "否", "失败"] {
            assert_eq!(parse_success(no), Ok(false), "{no}");
        }
        assert_eq!(code_of(parse_success("maybe")), code::BAD_SUCCESS);
        assert_eq!(code_of(parse_success("2")), code::BAD_SUCCESS);
    }

    #[test]
    fn req_ids_are_checked_for_excel_and_length() {
        assert!(check_req_id("channel_1212312").is_ok());
        assert!(
            check_req_id("12E3").is_ok(),
            "not Excel output: no decimal point"
        );
        assert_eq!(code_of(check_req_id("1.21231E+14")), code::SCIENTIFIC);
        assert_eq!(code_of(check_req_id(&"x".repeat(65))), code::BAD_REQ_ID);
        assert_eq!(code_of(check_req_id("a\tb")), code::BAD_REQ_ID);
    }
}
