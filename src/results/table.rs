//! A result table on disk — the result CSV or the result workbook, chosen by the
//! file's name — written row by row as 17 text cells and put in place whole at the end
//! (`outfile::Replacement`), or read back row by row. `send --out`, `report` and
//! `report --failed-only --out` all go through here, so a table written by one is
//! always read by the others.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use super::tally::{Counted, ResultTally, first_charge_cents, message};
use super::workbook::ResultSheet;
use crate::columns::RESULT_HEADER;
use crate::columns::{guard, unguard};
use crate::csvio::{RawRecord, RecordReader};
use crate::outfile::Replacement;
use crate::status::Status;
use crate::xlsx::read::{Cell, SheetRows};

/// Where result rows go.
#[derive(Debug)]
enum Sink {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    Workbook {
        sheet: Box<ResultSheet>,
        /// The summary sheet's counts, kept as rows go by.
        tally: ResultTally,
        file: File,
    },
}

/// A result table being written in place of `out`.
#[derive(Debug)]
pub struct TableWriter {
    replacement: Replacement,
    sink: Sink,
}

fn xlsx_error(error: rust_xlsxwriter::XlsxError) -> std::io::Error {
    std::io::Error::other(error.to_string())
}

impl TableWriter {
    /// Starts a table for `out` (a workbook when its name ends in `.xlsx`) with the
    /// result header; `bom` starts a CSV with a UTF-8 BOM (Excel then shows Chinese).
    pub fn create(out: &Path, bom: bool) -> std::io::Result<TableWriter> {
        let (replacement, file) = Replacement::create(out)?;
        let sink = if crate::xlsx::is_workbook(out) {
            Sink::Workbook {
                sheet: Box::new(ResultSheet::new(&RESULT_HEADER).map_err(xlsx_error)?),
                tally: ResultTally::default(),
                file,
            }
        } else {
            let mut sink = BufWriter::with_capacity(256 * 1024, file);
            if bom {
                sink.write_all(b"\xEF\xBB\xBF")?;
            }
            let mut csv = crate::csvio::report_writer(sink);
            csv.write_record(RESULT_HEADER)
                .map_err(std::io::Error::other)?;
            Sink::Csv(Box::new(csv))
        };
        Ok(TableWriter { replacement, sink })
    }

    /// Where the table goes.
    pub fn out(&self) -> &Path {
        self.replacement.out()
    }

    /// Appends one row of result cells, in `RESULT_HEADER` order.
    pub fn write(&mut self, cells: &[&str; 17]) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Csv(csv) => {
                for cell in cells {
                    csv.write_field(guard(cell).as_bytes())
                        .map_err(std::io::Error::other)?;
                }
                csv.write_record(None::<&[u8]>)
                    .map_err(std::io::Error::other)
            }
            Sink::Workbook { sheet, tally, .. } => {
                let status: Option<Status> = unguard(cells[7]).parse().ok();
                if let Some(status) = status {
                    tally.add(Counted {
                        req_id: unguard(cells[0]),
                        status,
                        error_code: unguard(cells[8]),
                        sub_code: unguard(cells[10]),
                        message: &message(unguard(cells[9]), unguard(cells[11])),
                        cents: first_charge_cents(unguard(cells[6])),
                    });
                }
                let attention = status.is_some_and(Status::needs_attention);
                sheet
                    .write_row(cells.iter().copied(), attention)
                    .map_err(xlsx_error)
            }
        }
    }

    /// Writes the rest (a workbook's summary sheet), syncs, and renames the table
    /// over `out`.
    pub fn finish(self) -> std::io::Result<PathBuf> {
        let file = match self.sink {
            Sink::Csv(csv) => {
                let sink = (*csv).into_inner().map_err(|e| e.into_error())?;
                sink.into_inner().map_err(|e| e.into_error())?
            }
            Sink::Workbook { sheet, tally, file } => {
                let mut sink = BufWriter::with_capacity(256 * 1024, file);
                sheet
                    .finish(&tally.sheet_summary(), &mut sink)
                    .map_err(xlsx_error)?;
                sink.into_inner().map_err(|e| e.into_error())?
            }
        };
        self.replacement.commit(file)
    }
}

/// A result table read back, row by row.
#[derive(Debug)]
pub enum TableReader {
    Csv(Box<RecordReader<BufReader<File>>>),
    Workbook(SheetRows),
}

impl TableReader {
    /// Opens a result table (a workbook when its name ends in `.xlsx`) and checks its
    /// header; `None` when the header is not the result header.
    pub fn open(path: &Path) -> Result<Option<TableReader>, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let mut reader = if crate::xlsx::is_workbook(path) {
            TableReader::Workbook(SheetRows::open(file, None).map_err(|e| e.to_string())?)
        } else {
            let mut input = BufReader::new(file);
            if input
                .fill_buf()
                .map_err(|e| e.to_string())?
                .starts_with(b"\xEF\xBB\xBF")
            {
                input.consume(3);
            }
            TableReader::Csv(Box::new(RecordReader::new(b',', input)))
        };
        let header = reader.next_row()?;
        Ok((header.as_deref() == Some(&RESULT_HEADER.map(str::to_owned)[..])).then_some(reader))
    }

    /// The next row's cells as text; `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<Vec<String>>, String> {
        match self {
            TableReader::Csv(reader) => {
                let mut record = RawRecord::default();
                if !reader.read(&mut record).map_err(|e| e.to_string())? {
                    return Ok(None);
                }
                if record.oversize.is_some() {
                    return Err(format!(
                        "line {} is longer than a result row can be",
                        record.line
                    ));
                }
                Ok(Some(
                    record
                        .iter()
                        .map(|cell| String::from_utf8_lossy(cell).into_owned())
                        .collect(),
                ))
            }
            TableReader::Workbook(rows) => Ok(rows
                .next_row()
                .map_err(|e| e.to_string())?
                .map(|row| row.cells.iter().map(Cell::to_text).collect())),
        }
    }
}
