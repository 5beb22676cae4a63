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

/// A workbook of `rows`, as a download named `name`.
pub fn rows_workbook(
    scratch: &Path,
    rows: impl IntoIterator<Item = Shown>,
    name: &str,
) -> Response {
    respond(scratch, name, |out| {
        let mut writer = TableWriter::create(out, false)?;
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
    (StatusCode::INTERNAL_SERVER_ERROR, "cannot make this file").into_response()
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
