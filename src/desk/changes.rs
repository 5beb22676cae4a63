//! What a corrected row changes against what the ledger last sent under its req_id:
//! the fields that differ (order numbers, success, result code and text, `ext` —
//! compared as JSON), shown on the preview so the clerk sees what the send would alter.

use crate::columns::RowText;
use crate::ledger::{Access, Ledger};
use crate::order::Order;

/// One field that differs: its name (the result file's), before, now.
pub type Change = (&'static str, String, String);

/// The changes of each row (`rows`' order) against the ledger's last payload of its
/// req_id (of this kind: real, or `--simulate`'s); none for a row the ledger never sent.
pub fn against_ledger(
    ledger: &std::path::Path,
    simulated: bool,
    rows: &[&RowText],
) -> Vec<Vec<Change>> {
    let opened = ledger
        .exists()
        .then(|| Ledger::open(ledger, Access::Read).ok())
        .flatten();
    rows.iter()
        .map(|row| {
            let Some(ledger) = &opened else {
                return Vec::new();
            };
            let before = crate::ledger::orders::find(ledger, &row.req_id)
                .ok()
                .into_iter()
                .flatten()
                .find(|o| o.req_id == row.req_id && o.simulated == simulated)
                .and_then(|o| o.param0)
                .and_then(|param0| Order::from_param0(&param0));
            match before {
                Some(order) => changes(&RowText::from_order(order), row),
                None => Vec::new(),
            }
        })
        .collect()
}

/// The fields of `now` that differ from `before`.
pub fn changes(before: &RowText, now: &RowText) -> Vec<Change> {
    let mut found = Vec::new();
    let mut compare = |name: &'static str, a: &str, b: &str, same: bool| {
        if !same {
            found.push((name, a.to_owned(), b.to_owned()));
        }
    };
    for (name, a, b) in [
        ("order_no", &before.order_no, &now.order_no),
        ("sub_order_no", &before.sub_order_no, &now.sub_order_no),
        ("result_code", &before.result_code, &now.result_code),
        ("result_desc", &before.result_desc, &now.result_desc),
    ] {
        compare(name, a, b, a.trim() == b.trim());
    }
    compare(
        "success",
        &before.success,
        &now.success,
        yes(&before.success) == yes(&now.success),
    );
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text.trim()).ok();
    let same_ext = match (json(&before.ext), json(&now.ext)) {
        (Some(a), Some(b)) => a == b,
        _ => before.ext.trim() == now.ext.trim(),
    };
    compare("ext", &before.ext, &now.ext, same_ext);
    found
}

/// A success cell as a yes or no, however it is written.
fn yes(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "是" | "yes" | "y" => Some(true),
        "false" | "0" | "否" | "no" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(order_no: &str, success: &str, ext: &str) -> RowText {
        RowText {
            order_no: order_no.into(),
            success: success.into(),
            req_id: "N2".into(),
            ext: ext.into(),
            ..RowText::default()
        }
    }

    #[test]
    fn only_what_differs_however_it_is_written() {
        let before = row(
            "4000000000000000002",
            "true",
            r#"{"firstChargeAmount":"100"}"#,
        );
        let same = row(
            "4000000000000000002",
            "是",
            r#"{ "firstChargeAmount": "100" }"#,
        );
        assert!(changes(&before, &same).is_empty());
        let corrected = row(
            "4000000000000000009",
            "true",
            r#"{"firstChargeAmount":"50"}"#,
        );
        let found = changes(&before, &corrected);
        let names: Vec<&str> = found.iter().map(|c| c.0).collect();
        assert_eq!(names, ["order_no", "ext"]);
        assert_eq!(found[0].2, "4000000000000000009");
    }
}
