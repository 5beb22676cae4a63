//! A result table on disk — the result CSV or the result workbook, chosen by the
//! file's name — written a `ResultRow` at a time and put in place whole at the end
//! (`outfile::Replacement`), or read back as `ResultRow`s, its columns found by their
//! names. `send --out`, `report` and `report --failed-only --out` all go through here,
//! so a table written by one is always read by the others; a row becomes cells in one
//! place (`cells`), and cells become a row in one place (`Columns::row`).

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use super::row::ResultRow;
use super::tally::Tally;
use super::workbook::ResultSheet;
use crate::columns::{RESULT_HEADER, RowText, guard, unguard};
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
        tally: Box<Tally>,
        file: File,
    },
}

/// A result table being written in place of `out`.
#[derive(Debug)]
pub struct TableWriter {
    replacement: Replacement,
    sink: Sink,
    /// How many input columns the API does not use are carried, after `line`.
    extra: usize,
}

fn xlsx_error(error: rust_xlsxwriter::XlsxError) -> std::io::Error {
    std::io::Error::other(error.to_string())
}

/// The cells of `row`, in `RESULT_HEADER` order; `source` names its input file.
fn cells<'r>(
    row: &'r ResultRow,
    source: &'r str,
    numbers: &'r mut (itoa::Buffer, itoa::Buffer),
) -> [&'r str; 17] {
    let f = &row.fields;
    [
        &f.req_id,
        &f.order_no,
        &f.sub_order_no,
        &f.success,
        &f.result_code,
        &f.result_desc,
        &f.ext,
        row.status.as_str(),
        &row.error_code,
        &row.error_msg,
        &row.sub_code,
        &row.sub_msg,
        &row.top_request_id,
        numbers.0.format(row.attempts),
        &row.finished_at,
        source,
        numbers.1.format(row.line),
    ]
}

impl TableWriter {
    /// Starts a table for `out` (a workbook when its name ends in `.xlsx`) with the
    /// result header; `bom` starts a CSV with a UTF-8 BOM (Excel then shows Chinese).
    pub fn create(out: &Path, bom: bool) -> std::io::Result<TableWriter> {
        TableWriter::with_extra(out, bom, &[])
    }

    /// Rows that need attention are not shaded in a workbook (a sheet where all of them
    /// do: the worklist's); no change to a CSV.
    pub fn unshaded(mut self) -> TableWriter {
        if let Sink::Workbook { sheet, .. } = &mut self.sink {
            sheet.unshaded();
        }
        self
    }

    /// `create`, with the input's columns the API does not use (`extra`, by name)
    /// carried after `line`.
    pub fn with_extra(out: &Path, bom: bool, extra: &[String]) -> std::io::Result<TableWriter> {
        let (replacement, file) = Replacement::create(out)?;
        let sink = if crate::xlsx::is_workbook(out) {
            Sink::Workbook {
                sheet: Box::new(
                    ResultSheet::new(extra, replacement.scratch_dir()).map_err(xlsx_error)?,
                ),
                tally: Box::default(),
                file,
            }
        } else {
            let mut sink = BufWriter::with_capacity(256 * 1024, file);
            if bom {
                sink.write_all(b"\xEF\xBB\xBF")?;
            }
            let mut csv = crate::csvio::report_writer(sink);
            for name in RESULT_HEADER
                .iter()
                .copied()
                .chain(extra.iter().map(String::as_str))
            {
                csv.write_field(guard(name).as_bytes())
                    .map_err(std::io::Error::other)?;
            }
            csv.write_record(None::<&[u8]>)
                .map_err(std::io::Error::other)?;
            Sink::Csv(Box::new(csv))
        };
        Ok(TableWriter {
            replacement,
            sink,
            extra: extra.len(),
        })
    }

    /// Where the table goes.
    pub fn out(&self) -> &Path {
        self.replacement.out()
    }

    /// Appends `row`, whose input file is `source`.
    pub fn write(&mut self, row: &ResultRow, source: &str) -> std::io::Result<()> {
        let mut numbers = (itoa::Buffer::new(), itoa::Buffer::new());
        let cells = cells(row, source, &mut numbers);
        match &mut self.sink {
            Sink::Csv(csv) => {
                let extra = row.fields.extra.iter().map(String::as_str);
                let padding = std::iter::repeat("");
                for cell in cells
                    .into_iter()
                    .chain(extra.chain(padding).take(self.extra))
                {
                    csv.write_field(guard(cell).as_bytes())
                        .map_err(std::io::Error::other)?;
                }
                csv.write_record(None::<&[u8]>)
                    .map_err(std::io::Error::other)
            }
            Sink::Workbook { sheet, tally, .. } => {
                tally.add(row);
                sheet.write_result(row, source).map_err(xlsx_error)
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
                sheet.finish(&tally, &mut sink).map_err(xlsx_error)?;
                sink.into_inner().map_err(|e| e.into_error())?
            }
        };
        self.replacement.commit(file)
    }
}

/// Why a result table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read it: {0}")]
    Workbook(String),
    #[error("it is not a result file: it has no '{0}' column")]
    NotResults(&'static str),
    #[error("row {row} is longer than a result row can be")]
    TooLong { row: u64 },
    #[error("row {row}: {column} '{value}' is not {expected}")]
    Cell {
        row: u64,
        column: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Where each result column is in a table's header, and a workbook's first-charge
/// columns when it has them.
#[derive(Debug, Clone)]
struct Columns {
    at: [usize; 17],
    first_charge: Option<(usize, usize)>,
    /// The input's columns the API does not use, carried: where and their names.
    extra: Vec<(usize, String)>,
}

impl Columns {
    /// Finds every result column by its name (a workbook's `外部请求流水 req_id` is
    /// `req_id`); other columns are left alone.
    fn of(header: &[String]) -> Result<Columns, TableError> {
        let find = |name: &str| {
            header
                .iter()
                .position(|h| crate::columns::canonical_header(h) == name)
        };
        let mut at = [0usize; 17];
        for (slot, name) in at.iter_mut().zip(RESULT_HEADER) {
            *slot = find(name).ok_or(TableError::NotResults(name))?;
        }
        let first_charge = find("first_charge_amount").zip(find("first_charge_time"));
        let known = |h: &String| {
            let name = crate::columns::canonical_header(h);
            RESULT_HEADER.contains(&name)
                || crate::columns::WORKBOOK_COLUMNS
                    .iter()
                    .any(|(_, n)| *n == name)
        };
        let extra = header
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.trim().is_empty() && !known(h))
            .map(|(i, h)| (i, h.trim().to_owned()))
            .collect();
        Ok(Columns {
            at,
            first_charge,
            extra,
        })
    }

    /// The result row of `cells` (table row `row`, for messages), whose source file
    /// name is stored in `sources` and referred to by its index there.
    fn row(
        &self,
        cells: &[String],
        row: u64,
        sources: &mut Vec<String>,
    ) -> Result<ResultRow, TableError> {
        let cell = |index: usize| unguard(cells.get(index).map_or("", String::as_str));
        let get = |column: usize| cell(self.at[column]).to_owned();
        let bad = |column: usize, expected: &'static str| TableError::Cell {
            row,
            column: RESULT_HEADER[column],
            value: get(column),
            expected,
        };
        // A workbook says `被拒绝 rejected`; the canonical name is the last word.
        let status_text = get(7);
        let status: Status = status_text
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| bad(7, "a status"))?;
        // A workbook's first charge, split out of ext, goes back in as it came out.
        let ext = match self.first_charge {
            Some((amount, time)) if !cell(amount).is_empty() || !cell(time).is_empty() => {
                crate::input::first_charge::ext_from(&get(6), cell(amount), cell(time)).0
            }
            _ => get(6),
        };
        let number = |column: usize| -> Result<u64, TableError> {
            match get(column).as_str() {
                "" => Ok(0),
                text => text.parse().map_err(|_| bad(column, "a whole number")),
            }
        };
        let source_name = get(15);
        let source = match sources.iter().position(|s| *s == source_name) {
            Some(index) => index,
            None => {
                sources.push(source_name);
                sources.len() - 1
            }
        };
        Ok(ResultRow {
            fields: RowText {
                req_id: get(0),
                order_no: get(1),
                sub_order_no: get(2),
                success: get(3),
                result_code: get(4),
                result_desc: get(5),
                ext,
                extra: self
                    .extra
                    .iter()
                    .map(|(i, _)| cell(*i).to_owned())
                    .collect(),
            },
            status,
            error_code: get(8),
            error_msg: get(9),
            sub_code: get(10),
            sub_msg: get(11),
            top_request_id: get(12),
            attempts: u32::try_from(number(13)?).map_err(|_| bad(13, "a count"))?,
            finished_at: get(14),
            source: u32::try_from(source).unwrap_or(u32::MAX),
            line: number(16)?,
        })
    }
}

/// A result table read back, row by row.
#[derive(Debug)]
pub struct TableReader {
    cells: CellReader,
    columns: Columns,
    /// The source file names met so far; rows refer to them by index.
    sources: Vec<String>,
    /// Rows read, the header included.
    rows: u64,
}

#[derive(Debug)]
enum CellReader {
    Csv(Box<RecordReader<BufReader<File>>>),
    Workbook(SheetRows),
}

impl TableReader {
    /// Opens a result table (a workbook when its name ends in `.xlsx`) and finds its
    /// columns by their names.
    pub fn open(path: &Path) -> Result<TableReader, TableError> {
        let file = File::open(path)?;
        let mut cells = if crate::xlsx::is_workbook(path) {
            CellReader::Workbook(
                SheetRows::open(file, None).map_err(|e| TableError::Workbook(e.to_string()))?,
            )
        } else {
            let mut input = BufReader::new(file);
            if input.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
                input.consume(3);
            }
            CellReader::Csv(Box::new(RecordReader::new(b',', input)))
        };
        let header = cells.next(1)?.unwrap_or_default();
        Ok(TableReader {
            columns: Columns::of(&header)?,
            cells,
            sources: Vec::new(),
            rows: 1,
        })
    }

    /// The next row; `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<ResultRow>, TableError> {
        self.rows += 1;
        match self.cells.next(self.rows)? {
            Some(cells) => self
                .columns
                .row(&cells, self.rows, &mut self.sources)
                .map(Some),
            None => Ok(None),
        }
    }

    /// The names of the input's columns the API does not use, carried in this table.
    pub fn extra_names(&self) -> Vec<String> {
        self.columns
            .extra
            .iter()
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// The input file a row read here came from.
    pub fn source(&self, row: &ResultRow) -> &str {
        self.sources
            .get(row.source as usize)
            .map_or("", String::as_str)
    }
}

impl CellReader {
    /// The next row's cells as text (`row` names it in messages); `None` at the end.
    fn next(&mut self, row: u64) -> Result<Option<Vec<String>>, TableError> {
        match self {
            CellReader::Csv(reader) => {
                let mut record = RawRecord::default();
                if !reader.read(&mut record)? {
                    return Ok(None);
                }
                if record.oversize.is_some() {
                    return Err(TableError::TooLong { row });
                }
                Ok(Some(
                    record
                        .iter()
                        .map(|cell| String::from_utf8_lossy(cell).into_owned())
                        .collect(),
                ))
            }
            CellReader::Workbook(rows) => Ok(rows
                .next_row()
                .map_err(|e| TableError::Workbook(e.to_string()))?
                .map(|row| row.cells.iter().map(Cell::to_text).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_are_the_rows_written_whatever_the_column_order() {
        let dir = tempfile::tempdir().expect("dir");
        let mut row = ResultRow::new(
            RowText {
                req_id: "=R1".into(),
                order_no: "4012345678901234567".into(),
                ext: r#"{"firstChargeAmount":"100"}"#.into(),
                ..RowText::default()
            },
            Status::Rejected,
            0,
            7,
        )
        .with_error("B0107", "已退款");
        row.attempts = 2;
        for name in ["r.csv", "r.xlsx"] {
            let path = dir.path().join(name);
            let mut writer = TableWriter::create(&path, false).expect("create");
            writer.write(&row, "in.csv").expect("write");
            writer.finish().expect("finish");
            let mut reader = TableReader::open(&path).expect("open");
            let back = reader.next_row().expect("row").expect("a row");
            assert_eq!(back, row, "{name}");
            assert_eq!(reader.source(&back), "in.csv");
            assert!(reader.next_row().expect("end").is_none());
        }
        // Columns by name: another order, an extra column.
        let moved = dir.path().join("moved.csv");
        let mut header: Vec<&str> = RESULT_HEADER.to_vec();
        header.reverse();
        header.push("备注");
        let mut values: Vec<String> = RESULT_HEADER.iter().map(|_| String::new()).collect();
        values[0] = "R2".into();
        values[7] = "delivered".into();
        values[16] = "3".into();
        values.reverse();
        values.push("note".into());
        std::fs::write(
            &moved,
            format!("{}\n{}\n", header.join(","), values.join(",")),
        )
        .expect("write");
        let mut reader = TableReader::open(&moved).expect("open");
        let back = reader.next_row().expect("row").expect("a row");
        assert_eq!(
            (back.fields.req_id.as_str(), back.status, back.line),
            ("R2", Status::Delivered, 3)
        );
    }

    #[test]
    fn a_table_without_the_result_columns_or_with_a_bad_status_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let other = dir.path().join("other.csv");
        std::fs::write(&other, "a,b\n1,2\n").expect("write");
        assert!(matches!(
            TableReader::open(&other),
            Err(TableError::NotResults("req_id"))
        ));
        let bad = dir.path().join("bad.csv");
        let mut values = vec![""; 17];
        values[7] = "maybe";
        std::fs::write(
            &bad,
            format!("{}\n{}\n", RESULT_HEADER.join(","), values.join(",")),
        )
        .expect("write");
        let err = TableReader::open(&bad)
            .expect("open")
            .next_row()
            .expect_err("bad status");
        assert_eq!(err.to_string(), "row 2: status 'maybe' is not a status");
    }
}
