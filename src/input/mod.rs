//! Reading the CSV exports: files or stdin, encoding and delimiter detection, header
//! mapping, and a stream of rows, each an `Order` or the reasons it is not one. The
//! files are read once per pass (the plan reads them twice) and never held in memory.
//! File-level problems are `InputError`s (exit 2); row-level ones are data.

pub mod encoding;
pub mod fields;
pub mod header;
pub mod parallel;
pub mod row;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use encoding::{Detected, EncodingChoice};
pub use fields::RowError;
use header::{ColumnMap, Field, HeaderError};
use row::{Cells, build_order};
pub use row::{Invalid, RowFields};

use crate::order::Order;

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
}

/// A problem with a whole input file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open {name}: {error}")]
    Open { name: String, error: std::io::Error },
    #[error("cannot read {name}: {error}")]
    Read { name: String, error: std::io::Error },
    #[error("{name}: {message}")]
    Csv { name: String, message: String },
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
    #[error("stdin ('-') can be given only once")]
    StdinTwice,
}

/// One input file, checked and ready to be read.
#[derive(Debug)]
pub struct Source {
    /// As the user named it; `<stdin>` for `-`. Used in `source` and messages.
    pub name: String,
    path: PathBuf,
    /// Keeps a spooled copy of stdin alive.
    _spool: Option<tempfile::NamedTempFile>,
    pub detected: Detected,
    pub delimiter: u8,
    columns: ColumnMap,
    header_len: usize,
    fingerprint: (u64, Option<SystemTime>),
}

/// The input files of one run, in order.
#[derive(Debug)]
pub struct InputSet {
    pub sources: Vec<Source>,
}

/// One data row.
#[derive(Debug, Clone)]
pub struct InputRow {
    /// Index into `InputSet::sources`.
    pub source: u32,
    /// 1-based data-row number (the header is not counted).
    pub line: u64,
    /// The file line the row starts on (the header is line 1), for messages.
    pub file_line: u64,
    /// The order, or why not, with the cells as found.
    pub order: Result<Order, Box<Invalid>>,
}

impl InputSet {
    /// Opens and checks every file: encoding, delimiter, header. `-` is stdin, copied
    /// to a temporary file so it can be read twice.
    pub fn open(paths: &[PathBuf], options: &InputOptions) -> Result<Self, InputError> {
        if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            return Err(InputError::StdinTwice);
        }
        let sources = paths
            .iter()
            .map(|path| Source::open(path, options))
            .collect::<Result<_, _>>()?;
        Ok(InputSet { sources })
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
        let order = self.sources[record.source as usize].row(&record.bytes)?;
        Some(InputRow {
            source: record.source,
            line: record.line,
            file_line: record.file_line,
            order,
        })
    }

    fn cursor(&self) -> Cursor<'_> {
        Cursor {
            set: self,
            next_source: 0,
            current: None,
            failed: false,
        }
    }
}

impl Source {
    fn open(path: &Path, options: &InputOptions) -> Result<Self, InputError> {
        let (name, path, spool) = if path.as_os_str() == "-" {
            let mut spool = tempfile::NamedTempFile::new().map_err(|source| InputError::Read {
                name: STDIN.into(),
                error: source,
            })?;
            std::io::copy(&mut std::io::stdin().lock(), spool.as_file_mut()).map_err(|source| {
                InputError::Read {
                    name: STDIN.into(),
                    error: source,
                }
            })?;
            (STDIN.to_owned(), spool.path().to_owned(), Some(spool))
        } else {
            (path.display().to_string(), path.to_owned(), None)
        };
        let open_error = |source| InputError::Open {
            name: name.clone(),
            error: source,
        };
        let read_error = |source| InputError::Read {
            name: name.clone(),
            error: source,
        };
        let mut file = File::open(&path).map_err(open_error)?;
        let fingerprint = fingerprint(&file).map_err(read_error)?;
        let detected = encoding::detect(&mut BufReader::new(&mut file), options.encoding)
            .map_err(read_error)?
            .map_err(|source| InputError::Utf16 {
                name: name.clone(),
                error: source,
            })?;
        file.seek(SeekFrom::Start(detected.bom_len as u64))
            .map_err(read_error)?;
        let mut first_line = Vec::new();
        (&mut file)
            .take(64 * 1024)
            .read_to_end(&mut first_line)
            .map_err(read_error)?;
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| sniff_delimiter(&first_line));

        file.seek(SeekFrom::Start(detected.bom_len as u64))
            .map_err(read_error)?;
        let mut reader = crate::csvio::reader(delimiter, BufReader::new(file));
        let raw = reader
            .byte_headers()
            .map_err(|e| csv_error(&name, e))?
            .clone();
        if raw.is_empty() || (raw.len() == 1 && raw[0].is_empty()) {
            return Err(InputError::Empty { name });
        }
        let headers = raw
            .iter()
            .map(|cell| encoding::decode(detected, cell).map(|c| c.into_owned()))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| InputError::HeaderEncoding {
                name: name.clone(),
                encoding: detected.encoding,
            })?;
        let columns =
            ColumnMap::new(&headers, &options.map).map_err(|source| InputError::Header {
                name: name.clone(),
                error: source,
            })?;
        if !columns.unknown.is_empty() {
            tracing::warn!(
                "{name}: ignoring columns the API does not use: {}",
                columns.unknown.join(", ")
            );
        }
        Ok(Source {
            name,
            path,
            _spool: spool,
            detected,
            delimiter,
            columns,
            header_len: headers.len(),
            fingerprint,
        })
    }

    fn line_counter(&self) -> Result<LineCounter, InputError> {
        let file = File::open(&self.path).map_err(|source| InputError::Open {
            name: self.name.clone(),
            error: source,
        })?;
        LineCounter::new(file, self.detected.bom_len as u64).map_err(|source| InputError::Read {
            name: self.name.clone(),
            error: source,
        })
    }

    fn reader(&self) -> Result<csv::Reader<BufReader<File>>, InputError> {
        let read_error = |source| InputError::Read {
            name: self.name.clone(),
            error: source,
        };
        let mut file = File::open(&self.path).map_err(|source| InputError::Open {
            name: self.name.clone(),
            error: source,
        })?;
        if fingerprint(&file).map_err(read_error)? != self.fingerprint {
            return Err(InputError::Changed {
                name: self.name.clone(),
            });
        }
        file.seek(SeekFrom::Start(self.detected.bom_len as u64))
            .map_err(read_error)?;
        let mut reader =
            crate::csvio::reader(self.delimiter, BufReader::with_capacity(256 * 1024, file));
        reader
            .byte_headers()
            .map_err(|e| csv_error(&self.name, e))?;
        Ok(reader)
    }

    /// Turns one CSV record into a row.
    fn row(&self, record: &csv::ByteRecord) -> Option<Result<Order, Box<Invalid>>> {
        let mut cells = Cells::default();
        let mut undecodable = Vec::new();
        for (field, index) in self.columns.iter() {
            let bytes = record.get(index).unwrap_or_default();
            let text = match encoding::decode(self.detected, bytes) {
                Some(text) => text,
                None => {
                    undecodable.push(field);
                    // Shown in the result file: likely the text as the other encoding reads it.
                    encoding::decode_for_display(self.detected.encoding, bytes)
                }
            };
            cells.set(field, cleaned(text));
        }
        if cells.is_blank() && undecodable.is_empty() {
            return None;
        }
        let built = build_order(&cells);
        // A row refused for its encoding or shape shows its cells as found.
        let shown = |built: Result<Order, Box<Invalid>>| match built {
            Ok(order) => RowFields::of_order(&order),
            Err(invalid) => invalid.fields,
        };
        if !undecodable.is_empty() {
            let names: Vec<&str> = undecodable.iter().map(|f| f.name()).collect();
            let error = RowError::new(
                fields::code::BAD_ENCODING,
                format!(
                    "{} contains bytes that are not valid {} (the encoding of this file); re-save the export in one encoding, or pass --encoding",
                    names.join(", "),
                    self.detected.encoding
                ),
            );
            return Some(Err(Box::new(Invalid {
                error,
                fields: shown(built),
            })));
        }
        let extra_filled = record
            .iter()
            .skip(self.header_len)
            .any(|cell| !cell.iter().all(u8::is_ascii_whitespace));
        if record.len() < self.header_len || extra_filled {
            let error = RowError::new(
                fields::code::FIELD_COUNT,
                format!(
                    "the row has {} fields but the header has {}: a delimiter is missing or extra, or a quote is not closed",
                    record.len(),
                    self.header_len
                ),
            );
            return Some(Err(Box::new(Invalid {
                error,
                fields: shown(built),
            })));
        }
        Some(built)
    }
}

/// A cell without the white space around it, still borrowed where it was.
fn cleaned(text: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(fields::clean(text)),
        Cow::Owned(text) if fields::clean(&text).len() == text.len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(fields::clean(&text).to_owned()),
    }
}

/// Size and modification time: a file that changes between the plan's two passes
/// must not be sent.
fn fingerprint(file: &File) -> std::io::Result<(u64, Option<SystemTime>)> {
    let meta = file.metadata()?;
    Ok((meta.len(), meta.modified().ok()))
}

fn csv_error(name: &str, error: csv::Error) -> InputError {
    match error.into_kind() {
        csv::ErrorKind::Io(source) => InputError::Read {
            name: name.to_owned(),
            error: source,
        },
        other => InputError::Csv {
            name: name.to_owned(),
            message: format!("{other:?}"),
        },
    }
}

/// The most frequent of `,` tab `;` in the header line outside quotes; `,` on a tie.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b'\t' if !quoted => counts[1] += 1,
            b';' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b'\t', b';'];
    let best = (0..3)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

/// Rows of every file in order; stops after the first file-level error.
#[derive(Debug)]
pub struct Rows<'a> {
    records: Cursor<'a>,
}

/// The raw records of every file in order, each with its place: the cheap half of
/// reading, for a thread of its own (`InputSet::finish` is the other half).
#[derive(Debug)]
pub struct Records<'a> {
    records: Cursor<'a>,
}

/// One CSV record and where it is.
#[derive(Debug, Clone)]
pub struct Record {
    source: u32,
    line: u64,
    file_line: u64,
    bytes: csv::ByteRecord,
}

/// Walks the files record by record; shared by `Rows` and `Records`.
#[derive(Debug)]
struct Cursor<'a> {
    set: &'a InputSet,
    next_source: usize,
    current: Option<FileRows>,
    failed: bool,
}

#[derive(Debug)]
struct FileRows {
    source: u32,
    reader: csv::Reader<BufReader<File>>,
    record: csv::ByteRecord,
    data_row: u64,
    lines: LineCounter,
}

/// Physical line numbers from byte offsets (the csv crate's own count skips blank
/// lines and CRLF): a forward-only cursor over a second handle on the file.
#[derive(Debug)]
struct LineCounter {
    reader: BufReader<File>,
    offset: u64,
    line: u64,
}

impl LineCounter {
    /// Counts from `start` (just after a BOM), which is line 1.
    fn new(mut file: File, start: u64) -> std::io::Result<Self> {
        file.seek(SeekFrom::Start(start))?;
        Ok(LineCounter {
            reader: BufReader::with_capacity(256 * 1024, file),
            offset: 0,
            line: 1,
        })
    }

    /// The line a record starting at byte `offset` (relative to `start`) is on;
    /// offsets only grow. The csv crate reports a record's start before the blank
    /// lines it skips, and no record starts with CR or LF, so those are stepped over.
    fn line_at(&mut self, offset: u64) -> u64 {
        use std::io::BufRead as _;
        while self.offset < offset {
            let Ok(buf) = self.reader.fill_buf() else {
                break;
            };
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min((offset - self.offset) as usize);
            self.line += memchr::memchr_iter(b'\n', &buf[..take]).count() as u64;
            self.reader.consume(take);
            self.offset += take as u64;
        }
        while let Ok(buf) = self.reader.fill_buf() {
            let blank = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if blank == 0 {
                break;
            }
            self.line += buf[..blank].iter().filter(|&&b| b == b'\n').count() as u64;
            self.reader.consume(blank);
            self.offset += blank as u64;
        }
        self.line
    }
}

impl Cursor<'_> {
    /// Reads the next record into the current file's buffer; returns its place.
    fn advance(&mut self) -> Option<Result<(u32, u64, u64), InputError>> {
        if self.failed {
            return None;
        }
        loop {
            if self.current.is_none() {
                let source = self.set.sources.get(self.next_source)?;
                match source
                    .reader()
                    .and_then(|reader| Ok((reader, source.line_counter()?)))
                {
                    Ok((reader, lines)) => {
                        self.current = Some(FileRows {
                            source: self.next_source as u32,
                            reader,
                            record: csv::ByteRecord::new(),
                            data_row: 0,
                            lines,
                        });
                        self.next_source += 1;
                    }
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
            let file = self.current.as_mut().expect("set just above");
            match file.reader.read_byte_record(&mut file.record) {
                Ok(true) => {
                    file.data_row += 1;
                    let file_line = file
                        .record
                        .position()
                        .map_or(0, |p| file.lines.line_at(p.byte()));
                    return Some(Ok((file.source, file.data_row, file_line)));
                }
                Ok(false) => self.current = None,
                Err(e) => {
                    self.failed = true;
                    let name = &self.set.sources[file.source as usize].name;
                    return Some(Err(csv_error(name, e)));
                }
            }
        }
    }

    fn record(&self) -> &csv::ByteRecord {
        &self
            .current
            .as_ref()
            .expect("advance returned a record")
            .record
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<InputRow, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (source, line, file_line) = match self.records.advance()? {
                Ok(place) => place,
                Err(e) => return Some(Err(e)),
            };
            let set = self.records.set;
            if let Some(order) = set.sources[source as usize].row(self.records.record()) {
                return Some(Ok(InputRow {
                    source,
                    line,
                    file_line,
                    order,
                }));
            }
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (source, line, file_line) = match self.records.advance()? {
            Ok(place) => place,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Record {
            source,
            line,
            file_line,
            bytes: self.records.record().clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_sniffed_from_the_header() {
        assert_eq!(
            sniff_delimiter(b"order_no,success,req_id\n1;2;3;4;5\n"),
            b','
        );
        assert_eq!(sniff_delimiter(b"order_no\tsuccess\treq_id\n"), b'\t');
        assert_eq!(sniff_delimiter(b"order_no;success;req_id\r\n"), b';');
        assert_eq!(sniff_delimiter(b"\"a,b\";c;d\n"), b';');
        assert_eq!(sniff_delimiter(b"order_no\n"), b',');
    }
}
