//! Walking the input files record by record, with each record's place: its file,
//! its data-row number and the physical line it starts on.

use super::source::{RecordData, SourceRecords};
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

/// One record and where it is.
#[derive(Debug, Clone)]
pub struct Record {
    pub(super) source: u32,
    pub(super) line: u64,
    pub(super) file_line: u64,
    pub(super) data: RecordData,
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
    reader: SourceRecords,
    data_row: u64,
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

    /// The next record and its place (source, line, file line).
    fn advance(&mut self) -> Option<Result<Record, InputError>> {
        if self.failed {
            return None;
        }
        loop {
            if self.current.is_none() {
                let source = self.set.sources.get(self.next_source)?;
                match source.records() {
                    Ok(reader) => {
                        self.current = Some(FileRows {
                            source: self.next_source as u32,
                            reader,
                            data_row: 0,
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
            let name = &self.set.sources[file.source as usize].name;
            match file.reader.next(name) {
                Ok(Some(read)) => {
                    file.data_row += 1;
                    return Some(Ok(Record {
                        source: file.source,
                        // The row Excel shows: a workbook's own; a CSV's header is row 1.
                        line: read.line.unwrap_or(file.data_row + 1),
                        file_line: read.file_line,
                        data: read.data,
                    }));
                }
                Ok(None) => self.current = None,
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<InputRow, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let record = match self.records.advance()? {
                Ok(record) => record,
                Err(e) => return Some(Err(e)),
            };
            if let Some(row) = self.records.set.finish(&record) {
                return Some(Ok(row));
            }
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.records.advance()
    }
}
