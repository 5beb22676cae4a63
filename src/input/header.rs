//! Which column holds which field: canonical names, camelCase, the reference page's
//! Chinese labels, in any case and spacing, plus `--map field=Header`. Pure.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A field the input can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    OrderNo,
    SubOrderNo,
    Success,
    ResultCode,
    ResultDesc,
    ReqId,
    Ext,
    FirstChargeAmount,
    FirstChargeTime,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::OrderNo,
        Field::SubOrderNo,
        Field::Success,
        Field::ResultCode,
        Field::ResultDesc,
        Field::ReqId,
        Field::Ext,
        Field::FirstChargeAmount,
        Field::FirstChargeTime,
    ];

    /// The fields without which no row can be sent.
    pub const REQUIRED: [Field; 3] = [Field::OrderNo, Field::Success, Field::ReqId];

    /// The canonical (snake_case) name.
    pub fn name(self) -> &'static str {
        match self {
            Field::OrderNo => "order_no",
            Field::SubOrderNo => "sub_order_no",
            Field::Success => "success",
            Field::ResultCode => "result_code",
            Field::ResultDesc => "result_desc",
            Field::ReqId => "req_id",
            Field::Ext => "ext",
            Field::FirstChargeAmount => "first_charge_amount",
            Field::FirstChargeTime => "first_charge_time",
        }
    }

    /// The Chinese label (the reference page's, and the usual one for first-charge data).
    pub fn chinese(self) -> &'static str {
        match self {
            Field::OrderNo => "天猫交易订单号",
            Field::SubOrderNo => "子订单号",
            Field::Success => "商家处理结果是否成功标志",
            Field::ResultCode => "结果码",
            Field::ResultDesc => "结果描述",
            Field::ReqId => "外部请求流水",
            Field::Ext => "扩展参数",
            Field::FirstChargeAmount => "首充金额",
            Field::FirstChargeTime => "首充时间",
        }
    }

    fn camel(self) -> &'static str {
        match self {
            Field::OrderNo => "orderNo",
            Field::SubOrderNo => "subOrderNo",
            Field::Success => "success",
            Field::ResultCode => "resultCode",
            Field::ResultDesc => "resultDesc",
            Field::ReqId => "reqId",
            Field::Ext => "ext",
            Field::FirstChargeAmount => "firstChargeAmount",
            Field::FirstChargeTime => "firstChargeTime",
        }
    }

    /// How a header names this field, after `normalize`.
    fn matches(self, normalized: &str) -> bool {
        normalized == normalize(self.name()) || normalized == normalize(self.chinese())
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = normalize(s);
        Field::ALL
            .into_iter()
            .find(|f| f.matches(&normalized))
            .ok_or_else(|| {
                let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                format!("unknown field '{s}': expected one of {}", names.join(", "))
            })
    }
}

/// Case, spaces, `_` and `-` do not matter: `Order No`, `ORDER_NO` and `orderNo` are one name.
fn normalize(header: &str) -> String {
    super::values::clean(header)
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '\u{3000}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `headers` are a result file's (so its outcome columns are the tool's own,
/// to be ignored): `status` and at least two more of the outcome columns.
fn is_results_layout(headers: &[String]) -> bool {
    let outcome: Vec<String> = crate::columns::OUTCOME_COLUMNS
        .iter()
        .map(|c| normalize(c))
        .collect();
    let found: Vec<String> = headers
        .iter()
        .map(|h| normalize(crate::columns::canonical_header(h)))
        .filter(|h| outcome.contains(h))
        .collect();
    found.iter().any(|h| h == "status") && found.len() >= 3
}

/// Where each field is, for one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    columns: BTreeMap<Field, usize>,
    /// Headers that name nothing known: carried through to the results.
    pub unknown: Vec<String>,
    /// Where each of `unknown` is.
    pub unknown_at: Vec<usize>,
}

/// Why a header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(
        "no column for {missing}. Columns found: {found}. Expected names: {expected}; \
         or name the column with --map FIELD=HEADER"
    )]
    Missing {
        missing: String,
        found: String,
        expected: String,
    },
    #[error(
        "columns {first} and {second} both hold {field}; remove one or choose with --map {field}=HEADER"
    )]
    Twice {
        field: Field,
        first: String,
        second: String,
    },
    #[error("--map {field}={header}: there is no column '{header}'. Columns found: {found}")]
    MappedColumnMissing {
        field: Field,
        header: String,
        found: String,
    },
}

impl ColumnMap {
    /// Maps `headers` (already decoded) with `overrides` from `--map`. A header maps
    /// to a field only by a documented name (after `normalize`), never by a word
    /// inside it. The outcome columns of a result file fed back are ignored; in any
    /// other file a column named like an output column is carried, as `input_NAME`.
    pub fn new(headers: &[String], overrides: &[(Field, String)]) -> Result<Self, HeaderError> {
        let mut map = ColumnMap::default();
        let results_layout = is_results_layout(headers);
        let shown: Vec<String> = headers
            .iter()
            .map(|h| format!("'{}'", super::values::clean(h)))
            .collect();
        let mut taken = vec![false; headers.len()];
        for (field, wanted) in overrides {
            let position = headers
                .iter()
                .position(|h| super::values::clean(h) == wanted.trim())
                .or_else(|| {
                    headers
                        .iter()
                        .position(|h| normalize(h) == normalize(wanted))
                });
            let Some(index) = position else {
                return Err(HeaderError::MappedColumnMissing {
                    field: *field,
                    header: wanted.clone(),
                    found: shown.join(", "),
                });
            };
            map.columns.insert(*field, index);
            taken[index] = true;
        }
        for (index, header) in headers.iter().enumerate() {
            if taken[index] {
                continue;
            }
            let normalized = normalize(crate::columns::canonical_header(header));
            if normalized.is_empty() {
                continue;
            }
            match Field::ALL.into_iter().find(|f| f.matches(&normalized)) {
                Some(field) if overrides.iter().any(|(f, _)| *f == field) => {}
                Some(field) => {
                    if let Some(&first) = map.columns.get(&field) {
                        return Err(HeaderError::Twice {
                            field,
                            first: shown[first].clone(),
                            second: shown[index].clone(),
                        });
                    }
                    map.columns.insert(field, index);
                }
                None if results_layout
                    && crate::columns::OUTCOME_COLUMNS
                        .iter()
                        .chain(crate::columns::WORKBOOK_ONLY)
                        .any(|c| normalize(c) == normalized) => {}
                None => {
                    let name = super::values::clean(header);
                    let carried = match crate::columns::is_output_column(name) {
                        true => format!("{}{name}", crate::columns::CARRIED_PREFIX),
                        false => name.to_owned(),
                    };
                    map.unknown.push(carried);
                    map.unknown_at.push(index);
                }
            }
        }
        let missing: Vec<Field> = Field::REQUIRED
            .into_iter()
            .filter(|f| !map.columns.contains_key(f))
            .collect();
        if !missing.is_empty() {
            let expected: Vec<String> = Field::REQUIRED
                .iter()
                .map(|f| match f.camel() {
                    camel if camel == f.name() => format!("{} ({})", f.name(), f.chinese()),
                    camel => format!("{} ({camel} or {})", f.name(), f.chinese()),
                })
                .collect();
            return Err(HeaderError::Missing {
                missing: missing
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                found: if shown.is_empty() {
                    "none".into()
                } else {
                    shown.join(", ")
                },
                expected: expected.join(", "),
            });
        }
        Ok(map)
    }

    /// The column index of `field`, if the file has it.
    pub fn get(&self, field: Field) -> Option<usize> {
        self.columns.get(&field).copied()
    }

    /// The fields found, with their columns.
    pub fn iter(&self) -> impl Iterator<Item = (Field, usize)> + '_ {
        self.columns.iter().map(|(f, i)| (*f, *i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn canonical_camel_and_chinese_headers_map() {
        for names in [
            ["order_no", "success", "req_id"],
            ["orderNo", "Success", "reqId"],
            ["天猫交易订单号", "商家处理结果是否成功标志", "外部请求流水"],
            [" ORDER_NO ", "SUCCESS", "Req Id"],
        ] {
            let map = ColumnMap::new(&headers(&names), &[]).expect("maps");
            assert_eq!(
                (
                    map.get(Field::OrderNo),
                    map.get(Field::Success),
                    map.get(Field::ReqId)
                ),
                (Some(0), Some(1), Some(2)),
                "{names:?}"
            );
        }
    }

    #[test]
    fn first_charge_columns_map_in_every_spelling() {
        let map = ColumnMap::new(
            &headers(&[
                "order_no",
                "success",
                "req_id",
                "首充金额",
                "firstChargeTime",
            ]),
            &[],
        )
        .expect("maps");
        assert_eq!(map.get(Field::FirstChargeAmount), Some(3));
        assert_eq!(map.get(Field::FirstChargeTime), Some(4));
    }

    #[test]
    fn unknown_columns_are_listed_and_a_result_files_outcome_columns_ignored() {
        let map = ColumnMap::new(
            &headers(&[
                "order_no",
                "success",
                "req_id",
                "备注",
                "status",
                "error_code",
                "line",
            ]),
            &[],
        )
        .expect("maps");
        assert_eq!(map.unknown, ["备注"]);
    }

    #[test]
    fn an_exports_own_columns_named_like_outputs_are_carried_under_a_prefix() {
        let map = ColumnMap::new(
            &headers(&[
                "order_no", "success", "req_id", "status", "advice", "状态", "备注",
            ]),
            &[],
        )
        .expect("maps");
        assert_eq!(
            map.unknown,
            ["input_status", "input_advice", "input_状态", "备注"]
        );
    }

    #[test]
    fn a_word_inside_a_header_never_names_a_field() {
        let map = ColumnMap::new(
            &headers(&[
                "order_no",
                "success",
                "req_id",
                "Payment ext",
                "外部 req_id",
            ]),
            &[],
        )
        .expect("maps");
        assert_eq!(map.get(Field::Ext), None);
        assert_eq!(map.unknown, ["Payment ext", "外部 req_id"]);
        let workbook = ColumnMap::new(
            &headers(&[
                "天猫交易订单号 order_no",
                "是否成功 success",
                "外部请求流水 req_id",
                "扩展参数 ext",
            ]),
            &[],
        )
        .expect("maps");
        assert_eq!(workbook.get(Field::Ext), Some(3));
    }

    #[test]
    fn missing_required_columns_list_what_was_found_and_expected() {
        let err = ColumnMap::new(&headers(&["订单", "success"]), &[]).expect_err("missing");
        let text = err.to_string();
        assert!(text.contains("no column for order_no, req_id"), "{text}");
        assert!(text.contains("'订单', 'success'"), "{text}");
        assert!(text.contains("orderNo or 天猫交易订单号"), "{text}");
        assert!(text.contains("--map"), "{text}");
    }

    #[test]
    fn map_overrides_names_anything() {
        let map = ColumnMap::new(
            &headers(&["订单编号", "状态", "流水号", "order_no"]),
            &[
                (Field::OrderNo, "订单编号".into()),
                (Field::Success, "状态".into()),
                (Field::ReqId, "流水号".into()),
            ],
        )
        .expect("maps");
        assert_eq!(
            (map.get(Field::OrderNo), map.get(Field::ReqId)),
            (Some(0), Some(2))
        );
        assert!(
            map.unknown.is_empty(),
            "the overridden canonical column is not unknown"
        );
    }

    #[test]
    fn a_mapped_header_that_is_absent_is_an_error() {
        let err = ColumnMap::new(&headers(&["a"]), &[(Field::OrderNo, "订单编号".into())])
            .expect_err("absent");
        assert!(matches!(err, HeaderError::MappedColumnMissing { .. }));
    }

    #[test]
    fn two_columns_for_one_field_is_an_error() {
        let err = ColumnMap::new(&headers(&["order_no", "orderNo", "success", "req_id"]), &[])
            .expect_err("twice");
        assert!(
            err.to_string()
                .contains("'order_no' and 'orderNo' both hold order_no"),
            "{err}"
        );
    }

    #[test]
    fn outcome_columns_are_exactly_the_result_columns_that_are_not_fields() {
        use crate::columns::{OUTCOME_COLUMNS, RESULT_HEADER};
        let fields: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        for column in RESULT_HEADER {
            assert_ne!(
                fields.contains(&column),
                OUTCOME_COLUMNS.contains(&column),
                "{column}"
            );
        }
    }

    #[test]
    fn field_names_parse_for_map() {
        assert_eq!("order_no".parse(), Ok(Field::OrderNo));
        assert_eq!("reqId".parse(), Ok(Field::ReqId));
        assert_eq!("首充时间".parse(), Ok(Field::FirstChargeTime));
        assert!("nope".parse::<Field>().is_err());
    }
}
