//! Workbooks the desk hands out: a run's whole result table, its rows needing
//! attention, the outstanding orders. Each is written by the result table writer (so
//! it reads back as input) into a directory of its own under the desk's directory
//! (never `/tmp`), then sent as an attachment;
//! a row's `source` is the file's name only, never its path on the server.

use std::path::Path;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::runs::Shown;
use crate::results::table::{TableReader, TableWriter};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A workbook of `rows`, as a download named `name`: rows that all need attention (the
/// worklist's), so none is shaded.
pub fn rows_workbook(
    scratch: &Path,
    rows: impl IntoIterator<Item = Shown>,
    name: &str,
) -> Response {
    respond(scratch, name, |out| {
        let mut writer = TableWriter::create(out, false)?.unshaded();
        for shown in rows {
            writer.write(&shown.row, &shown.source)?;
        }
        writer.finish().map(drop)
    })
}

/// The result table at `path` as a workbook (written again, so its sources are
/// names, not paths).
pub fn table_workbook(scratch: &Path, path: &Path, name: &str) -> Response {
    respond(scratch, name, |out| copy_rows(path, out, |_| true))
}

/// The rows of the result table at `path` that need attention, as a workbook.
pub fn attention_workbook(scratch: &Path, path: &Path, name: &str) -> Response {
    respond(scratch, name, |out| {
        copy_rows(path, out, |row| row.status.needs_attention())
    })
}

/// The rows of the table at `path` that `keep` keeps, into a workbook at `out`.
fn copy_rows(
    path: &Path,
    out: &Path,
    keep: impl Fn(&crate::results::ResultRow) -> bool,
) -> std::io::Result<()> {
    let mut table = TableReader::open(path).map_err(std::io::Error::other)?;
    let mut writer = TableWriter::with_extra(out, false, &table.extra_names())?;
    while let Some(row) = table.next_row().map_err(std::io::Error::other)? {
        if keep(&row) {
            writer.write(&row, super::runs::label_of(table.source(&row)))?;
        }
    }
    writer.finish().map(drop)
}

/// A plain table as a workbook: `headers` (each `中文 english`, on two lines) frozen
/// above `rows`, every cell text (nothing a spreadsheet would run or re-read as a
/// number), columns as wide as their headers or `widths`, filters on the header.
pub fn sheet_workbook(
    scratch: &Path,
    name: &str,
    headers: &[(&str, f64)],
    rows: &[Vec<&str>],
) -> Response {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};
    respond(scratch, name, |out| {
        let mut book = Workbook::new();
        book.set_tempdir(out.parent().unwrap_or(scratch))
            .map_err(std::io::Error::other)?;
        let sheet = book
            .add_worksheet_with_constant_memory()
            .map_err(std::io::Error::other)?;
        let head = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Top)
            .set_background_color("#E8EEF4");
        let text = Format::new().set_num_format("@");
        for (col, (title, width)) in headers.iter().enumerate() {
            let col = col as u16;
            sheet
                .set_column_width(col, *width)
                .and_then(|s| {
                    s.write_string_with_format(0, col, title.replacen(' ', "\n", 1), &head)
                })
                .map_err(std::io::Error::other)?;
        }
        sheet.set_row_height(0, 30).map_err(std::io::Error::other)?;
        for (at, row) in rows.iter().enumerate() {
            let at = u32::try_from(at + 1)
                .ok()
                .filter(|r| u64::from(*r) <= crate::xlsx::MAX_DATA_ROWS)
                .ok_or_else(|| std::io::Error::other("more rows than a sheet holds"))?;
            for (col, cell) in row.iter().enumerate() {
                sheet
                    .write_string_with_format(at, col as u16, *cell, &text)
                    .map_err(std::io::Error::other)?;
            }
        }
        let last = headers.len().saturating_sub(1) as u16;
        sheet
            .set_freeze_panes(1, 0)
            .and_then(|s| s.autofilter(0, 0, rows.len() as u32, last))
            .map_err(std::io::Error::other)?;
        // Printed as read: landscape, every column on the page's width, the headings on
        // every page.
        sheet
            .set_landscape()
            .set_paper_size(9)
            .set_print_fit_to_pages(1, 0);
        sheet.set_repeat_rows(0, 0).map_err(std::io::Error::other)?;
        book.save(out).map_err(std::io::Error::other)
    })
}

/// Writes the workbook in a directory of its own under `scratch` (the desk's own
/// directory: never `/tmp`), removed once read.
fn respond(
    scratch: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Response {
    let made = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(scratch)
        .and_then(|dir| {
            let out = dir.path().join("download.xlsx");
            write(&out)?;
            std::fs::read(&out)
        });
    match made {
        Ok(bytes) => attachment(bytes, name),
        Err(error) => failed(&error),
    }
}

fn failed(error: &std::io::Error) -> Response {
    tracing::error!("desk: cannot make a download: {error}");
    let lang = super::i18n::Lang::Zh;
    super::refusal::anonymous_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        lang,
        lang.t("error.download"),
    )
}

fn attachment(bytes: Vec<u8>, name: &str) -> Response {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(XLSX));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
