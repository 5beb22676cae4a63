//! `ext` and its first-charge columns: assembled from the `ext` column, the
//! `first_charge_amount` and `first_charge_time` columns, or both (which must agree),
//! and split back into them for a workbook finance edits — only where assembling the
//! split gives back the very same `ext`, so a row left untouched in Excel keeps its
//! payload digest.

use serde_json::{Map, Value};

use super::values::{self, RowError, clean, code};
use crate::columns::unguard;
use crate::money::Cents;

/// An `ext` as a workbook shows it: the other keys, the amount, the time (Beijing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitExt {
    pub rest: String,
    pub amount: String,
    pub time: String,
}

/// `ext` split into its first-charge columns, when `ext_from` assembles the parts into
/// exactly `ext` again (else `None`: the workbook keeps `ext` whole).
pub fn split(ext: &str) -> Option<SplitExt> {
    if let Some(split) = split_usual(ext) {
        return Some(split);
    }
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(ext) else {
        return None;
    };
    let amount = match map.remove("firstChargeAmount") {
        Some(Value::String(text)) => text,
        Some(_) => return None,
        None => String::new(),
    };
    let time = match map.remove("firstChargeTime") {
        Some(Value::String(text)) => beijing_time(&text)?,
        Some(_) => return None,
        None => String::new(),
    };
    if amount.is_empty() && time.is_empty() {
        return None;
    }
    let rest = if map.is_empty() {
        String::new()
    } else {
        Value::Object(map).to_string()
    };
    let (_, assembled) = ext_from(&rest, &amount, &time);
    (assembled.ok()?.as_deref() == Some(ext)).then_some(SplitExt { rest, amount, time })
}

/// The usual ext — `{"firstChargeAmount":"A"}` with `"firstChargeTime":"T"` after it,
/// nothing else, in the canonical form — split without parsing JSON: assembling gives
/// it back exactly when the amount reads as itself and the time as the same
/// milliseconds (a result workbook writes one such row after another).
fn split_usual(ext: &str) -> Option<SplitExt> {
    let mut pairs = values::canonical_ext(ext)?.iter();
    let ("firstChargeAmount", amount) = pairs.next()? else {
        return None;
    };
    let time = match pairs.next() {
        None => String::new(),
        Some(("firstChargeTime", ms)) if ms.len() > 10 && pairs.next().is_none() => {
            let time = beijing_time(ms)?;
            (values::parse_charge_time(&time).ok()?.to_string() == ms).then_some(time)?
        }
        Some(_) => return None,
    };
    (values::parse_amount(amount).ok()? == amount).then(|| SplitExt {
        rest: String::new(),
        amount: amount.to_owned(),
        time,
    })
}

/// Epoch milliseconds (whole seconds) as Beijing `yyyy-MM-dd HH:mm:ss`.
fn beijing_time(ms: &str) -> Option<String> {
    let ms: i64 = ms.parse().ok()?;
    if ms % 1000 != 0 {
        return None;
    }
    let at = chrono::DateTime::from_timestamp_millis(ms)?;
    Some(
        at.with_timezone(&crate::clock::beijing())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
    )
}

/// `ext` from its own column, the first-charge columns, or both (which must agree).
/// Returns the text to show in the result CSV and the compact JSON to send.
pub fn ext_from(
    raw_ext: &str,
    raw_amount: &str,
    raw_time: &str,
) -> (String, Result<Option<String>, RowError>) {
    let raw_ext = unguard(raw_ext);
    if raw_amount.is_empty()
        && raw_time.is_empty()
        && let Some(pairs) = values::canonical_ext(raw_ext)
    {
        // Already what parse-and-serialize would give: keep the text.
        let checked = pairs
            .iter()
            .try_for_each(|(key, value)| values::check_ext_value(key, value));
        return (
            raw_ext.to_owned(),
            checked.map(|()| Some(raw_ext.to_owned())),
        );
    }
    let mut map = match raw_ext {
        "" => Map::new(),
        text => match values::parse_ext(text) {
            Ok(map) => map,
            Err(e) => return (text.to_owned(), Err(e)),
        },
    };
    if raw_ext.is_empty() && raw_amount.is_empty() && raw_time.is_empty() {
        return (String::new(), Ok(None));
    }
    let mut problems = Vec::new();
    if !raw_amount.is_empty() {
        match values::parse_amount(raw_amount) {
            Ok(amount) => merge(
                &mut map,
                "firstChargeAmount",
                amount,
                same_amount,
                &mut problems,
            ),
            Err(e) => problems.push(e),
        }
    }
    if !raw_time.is_empty() {
        match values::parse_charge_time(raw_time) {
            Ok(ms) => merge(
                &mut map,
                "firstChargeTime",
                ms.to_string(),
                same_integer,
                &mut problems,
            ),
            Err(e) => problems.push(e),
        }
    }
    if let Some(first) = problems.first() {
        // Show what was given, in ext form, so finance can correct it in one place.
        let shown = if raw_ext.is_empty() {
            let mut given = Map::new();
            if !raw_amount.is_empty() {
                given.insert("firstChargeAmount".into(), Value::String(raw_amount.into()));
            }
            if !raw_time.is_empty() {
                given.insert("firstChargeTime".into(), Value::String(raw_time.into()));
            }
            Value::Object(given).to_string()
        } else {
            raw_ext.to_owned()
        };
        let message = problems
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return (shown, Err(RowError::new(first.code, message)));
    }
    let checked = map.iter().try_for_each(|(key, value)| match value {
        Value::String(text) => values::check_ext_value(key, text),
        Value::Number(n) => values::check_ext_value(key, &n.to_string()),
        _ => Ok(()),
    });
    let json = Value::Object(map).to_string();
    (json.clone(), checked.map(|()| Some(json)))
}

fn merge(
    map: &mut Map<String, Value>,
    key: &str,
    value: String,
    same: fn(&Value, &str) -> bool,
    problems: &mut Vec<RowError>,
) {
    match map.get(key) {
        None => {
            map.insert(key.to_owned(), Value::String(value));
        }
        Some(existing) if same(existing, &value) => {}
        Some(existing) => problems.push(RowError::new(
            code::EXT_MISMATCH,
            format!("ext says {key} is {existing} but the column says {value}; make them agree or leave one empty"),
        )),
    }
}

fn same_amount(existing: &Value, amount: &str) -> bool {
    let text = match existing {
        Value::String(s) => clean(s).to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    matches!((Cents::parse(&text), Cents::parse(amount)), (Some(a), Some(b)) if a == b)
}

fn same_integer(existing: &Value, ms: &str) -> bool {
    match existing {
        Value::String(s) => clean(s) == ms,
        Value::Number(n) => n.to_string() == ms,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_ext_splits_and_assembles_to_the_same_text() {
        let ext = r#"{"firstChargeAmount":"49.90","firstChargeTime":"1795392163000"}"#;
        let split = split(ext).expect("splits");
        assert_eq!(split.amount, "49.90");
        assert_eq!(split.time, "2026-11-23 08:02:43");
        assert_eq!(split.rest, "");
        let (_, back) = ext_from(&split.rest, &split.amount, &split.time);
        assert_eq!(back.expect("valid").as_deref(), Some(ext));
    }

    #[test]
    fn the_quick_split_agrees_with_assembling() {
        for ext in [
            r#"{"firstChargeAmount":"49.90","firstChargeTime":"1795392163000"}"#,
            r#"{"firstChargeAmount":"100"}"#,
            r#"{"firstChargeAmount":"1,000.00"}"#,
            r#"{"firstChargeAmount":"¥5"}"#,
            r#"{"firstChargeAmount":"5","firstChargeTime":"1795392163001"}"#,
            r#"{"firstChargeAmount":"5","firstChargeTime":"179539216300"}"#,
            r#"{"firstChargeTime":"1795392163000","firstChargeAmount":"5"}"#,
        ] {
            if let Some(quick) = split_usual(ext) {
                let (_, back) = ext_from(&quick.rest, &quick.amount, &quick.time);
                assert_eq!(back.expect("valid").as_deref(), Some(ext), "{ext}");
            }
        }
        assert!(split_usual(r#"{"firstChargeAmount":"1,000.00"}"#).is_none());
        assert!(
            split_usual(r#"{"firstChargeAmount":"49.90","firstChargeTime":"1795392163000"}"#)
                .is_some()
        );
    }

    #[test]
    fn what_would_not_come_back_the_same_stays_whole() {
        for ext in [
            // Milliseconds a time column cannot show.
            r#"{"firstChargeAmount":"49.90","firstChargeTime":"1795392163123"}"#,
            // A number, not a string.
            r#"{"firstChargeAmount":49.9}"#,
            r#"{"other":"1"}"#,
            "",
            "not json",
        ] {
            assert_eq!(split(ext), None, "{ext}");
        }
        let kept = split(r#"{"firstChargeAmount":"10","channel":"x"}"#);
        assert_eq!(
            kept, None,
            "the amount first, then others: comes back reordered"
        );
        let after =
            split(r#"{"channel":"x","firstChargeAmount":"10"}"#).expect("first charge last");
        assert_eq!(after.rest, r#"{"channel":"x"}"#);
    }
}
