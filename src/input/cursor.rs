//! Walking the input files record by record, with each record's place: its file,
//! its data-row number and the physical line it starts on.

use super::source::SourceRecords;
use super::{InputError, InputRow, InputSet};
use crate::csvio::RawRecord;

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
    pub(super) raw: RawRecord,
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

    /// Reads the next record into `raw`; returns its place.
    fn advance(&mut self, raw: &mut RawRecord) -> Option<Result<(u32, u64, u64), InputError>> {
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
            match file.reader.read(raw) {
                Ok(true) => {
                    file.data_row += 1;
                    return Some(Ok((file.source, file.data_row, raw.line)));
                }
                Ok(false) => self.current = None,
                Err(error) => {
                    self.failed = true;
                    let name = self.set.sources[file.source as usize].name.clone();
                    return Some(Err(InputError::Read { name, error }));
                }
            }
        }
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<InputRow, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut raw = RawRecord::default();
        loop {
            let (source, line, file_line) = match self.records.advance(&mut raw)? {
                Ok(place) => place,
                Err(e) => return Some(Err(e)),
            };
            let set = self.records.set;
            if let Some(order) = set.sources[source as usize].row(&raw) {
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
        let mut raw = RawRecord::default();
        let (source, line, file_line) = match self.records.advance(&mut raw)? {
            Ok(place) => place,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Record {
            source,
            line,
            file_line,
            raw,
        }))
    }
}
