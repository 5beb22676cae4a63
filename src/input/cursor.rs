//! Walking the input files record by record, with each record's place: its file,
//! its data-row number and the physical line it starts on.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};

use super::{InputError, InputRow, InputSet};

/// Rows of every file in order; stops after the first file-level error.
#[derive(Debug)]
pub struct Rows<'a> {
    pub(super) records: Cursor<'a>,
}

/// The raw records of every file in order, each with its place: the cheap half of
/// reading, for a thread of its own (`InputSet::finish` is the other half).
#[derive(Debug)]
pub struct Records<'a> {
    pub(super) records: Cursor<'a>,
}

/// One CSV record and where it is.
#[derive(Debug, Clone)]
pub struct Record {
    pub(super) source: u32,
    pub(super) line: u64,
    pub(super) file_line: u64,
    pub(super) bytes: csv::ByteRecord,
}

/// Walks the files record by record; shared by `Rows` and `Records`.
#[derive(Debug)]
pub(super) struct Cursor<'a> {
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
pub(super) struct LineCounter {
    reader: BufReader<File>,
    offset: u64,
    line: u64,
}

impl LineCounter {
    /// Counts from `start` (just after a BOM), which is line 1.
    pub(super) fn new(mut file: File, start: u64) -> std::io::Result<Self> {
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

impl<'a> Cursor<'a> {
    pub(super) fn new(set: &'a InputSet) -> Self {
        Cursor {
            set,
            next_source: 0,
            current: None,
            failed: false,
        }
    }

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
                    return Some(Err(InputError::csv(name, e)));
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
