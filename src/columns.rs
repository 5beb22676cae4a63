//! The result file's columns (SPEC.md "Result CSV"), and the text of a row's input
//! columns as a result shows it. Shared by the input reader, which recognises the
//! outcome columns in order to ignore them, and by the result writers; it imports
//! neither.

use std::borrow::Cow;

use crate::order::Order;

/// The result columns, in the fixed order.
pub const RESULT_HEADER: [&str; 17] = [
    "req_id",
    "order_no",
    "sub_order_no",
    "success",
    "result_code",
    "result_desc",
    "ext",
    "status",
    "error_code",
    "error_msg",
    "sub_code",
    "sub_msg",
    "top_request_id",
    "attempts",
    "finished_at",
    "source",
    "line",
];

/// The ledger's header (SPEC.md "Ledger"): a file whose first line is this is a ledger
/// wherever it is named, and never an output.
pub const LEDGER_HEADER: [&str; 11] = [
    "req_id",
    "order_no",
    "sub_order_no",
    "status",
    "error_code",
    "sub_code",
    "payload_md5",
    "top_request_id",
    "attempts",
    "finished_at",
    "run_id",
];

/// The `application_id` of a ledger database ("OTCB").
pub const LEDGER_APPLICATION_ID: i32 = 0x4F54_4342;

/// Whether `head` (a file's first 512 bytes) may be a ledger's: any SQLite database
/// (a new ledger's mark may still wait in its write-ahead log), or a CSV ledger of
/// an earlier version. Outputs refuse such a file.
pub fn is_ledger_head(head: &[u8]) -> bool {
    starts_as_ledger(head) || is_sqlite(head)
}

/// Whether `head` starts with SQLite's header.
pub fn is_sqlite(head: &[u8]) -> bool {
    head.starts_with(b"SQLite format 3\0")
}

/// The `application_id` in a SQLite header (offset 68), when `head` is one.
pub fn sqlite_application_id(head: &[u8]) -> Option<i32> {
    (is_sqlite(head) && head.len() >= 72)
        .then(|| i32::from_be_bytes([head[68], head[69], head[70], head[71]]))
}

/// Whether `head` (a file's first bytes) starts with the old CSV ledger's header line.
pub fn starts_as_ledger(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    // Compared field by field, so no joined copy is made.
    let mut fields = line.split(|&b| b == b',');
    LEDGER_HEADER
        .iter()
        .all(|name| fields.next() == Some(name.as_bytes()))
        && fields.next().is_none()
}

/// The columns after the input fields: recognised and ignored when a result file is
/// read as input, so it can be sent again without warnings.
pub const OUTCOME_COLUMNS: &[&str] = RESULT_HEADER.split_at(7).1;

/// A result workbook's columns, for a person correcting it in Excel (SPEC.md
/// "Workbooks"): each headed in Chinese with the canonical name beside
/// (`外部请求流水 req_id`); the first-charge amount and time split out of `ext`; advice
/// in plain words. Which order a row is, what happened to it and what to do come first
/// (`WORKBOOK_FROZEN` columns, kept in view while scrolling: a spreadsheet at 100 %
/// shows them on any screen), then the rest of the input, then the platform's answer.
/// `workbook_editable` says which ones finance types into.
pub const WORKBOOK_COLUMNS: [(&str, &str); 20] = [
    ("外部请求流水", "req_id"),
    ("天猫交易订单号", "order_no"),
    ("子订单号", "sub_order_no"),
    ("状态", "status"),
    ("处理建议", "advice"),
    ("是否成功", "success"),
    ("结果码", "result_code"),
    ("结果描述", "result_desc"),
    ("首充金额", "first_charge_amount"),
    ("首充时间", "first_charge_time"),
    ("扩展参数", "ext"),
    ("错误码", "error_code"),
    ("错误信息", "error_msg"),
    ("子错误码", "sub_code"),
    ("子错误信息", "sub_msg"),
    ("TOP请求号", "top_request_id"),
    ("尝试次数", "attempts"),
    ("完成时间", "finished_at"),
    ("来源文件", "source"),
    ("行号", "line"),
];

/// The columns of `WORKBOOK_COLUMNS` kept in view (the order numbers, the status, the
/// advice).
pub const WORKBOOK_FROZEN: usize = 5;

/// Whether the workbook's column `col` is one of the input's (Text-formatted, what
/// finance corrects), rather than one of the outcome's.
pub fn workbook_editable(col: usize) -> bool {
    WORKBOOK_COLUMNS.get(col).is_some_and(|(_, name)| {
        matches!(
            *name,
            "req_id"
                | "order_no"
                | "sub_order_no"
                | "success"
                | "result_code"
                | "result_desc"
                | "first_charge_amount"
                | "first_charge_time"
                | "ext"
        )
    })
}

/// Where the workbook has the column `name`.
pub fn workbook_column(name: &str) -> usize {
    WORKBOOK_COLUMNS
        .iter()
        .position(|(_, n)| *n == name)
        .unwrap_or_else(|| panic!("the workbook has no column {name}"))
}

/// Columns only a result workbook has, beyond the result CSV's: ignored as input.
pub const WORKBOOK_ONLY: &[&str] = &["advice"];

/// The canonical name a header stands for: a workbook's `外部请求流水 req_id` — the
/// Chinese label and the canonical name of the same column — is `req_id`; any other
/// header is itself (`Payment ext` is `Payment ext`, never `ext`).
pub fn canonical_header(header: &str) -> &str {
    let header = header.trim_start_matches('\u{feff}').trim();
    match header.rsplit_once(char::is_whitespace) {
        Some((first, last))
            if WORKBOOK_COLUMNS.iter().any(|(chinese, name)| {
                name.eq_ignore_ascii_case(last) && first.trim() == *chinese
            }) =>
        {
            last
        }
        _ => header,
    }
}

/// Whether a header names a column of the result file (or of a result workbook), in
/// any of its spellings: an input column by that name cannot be carried under it.
pub fn is_output_column(header: &str) -> bool {
    let plain = |text: &str| -> String {
        text.chars()
            .filter(|c| !matches!(c, '_' | '-' | ' ' | '\u{3000}'))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = plain(canonical_header(header));
    RESULT_HEADER
        .iter()
        .chain(WORKBOOK_ONLY)
        .chain(WORKBOOK_COLUMNS.iter().map(|(_, name)| name))
        .any(|name| plain(name) == wanted)
        || WORKBOOK_COLUMNS
            .iter()
            .any(|(chinese, _)| plain(chinese) == wanted)
}

/// The prefix a carried input column gets when its name is an output column's
/// (`status` → `input_status`), so the result file has each name once.
pub const CARRIED_PREFIX: &str = "input_";

/// The canonical input columns of a row as a result shows them: the values sent for
/// a valid row, the text as found (so it can be corrected) for an invalid one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowText {
    pub order_no: String,
    pub sub_order_no: String,
    pub success: String,
    pub result_code: String,
    pub result_desc: String,
    pub req_id: String,
    pub ext: String,
    /// The input's columns the API does not use, carried through (in the order of
    /// the result file's extra columns).
    pub extra: Vec<String>,
}

impl RowText {
    /// The text of an order no longer needed otherwise: its strings move here.
    pub fn from_order(order: Order) -> Self {
        RowText {
            order_no: order.order_no.to_string(),
            sub_order_no: order
                .sub_order_no
                .map(|n| n.to_string())
                .unwrap_or_default(),
            success: order.success.to_string(),
            result_code: order.result_code.unwrap_or_default(),
            result_desc: order.result_desc.unwrap_or_default(),
            req_id: order.req_id,
            ext: order.ext.unwrap_or_default(),
            extra: Vec::new(),
        }
    }

    pub fn of_order(order: &Order) -> Self {
        RowText::from_order(order.clone())
    }
}

/// The injection guard and its inverse, one pair: a cell that a spreadsheet would run
/// as a formula is written with a leading apostrophe, and read back without it.
/// Prefixes `'` to text Excel would treat as a formula or control.
pub fn guard(cell: &str) -> Cow<'_, str> {
    if matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\n')
    ) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Undoes this tool's own CSV-injection guard (a `'` before `=`, `+`, `-`, `@`, tab,
/// CR or LF in result files), so a result file sent again keeps its payload.
pub fn unguard(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']) => rest,
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn guard_defuses_formulas_only() {
        assert_eq!(guard("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(guard("+1"), "'+1");
        assert_eq!(guard("-1"), "'-1");
        assert_eq!(guard("@SUM"), "'@SUM");
        assert_eq!(guard("\tx"), "'\tx");
        assert_eq!(guard("订购成功"), "订购成功");
        assert_eq!(guard("{\"a\":1}"), "{\"a\":1}");
    }

    #[test]
    fn unguard_undoes_only_the_injection_guard() {
        assert_eq!(unguard("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unguard("'-5"), "-5");
        assert_eq!(unguard("'abc"), "'abc");
        assert_eq!(unguard("plain"), "plain");
    }

    #[test]
    fn unguard_reads_back_whatever_guard_wrote() {
        for cell in [
            "=SUM(A1)",
            "+1",
            "-5",
            "@x",
            "\tx",
            "'abc",
            "plain",
            "订购成功",
        ] {
            assert_eq!(unguard(&guard(cell)), cell);
        }
    }
    use super::*;

    #[test]
    fn workbook_headers_read_back_as_their_canonical_names() {
        for (chinese, name) in WORKBOOK_COLUMNS {
            assert_eq!(canonical_header(&format!("{chinese} {name}")), name);
        }
        assert_eq!(canonical_header("req_id"), "req_id");
        assert_eq!(canonical_header("Order No"), "Order No");
        assert_eq!(canonical_header("外部请求流水"), "外部请求流水");
        for name in RESULT_HEADER {
            assert!(WORKBOOK_COLUMNS.iter().any(|(_, n)| *n == name), "{name}");
        }
    }

    #[test]
    fn outcome_columns_follow_the_seven_input_columns() {
        assert_eq!(OUTCOME_COLUMNS.first(), Some(&"status"));
        assert_eq!(OUTCOME_COLUMNS.len(), 10);
    }
}
