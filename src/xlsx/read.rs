//! Reading one sheet of a workbook row by row, its cells typed as Excel holds them.
//! The workbook is checked first (`inspect`: what it really is, which sheet, bounded
//! inflation, error cells); then calamine streams the sheet's XML on a thread of its
//! own, which hands rows over a bounded channel: memory stays flat in the number of
//! rows (the shared-string table aside, itself bounded).

use std::fs::File;
use std::io::BufReader;
use std::sync::mpsc::{Receiver, sync_channel};

use calamine::{DataRef, Reader as _, Xlsx, XlsxError};

pub use super::error::SheetError;
use super::inspect::ErrorCell;
pub use super::inspect::{Inspection, MAX_UNPACKED_BYTES, inspect};
/// Columns past this are not read.
pub const MAX_COLUMNS: u32 = crate::csvio::MAX_FIELDS as u32;

/// One cell's value, as Excel holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Bool(bool),
    /// A date-time cell: year, month, day, hour, minute, second, millisecond.
    DateTime([u16; 7]),
    /// An error value such as `#N/A`.
    Error(String),
}

impl Cell {
    /// The cell as plain text: whole numbers without a decimal point, booleans as
    /// `TRUE`/`FALSE`, date-times as `YYYY-MM-DD HH:MM:SS`.
    pub fn to_text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) | Cell::Error(text) => text.clone(),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
            Cell::Number(n) => n.to_string(),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            Cell::DateTime([y, mo, d, h, mi, s, _]) => {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.trim().is_empty(),
            _ => false,
        }
    }
}

/// One row of a sheet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SheetRow {
    /// The row number Excel shows (1-based).
    pub number: u32,
    /// By column, from A; missing trailing cells are empty.
    pub cells: Vec<Cell>,
    /// The row had cells past `MAX_COLUMNS`, which were dropped.
    pub too_wide: bool,
}

impl SheetRow {
    pub fn get(&self, column: usize) -> &Cell {
        self.cells.get(column).unwrap_or(&Cell::Empty)
    }

    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(Cell::is_empty)
    }
}

/// Rows handed from the reading thread at a time (a wake-up per row costs more than
/// reading it).
const CHUNK: usize = 128;

/// The rows of one sheet, in order, blank rows left out.
#[derive(Debug)]
pub struct SheetRows {
    chunks: Receiver<Result<Vec<SheetRow>, SheetError>>,
    ready: std::vec::IntoIter<SheetRow>,
}

impl SheetRows {
    /// Checks the workbook in `file` and streams `sheet` (the first one when `None`).
    pub fn open(mut file: File, sheet: Option<&str>) -> Result<SheetRows, SheetError> {
        let inspection = inspect(&mut file, sheet)?;
        SheetRows::open_inspected(file, &inspection)
    }

    /// Streams the sheet `inspection` chose of the workbook in `file`, which it checked.
    pub fn open_inspected(file: File, inspection: &Inspection) -> Result<SheetRows, SheetError> {
        let mut workbook: Xlsx<BufReader<File>> =
            Xlsx::new(BufReader::new(file)).map_err(|e| SheetError::NotAWorkbook(e.to_string()))?;
        let name = inspection.sheet.clone();
        // Error cells calamine cannot type stop its reading; they are put in their
        // places from the inspection, in document order.
        let untyped: Vec<ErrorCell> = inspection
            .errors
            .iter()
            .filter(|e| e.code.parse::<calamine::CellErrorType>().is_err())
            .cloned()
            .collect();
        let (to_reader, chunks) = sync_channel(4);
        std::thread::Builder::new()
            .name("sheet-read".into())
            .spawn(move || {
                let mut chunk = Vec::with_capacity(CHUNK);
                let streamed = stream(&mut workbook, &name, untyped, &to_reader, &mut chunk);
                // The rows read before an error still arrive, then the error.
                if to_reader.send(Ok(chunk)).is_ok()
                    && let Err(e) = streamed
                {
                    let _ = to_reader.send(Err(e));
                }
            })
            .map_err(|e| SheetError::Read(e.to_string()))?;
        Ok(SheetRows {
            chunks,
            ready: Vec::new().into_iter(),
        })
    }

    /// The next row with a value; `None` at the end of the sheet.
    pub fn next_row(&mut self) -> Result<Option<SheetRow>, SheetError> {
        loop {
            if let Some(row) = self.ready.next() {
                return Ok(Some(row));
            }
            match self.chunks.recv() {
                Ok(chunk) => self.ready = chunk?.into_iter(),
                Err(_) => return Ok(None),
            }
        }
    }
}

/// Reads the sheet's cells and sends them in chunks of rows until the end or until
/// nobody listens.
fn stream(
    workbook: &mut Xlsx<BufReader<File>>,
    name: &str,
    untyped: Vec<ErrorCell>,
    chunks: &std::sync::mpsc::SyncSender<Result<Vec<SheetRow>, SheetError>>,
    chunk: &mut Vec<SheetRow>,
) -> Result<(), SheetError> {
    let read = |e: XlsxError| SheetError::Read(e.to_string());
    let mut cells = workbook.worksheet_cells_reader(name).map_err(read)?;
    let mut untyped = untyped.into_iter();
    let mut row = SheetRow::default();
    loop {
        let (r, c, value) = match cells.next_cell() {
            Ok(Some(cell)) => {
                let (r, c) = cell.get_position();
                (r, c, typed(cell.get_value()))
            }
            Ok(None) => break,
            // An error code newer than calamine (#SPILL!, #CALC!, ...): the cell read
            // stops there and the next read goes on after it.
            Err(XlsxError::CellError(code)) => match untyped.next() {
                Some(cell) if cell.code == code.trim() => (
                    cell.row.saturating_sub(1),
                    cell.column,
                    Cell::Error(cell.code),
                ),
                _ => {
                    return Err(SheetError::Read(format!(
                        "an error cell {code} out of place"
                    )));
                }
            },
            Err(XlsxError::Unexpected(what)) if what.contains("shared strings") => {
                return Err(SheetError::MissingString {
                    near: match row.number {
                        0 => "at the start of the sheet".to_owned(),
                        n => format!("in or after row {n}"),
                    },
                });
            }
            Err(e) => return Err(read(e)),
        };
        if r + 1 != row.number {
            if !row.is_blank() {
                chunk.push(std::mem::take(&mut row));
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK));
                    if chunks.send(Ok(full)).is_err() {
                        return Ok(());
                    }
                }
            }
            row = SheetRow {
                number: r + 1,
                ..SheetRow::default()
            };
        }
        if c >= MAX_COLUMNS {
            row.too_wide = true;
            continue;
        }
        if value == Cell::Empty {
            continue;
        }
        let column = c as usize;
        if row.cells.len() <= column {
            row.cells.resize(column + 1, Cell::Empty);
        }
        row.cells[column] = value;
    }
    if !row.is_blank() {
        chunk.push(row);
    }
    Ok(())
}

fn typed(value: &DataRef<'_>) -> Cell {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::String(text) => Cell::Text(text.clone()),
        DataRef::SharedString(text) => Cell::Text((*text).to_owned()),
        DataRef::Float(n) => Cell::Number(*n),
        DataRef::Int(n) => Cell::Number(*n as f64),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(at) if at.is_datetime() => {
            let (y, mo, d, h, mi, s, ms) = at.to_ymd_hms_milli();
            Cell::DateTime([
                y,
                u16::from(mo),
                u16::from(d),
                u16::from(h),
                u16::from(mi),
                u16::from(s),
                ms,
            ])
        }
        DataRef::DateTime(at) => Cell::Number(at.as_f64()),
        DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => Cell::Text(text.clone()),
        // Shown as Excel shows it: `#N/A` (its Display has the `#` already).
        DataRef::Error(e) => Cell::Error(e.to_string()),
    }
}
