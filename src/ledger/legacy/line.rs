//! One ledger line: read within `MAX_LINE_BYTES`, split into its fields (directly when
//! unquoted, by the csv crate when quoted, across the line breaks a quoted field may
//! hold), and checked. Shared by the sequential and the parallel walk.

use std::io::BufRead;

use super::{HEADER, LedgerError, Settled, col};
use crate::ledger::key::parse_md5;

/// The longest ledger line read; a longer one is damage.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

pub const FIELDS: usize = HEADER.len();

/// One line's fields, raw.
pub type Fields<'a> = [&'a [u8]; FIELDS];

/// The fields of a line that has no line break, if it holds exactly a ledger line.
pub fn whole_line(line: &[u8]) -> Option<Fields<'_>> {
    let mut fields: Fields<'_> = [&[]; FIELDS];
    match split_fields(trim_end(line), &mut fields).ok()? {
        Split::Done => Some(fields),
        // A quoted last line: rare enough to take the long way.
        Split::Quoted => None,
    }
}

/// Appends one line (with its `\n`) to `buf`: `Some(bytes read)`, 0 at the end, or
/// `None` when the line goes on past `MAX_LINE_BYTES`.
pub fn read_bounded_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<usize>> {
    let start = buf.len();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(Some(buf.len() - start));
        }
        let (take, done) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        if buf.len() - start + take > MAX_LINE_BYTES + 2 {
            return Ok(None);
        }
        buf.extend_from_slice(&available[..take]);
        reader.consume(take);
        if done {
            return Ok(Some(buf.len() - start));
        }
    }
}

pub fn check_header(path: &str, line: &[u8]) -> Result<(), LedgerError> {
    if trim_end(line) == HEADER.join(",").as_bytes() {
        return Ok(());
    }
    Err(LedgerError::Header {
        path: path.to_owned(),
        found: String::from_utf8_lossy(trim_end(line))
            .chars()
            .take(200)
            .collect(),
    })
}

pub fn corrupt(path: &str, line: u64, reason: String) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_owned(),
        line,
        reason,
    }
}

/// A ledger's lines, one record at a time, each with the file line it starts on.
pub struct LineReader<'p, R> {
    reader: R,
    buf: Vec<u8>,
    /// The fields of a quoted line, parsed by the csv crate.
    record: csv::ByteRecord,
    /// The file line last read.
    number: u64,
    path: &'p str,
}

impl<'p, R: BufRead> LineReader<'p, R> {
    /// Lines of `reader`, which starts at line 1 of the ledger at `path`.
    pub fn new(reader: R, path: &'p str) -> Self {
        LineReader {
            reader,
            buf: Vec::with_capacity(1024),
            record: csv::ByteRecord::new(),
            number: 0,
            path,
        }
    }

    /// The file line last read.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Appends the next line to `buf`, within `MAX_LINE_BYTES`; false at the end.
    fn read_line(&mut self) -> Result<bool, LedgerError> {
        let read = read_bounded_line(&mut self.reader, &mut self.buf).map_err(|error| {
            LedgerError::Read {
                path: self.path.to_owned(),
                error,
            }
        })?;
        match read {
            Some(0) => Ok(false),
            Some(_) => {
                self.number += 1;
                Ok(true)
            }
            None => Err(corrupt(
                self.path,
                self.number + 1,
                format!("longer than {} KiB", MAX_LINE_BYTES / 1024),
            )),
        }
    }

    /// Reads and checks the header line.
    pub fn header(&mut self) -> Result<(), LedgerError> {
        self.buf.clear();
        self.read_line()?;
        check_header(self.path, &self.buf)
    }

    /// The next record that is not a blank line: the line it starts on, its fields.
    #[allow(
        clippy::should_implement_trait,
        reason = "a lending iterator: the fields borrow the reader's buffers"
    )]
    pub fn next(&mut self) -> Result<Option<(u64, Fields<'_>)>, LedgerError> {
        loop {
            self.buf.clear();
            if !self.read_line()? {
                return Ok(None);
            }
            if !trim_end(&self.buf).is_empty() {
                break;
            }
        }
        let start = self.number;
        if memchr::memchr(b'"', &self.buf).is_none() {
            let mut quick: [&[u8]; FIELDS] = [&[]; FIELDS];
            return match split_fields(trim_end(&self.buf), &mut quick) {
                Ok(_) => Ok(Some((start, quick))),
                Err(reason) => Err(corrupt(self.path, start, reason)),
            };
        }
        // Quoted fields may hold line breaks: take lines until the quotes balance.
        while memchr::memchr_iter(b'"', &self.buf).count() % 2 == 1 {
            if !self.read_line()? {
                break;
            }
        }
        let mut parser = crate::csvio::headerless(&self.buf[..]);
        match parser.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Err(corrupt(self.path, start, "an empty record".into())),
            Err(e) => return Err(corrupt_or_read(self.path, start, e)),
        }
        if self.record.len() != FIELDS {
            let reason = format!("{} fields instead of {FIELDS}", self.record.len());
            return Err(corrupt(self.path, start, reason));
        }
        let mut parsed: [&[u8]; FIELDS] = [&[]; FIELDS];
        for (slot, field) in parsed.iter_mut().zip(self.record.iter()) {
            *slot = field;
        }
        Ok(Some((start, parsed)))
    }
}

/// Checks one ledger line's fields; returns its req_id, status and payload digest.
pub fn check_fields<'a>(
    fields: &[&'a [u8]; HEADER.len()],
) -> Result<(&'a str, Settled, [u8; 16]), String> {
    let req_id =
        std::str::from_utf8(fields[col::REQ_ID]).map_err(|_| "req_id is not UTF-8".to_owned())?;
    if req_id.is_empty() {
        return Err("req_id is empty".into());
    }
    let status = match fields[col::STATUS] {
        b"delivered" => Settled::Delivered,
        b"rejected" => Settled::Rejected,
        b"failed" => Settled::Failed,
        other => {
            return Err(format!(
                "unknown status '{}'",
                String::from_utf8_lossy(other)
            ));
        }
    };
    let md5 = parse_md5(fields[col::PAYLOAD_MD5])
        .ok_or_else(|| "payload_md5 is not 32 hex digits".to_owned())?;
    Ok((req_id, status, md5))
}

fn corrupt_or_read(path: &str, line: u64, error: csv::Error) -> LedgerError {
    let line = error.position().map_or(line, |p| p.line());
    match error.into_kind() {
        csv::ErrorKind::Io(source) => LedgerError::Read {
            path: path.to_owned(),
            error: source,
        },
        other => LedgerError::Corrupt {
            path: path.to_owned(),
            line,
            reason: format!("{other:?}"),
        },
    }
}

/// A line without its line break.
pub fn trim_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Split {
    Done,
    /// The line has a quote: it needs a CSV parser.
    Quoted,
}

/// Splits an unquoted line on commas into exactly `FIELDS` fields, in one pass that
/// also notices a quote.
pub fn split_fields<'a>(line: &'a [u8], fields: &mut [&'a [u8]; FIELDS]) -> Result<Split, String> {
    let mut count = 0;
    let mut from = 0;
    for at in memchr::memchr2_iter(b',', b'"', line).chain(std::iter::once(line.len())) {
        if line.get(at) == Some(&b'"') {
            return Ok(Split::Quoted);
        }
        if count < FIELDS {
            fields[count] = &line[from..at];
        }
        count += 1;
        from = at + 1;
    }
    if count == FIELDS {
        Ok(Split::Done)
    } else {
        Err(format!("{count} fields instead of {FIELDS}"))
    }
}
