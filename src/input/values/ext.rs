//! `ext` and the first charge: a JSON object kept in its canonical form (recognised
//! in the text without parsing when it already is), amounts to the cent, and times as
//! Beijing epoch milliseconds. Pure.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};

use super::number::{is_grouped, looks_scientific};
use super::{RowError, code};
use crate::text::shorten;

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
                shorten(text, 60)
            ),
        )),
        Err(e) => Err(RowError::new(
            code::BAD_EXT,
            format!("ext is not valid JSON ({e}): '{}'", shorten(text, 60)),
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
    // A yuan sign before it (¥50, ￥50) or 元 after it (50元, 50 元): as finance writes
    // amounts.
    let signed = text.trim_start_matches(['¥', '￥']).trim();
    let bare = signed.strip_suffix('元').unwrap_or(signed).trim();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of<T: std::fmt::Debug>(result: Result<T, RowError>) -> &'static str {
        result.expect_err("should be refused").code
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
        assert_eq!(parse_amount("50元"), Ok("50".into()));
        assert_eq!(parse_amount("￥ 49.90 元"), Ok("49.90".into()));
        assert_eq!(parse_amount("¥50"), Ok("50".into()));
        for bad in [
            "-1", "1.234", "abc", "1.", ".5", "1,00", "1,000,00", ",100", "1,0a0", "元", "50元元",
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
