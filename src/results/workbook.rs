//! Writing a result workbook (SPEC.md "Workbooks"): a sheet of the result columns,
//! every cell text (order numbers and req_ids stay exact), a frozen header, an
//! autofilter, widths that fit, the rows that need attention shaded — then a summary
//! sheet, labelled in English and Chinese. Rows are streamed to disk as written
//! (rust_xlsxwriter's constant-memory mode): memory stays flat in the row count.

use std::io::Write;

use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, XlsxError};

use super::tally::Tally;
use crate::columns::guard;
use crate::money::Cents;

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
    attention: Format,
}

impl std::fmt::Debug for ResultSheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultSheet")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl ResultSheet {
    /// A workbook whose results sheet has `header` as its first row.
    pub fn new(header: &[&str]) -> Result<Self, XlsxError> {
        let mut workbook = Workbook::new();
        // Level 1 deflate: the default level spends most of a large result file's
        // write time searching for matches; level 1 files are ~15% larger.
        workbook.set_zip_compression_level(1);
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(RESULTS_SHEET)?;
        sheet.set_freeze_panes(1, 0)?;
        let bold = Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0xDDEBF7))
            .set_border_bottom(FormatBorder::Thin);
        for (col, name) in header.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *name, &bold)?;
        }
        Ok(ResultSheet {
            workbook,
            columns: header.len(),
            rows: 1,
            widths: header.iter().map(|h| display_width(h) + 2).collect(),
            attention: Format::new().set_background_color(Color::RGB(0xFCE4D6)),
        })
    }

    /// Appends a row of text cells (guarded against formulas), shaded when it needs
    /// attention. The shading is the row's format, found once per row (a format on
    /// every cell is looked up by hashing it, seventeen times a row).
    pub fn write_row<'c>(
        &mut self,
        cells: impl IntoIterator<Item = &'c str>,
        attention: bool,
    ) -> Result<(), XlsxError> {
        let sheet = self.workbook.worksheet_from_index(0)?;
        if attention {
            sheet.set_row_format(self.rows, &self.attention)?;
        }
        for (col, text) in cells.into_iter().enumerate().take(self.columns) {
            let text = guard(text);
            if !text.is_empty() {
                sheet.write_string(self.rows, col as u16, text.as_ref())?;
            }
            let width = display_width(&text);
            if width > self.widths[col] {
                self.widths[col] = width;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Data rows written.
    pub fn rows(&self) -> u32 {
        self.rows - 1
    }

    /// Finishes the results sheet, adds the summary sheet, writes the file to `sink`.
    pub fn finish(mut self, summary: &Tally, sink: impl Write + Send) -> Result<(), XlsxError> {
        let sheet = self.workbook.worksheet_from_index(0)?;
        let last_col = self.columns.saturating_sub(1) as u16;
        sheet.autofilter(0, 0, self.rows.saturating_sub(1).max(1), last_col)?;
        for (col, width) in self.widths.iter().enumerate() {
            // Wide enough for the text, not for whole messages.
            sheet.set_column_width(col as u16, (*width).clamp(6, 60) as f64)?;
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
        total_rows += rows;
        total_cents += cents;
        row += 1;
    }
    sheet.write_string_with_format(row, 0, "total", &bold)?;
    sheet.write_string_with_format(row, 1, "合计", &bold)?;
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
fn display_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_is_twice_as_wide() {
        assert_eq!(display_width("订单"), 4);
        assert_eq!(display_width("ab"), 2);
    }
}
