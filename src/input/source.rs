//! One input file: opened and checked once — a CSV export (encoding, delimiter,
//! header) or a workbook (`.xlsx`: sheet, header row) — then read as many times as the
//! plan asks, each record turned into an order or the reasons it is not one.

use std::path::Path;

use super::csv::{CsvFormat, CsvRecords};
use super::header::ColumnMap;
use super::origin::Origin;
use super::row::Invalid;
use super::workbook::{self, WorkbookFormat};
use super::{InputError, InputOptions};
use crate::csvio::RawRecord;
use crate::order::Order;
use crate::xlsx::read::{SheetRow, SheetRows};

/// One input file, checked and ready to be read.
#[derive(Debug)]
pub struct Source {
    /// As the user named it; `<stdin>` for `-`. Used in `source` and messages.
    pub name: String,
    origin: Origin,
    format: Format,
    columns: ColumnMap,
}

/// How a source's records are laid out.
#[derive(Debug)]
enum Format {
    Csv(CsvFormat),
    Workbook(WorkbookFormat),
}

/// One record of a source, as read, with what it takes to read it as a row: a record
/// is never paired with another source's layout.
#[derive(Debug, Clone)]
pub enum RecordData {
    Csv { raw: RawRecord, format: CsvFormat },
    Sheet { row: SheetRow, header_len: usize },
}

impl RecordData {
    /// The text of the columns at `at` (those the API does not use), as found (less
    /// this tool's own formula guard, which every output puts back).
    pub(super) fn cells_at(&self, at: &[usize]) -> Vec<String> {
        let texts: Vec<String> = match self {
            RecordData::Csv { raw, format } => at
                .iter()
                .map(|&index| {
                    let bytes = raw.get(index).unwrap_or_default();
                    let bytes = &bytes[..bytes.len().min(super::values::MAX_CELL_BYTES)];
                    super::encoding::decode(format.detected, bytes)
                        .unwrap_or_else(|| {
                            super::encoding::decode_for_display(format.detected.encoding, bytes)
                        })
                        .into_owned()
                })
                .collect(),
            RecordData::Sheet { row, .. } => at
                .iter()
                .map(|&index| workbook::shown(row.get(index)).into_owned())
                .collect(),
        };
        texts
            .into_iter()
            .map(|text| match crate::columns::unguard(&text) {
                same if same.len() == text.len() => text,
                unguarded => unguarded.to_owned(),
            })
            .collect()
    }

    /// The row this record holds; `None` for a blank one.
    pub(super) fn row(&self, columns: &ColumnMap) -> Option<Result<Order, Box<Invalid>>> {
        match self {
            RecordData::Csv { raw, format } => format.row(columns, raw),
            RecordData::Sheet { row, header_len } => workbook::row_of(columns, row, *header_len),
        }
    }
}

/// A pass over a source's records, after its header.
#[derive(Debug)]
pub(super) enum SourceRecords {
    Csv(Box<CsvRecords>, CsvFormat),
    Sheet(SheetRows, usize),
}

/// A record and where it is: `line` for a workbook (the sheet row; a CSV's data rows
/// are counted by the caller), the physical line it starts on.
pub(super) struct Read {
    pub line: Option<u64>,
    pub file_line: u64,
    pub data: RecordData,
}

impl SourceRecords {
    /// The next record, or `None` at the end of the source.
    pub(super) fn next(&mut self, name: &str) -> Result<Option<Read>, InputError> {
        match self {
            SourceRecords::Csv(reader, format) => {
                let mut raw = RawRecord::default();
                let more = reader.read(&mut raw).map_err(|error| InputError::Read {
                    name: name.to_owned(),
                    error,
                })?;
                Ok(more.then_some(Read {
                    line: None,
                    file_line: raw.line,
                    data: RecordData::Csv {
                        raw,
                        format: *format,
                    },
                }))
            }
            SourceRecords::Sheet(rows, header_len) => {
                let row = rows.next_row().map_err(|error| InputError::Workbook {
                    name: name.to_owned(),
                    message: error.to_string(),
                })?;
                Ok(row.map(|row| Read {
                    line: Some(u64::from(row.number)),
                    // The sheet row is what Excel shows, and the only line there is.
                    file_line: u64::from(row.number),
                    data: RecordData::Sheet {
                        row,
                        header_len: *header_len,
                    },
                }))
            }
        }
    }
}

impl Source {
    /// `label` names it in place of its path.
    pub(super) fn open(
        path: &Path,
        options: &InputOptions,
        label: Option<&str>,
    ) -> Result<Self, InputError> {
        let (name, origin) = Origin::of(path, label)?;
        let (format, headers) = if crate::xlsx::is_workbook(path) {
            let (format, headers) = WorkbookFormat::open(&origin, &name, options)?;
            (Format::Workbook(format), headers)
        } else {
            let (format, headers) = CsvFormat::open(&origin, &name, options)?;
            (Format::Csv(format), headers)
        };
        let columns =
            ColumnMap::new(&headers, &options.map).map_err(|source| InputError::Header {
                name: name.clone(),
                error: source,
            })?;
        if !columns.unknown.is_empty() {
            tracing::info!(
                "{name}: columns the API does not use, carried through to the results: {}",
                crate::text::visible(&columns.unknown.join(", "))
            );
        }
        Ok(Source {
            name,
            origin,
            format,
            columns,
        })
    }

    /// A fresh pass over the records after the header.
    pub(super) fn records(&self) -> Result<SourceRecords, InputError> {
        Ok(match &self.format {
            Format::Csv(csv) => {
                SourceRecords::Csv(Box::new(csv.records(&self.origin, &self.name)?), *csv)
            }
            Format::Workbook(workbook) => SourceRecords::Sheet(
                workbook.records(&self.origin, &self.name)?,
                workbook.header_len(),
            ),
        })
    }

    /// The size of a CSV source in bytes; 0 for a workbook.
    pub(super) fn csv_bytes(&self) -> u64 {
        match self.format {
            Format::Csv(_) => self.origin.len(),
            Format::Workbook(_) => 0,
        }
    }

    /// Turns one record into a row; `None` for a blank one.
    pub(super) fn row(&self, record: &RecordData) -> Option<Result<Order, Box<Invalid>>> {
        record.row(&self.columns)
    }

    /// The names of the columns the API does not use, in the file's order.
    pub(super) fn unknown(&self) -> &[String] {
        &self.columns.unknown
    }

    /// The text of those columns in `record`.
    pub(super) fn unknown_cells(&self, record: &RecordData) -> Vec<String> {
        record.cells_at(&self.columns.unknown_at)
    }
}
