//! Reading one cell's text as the value it stands for — order numbers, booleans,
//! amounts, times, ext JSON — and recognising what Excel does to them. Every refusal
//! is a `RowError` with an `input.*` code and a message that says how to fix the
//! export. Pure.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};

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

/// The codes, in one place so the README table and the tests agree.
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

/// An order or sub-order number: digits only, 1 ..= u64::MAX. Anything Excel did to
/// a long number is refused, because Excel keeps 15 significant digits and a 19-digit
/// Tmall order number that went through it is a different order.
pub fn parse_order_number(field: &str, text: &str) -> Result<u64, RowError> {
    // A leading apostrophe is Excel's "this is text" marker: the digits are intact.
    let digits = text.strip_prefix('\'').map(clean).unwrap_or(text);
    if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
        return match digits.parse::<u64>() {
            Ok(0) => Err(RowError::new(
                code::BAD_NUMBER,
                format!("{field} is 0; a Tmall order number is positive"),
            )),
            Ok(n) => Ok(n),
            Err(_) => Err(RowError::new(
                code::BAD_NUMBER,
                format!(
                    "{field} '{digits}' is longer than any Tmall order number (max 20 digits, 18446744073709551615)"
                ),
            )),
        };
    }
    let upper = digits.to_ascii_uppercase();
    if looks_scientific(&upper) {
        return Err(RowError::new(
            code::SCIENTIFIC,
            format!(
                "{field} '{digits}' is in scientific notation: Excel turned the number into a float and lost its last digits. \
                 Format the column as Text before pasting or export from the source system again"
            ),
        ));
    }
    if let Some(int) = digits
        .strip_suffix(".0")
        .or_else(|| digits.strip_suffix(".00"))
        && int.bytes().all(|b| b.is_ascii_digit())
        && !int.is_empty()
    {
        return Err(RowError::new(
            code::DECIMAL,
            format!(
                "{field} '{digits}' has a decimal part: it was stored as a number, which keeps only 15 digits. \
                 Format the column as Text in Excel (or re-export it) so the number is written as digits only"
            ),
        ));
    }
    if is_grouped(digits) {
        return Err(RowError::new(
            code::SEPARATORS,
            format!(
                "{field} '{digits}' has thousands separators: Excel formatted it as a number and may have rounded it. \
                 Format the column as Text and export again"
            ),
        ));
    }
    Err(RowError::new(
        code::BAD_NUMBER,
        format!("{field} '{digits}' is not a whole number; it must be digits only"),
    ))
}

fn looks_scientific(upper: &str) -> bool {
    let Some((mantissa, exponent)) = upper.split_once('E') else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// `1,234,567` (also with `.` decimals, which `parse_order_number` refuses anyway).
fn is_grouped(text: &str) -> bool {
    let integer = text.split('.').next().unwrap_or(text);
    let mut groups = integer.split(',');
    let first = groups.next().unwrap_or_default();
    let mut rest = groups.peekable();
    rest.peek().is_some()
        && (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && rest.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
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

/// The pairs of `text` when it is a flat JSON object of strings already in the
/// canonical form (what parsing and compact serialization would give back unchanged):
/// no white space, escapes, numbers, literals, nesting or repeated keys. Exports
/// almost always carry ext like this; other forms take the parse-and-serialize path.
pub fn canonical_ext(text: &str) -> Option<ExtPairs<'_>> {
    const MAX_CANONICAL_PAIRS: usize = 16;
    let bytes = text.as_bytes();
    let (Some(b'{'), Some(b'}')) = (bytes.first(), bytes.last()) else {
        return None;
    };
    let pairs = ExtPairs {
        inner: &text[1..text.len() - 1],
    };
    // The keys so far, to refuse a repeated one (compacting keeps the last); past a
    // few pairs the general path (a real JSON parse) is the cheaper one.
    let mut keys = [""; MAX_CANONICAL_PAIRS];
    let mut seen = 0;
    let mut at = (!pairs.inner.is_empty()).then_some(0);
    while let Some(from) = at {
        let ((key, _), next) = next_pair(pairs.inner, from)?;
        if seen == MAX_CANONICAL_PAIRS || keys[..seen].contains(&key) {
            return None;
        }
        keys[seen] = key;
        seen += 1;
        at = next;
    }
    Some(pairs)
}

/// The pairs of a canonical ext (`canonical_ext`), found in the text on each pass
/// rather than collected: this runs for every row, twice.
#[derive(Debug, Clone, Copy)]
pub struct ExtPairs<'a> {
    /// The text between the braces.
    inner: &'a str,
}

impl<'a> ExtPairs<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let inner = self.inner;
        let mut at = (!inner.is_empty()).then_some(0);
        std::iter::from_fn(move || {
            let (pair, next) = next_pair(inner, at?)?;
            at = next;
            Some(pair)
        })
    }
}

/// The `"key":"value"` pair starting at `from` in `inner`, and where the next one
/// starts (`None` at the end); `None` when the text there is not canonical.
fn next_pair(inner: &str, from: usize) -> Option<((&str, &str), Option<usize>)> {
    let raw = inner.as_bytes();
    // One string; returns where it ends (just past the closing quote).
    let string = |from: usize| -> Option<usize> {
        if raw.get(from) != Some(&b'"') {
            return None;
        }
        let close = from + 1 + raw[from + 1..].iter().position(|&b| b == b'"')?;
        let body = &raw[from + 1..close];
        (!body.iter().any(|&b| b == b'\\' || b < 0x20)).then_some(close + 1)
    };
    let key_end = string(from)?;
    if raw.get(key_end) != Some(&b':') {
        return None;
    }
    let value_end = string(key_end + 1)?;
    let pair = (
        &inner[from + 1..key_end - 1],
        &inner[key_end + 2..value_end - 1],
    );
    match raw.get(value_end) {
        None => Some((pair, None)),
        Some(b',') => Some((pair, Some(value_end + 1))),
        Some(_) => None,
    }
}

/// Whether `text` is ext already in the canonical form (see `canonical_ext`).
pub fn is_canonical_ext(text: &str) -> bool {
    canonical_ext(text).is_some()
}

/// Checks the value of an ext key this tool knows: `firstChargeAmount` must be an
/// amount to the cent, `firstChargeTime` epoch milliseconds. (An invalid row shows what
/// was given in ext form; sent back uncorrected, it must still be refused.)
pub fn check_ext_value(key: &str, value: &str) -> Result<(), RowError> {
    match key {
        "firstChargeAmount" => check_amount(value)
            .map(drop)
            .map_err(|e| RowError::new(e.code, format!("ext's {key}: {}", e.message))),
        "firstChargeTime" if value.len() < 11 || !value.bytes().all(|b| b.is_ascii_digit()) => {
            Err(RowError::new(
                code::BAD_TIME,
                format!("ext's {key} '{value}' is not epoch milliseconds (13 digits)"),
            ))
        }
        _ => Ok(()),
    }
}

/// `ext`: a JSON object. Returned as an ordered map, compacted when serialized again.
pub fn parse_ext(text: &str) -> Result<Map<String, Value>, RowError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RowError::new(
            code::BAD_EXT,
            format!(
                "ext must be a JSON object like {{\"firstChargeAmount\":\"100\"}}, not '{}'",
                shorten(text)
            ),
        )),
        Err(e) => Err(RowError::new(
            code::BAD_EXT,
            format!("ext is not valid JSON ({e}): '{}'", shorten(text)),
        )),
    }
}

/// A money amount: a non-negative decimal with at most two decimals, kept as text so
/// it is exact to the cent. `¥`, `￥` and correct thousands separators are removed.
pub fn parse_amount(text: &str) -> Result<String, RowError> {
    let (bare, grouped) = check_amount(text)?;
    Ok(if grouped {
        bare.replace(',', "")
    } else {
        bare.to_owned()
    })
}

/// `parse_amount`'s check alone, without building the amount: the text without its
/// currency sign, and whether it has thousands separators to remove.
fn check_amount(text: &str) -> Result<(&str, bool), RowError> {
    let bare = text.trim_start_matches(['¥', '￥']).trim();
    let grouped = is_grouped(bare);
    let (integer, fraction) = bare.split_once('.').unwrap_or((bare, ""));
    let valid = !integer.is_empty()
        && integer
            .bytes()
            .all(|b| b.is_ascii_digit() || (grouped && b == b','))
        && fraction.len() <= 2
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(bare.contains('.') && fraction.is_empty());
    if valid {
        Ok((bare, grouped))
    } else {
        Err(RowError::new(
            code::BAD_AMOUNT,
            format!(
                "first_charge_amount '{text}' is not an amount: write a number with at most two decimals, like 100 or 99.50"
            ),
        ))
    }
}

/// The first charge's time as epoch milliseconds: given as milliseconds, or as a
/// Beijing date and time (`2024-01-01 00:00:00`, or Excel's `2024/1/1 0:00`).
pub fn parse_charge_time(text: &str) -> Result<i64, RowError> {
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        if text.len() <= 10 {
            return Err(RowError::new(
                code::BAD_TIME,
                format!(
                    "first_charge_time '{text}' looks like epoch seconds; give milliseconds (13 digits) or 'YYYY-MM-DD HH:MM:SS'"
                ),
            ));
        }
        return text.parse().map_err(|_| {
            RowError::new(
                code::BAD_TIME,
                format!("first_charge_time '{text}' is too large"),
            )
        });
    }
    if looks_scientific(&text.to_ascii_uppercase()) {
        return Err(RowError::new(
            code::SCIENTIFIC,
            format!(
                "first_charge_time '{text}' is in scientific notation: Excel rounded the milliseconds. Format the column as Text and export again"
            ),
        ));
    }
    let normalized = text.replace('/', "-").replace('T', " ");
    let parsed = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(&normalized, format).ok());
    match parsed {
        // Beijing time is UTC+8 all year.
        Some(local) => Ok(local.and_utc().timestamp_millis() - 8 * 3_600_000),
        None if NaiveDate::parse_from_str(&normalized, "%Y-%m-%d").is_ok() => Err(RowError::new(
            code::BAD_TIME,
            format!(
                "first_charge_time '{text}' has a date but no time; write 'YYYY-MM-DD HH:MM:SS' (Beijing time)"
            ),
        )),
        None => Err(RowError::new(
            code::BAD_TIME,
            format!(
                "first_charge_time '{text}' is neither epoch milliseconds nor 'YYYY-MM-DD HH:MM:SS' (Beijing time)"
            ),
        )),
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of<T: fmt::Debug>(result: Result<T, RowError>) -> &'static str {
        result.expect_err("should be refused").code
    }

    #[test]
    fn clean_trims_export_whitespace() {
        assert_eq!(clean(" \u{3000}12\u{00A0}\t"), "12");
        assert_eq!(clean("\u{FEFF}order_no"), "order_no");
    }

    #[test]
    fn order_numbers_accept_digits_and_an_excel_text_apostrophe() {
        assert_eq!(
            parse_order_number("order_no", "4012345678901234567"),
            Ok(4_012_345_678_901_234_567)
        );
        assert_eq!(
            parse_order_number("order_no", "'4012345678901234567"),
            Ok(4_012_345_678_901_234_567)
        );
        assert_eq!(
            parse_order_number("order_no", "18446744073709551615"),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn excel_damage_to_order_numbers_has_its_own_codes() {
        for (text, expected) in [
            ("4.01235E+18", code::SCIENTIFIC),
            ("4.01235e18", code::SCIENTIFIC),
            ("4012345678901230000.0", code::DECIMAL),
            ("4,012,345,678,901,230,000", code::SEPARATORS),
            ("18446744073709551616", code::BAD_NUMBER),
            ("0", code::BAD_NUMBER),
            ("-12", code::BAD_NUMBER),
            ("12a", code::BAD_NUMBER),
            ("1,23", code::BAD_NUMBER),
        ] {
            assert_eq!(
                code_of(parse_order_number("order_no", text)),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn messages_name_the_field_and_the_fix() {
        let err = parse_order_number("sub_order_no", "1.2E+18").expect_err("refused");
        assert!(
            err.message.starts_with("sub_order_no '1.2E+18'"),
            "{}",
            err.message
        );
        assert!(err.message.contains("Text"), "{}", err.message);
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

    #[test]
    fn ext_must_be_a_json_object_and_keeps_key_order() {
        let map = parse_ext(r#"{ "b": "1", "a": 2 }"#).expect("object");
        assert_eq!(
            serde_json::to_string(&map).expect("serializes"),
            r#"{"b":"1","a":2}"#
        );
        assert_eq!(code_of(parse_ext("[1]")), code::BAD_EXT);
        assert_eq!(code_of(parse_ext("{oops")), code::BAD_EXT);
    }

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(parse_amount("100"), Ok("100".into()));
        assert_eq!(parse_amount("99.5"), Ok("99.5".into()));
        assert_eq!(parse_amount("¥1,000.00"), Ok("1000.00".into()));
        for bad in [
            "-1", "1.234", "abc", "1.", ".5", "1,00", "1,000,00", ",100", "1,0a0",
        ] {
            assert_eq!(code_of(parse_amount(bad)), code::BAD_AMOUNT, "{bad}");
        }
        assert_eq!(parse_amount("12,345,678.9"), Ok("12345678.9".into()));
        assert_eq!(check_ext_value("firstChargeAmount", "1,000"), Ok(()));
        assert!(check_ext_value("firstChargeAmount", "1,00").is_err());
    }

    #[test]
    fn a_long_ext_takes_the_general_path() {
        let ext = |n: usize| {
            let pairs: Vec<String> = (0..n).map(|i| format!("\"k{i}\":\"v\"")).collect();
            format!("{{{}}}", pairs.join(","))
        };
        let sixteen = ext(16);
        let pairs = canonical_ext(&sixteen).expect("canonical");
        assert_eq!(pairs.iter().count(), 16);
        assert_eq!(pairs.iter().nth(15), Some(("k15", "v")));
        assert!(canonical_ext(&ext(17)).is_none());
        assert!(parse_ext(&ext(17)).is_ok(), "still a valid ext");
        assert!(canonical_ext(r#"{"a":"1","b":"2","a":"3"}"#).is_none());
        assert_eq!(canonical_ext("{}").map(|p| p.iter().count()), Some(0));
    }

    #[test]
    fn charge_times_are_beijing_milliseconds() {
        assert_eq!(
            parse_charge_time("2024-01-01 00:00:00"),
            Ok(1_704_038_400_000)
        );
        assert_eq!(parse_charge_time("2024/1/1 0:00"), Ok(1_704_038_400_000));
        assert_eq!(
            parse_charge_time("2024-01-01T00:00:00"),
            Ok(1_704_038_400_000)
        );
        assert_eq!(parse_charge_time("1704038400000"), Ok(1_704_038_400_000));
        assert_eq!(code_of(parse_charge_time("1704038400")), code::BAD_TIME);
        assert_eq!(code_of(parse_charge_time("1.70404E+12")), code::SCIENTIFIC);
        assert_eq!(code_of(parse_charge_time("2024-01-01")), code::BAD_TIME);
        assert_eq!(code_of(parse_charge_time("yesterday")), code::BAD_TIME);
    }
}

#[cfg(test)]
mod ext_properties {
    use super::*;
    use proptest::prelude::*;

    /// What the slow path makes of `text`, when it is an object.
    fn canonical(text: &str) -> Option<String> {
        parse_ext(text)
            .ok()
            .map(|map| serde_json::Value::Object(map).to_string())
    }

    #[test]
    fn the_usual_ext_is_recognised() {
        for text in [
            r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#,
            "{}",
            r#"{"备注":"夜班"}"#,
        ] {
            assert!(is_canonical_ext(text), "{text}");
            assert_eq!(canonical(text).as_deref(), Some(text));
        }
        for text in [
            r#"{ "a":"1"}"#,
            r#"{"a":1}"#,
            r#"{"a":"\u4e2d"}"#,
            r#"{"a":"1","a":"2"}"#,
            r#"{"a":{"b":"c"}}"#,
            r#"{"a":true}"#,
            "[]",
            r#"{"a""b"}"#,
            r#"{"a":"1",}"#,
        ] {
            assert!(!is_canonical_ext(text), "{text}");
        }
    }

    fn jsonish() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just(":".to_owned()),
            Just(",".to_owned()),
            Just(" ".to_owned()),
            Just("\"".to_owned()),
            Just("\\\"".to_owned()),
            Just("\\u4e2d".to_owned()),
            Just("1".to_owned()),
            Just("1.50".to_owned()),
            Just("true".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            "[a-c]{1,2}",
            "[中文]{1,2}",
            Just(r#""a":"x""#.to_owned()),
            Just(r#""b":"y""#.to_owned()),
        ];
        proptest::collection::vec(token, 0..14).prop_map(|t| format!("{{{}}}", t.concat()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn the_fast_path_agrees_with_parse_and_serialize(text in jsonish()) {
            if is_canonical_ext(&text) {
                prop_assert_eq!(canonical(&text), Some(text.clone()));
            }
        }
    }
}
