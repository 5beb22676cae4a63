//! Why a row is what it is, in Chinese, for the pages finance reads in Chinese: the
//! tool's own codes (`input.*`, `dedup.*`) said in words, with the field's Chinese name
//! and the value quoted from the English reason (which stays beside it). The
//! platform's own reasons are its words already.

/// The Chinese names of the fields a reason may start with.
const FIELDS: &[(&str, &str)] = &[
    ("order_no", "订单号"),
    ("sub_order_no", "子订单号"),
    ("success", "是否成功"),
    ("result_code", "结果码"),
    ("result_desc", "结果描述"),
    ("req_id", "外部请求流水"),
    ("ext", "扩展参数 ext"),
    ("first_charge_amount", "首充金额"),
    ("first_charge_time", "首充时间"),
];

/// The reason of `code`, whose English text is `message`, in Chinese; none for a
/// code that is not the tool's own.
pub fn chinese(code: &str, message: &str) -> Option<String> {
    let first = message.split([' ', '\'', ':']).next().unwrap_or_default();
    let field = FIELDS
        .iter()
        .find(|(name, _)| *name == first)
        .map_or("该栏位", |(_, zh)| *zh);
    let value = message
        .split_once('\'')
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(value, _)| value)
        .unwrap_or_default();
    let quoted = if value.is_empty() {
        String::new()
    } else {
        format!("「{value}」")
    };
    Some(match code {
        "input.missing_field" => format!("{field}为空：这是必填栏位"),
        "input.bad_req_id" => format!("{field}{quoted}含有不允许的字符，或超过 64 个字符"),
        "input.bad_number" => format!("{field}{quoted}不是纯数字"),
        "input.inexact_number" => format!("{field}{quoted}被 Excel 存成了数字，后几位已经丢失"),
        "input.scientific_notation" => format!("{field}{quoted}是科学计数法，后几位已经丢失"),
        "input.decimal_number" => format!("{field}{quoted}带有小数点"),
        "input.thousands_separator" => format!("{field}{quoted}含有千位分隔符"),
        "input.bad_success" => format!("{field}{quoted}不是“是/否”"),
        "input.bad_amount" => format!("{field}{quoted}不是金额（最多两位小数）"),
        "input.bad_time" => format!("{field}{quoted}不是有效的时间"),
        "input.bad_ext" => "扩展参数 ext 不是有效的 JSON".to_owned(),
        "input.ext_mismatch" => "同一个值在 ext 和单独的栏位里写得不一样".to_owned(),
        "input.date_cell" => format!("{field}是 Excel 日期单元格"),
        "input.excel_error" => format!("{field}是 Excel 错误值{quoted}"),
        "input.cell_too_long" => "单元格内容太长".to_owned(),
        "input.row_too_long" => "这一行太长".to_owned(),
        "input.field_count" => "这一行的栏数和表头不一致".to_owned(),
        "input.bad_encoding" => "文字的编码有误（乱码）".to_owned(),
        "dedup.already_delivered" => "以前已经送达过".to_owned(),
        "dedup.already_rejected" => "平台以前拒绝过这笔".to_owned(),
        "dedup.duplicate_in_input" => "文件中前面已有完全相同的一行".to_owned(),
        "dedup.closed" => "这笔订单已被人工关闭".to_owned(),
        "dedup.input_conflict" => "同一外部请求流水在文件中出现了不同内容".to_owned(),
        "dedup.ledger_conflict" => "这个外部请求流水以前以不同内容发送过".to_owned(),
        code if code.starts_with("input.") => "这一行本身有问题".to_owned(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::chinese;

    #[test]
    fn the_tool_s_codes_in_chinese_with_the_field_and_the_value() {
        assert_eq!(
            chinese(
                "input.scientific_notation",
                "order_no '3.91300E+18' is in scientific notation: …"
            )
            .as_deref(),
            Some("订单号「3.91300E+18」是科学计数法，后几位已经丢失")
        );
        assert_eq!(
            chinese("input.missing_field", "req_id is empty; it is required").as_deref(),
            Some("外部请求流水为空：这是必填栏位")
        );
        assert!(chinese("dedup.ledger_conflict", "…").is_some_and(|r| r.contains("不同内容")));
        assert_eq!(
            chinese("B0107", "订单号不存在"),
            None,
            "the platform's words are its own"
        );
        assert!(chinese("input.something_new", "x").is_some());
    }
}
