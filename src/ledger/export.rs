//! `ledger export`: the ledger in the CSV layout of earlier versions (`req_id,
//! order_no, sub_order_no, status, error_code, sub_code, payload_md5, top_request_id,
//! attempts, finished_at, run_id`) or as a workbook of the same columns — the latest
//! state of each order, or every outcome with `--all` — for audits, grep and
//! archives. Written through `outfile`, as every output is.

use std::io::Write as _;
use std::path::Path;

use super::db::sql;
use super::legacy::HEADER;
use super::{Ledger, LedgerError};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// One line per order: its state and its latest answer.
    Latest,
    /// Every outcome, in the order they were recorded.
    All,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

const LATEST: &str = "SELECT o.req_id, o.order_no, coalesce(o.sub_order_no, ''), o.state, o.error_code, o.sub_code, o.payload_md5,
        coalesce(x.top_request_id, ''), coalesce(x.attempts, 0), coalesce(x.finished_at, o.updated_at), coalesce(o.last_run, '')
    FROM orders o LEFT JOIN outcomes x ON x.id = (SELECT max(id) FROM outcomes WHERE order_id = o.id)
    ORDER BY o.id";

const ALL: &str = "SELECT o.req_id, o.order_no, coalesce(o.sub_order_no, ''), x.status, x.error_code, x.sub_code, x.payload_md5,
        x.top_request_id, x.attempts, x.finished_at, x.run_id
    FROM outcomes x JOIN orders o ON o.id = x.order_id
    ORDER BY x.id";

/// Writes `rows` of `ledger` to `out` (a workbook when it ends in `.xlsx`); the lines
/// written.
pub fn export(ledger: &Ledger, rows: Rows, out: &Path) -> Result<u64, ExportError> {
    let write_error = |error| ExportError::Write {
        path: out.to_owned(),
        error,
    };
    let (replacement, file) = crate::outfile::Replacement::create(out).map_err(write_error)?;
    let mut sink = Sink::new(out, file, replacement.scratch_dir()).map_err(write_error)?;
    let path = &ledger.path;
    let query = match rows {
        Rows::Latest => LATEST,
        Rows::All => ALL,
    };
    let mut statement = ledger.conn.prepare(query).map_err(|e| sql(path, e))?;
    let mut found = statement.query([]).map_err(|e| sql(path, e))?;
    let mut lines = 0u64;
    while let Some(row) = found.next().map_err(|e| sql(path, e))? {
        let text = |at: usize| -> Result<String, LedgerError> {
            row.get::<_, String>(at).map_err(|e| sql(path, e))
        };
        let md5: Vec<u8> = row.get(6).map_err(|e| sql(path, e))?;
        let attempts: i64 = row.get(8).map_err(|e| sql(path, e))?;
        let record = [
            text(0)?,
            text(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            text(5)?,
            faster_hex::hex_string(&md5),
            text(7)?,
            attempts.to_string(),
            text(9)?,
            text(10)?,
        ];
        sink.write(&record).map_err(write_error)?;
        lines += 1;
    }
    let file = sink.finish().map_err(write_error)?;
    replacement.commit(file).map_err(write_error)?;
    Ok(lines)
}

/// Where the lines go: CSV text, or a workbook of text cells.
enum Sink {
    Csv(Box<csv::Writer<std::fs::File>>),
    Workbook {
        book: Box<rust_xlsxwriter::Workbook>,
        row: u32,
        file: std::fs::File,
    },
}

impl Sink {
    fn new(out: &Path, file: std::fs::File, scratch: Option<&Path>) -> std::io::Result<Sink> {
        if crate::xlsx::is_workbook(out) {
            let mut book = Box::new(rust_xlsxwriter::Workbook::new());
            if let Some(dir) = scratch {
                book.set_tempdir(dir).map_err(std::io::Error::other)?;
            }
            let sheet = book
                .add_worksheet_with_constant_memory()
                .map_err(std::io::Error::other)?;
            sheet.set_name("ledger").map_err(std::io::Error::other)?;
            for (col, name) in HEADER.iter().enumerate() {
                sheet
                    .write_string(0, col as u16, *name)
                    .map_err(std::io::Error::other)?;
            }
            return Ok(Sink::Workbook { book, row: 1, file });
        }
        let mut writer = csv::Writer::from_writer(file);
        writer.write_record(HEADER).map_err(std::io::Error::other)?;
        Ok(Sink::Csv(Box::new(writer)))
    }

    fn write(&mut self, record: &[String; 11]) -> std::io::Result<()> {
        match self {
            Sink::Csv(writer) => writer.write_record(record).map_err(std::io::Error::other),
            Sink::Workbook { book, row, .. } => {
                if *row > crate::xlsx::MAX_DATA_ROWS as u32 {
                    return Err(std::io::Error::other(
                        "more lines than a sheet holds: export as CSV",
                    ));
                }
                let sheet = book
                    .worksheet_from_index(0)
                    .map_err(std::io::Error::other)?;
                for (col, value) in record.iter().enumerate() {
                    sheet
                        .write_string(*row, col as u16, value)
                        .map_err(std::io::Error::other)?;
                }
                *row += 1;
                Ok(())
            }
        }
    }

    fn finish(self) -> std::io::Result<std::fs::File> {
        match self {
            Sink::Csv(writer) => {
                let mut file = writer.into_inner().map_err(|e| e.into_error())?;
                file.flush()?;
                Ok(file)
            }
            Sink::Workbook { mut book, file, .. } => {
                let mut buffered = std::io::BufWriter::new(file);
                book.save_to_writer(&mut buffered)
                    .map_err(std::io::Error::other)?;
                buffered.into_inner().map_err(|e| e.into_error())
            }
        }
    }
}
