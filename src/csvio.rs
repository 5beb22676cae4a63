//! Every CSV reader and writer of the tool is built here, so quoting, flexibility,
//! line ends and size limits are decided once (xsv's `config.rs` idea). Files people
//! hand us are read with `RecordReader`, which bounds a record's size and width: an
//! oversize record is reported and skipped, never held whole.

use std::io::{BufRead, Read, Write};

/// The largest record (row) of an input file, in bytes.
pub const MAX_RECORD_BYTES: usize = 128 * 1024;
/// The most fields (columns) a record may have.
pub const MAX_FIELDS: usize = 1024;

/// Why a record was cut short: its fields before the limit are kept, the rest dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// Longer than `MAX_RECORD_BYTES`.
    Bytes,
    /// More than `MAX_FIELDS` fields.
    Fields,
}

/// One record as raw bytes, with where it starts.
#[derive(Debug, Clone, Default)]
pub struct RawRecord {
    bytes: Vec<u8>,
    /// End of each field in `bytes`.
    ends: Vec<usize>,
    len: usize,
    /// The physical line the record starts on (1-based from where reading began).
    pub line: u64,
    /// Set when the record broke a limit; then only its first fields are here.
    pub oversize: Option<Oversize>,
}

impl RawRecord {
    /// The fields read.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Field `i`, if the record has it.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.bytes[start..self.ends[i]])
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len).filter_map(|i| self.get(i))
    }
}

/// Reads records from `input` within `MAX_RECORD_BYTES` and `MAX_FIELDS`, counting
/// physical lines; blank lines are skipped, as the csv crate does.
#[derive(Debug)]
pub struct RecordReader<R> {
    core: csv_core::Reader,
    input: R,
    /// Lines begun so far: the line the next byte is on.
    line: u64,
    max_bytes: usize,
    max_fields: usize,
}

impl<R: BufRead> RecordReader<R> {
    /// A reader of `delimiter`-separated records; `input` starts at line 1.
    pub fn new(delimiter: u8, input: R) -> Self {
        RecordReader::with_limits(delimiter, input, MAX_RECORD_BYTES, MAX_FIELDS)
    }

    pub fn with_limits(delimiter: u8, input: R, max_bytes: usize, max_fields: usize) -> Self {
        RecordReader {
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            input,
            line: 1,
            max_bytes: max_bytes.max(1),
            max_fields: max_fields.max(1),
        }
    }

    /// Reads the next record into `record`; false at the end of the input.
    pub fn read(&mut self, record: &mut RawRecord) -> std::io::Result<bool> {
        use csv_core::ReadRecordResult::{End, InputEmpty, OutputEndsFull, OutputFull, Record};
        record.len = 0;
        record.oversize = None;
        if !self.skip_blank_lines()? {
            return Ok(false);
        }
        record.line = self.line;
        let bytes = record
            .bytes
            .len()
            .clamp(256.min(self.max_bytes), self.max_bytes);
        record.bytes.resize(bytes, 0);
        let fields = record
            .ends
            .len()
            .clamp(16.min(self.max_fields), self.max_fields);
        record.ends.resize(fields, 0);
        let (mut out, mut ends) = (0, 0);
        // Once a limit is hit, the rest of the record is parsed into these and dropped.
        let mut scratch: Option<(Vec<u8>, Vec<usize>)> = None;
        loop {
            let input = self.input.fill_buf()?;
            let (result, read, written, ended) = match &mut scratch {
                None => {
                    self.core
                        .read_record(input, &mut record.bytes[out..], &mut record.ends[ends..])
                }
                Some((bytes, field_ends)) => self.core.read_record(input, bytes, field_ends),
            };
            self.line += memchr::memchr_iter(b'\n', &input[..read]).count() as u64;
            self.input.consume(read);
            if scratch.is_none() {
                out += written;
                ends += ended;
            }
            match result {
                InputEmpty => {}
                OutputFull | OutputEndsFull if scratch.is_some() => {}
                OutputFull if record.bytes.len() < self.max_bytes => {
                    let grown = (record.bytes.len() * 2).min(self.max_bytes);
                    record.bytes.resize(grown, 0);
                }
                OutputEndsFull if record.ends.len() < self.max_fields => {
                    let grown = (record.ends.len() * 2).min(self.max_fields);
                    record.ends.resize(grown, 0);
                }
                OutputFull | OutputEndsFull => {
                    record.oversize = Some(if matches!(result, OutputFull) {
                        Oversize::Bytes
                    } else {
                        Oversize::Fields
                    });
                    scratch = Some((vec![0; 64 * 1024], vec![0; 1024]));
                }
                Record => {
                    record.len = ends;
                    return Ok(true);
                }
                End => return Ok(false),
            }
        }
    }

    /// Steps over empty lines; false when the input is exhausted.
    fn skip_blank_lines(&mut self) -> std::io::Result<bool> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(false);
            }
            let blank = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if blank == 0 {
                return Ok(true);
            }
            self.line += buf[..blank].iter().filter(|&&b| b == b'\n').count() as u64;
            self.input.consume(blank);
        }
    }
}

/// A reader for records without a header: the ledger's quoted lines, one at a time.
pub fn headerless<R: Read>(source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(source)
}

/// A writer for files people open (result CSVs): RFC 4180 CRLF line ends, which
/// Excel and every CSV reader accept.
pub fn report_writer<W: Write>(sink: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(sink)
}

/// A writer for the ledger: LF line ends, so a torn last line is one without `\n`.
pub fn ledger_writer<W: Write>(sink: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(
        text: &[u8],
        max_bytes: usize,
        max_fields: usize,
    ) -> Vec<(u64, Vec<String>, Option<Oversize>)> {
        let mut reader = RecordReader::with_limits(b',', text, max_bytes, max_fields);
        let mut record = RawRecord::default();
        let mut out = Vec::new();
        while reader.read(&mut record).expect("reads") {
            let fields = record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            out.push((record.line, fields, record.oversize));
        }
        out
    }

    #[test]
    fn records_come_with_their_physical_line() {
        let got = records(b"a,b\r\n\r\n\"x\ny\",z\n\nlast,\"q\"\"q\"", 1024, 16);
        assert_eq!(
            got,
            [
                (1, vec!["a".to_owned(), "b".to_owned()], None),
                (3, vec!["x\ny".to_owned(), "z".to_owned()], None),
                (6, vec!["last".to_owned(), "q\"q".to_owned()], None),
            ]
        );
    }

    #[test]
    fn an_oversize_record_keeps_its_first_fields_and_the_next_one_is_read() {
        let mut text = b"id1,".to_vec();
        text.extend(std::iter::repeat_n(b'x', 5000));
        text.extend_from_slice(b"\nid2,short\n");
        let got = records(&text, 1024, 16);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[0].2), (1, Some(Oversize::Bytes)));
        assert_eq!(got[0].1, ["id1"]);
        assert_eq!(
            got[1],
            (2, vec!["id2".to_owned(), "short".to_owned()], None)
        );
    }

    #[test]
    fn too_many_fields_is_an_oversize_record() {
        let got = records(b"a,b,c,d,e\nf\n", 1024, 3);
        assert_eq!(got[0].2, Some(Oversize::Fields));
        assert_eq!(got[0].1, ["a", "b", "c"]);
        assert_eq!(got[1], (2, vec!["f".to_owned()], None));
    }

    #[test]
    fn an_endless_line_is_read_in_bounded_memory() {
        // 64 MiB without a line break: read through a buffer, never held.
        let endless = std::io::BufReader::new(std::io::repeat(b'0').take(64 << 20));
        let mut reader = RecordReader::new(b',', endless);
        let mut record = RawRecord::default();
        assert!(reader.read(&mut record).expect("reads"));
        assert_eq!(record.oversize, Some(Oversize::Bytes));
        assert!(record.bytes.len() <= MAX_RECORD_BYTES);
        assert!(!reader.read(&mut record).expect("reads"));
    }
}
