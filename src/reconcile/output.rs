//! Reconcile's file: one row per sub-order (and per order only the ledger knows),
//! what needs us first and soonest due first; CSV, or a workbook for finance (a path
//! ending in `.xlsx`) with Chinese headers over the English ones, order numbers as
//! text, the rows that fall due shaded. Written beside the target and renamed, as
//! every output (`outfile`).

use std::borrow::Cow;
use std::io::Write as _;
use std::path::Path;

use rust_xlsxwriter::{Color, Format, FormatAlign, Workbook, XlsxError};

use super::{Reconciled, Row};
use crate::outfile::Replacement;
use crate::top::trades::TIME_FORMAT;

/// The columns: (English, Chinese) — what finance reads first, first.
pub const COLUMNS: [(&str, &str); 14] = [
    ("bucket_zh", "分类"),
    ("due", "即将到期"),
    ("deadline", "截止时间（北京）"),
    ("order_no", "订单号"),
    ("sub_order_no", "子订单号"),
    ("advice", "处理建议"),
    ("req_id", "外部请求流水"),
    ("ledger_state", "账本状态"),
    ("error_code", "错误码"),
    ("platform_status", "平台状态"),
    ("refund_status", "退款状态"),
    ("num_iid", "商品ID"),
    ("bucket", "分类（英文）"),
    ("advice_en", "advice (English)"),
];

/// Writes `found`'s rows to `out`.
pub fn write(out: &Path, found: &Reconciled) -> std::io::Result<()> {
    let (replacement, file) = Replacement::create(out)?;
    let xlsx = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let file = if xlsx {
        workbook(&replacement, file, &found.rows).map_err(std::io::Error::other)?
    } else {
        csv(file, &found.rows)?
    };
    replacement.commit(file).map(drop)
}

/// A row's cells, as text.
fn cells(row: &Row) -> [Cow<'_, str>; 14] {
    let (zh, en) = row.bucket.advice();
    let (advice_zh, advice_en): (Cow<'_, str>, Cow<'_, str>) = if row.closed_by_person {
        (
            "已由人工在账本中关闭；平台仍在等待，到期后平台会自动处理。".into(),
            "Closed in the ledger by a person; the platform still waits and will act at the deadline.".into(),
        )
    } else {
        (
            catalogue_advice(row, zh, true),
            catalogue_advice(row, en, false),
        )
    };
    let number = |n: Option<u64>| n.map_or(Cow::Borrowed(""), |n| Cow::Owned(n.to_string()));
    [
        row.bucket.chinese().into(),
        if row.due { "是" } else { "否" }.into(),
        row.deadline.map_or(Cow::Borrowed(""), |d| {
            d.format(TIME_FORMAT).to_string().into()
        }),
        row.tid.to_string().into(),
        number(row.oid),
        advice_zh,
        Cow::Borrowed(&row.req_ids),
        row.ledger_state.map_or("", |s| s.as_str()).into(),
        Cow::Borrowed(&row.error_code),
        Cow::Borrowed(&*row.platform_status),
        Cow::Borrowed(&*row.refund_status),
        number(row.num_iid),
        row.bucket.as_str().into(),
        advice_en,
    ]
}

/// A known final business code's advice wins over the bucket's.
fn catalogue_advice<'a>(row: &Row, bucket_advice: &'a str, chinese: bool) -> Cow<'a, str> {
    match crate::catalogue::known(&row.error_code) {
        Some(code) if row.bucket == super::Bucket::DataFix => {
            if chinese {
                format!("{}（{}）：{}", code.code, code.meaning, code.advice_zh).into()
            } else {
                format!("{}: {}", code.code, code.advice_en).into()
            }
        }
        _ => bucket_advice.into(),
    }
}

fn csv(file: std::fs::File, rows: &[Row]) -> std::io::Result<std::fs::File> {
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
    writer.write_record(COLUMNS.iter().map(|(en, _)| *en))?;
    for row in rows {
        let cells = cells(row);
        for cell in &cells {
            writer.write_field(crate::columns::guard(cell).as_bytes())?;
        }
        writer.write_record(None::<&[u8]>)?;
    }
    let mut inner = writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    inner.flush()?;
    inner.into_inner().map_err(|e| e.into_error())
}

fn workbook(
    replacement: &Replacement,
    mut file: std::fs::File,
    rows: &[Row],
) -> Result<std::fs::File, XlsxError> {
    let mut workbook = Workbook::new();
    if let Some(dir) = replacement.scratch_dir() {
        workbook.set_tempdir(dir)?;
    }
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_background_color(Color::RGB(0xDDEBF7));
    let text = Format::new()
        .set_num_format("@")
        .set_align(FormatAlign::Top);
    let due = text.clone().set_background_color(Color::RGB(0xFCE4D6));
    let wrapped = text.clone().set_text_wrap();
    let due_wrapped = due.clone().set_text_wrap();
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("对账 reconcile")?;
    let widths = [12, 8, 19, 21, 21, 56, 18, 10, 8, 24, 12, 14, 18, 56];
    for (col, ((en, zh), width)) in COLUMNS.iter().zip(widths).enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(0, col, format!("{zh}\n{en}"), &header)?;
        sheet.set_column_width(col, width)?;
    }
    sheet.set_row_height(0, 32)?;
    // The bucket, whether and when it falls due, and the order numbers stay in view.
    sheet.set_freeze_panes(1, 5)?;
    sheet
        .set_landscape()
        .set_paper_size(9)
        .set_margins(0.4, 0.4, 0.5, 0.5, 0.3, 0.3);
    sheet.set_repeat_rows(0, 0)?;
    for (i, row) in rows.iter().enumerate() {
        for (col, cell) in cells(row).iter().enumerate() {
            let advice = matches!(COLUMNS[col].0, "advice" | "advice_en");
            let format = match (row.due, advice) {
                (true, true) => &due_wrapped,
                (true, false) => &due,
                (false, true) => &wrapped,
                (false, false) => &text,
            };
            sheet.write_string_with_format(i as u32 + 1, col as u16, cell.as_ref(), format)?;
        }
    }
    sheet.autofilter(0, 0, rows.len() as u32, COLUMNS.len() as u16 - 1)?;
    workbook.save_to_writer(&mut file)?;
    Ok(file)
}

/// The req_ids a reconcile file (CSV or workbook, as `write` makes them) lists as
/// `retry_due`; an error names what is wrong with the file.
pub fn retry_due(path: &Path) -> Result<Vec<String>, String> {
    let table: Vec<Vec<String>> = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
    {
        use calamine::{Reader as _, open_workbook_auto};
        let mut workbook = open_workbook_auto(path).map_err(|e| e.to_string())?;
        let range = workbook
            .worksheet_range_at(0)
            .ok_or("the workbook has no sheet")?
            .map_err(|e| e.to_string())?;
        range
            .rows()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect()
    } else {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(std::io::BufReader::new(file));
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| e.to_string())?;
            rows.push(record.iter().map(str::to_owned).collect());
        }
        rows
    };
    let header = table.first().ok_or("the file is empty")?;
    // A workbook's headers are "Chinese\nEnglish".
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name || h.lines().last().map(str::trim) == Some(name))
    };
    let (Some(bucket), Some(req_id)) = (column("bucket"), column("req_id")) else {
        return Err(
            "it has no bucket and req_id columns: give the file `reconcile --out` wrote".into(),
        );
    };
    let mut req_ids = Vec::new();
    for row in &table[1..] {
        if row.get(bucket).map(|b| b.trim()) == Some(super::Bucket::RetryDue.as_str()) {
            let ids = row.get(req_id).map(String::as_str).unwrap_or_default();
            req_ids.extend(
                crate::columns::unguard(ids)
                    .split_whitespace()
                    .map(str::to_owned),
            );
        }
    }
    Ok(req_ids)
}
