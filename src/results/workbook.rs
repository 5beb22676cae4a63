//! Writing a result workbook (SPEC.md "Workbooks"), laid out for a person correcting
//! it in Excel: Chinese headers with the canonical name beside, the columns one types
//! into Text-formatted (a re-typed 19-digit order number stays exact) and set apart
//! from the outcome columns, the first charge's amount and time in columns of their
//! own, `success` as 是/否 with a list, advice in plain words, req_id and order_no
//! frozen in view, the rows that need attention marked — then a summary sheet whose
//! total counts each order once. Rows are streamed to disk as written
//! (rust_xlsxwriter's constant-memory mode): memory stays flat in the row count.

use std::io::Write;

use rust_xlsxwriter::{Color, DataValidation, Format, FormatBorder, Workbook, XlsxError};

use super::row::ResultRow;
use super::tally::Tally;
use crate::columns::{
    WORKBOOK_COLUMNS, WORKBOOK_FROZEN, guard, workbook_column, workbook_editable,
};
use crate::money::Cents;
use crate::status::Status;

/// The results sheet's name, and the summary's.
pub const RESULTS_SHEET: &str = "results 结果";
pub const SUMMARY_SHEET: &str = "summary 汇总";

/// A workbook being written: the results sheet first.
pub struct ResultSheet {
    workbook: Workbook,
    columns: usize,
    /// Rows written, the header included.
    rows: u32,
    widths: Vec<usize>,
    /// The cells of a row that needs attention.
    attention: Attention,
    /// Whether a row that needs attention is shaded (not in a sheet where all do).
    shade: bool,
    /// Where the status and the advice are.
    status_col: usize,
    advice_col: usize,
}

/// The advice column's width (characters; a hanzi counts two).
const ADVICE_WIDTH: usize = 24;

/// The shading of a row that needs attention.
const ATTENTION: Color = Color::RGB(0xFCE4D6);

/// The formats of a row that needs attention: its status (bold), its input cells
/// (Text), its advice (wrapped) and its other outcome cells, all shaded.
struct Attention {
    status: Format,
    text: Format,
    wrap: Format,
    outcome: Format,
}

impl std::fmt::Debug for ResultSheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultSheet")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl ResultSheet {
    /// A workbook whose results sheet has the workbook columns as its first row, then
    /// `extra` (the input's columns the API does not use, carried as they were). Its
    /// rows wait in unnamed files in `scratch` (beside the output; else `TMPDIR`).
    pub fn new(extra: &[String], scratch: Option<&std::path::Path>) -> Result<Self, XlsxError> {
        let mut workbook = Workbook::new();
        if let Some(dir) = scratch {
            workbook.set_tempdir(dir)?;
        }
        // Level 1 deflate: the default level spends most of a large result file's
        // write time searching for matches; level 1 files are ~15% larger.
        workbook.set_zip_compression_level(1);
        let text = Format::new().set_num_format("@");
        let outcome = Format::new().set_background_color(Color::RGB(0xF2F2F2));
        let advice = outcome.clone().set_text_wrap();
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(RESULTS_SHEET)?;
        // The header, which order a row is, what happened and what to do stay in view.
        sheet.set_freeze_panes(1, WORKBOOK_FROZEN as u16)?;
        // Headers on two lines (`状态` over `status`): the columns are as wide as
        // their content, not as a label and its translation side by side.
        let editable_head = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_background_color(Color::RGB(0xDDEBF7))
            .set_border_bottom(FormatBorder::Thin);
        let outcome_head = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_background_color(Color::RGB(0xD9D9D9))
            .set_border_bottom(FormatBorder::Thin);
        sheet.set_row_height(0, 30)?;
        let mut widths = Vec::with_capacity(WORKBOOK_COLUMNS.len());
        for (col, (chinese, name)) in WORKBOOK_COLUMNS.iter().enumerate() {
            let head = format!("{chinese}\n{name}");
            // A cell written without a format of its own takes its column's (the
            // file says so cell by cell): what Excel keeps when one types over it.
            let (head_format, column_format) = if workbook_editable(col) {
                (&editable_head, &text)
            } else if col == workbook_column("advice") {
                (&outcome_head, &advice)
            } else {
                (&outcome_head, &outcome)
            };
            sheet.set_column_format(col as u16, column_format)?;
            sheet.write_string_with_format(0, col as u16, &head, head_format)?;
            widths.push(display_width(&head) + 2);
        }
        for (at, name) in extra.iter().enumerate() {
            let col = (WORKBOOK_COLUMNS.len() + at) as u16;
            sheet.set_column_format(col, &text)?;
            sheet.write_string_with_format(0, col, guard(name).as_ref(), &editable_head)?;
            widths.push(display_width(name) + 2);
        }
        Ok(ResultSheet {
            workbook,
            columns: WORKBOOK_COLUMNS.len() + extra.len(),
            rows: 1,
            widths,
            attention: Attention {
                status: Format::new().set_background_color(ATTENTION).set_bold(),
                text: Format::new()
                    .set_num_format("@")
                    .set_background_color(ATTENTION),
                wrap: Format::new()
                    .set_text_wrap()
                    .set_background_color(ATTENTION),
                outcome: Format::new().set_background_color(ATTENTION),
            },
            shade: true,
            status_col: workbook_column("status"),
            advice_col: workbook_column("advice"),
        })
    }

    /// Appends `row` (its input file `source`), as the workbook's columns show it.
    pub fn write_result(&mut self, row: &ResultRow, source: &str) -> Result<(), XlsxError> {
        let f = &row.fields;
        let split = crate::input::first_charge::split(&f.ext);
        let (amount, time, ext) = match &split {
            Some(split) => (
                split.amount.as_str(),
                split.time.as_str(),
                split.rest.as_str(),
            ),
            None => ("", "", f.ext.as_str()),
        };
        let success = match crate::input::values::parse_success(&f.success) {
            Ok(true) => "是",
            Ok(false) => "否",
            Err(_) => f.success.as_str(),
        };
        let status = format!("{} {}", row.status.chinese(), row.status.as_str());
        let advice = crate::advice::for_row(row.status, &row.error_code, &row.sub_code)
            .map_or("", |(zh, _)| zh);
        let (mut attempts, mut line) = (itoa::Buffer::new(), itoa::Buffer::new());
        let cells: [&str; 20] = [
            &f.req_id,
            &f.order_no,
            &f.sub_order_no,
            &status,
            advice,
            success,
            &f.result_code,
            &f.result_desc,
            amount,
            time,
            ext,
            &row.error_code,
            &row.error_msg,
            &row.sub_code,
            &row.sub_msg,
            &row.top_request_id,
            attempts.format(row.attempts),
            &row.finished_at,
            source,
            line.format(row.line),
        ];
        self.write_cells(&cells, row.status)?;
        self.write_extra(&f.extra)
    }

    /// The carried columns of the row just written, as Text cells.
    fn write_extra(&mut self, extra: &[String]) -> Result<(), XlsxError> {
        let sheet = self.workbook.worksheet_from_index(0)?;
        let row = self.rows - 1;
        let room = self.columns - WORKBOOK_COLUMNS.len();
        for (at, text) in extra.iter().take(room).enumerate() {
            let col = WORKBOOK_COLUMNS.len() + at;
            let text = guard(text);
            if !text.is_empty() {
                // The column's Text format, as for the input's own columns.
                sheet.write_string(row, col as u16, text.as_ref())?;
            }
            widen(&mut self.widths[col], &text);
        }
        Ok(())
    }

    fn write_cells(&mut self, cells: &[&str; 20], status: Status) -> Result<(), XlsxError> {
        let sheet = self.workbook.worksheet_from_index(0)?;
        let (status_col, advice_col) = (self.status_col, self.advice_col);
        // A row that needs attention is shaded whole, every cell of it, so it stands
        // out however far one scrolls.
        let attention = (self.shade && status.needs_attention()).then_some(&self.attention);
        // The advice wraps in its narrow column: the row is as tall as its lines (a
        // spreadsheet does not grow a row by itself when it opens the file).
        let lines = display_width(cells[advice_col]).div_ceil(ADVICE_WIDTH - 2);
        if lines > 1 {
            sheet.set_row_height(self.rows, 15.0 * lines.min(6) as f64)?;
        }
        for (col, text) in cells.iter().enumerate() {
            let text = guard(text);
            let at = col as u16;
            // Input cells carry the Text format themselves (a cell's own format, not its
            // column's, is what Excel keeps when one types over it).
            // A row that needs attention has formats of its own; any other row's cells
            // take their columns' (Text, wrapped advice, grey): no lookup per cell.
            let format = match attention {
                Some(shade) if col == status_col => Some(&shade.status),
                Some(shade) if col == advice_col => Some(&shade.wrap),
                Some(shade) if workbook_editable(col) => Some(&shade.text),
                Some(shade) => Some(&shade.outcome),
                None => None,
            };
            match format {
                Some(format) if text.is_empty() => {
                    sheet.write_blank(self.rows, at, format)?;
                }
                Some(format) => {
                    sheet.write_string_with_format(self.rows, at, text.as_ref(), format)?;
                }
                None if !text.is_empty() => {
                    sheet.write_string(self.rows, at, text.as_ref())?;
                }
                None => {}
            }
            widen(&mut self.widths[col], &text);
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows that need attention written as any other: for a sheet of nothing else (the
    /// worklist's), where shading every row would say nothing — and would cost a format
    /// lookup per cell.
    pub fn unshaded(&mut self) {
        self.shade = false;
    }

    /// Data rows written.
    pub fn rows(&self) -> u32 {
        self.rows - 1
    }

    /// Finishes the results sheet, adds the summary sheet, writes the file to `sink`.
    pub fn finish(mut self, summary: &Tally, sink: impl Write + Send) -> Result<(), XlsxError> {
        let sheet = self.workbook.worksheet_from_index(0)?;
        let last_col = self.columns.saturating_sub(1) as u16;
        let last_row = self.rows.saturating_sub(1).max(1);
        sheet.autofilter(0, 0, last_row, last_col)?;
        // Printed as it is read: landscape A4, the header and the order numbers on
        // every page.
        sheet
            .set_landscape()
            .set_paper_size(9)
            .set_margins(0.4, 0.4, 0.5, 0.5, 0.3, 0.3);
        sheet.set_repeat_rows(0, 0)?;
        sheet.set_repeat_columns(0, 1)?;
        // 是/否 on success, for the rows there are and a few hundred more typed below.
        let yes_no = DataValidation::new()
            .allow_list_strings(&["是", "否"])?
            .set_error_title("是否成功 success")?
            .set_error_message("请选择 是 或 否 (yes or no)")?;
        let success = workbook_column("success") as u16;
        sheet.add_data_validation(1, success, last_row + 500, success, &yes_no)?;
        let advice = workbook_column("advice");
        for (col, width) in self.widths.iter().enumerate() {
            // Wide enough for the text, not for whole messages (the advice, in the
            // columns kept in view, narrower still).
            let most = if col == advice { ADVICE_WIDTH } else { 60 };
            sheet.set_column_width(col as u16, (*width).clamp(6, most) as f64)?;
        }
        write_summary(&mut self.workbook, summary)?;
        self.workbook.save_to_writer(sink)
    }
}

/// The summary sheet: counts and amounts by status, then the errors.
fn write_summary(workbook: &mut Workbook, summary: &Tally) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let sheet = workbook.add_worksheet();
    sheet.set_name(SUMMARY_SHEET)?;
    let heads = [
        "status",
        "状态",
        "rows 行数",
        "first-charge amount 首充金额",
    ];
    for (col, head) in heads.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *head, &bold)?;
    }
    let mut row = 1;
    let (mut total_rows, mut total_cents) = (0u64, Cents::default());
    for (status, rows, cents) in summary.by_status() {
        sheet.write_string(row, 0, status.as_str())?;
        sheet.write_string(row, 1, status.chinese())?;
        sheet.write_number(row, 2, rows as f64)?;
        sheet.write_number_with_format(row, 3, cents.as_yuan_f64(), &money)?;
        // A repeated row is the same order again: the total counts each order once.
        if status != Status::DuplicateInInput {
            total_rows += rows;
            total_cents += cents;
        }
        row += 1;
    }
    sheet.write_string_with_format(row, 0, "total (orders, repeats once)", &bold)?;
    sheet.write_string_with_format(row, 1, "合计（订单，重复行只计一次）", &bold)?;
    sheet.write_number_with_format(row, 2, total_rows as f64, &bold)?;
    sheet.write_number_with_format(row, 3, total_cents.as_yuan_f64(), &money)?;
    row += 2;
    let errors = summary.errors();
    if !errors.is_empty() {
        let heads = [
            "error_code 错误码",
            "sub_code 子错误码",
            "rows 行数",
            "message 说明",
        ];
        for (col, head) in heads.iter().enumerate() {
            sheet.write_string_with_format(row, col as u16, *head, &bold)?;
        }
        for group in errors {
            row += 1;
            sheet.write_string(row, 0, guard(&group.error_code).as_ref())?;
            sheet.write_string(row, 1, guard(&group.sub_code).as_ref())?;
            sheet.write_number(row, 2, group.count as f64)?;
            sheet.write_string(row, 3, guard(&group.message).as_ref())?;
        }
    }
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 16)?;
    sheet.set_column_width(2, 10)?;
    sheet.set_column_width(3, 60)?;
    Ok(())
}

/// Columns a text takes in a cell: a CJK character is two.
/// Makes `width` (a column's) take `text`. A text's display width is never more than
/// its length in bytes (a wide character takes three or four), so most cells need no
/// measuring once the column is as wide as its widest so far.
fn widen(width: &mut usize, text: &str) {
    if text.len() > *width {
        *width = (*width).max(display_width(text));
    }
}

fn display_width(text: &str) -> usize {
    if !text.contains('\n') {
        return unicode_width::UnicodeWidthStr::width(text);
    }
    text.lines()
        .map(unicode_width::UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The styles of the workbook written with one rejected row, shaded or not.
    fn styles_with_one_rejected_row(shade: bool) -> (String, String) {
        let mut sheet = ResultSheet::new(&[], None).expect("sheet");
        if !shade {
            sheet.unshaded();
        }
        let fields = crate::columns::RowText {
            req_id: "N2".into(),
            order_no: "4000000000000000002".into(),
            ..Default::default()
        };
        let row = ResultRow::new(fields, Status::Rejected, 1, 2);
        sheet.write_result(&row, "night.csv").expect("row");
        let mut bytes = Vec::new();
        sheet
            .finish(&Tally::default(), std::io::Cursor::new(&mut bytes))
            .expect("finish");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut read = |name: &str| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut zip.by_name(name).expect(name), &mut text)
                .expect("text");
            text
        };
        (read("xl/styles.xml"), read("xl/worksheets/sheet1.xml"))
    }

    #[test]
    fn a_row_needing_attention_is_shaded_unless_every_row_does() {
        let (styles, sheet) = styles_with_one_rejected_row(true);
        assert!(styles.contains("FFFCE4D6"), "{styles}");
        assert!(sheet.contains("N2"));
        let (styles, sheet) = styles_with_one_rejected_row(false);
        assert!(!styles.contains("FFFCE4D6"), "{styles}");
        assert!(sheet.contains("N2") && sheet.contains("4000000000000000002"));
    }

    #[test]
    fn chinese_text_is_twice_as_wide() {
        assert_eq!(display_width("订单"), 4);
        assert_eq!(display_width("ab"), 2);
    }
}
