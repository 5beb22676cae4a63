//! What to do about a row, in plain words for finance (no command-line flags), in
//! Chinese and English: for every `input.*`, `dedup.*`, network and platform code,
//! and the business codes in general. Shown by the desk and in result workbooks; the
//! command line's own advice (`top::response::advice`) speaks to ops.

/// (code or code prefix ending in `*`, Chinese, English), most specific first.
const ADVICE: &[(&str, &str, &str)] = &[
    (
        "input.missing_field",
        "补上缺少的栏位（见原因中的栏名）后重新提交。",
        "Fill in the missing column named in the reason, then submit again.",
    ),
    (
        "input.bad_req_id",
        "外部请求流水只能含字母、数字、下划线和连字符，最长 64 个字符；改正后重新提交。",
        "A req_id may hold letters, digits, '_' and '-', at most 64 characters; correct it and submit again.",
    ),
    (
        "input.bad_number",
        "订单号必须是纯数字；改正后重新提交。",
        "An order number is digits only; correct it and submit again.",
    ),
    (
        "input.inexact_number",
        "Excel 把长订单号存成了数字，后几位已丢失：把该单元格设为“文本”格式，重新输入完整订单号。",
        "Excel stored a long order number as a number and lost its last digits: format the cell as Text and type the whole number again.",
    ),
    (
        "input.scientific_notation",
        "订单号被显示成科学计数法（如 1.23E+18）：把单元格设为“文本”格式，重新输入完整订单号。",
        "The order number turned into scientific notation (1.23E+18): format the cell as Text and type the whole number again.",
    ),
    (
        "input.decimal_number",
        "订单号带有小数点：去掉小数部分（设为“文本”格式后重新输入）。",
        "The order number has a decimal point: format the cell as Text and type it again without it.",
    ),
    (
        "input.thousands_separator",
        "订单号中有千位分隔符（逗号）：去掉逗号。",
        "The order number has thousands separators: remove the commas.",
    ),
    (
        "input.bad_success",
        "“是否成功”请填 是 或 否（或 true / false）。",
        "success must be 是 or 否 (or true / false).",
    ),
    (
        "input.bad_amount",
        "金额请填到分，例如 49.90；不要带货币符号或千位分隔符。",
        "Write amounts to the cent, like 49.90, without a currency sign or separators.",
    ),
    (
        "input.bad_time",
        "首充时间请写成 yyyy-MM-dd HH:mm:ss（北京时间）。",
        "Write the first-charge time as yyyy-MM-dd HH:mm:ss (Beijing time).",
    ),
    (
        "input.bad_ext",
        "ext 栏不是有效的 JSON：清空它，或改用首充金额、首充时间两栏。",
        "ext is not valid JSON: empty it, or use the first-charge amount and time columns.",
    ),
    (
        "input.ext_mismatch",
        "同一个值在 ext 和单独的栏位里写得不一样：只保留一处。",
        "A value is given both in ext and in its own column, differently: keep one.",
    ),
    (
        "input.date_cell",
        "这个单元格是 Excel 日期：把它设为“文本”格式并按要求重新输入。",
        "This cell is an Excel date: format it as Text and type the value again.",
    ),
    (
        "input.excel_error",
        "单元格里是 Excel 错误值（如 #N/A、#REF!）：改成实际的值。",
        "The cell holds an Excel error (#N/A, #REF!…): type the real value.",
    ),
    (
        "input.cell_too_long",
        "单元格内容太长：检查是否粘贴了多余内容。",
        "The cell is too long: check for pasted extra text.",
    ),
    (
        "input.row_too_long",
        "这一行太长：检查是否粘贴了多余内容。",
        "The row is too long: check for pasted extra text.",
    ),
    (
        "input.field_count",
        "这一行的栏数和表头不一致：检查是否多了或少了逗号。",
        "This row has a different number of columns than the header: look for an extra or missing comma.",
    ),
    (
        "input.bad_encoding",
        "文字的编码有误：CSV 请在 Excel 中另存为“Excel 工作簿 (.xlsx)”后再上传；工作簿里的乱码（如 å……）请以 UTF-8 重新打开原导出文件，改正后再保存。",
        "The text's encoding is wrong: save a CSV from Excel as an Excel Workbook (.xlsx) and upload that; for garbled text in a workbook (å……), open the original export as UTF-8, then save again.",
    ),
    (
        "input.*",
        "这一行本身有问题（见原因）：改正后重新提交。",
        "The row itself is wrong (see the reason): correct it and submit again.",
    ),
    (
        "dedup.already_delivered",
        "已送达过，无需处理。",
        "Already delivered: nothing to do.",
    ),
    (
        "dedup.already_rejected",
        "平台已拒绝过这笔：先处理拒绝原因；确需重发请联系运维。",
        "The platform already refused it: deal with the reason first; ask ops if it must be sent again as it is.",
    ),
    (
        "dedup.duplicate_in_input",
        "文件中有相同的行，只会发送一次，无需处理。",
        "The same row appears earlier in the file; it is sent once: nothing to do.",
    ),
    (
        "dedup.input_conflict",
        "同一外部请求流水在文件中出现了不同内容：保留正确的一行，删除其他行。",
        "The same req_id appears with different contents in the file: keep the right row, delete the others.",
    ),
    (
        "dedup.ledger_conflict",
        "这个外部请求流水以前用不同内容发送过：核对订单；若确是新回调，请换一个新的外部请求流水。",
        "This req_id was sent before with other contents: check the order; if this is a new callback, give it a new req_id.",
    ),
    (
        "net.*",
        "网络问题，没有得到平台的答复：稍后重新提交即可（不会重复送达）。",
        "A network problem; the platform did not answer: submit again later (nothing is delivered twice).",
    ),
    (
        "http.*",
        "平台网关暂时出错：稍后重新提交即可。",
        "The platform's gateway failed for a while: submit again later.",
    ),
    (
        "7",
        "平台限流或当日调用额度已用完：请联系运维，稍后再发。",
        "The platform's call limit was reached: ask ops, and send later.",
    ),
    (
        "27",
        "授权（session）已失效：请运维重新授权后再发。",
        "The authorization (session) has expired: ops must authorize the app again before sending.",
    ),
    (
        "isv.*",
        "平台认为这笔回调的参数有误（见原因）：核对订单号和内容后重新提交。",
        "The platform found the callback's parameters wrong (see the reason): check the order numbers and contents, then submit again.",
    ),
    (
        "isp.*",
        "平台内部暂时出错：稍后重新提交即可。",
        "The platform had an internal error: submit again later.",
    ),
    (
        "*",
        "平台拒绝了这笔回调（见原因）：按原因核对后重新提交，或联系运维。",
        "The platform refused this callback (see the reason): check it against the reason and submit again, or ask ops.",
    ),
];

/// Plain-word advice for a row of `status`: none for one that went well (delivered,
/// delivered before, would be sent), whatever codes the platform answered with.
pub fn for_row(
    status: crate::status::Status,
    error_code: &str,
    sub_code: &str,
) -> Option<(&'static str, &'static str)> {
    use crate::status::Status;
    match status {
        Status::Delivered | Status::SkippedDelivered | Status::WouldSend => None,
        _ => advice(error_code, sub_code),
    }
}

/// Plain-word advice for a row's codes, in Chinese and in English; none for a row
/// that needs nothing.
pub fn advice(error_code: &str, sub_code: &str) -> Option<(&'static str, &'static str)> {
    if error_code.is_empty() && sub_code.is_empty() {
        return None;
    }
    if let Some(known) = crate::catalogue::known(error_code) {
        return Some((known.advice_zh.as_str(), known.advice_en.as_str()));
    }
    let matches = |pattern: &str, code: &str| match pattern.strip_suffix('*') {
        Some(prefix) => !code.is_empty() && code.starts_with(prefix),
        None => pattern == code,
    };
    let (_, zh, en) = ADVICE
        .iter()
        .find(|(pattern, _, _)| matches(pattern, error_code) || matches(pattern, sub_code))?;
    Some((zh, en))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_tool_makes_has_advice_without_flags() {
        for code in [
            "input.inexact_number",
            "input.missing_field",
            "input.something_new",
            "dedup.ledger_conflict",
            "net.timeout",
            "http.502",
            "B0107",
            "15",
        ] {
            let (zh, en) = advice(code, "").expect(code);
            assert!(!zh.contains("--") && !en.contains("--"), "{code}: {en}");
        }
        assert!(
            advice("15", "isv.invalid-parameter").is_some_and(|(_, en)| en.contains("parameters"))
        );
        assert!(advice("input.inexact_number", "").is_some_and(|(_, en)| en.contains("Text")));
        assert_eq!(advice("", ""), None);
        use crate::status::Status;
        assert_eq!(for_row(Status::Delivered, "0000", ""), None);
        assert!(for_row(Status::Rejected, "B0107", "").is_some());
    }
}
