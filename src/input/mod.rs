//! Reading the exports — CSV files or stdin, or `.xlsx` workbooks: encoding and delimiter detection, header
//! mapping, and a stream of rows, each an `Order` or the reasons it is not one. The
//! files are read once per pass (the plan reads them twice) and never held in memory.
//! File-level problems are `InputError`s (exit 2); row-level ones are data.

mod csv;
mod cursor;
pub mod encoding;
pub mod fingerprint;
pub mod first_charge;
pub mod header;
mod origin;
pub mod parallel;
pub mod row;
mod source;
pub mod values;
mod workbook;

use std::path::PathBuf;

use cursor::Cursor;
pub use cursor::{Record, Records, Rows};
use encoding::EncodingChoice;
use header::{Field, HeaderError};
pub use row::Invalid;
pub use source::Source;
pub use values::RowError;

use crate::order::Order;

pub use source::RecordData;

/// The name of standard input in `source` and messages.
pub const STDIN: &str = "<stdin>";

/// How to read the input files.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    pub encoding: EncodingChoice,
    /// Forced delimiter; sniffed from the header when `None`.
    pub delimiter: Option<u8>,
    /// `--map field=Header`.
    pub map: Vec<(Field, String)>,
    /// The sheet of a workbook input; the first when `None`.
    pub sheet: Option<String>,
    /// What each input is called in `source` and in messages, in place of its path
    /// (the desk's uploads: the name the clerk gave, never a path on the server);
    /// empty: the paths as given.
    pub labels: Vec<String>,
}

/// A problem with a whole input file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open {name}: {error}")]
    Open { name: String, error: std::io::Error },
    #[error("cannot read {name}: {error}")]
    Read { name: String, error: std::io::Error },
    #[error("{name} is {kind}; give an export file, or '-' for standard input")]
    NotAFile { name: String, kind: &'static str },
    #[error(
        "{name} is larger than {} MiB, the most read from standard input or a pipe; give it as a file",
        limit >> 20
    )]
    TooLarge { name: String, limit: u64 },
    #[error(
        "{name}: the header line is longer than {} KiB or has more than {} columns; is this an export?",
        crate::csvio::MAX_RECORD_BYTES / 1024,
        crate::csvio::MAX_FIELDS
    )]
    HeaderTooWide { name: String },
    #[error("{name}: {message}")]
    Csv { name: String, message: String },
    #[error("{name}: {message}")]
    Workbook { name: String, message: String },
    #[error("{name} is empty: a header line with the column names is required")]
    Empty { name: String },
    #[error("{name}: {error}")]
    Header { name: String, error: HeaderError },
    #[error("{name}: {error}")]
    Utf16 {
        name: String,
        error: encoding::Utf16,
    },
    #[error(
        "{name}: the header line is not valid {encoding}; re-save the file as CSV UTF-8 or pass --encoding"
    )]
    HeaderEncoding {
        name: String,
        encoding: encoding::Encoding,
    },
    #[error("{name} changed while it was being read; run again when the export is complete")]
    Changed { name: String },
    #[error(
        "{name} changed while it was being read: from row {line} on it is not what the first read found. \
         Nothing the first read did not plan was sent; run again when the export is complete"
    )]
    ChangedRow { name: String, line: u64 },
    #[error("stdin ('-') can be given only once")]
    StdinTwice,
}

/// The input files of one run, in order.
#[derive(Debug)]
pub struct InputSet {
    pub sources: Vec<Source>,
    /// The sources' names, for `source` columns and messages.
    names: Vec<String>,
    /// The columns the API does not use, of every source (first seen first): carried
    /// through to the results, after `line`.
    extra_names: Vec<String>,
    /// For each source, where each of its unknown columns goes in `extra_names`.
    extra_at: Vec<Vec<usize>>,
}

/// One data row.
#[derive(Debug, Clone)]
pub struct InputRow {
    /// Index into `InputSet::sources`.
    pub source: u32,
    /// The row Excel shows (a CSV's header is row 1; a workbook's rows are its own).
    pub line: u64,
    /// The file line the row starts on (the header is line 1), for messages.
    pub file_line: u64,
    /// The order, or why not, with the cells as found.
    pub order: Result<Order, Box<Invalid>>,
    /// The columns the API does not use, in `InputSet::extra_names` order (empty when
    /// no input has any).
    pub extra: Vec<String>,
}

impl InputSet {
    /// Opens and checks every file: encoding, delimiter, header. `-` is stdin, copied
    /// to a temporary file so it can be read twice.
    pub fn open(paths: &[PathBuf], options: &InputOptions) -> Result<Self, InputError> {
        if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            return Err(InputError::StdinTwice);
        }
        let sources: Vec<Source> = paths
            .iter()
            .enumerate()
            .map(|(at, path)| {
                Source::open(path, options, options.labels.get(at).map(String::as_str))
            })
            .collect::<Result<_, _>>()?;
        let names = sources.iter().map(|s| s.name.clone()).collect();
        let mut extra_names: Vec<String> = Vec::new();
        let extra_at = sources
            .iter()
            .map(|source| {
                source
                    .unknown()
                    .iter()
                    .map(|name| match extra_names.iter().position(|n| n == name) {
                        Some(at) => at,
                        None => {
                            extra_names.push(name.clone());
                            extra_names.len() - 1
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(InputSet {
            sources,
            names,
            extra_names,
            extra_at,
        })
    }

    /// The columns the API does not use, of all inputs: the results carry them.
    pub fn extra_names(&self) -> &[String] {
        &self.extra_names
    }

    /// The name of every source, in order (`<stdin>` for `-`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A fresh pass over every row of every file.
    pub fn rows(&self) -> Rows<'_> {
        Rows {
            records: self.cursor(),
        }
    }

    /// A fresh pass over the raw records; `finish` turns each into a row.
    pub fn records(&self) -> Records<'_> {
        Records {
            records: self.cursor(),
        }
    }

    /// The row a record holds; `None` for a blank one.
    pub fn finish(&self, record: &Record) -> Option<InputRow> {
        let source = &self.sources[record.source as usize];
        let order = source.row(&record.data)?;
        let mut extra = Vec::new();
        if !self.extra_names.is_empty() {
            extra = vec![String::new(); self.extra_names.len()];
            let places = &self.extra_at[record.source as usize];
            for (text, &at) in source.unknown_cells(&record.data).into_iter().zip(places) {
                extra[at] = text;
            }
        }
        Some(InputRow {
            source: record.source,
            line: record.line,
            file_line: record.file_line,
            order,
            extra,
        })
    }

    /// The CSV sources' size in bytes, all together (workbooks not counted).
    pub fn csv_bytes(&self) -> u64 {
        self.sources.iter().map(Source::csv_bytes).sum()
    }

    fn cursor(&self) -> Cursor<'_> {
        Cursor::new(self)
    }
}
