//! Walking a ledger's complete lines, checked: the one reader behind the dedup index,
//! `report` and `ledger compact`. A torn last line is left out; a wrong header or a
//! damaged line stops the walk with the line's number.

use std::fs::File;
use std::io::{BufReader, Read as _, Seek as _, SeekFrom};
use std::path::Path;

use super::index::{KeyMap, ReqKey, check_record, complete_length, corrupt_or_read};
use super::{HEADER, LedgerError, Settled};

/// A ledger file's layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// The file exists with at least a complete header line.
    pub has_header: bool,
    /// Complete data lines.
    pub lines: u64,
    /// Bytes up to the end of the last complete line.
    pub complete_len: u64,
    pub file_len: u64,
}

/// One checked line.
#[derive(Debug)]
pub struct Line<'a> {
    /// The file line number (the header is line 1).
    pub number: u64,
    pub req_id: &'a str,
    pub status: Settled,
    pub payload_md5: [u8; 16],
    pub record: &'a csv::ByteRecord,
}

/// Calls `visit` for every complete, valid line, in file order. An absent file is empty.
pub fn walk(path: &Path, mut visit: impl FnMut(Line<'_>)) -> Result<Shape, LedgerError> {
    let shown = path.display().to_string();
    let read_error = |source| LedgerError::Read {
        path: shown.clone(),
        error: source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Shape::default()),
        Err(e) => return Err(read_error(e)),
    };
    let file_len = file.metadata().map_err(read_error)?.len();
    let complete_len = complete_length(&mut file, file_len).map_err(read_error)?;
    let mut shape = Shape {
        has_header: false,
        lines: 0,
        complete_len,
        file_len,
    };
    if complete_len == 0 {
        return Ok(shape);
    }
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut reader = crate::csvio::reader(
        b',',
        BufReader::with_capacity(1 << 20, file.take(complete_len)),
    );
    let header = reader
        .byte_headers()
        .map_err(|e| corrupt_or_read(&shown, 1, e))?;
    if header.iter().ne(HEADER.iter().map(|h| h.as_bytes())) {
        return Err(LedgerError::Header {
            path: shown,
            found: String::from_utf8_lossy(header.as_slice())
                .chars()
                .take(200)
                .collect(),
        });
    }
    shape.has_header = true;
    let mut record = csv::ByteRecord::new();
    let mut number = 1u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(corrupt_or_read(&shown, number + 1, e)),
        }
        number = record.position().map_or(number + 1, |p| p.line());
        let (req_id, status, payload_md5) =
            check_record(&record).map_err(|reason| LedgerError::Corrupt {
                path: shown.clone(),
                line: number,
                reason,
            })?;
        shape.lines += 1;
        visit(Line {
            number,
            req_id,
            status,
            payload_md5,
            record: &record,
        });
    }
    Ok(shape)
}

impl Line<'_> {
    /// Whether a `--simulate` run wrote this line.
    pub fn simulated(&self) -> bool {
        self.record[super::col::RUN_ID].starts_with(super::SIMULATED_RUN_PREFIX.as_bytes())
    }

    /// The line's key in `latest_lines`: simulated lines are kept apart, so a
    /// rehearsal never hides a real outcome.
    pub fn key(&self) -> ReqKey {
        line_key(self.req_id, self.simulated())
    }
}

/// The `latest_lines` key of a req_id, in the real or the simulated namespace.
pub fn line_key(req_id: &str, simulated: bool) -> ReqKey {
    if simulated {
        ReqKey::of(&format!("{req_id}\0{}", super::SIMULATED_RUN_PREFIX))
    } else {
        ReqKey::of(req_id)
    }
}

/// The file line number of the latest line of every req_id (per namespace, see
/// `Line::key`).
pub fn latest_lines(path: &Path) -> Result<KeyMap<u64>, LedgerError> {
    let mut latest = KeyMap::default();
    walk(path, |line| {
        latest.insert(line.key(), line.number);
    })?;
    Ok(latest)
}

/// Calls `visit` with every valid line as text fields.
pub fn for_each_line(
    path: &Path,
    mut visit: impl FnMut(u64, &csv::StringRecord),
) -> Result<Shape, LedgerError> {
    walk(path, |line| {
        let fields: csv::StringRecord = line
            .record
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        visit(line.number, &fields);
    })
}
