//! Reading one sheet of a workbook row by row, its cells typed as Excel holds them.
//! calamine streams the sheet's XML on a thread of its own, which hands rows over a
//! bounded channel: memory stays flat in the number of rows (the shared-string table
//! aside). A workbook that would decompress to more than `MAX_UNPACKED_BYTES` is
//! refused before it is opened.

use std::fs::File;
use std::io::{BufReader, Seek as _, SeekFrom};
use std::sync::mpsc::{Receiver, sync_channel};

use calamine::{DataRef, Reader as _, Xlsx};

/// The most a workbook may unpack to (its XML parts together).
pub const MAX_UNPACKED_BYTES: u64 = 1 << 30;
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

/// Why a workbook cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    #[error("not a readable .xlsx workbook: {0}")]
    NotAWorkbook(String),
    #[error("it has no sheet named '{wanted}'; its sheets: {found}")]
    NoSheet { wanted: String, found: String },
    #[error("it has no sheet")]
    Empty,
    #[error(
        "it would unpack to more than {} MiB; save it again in Excel, or export CSV",
        MAX_UNPACKED_BYTES >> 20
    )]
    TooLarge,
    #[error("cannot read it: {0}")]
    Read(String),
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
    /// Streams `sheet` (the first one when `None`) of the workbook in `file`.
    pub fn open(mut file: File, sheet: Option<&str>) -> Result<SheetRows, SheetError> {
        check_size(&mut file)?;
        let mut workbook: Xlsx<BufReader<File>> =
            Xlsx::new(BufReader::new(file)).map_err(|e| SheetError::NotAWorkbook(e.to_string()))?;
        let names = workbook.sheet_names();
        let name = match sheet {
            None => names.first().cloned().ok_or(SheetError::Empty)?,
            Some(wanted) => names
                .iter()
                .find(|n| n.as_str() == wanted)
                .cloned()
                .ok_or_else(|| SheetError::NoSheet {
                    wanted: wanted.to_owned(),
                    found: names.join(", "),
                })?,
        };
        let (to_reader, chunks) = sync_channel(4);
        std::thread::Builder::new()
            .name("sheet-read".into())
            .spawn(move || {
                let mut chunk = Vec::with_capacity(CHUNK);
                let streamed = stream(&mut workbook, &name, &to_reader, &mut chunk);
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
    chunks: &std::sync::mpsc::SyncSender<Result<Vec<SheetRow>, SheetError>>,
    chunk: &mut Vec<SheetRow>,
) -> Result<(), SheetError> {
    let read = |e: calamine::XlsxError| SheetError::Read(e.to_string());
    let mut cells = workbook.worksheet_cells_reader(name).map_err(read)?;
    let mut row = SheetRow::default();
    while let Some(cell) = cells.next_cell().map_err(read)? {
        let (r, c) = cell.get_position();
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
        let value = typed(cell.get_value());
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
        DataRef::Error(e) => Cell::Error(format!("#{e}")),
    }
}

/// Refuses a workbook whose parts would unpack to more than the limit (a zip bomb, or
/// far more than any export), before calamine reads it into memory.
fn check_size(file: &mut File) -> Result<(), SheetError> {
    let mut archive =
        zip::ZipArchive::new(&mut *file).map_err(|e| SheetError::NotAWorkbook(e.to_string()))?;
    // The central directory's sizes: what each part may unpack to (the zip reader
    // holds an entry to its declared size).
    let mut declared = 0u64;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| SheetError::NotAWorkbook(e.to_string()))?;
        declared = declared.saturating_add(entry.size());
    }
    drop(archive);
    if declared > MAX_UNPACKED_BYTES {
        return Err(SheetError::TooLarge);
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| SheetError::Read(e.to_string()))?;
    Ok(())
}
