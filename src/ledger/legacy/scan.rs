//! Walking a CSV ledger's complete lines, checked: what `ledger import` reads. A file
//! whose first line is not the header is not a ledger and stops the walk; so does a
//! damaged line, with its number. A last line without its line break is complete if
//! it reads as a whole line, and torn — left out (and measured) — if not.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

pub use super::line::MAX_LINE_BYTES;
use super::line::{FIELDS, LineReader, check_fields, check_header, corrupt, whole_line};
use super::{LedgerError, Settled, col};
use crate::ledger::key::{KeyMap, ReqKey};

/// A ledger file's layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// The file exists with its header.
    pub has_header: bool,
    /// Complete data lines.
    pub lines: u64,
    /// Bytes up to the end of the last complete line.
    pub complete_len: u64,
    pub file_len: u64,
    /// The last complete line has no line break: the next append adds one first.
    pub newline_missing: bool,
}

impl Shape {
    /// Bytes after the last complete line: a torn line left by a crash.
    pub fn torn_bytes(&self) -> u64 {
        self.file_len - self.complete_len
    }
}

/// One checked line.
#[derive(Debug)]
pub struct Line<'a> {
    /// The file line number the record starts on (the header is line 1).
    pub number: u64,
    pub req_id: &'a str,
    pub status: Settled,
    pub payload_md5: [u8; 16],
    pub(super) fields: &'a [&'a [u8]; FIELDS],
}

/// Calls `visit` for every complete, valid line, in file order. An absent file is empty.
///
/// Ledger lines are almost never quoted (only a field holding `,`, `"` or a line break
/// is), so an unquoted line is split on commas directly — several times faster than a
/// general CSV parser on a ten-million-line ledger; a line with a quote, and the lines
/// its quoted fields continue onto, goes through the csv crate.
pub fn walk(path: &Path, mut visit: impl FnMut(Line<'_>)) -> Result<Shape, LedgerError> {
    let shown = path.display().to_string();
    let read_error = |source| LedgerError::Read {
        path: shown.clone(),
        error: source,
    };
    let Some(mut opened) = open(path)? else {
        return Ok(Shape::default());
    };
    let (file_len, complete_len) = (opened.file_len, opened.complete_len);
    let mut shape = Shape {
        has_header: false,
        lines: 0,
        complete_len,
        file_len,
        newline_missing: false,
    };
    if file_len == 0 {
        return Ok(shape);
    }
    let tail = read_tail(&mut opened.file, complete_len, file_len).map_err(read_error)?;
    opened.file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut lines = LineReader::new(
        BufReader::with_capacity(1 << 20, (&mut opened.file).take(complete_len)),
        &shown,
    );
    if complete_len == 0 {
        // One line and no line break: a ledger only if it is the header.
        check_header(&shown, tail.as_deref().unwrap_or_default())?;
        shape.has_header = true;
        shape.complete_len = file_len;
        shape.newline_missing = true;
        return Ok(shape);
    }
    lines.header()?;
    shape.has_header = true;
    while let Some((number, fields)) = lines.next()? {
        let (req_id, status, payload_md5) =
            check_fields(&fields).map_err(|reason| corrupt(&shown, number, reason))?;
        shape.lines += 1;
        visit(Line {
            number,
            req_id,
            status,
            payload_md5,
            fields: &fields,
        });
    }
    // A last line without its line break counts if it reads as a whole line.
    if let Some(tail) = tail
        && let Some(fields) = whole_line(&tail)
        && let Ok((req_id, status, payload_md5)) = check_fields(&fields)
    {
        shape.lines += 1;
        shape.complete_len = file_len;
        shape.newline_missing = true;
        visit(Line {
            number: lines.number() + 1,
            req_id,
            status,
            payload_md5,
            fields: &fields,
        });
    }
    Ok(shape)
}

/// The bytes after the last line break (`None` when there are none, or too many to
/// be one line).
fn read_tail(
    file: &mut File,
    complete_len: u64,
    file_len: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    let len = file_len - complete_len;
    if len == 0 || len > MAX_LINE_BYTES as u64 {
        return Ok(None);
    }
    let mut tail = vec![0; len as usize];
    file.seek(SeekFrom::Start(complete_len))?;
    file.read_exact(&mut tail)?;
    Ok(Some(tail))
}

/// A ledger file, open for reading.
pub(super) struct Opened {
    pub file: File,
    pub file_len: u64,
    /// Bytes up to the end of its last complete line.
    pub complete_len: u64,
}

/// Opens the ledger at `path`; `None` when there is none.
pub(super) fn open(path: &Path) -> Result<Option<Opened>, LedgerError> {
    let read_error = |error| LedgerError::Read {
        path: path.display().to_string(),
        error,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(LedgerError::NotAFile {
            path: path.display().to_string(),
        });
    }
    let file_len = meta.len();
    let complete_len = complete_length(&mut file, file_len).map_err(read_error)?;
    Ok(Some(Opened {
        file,
        file_len,
        complete_len,
    }))
}

/// The length up to and including the last `\n`.
fn complete_length(file: &mut File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(pos) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

impl<'a> Line<'a> {
    /// Whether a `--simulate` run wrote this line.
    pub fn simulated(&self) -> bool {
        self.fields[col::RUN_ID].starts_with(crate::ledger::SIMULATED_RUN_PREFIX.as_bytes())
    }

    /// The line's key in `latest_lines`: simulated lines are kept apart, so a
    /// rehearsal never hides a real outcome.
    pub fn key(&self) -> ReqKey {
        line_key(self.req_id, self.simulated())
    }

    /// The raw fields, in `HEADER` order.
    pub fn fields(&self) -> &[&'a [u8]; FIELDS] {
        self.fields
    }
}

/// The `latest_lines` key of a req_id, in the real or the simulated namespace.
pub fn line_key(req_id: &str, simulated: bool) -> ReqKey {
    if simulated {
        ReqKey::of(&format!(
            "{req_id}\0{}",
            crate::ledger::SIMULATED_RUN_PREFIX
        ))
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
            .fields()
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        visit(line.number, &fields);
    })
}

#[cfg(test)]
mod tests {
    use super::super::HEADER;
    use super::*;

    fn line(req_id: &str, status: &str, run_id: &str) -> String {
        format!(
            "{req_id},1,,{status},0000,,{},rid,1,2026-01-01T00:00:00.000+08:00,{run_id}\n",
            faster_hex::hex_string(&[1u8; 16])
        )
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let path = dir.path().join("ledger.csv");
        std::fs::write(&path, text).expect("write ledger");
        path
    }

    fn header() -> String {
        format!("{}\n", HEADER.join(","))
    }

    type Seen = Vec<(String, Settled, bool)>;

    fn statuses(path: &Path) -> Result<(Shape, Seen), LedgerError> {
        let mut seen = Vec::new();
        let shape = walk(path, |l| {
            seen.push((l.req_id.to_owned(), l.status, l.simulated()))
        })?;
        Ok((shape, seen))
    }

    #[test]
    fn a_missing_ledger_is_empty() {
        let dir = tempfile::tempdir().expect("dir");
        let (shape, seen) = statuses(&dir.path().join("none.csv")).expect("absent is fine");
        assert!(!shape.has_header && seen.is_empty());
    }

    #[test]
    fn lines_come_in_file_order_and_the_latest_key_wins() {
        let dir = tempfile::tempdir().expect("dir");
        let path = write(
            &dir,
            &(header()
                + &line("r1", "failed", "x")
                + &line("r1", "delivered", "y")
                + &line("r2", "rejected", "sim-z")),
        );
        let (shape, seen) = statuses(&path).expect("reads");
        assert_eq!(shape.lines, 3);
        assert_eq!(seen[1], ("r1".to_owned(), Settled::Delivered, false));
        assert_eq!(seen[2], ("r2".to_owned(), Settled::Rejected, true));
        let latest = latest_lines(&path).expect("reads");
        assert_eq!(latest.get(&ReqKey::of("r1")), Some(&3));
        assert_eq!(latest.get(&line_key("r2", true)), Some(&4));
        assert_eq!(
            latest.get(&ReqKey::of("r2")),
            None,
            "simulated lines live apart"
        );
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_measured() {
        let dir = tempfile::tempdir().expect("dir");
        let path = write(
            &dir,
            &(header() + &line("r1", "delivered", "x") + "r2,1,,deliv"),
        );
        let (shape, seen) = statuses(&path).expect("torn tail is not fatal");
        assert_eq!(
            (shape.lines, shape.file_len - shape.complete_len),
            (1, "r2,1,,deliv".len() as u64)
        );
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn a_file_whose_only_line_is_not_the_header_is_not_a_ledger() {
        let dir = tempfile::tempdir().expect("dir");
        for text in ["remember to call the bank", "req_id,ord", "notes\n"] {
            let err = statuses(&write(&dir, text)).expect_err("not a ledger");
            assert!(matches!(err, LedgerError::Header { .. }), "{text}: {err}");
        }
        let (shape, _) = statuses(&write(&dir, "")).expect("an empty file is a new ledger");
        assert!(!shape.has_header);
    }

    #[test]
    fn a_last_line_without_its_line_break_is_kept_when_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let whole = line("b", "delivered", "x");
        let text = header() + &line("a", "failed", "x") + whole.trim_end();
        let (shape, seen) = statuses(&write(&dir, &text)).expect("reads");
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0, "b");
        assert!(shape.newline_missing);
        assert_eq!(
            (shape.complete_len, shape.torn_bytes()),
            (text.len() as u64, 0)
        );
        let header_only = header();
        let (shape, seen) =
            statuses(&write(&dir, header_only.trim_end())).expect("a header without its break");
        assert!(shape.has_header && shape.newline_missing && seen.is_empty());
    }

    #[test]
    fn a_wrong_header_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let err = statuses(&write(&dir, "order_no,success,req_id\n1,true,a\n"))
            .expect_err("not a ledger");
        assert!(matches!(err, LedgerError::Header { .. }), "{err}");
    }

    #[test]
    fn a_damaged_line_in_the_middle_names_its_line() {
        let dir = tempfile::tempdir().expect("dir");
        let a = faster_hex::hex_string(&[1u8; 16]);
        for (bad, reason) in [
            (
                format!("r2,1,,shipped,0000,,{a},rid,1,t,x\n"),
                "unknown status",
            ),
            (
                "r2,1,,delivered,0000,,xyz,rid,1,t,x\n".to_owned(),
                "payload_md5",
            ),
            ("r2,1,delivered\n".to_owned(), "fields"),
        ] {
            let text =
                header() + &line("r1", "delivered", "x") + &bad + &line("r3", "delivered", "x");
            match statuses(&write(&dir, &text)) {
                Err(LedgerError::Corrupt {
                    line,
                    reason: found,
                    ..
                }) => {
                    assert_eq!(line, 3, "{found}");
                    assert!(found.contains(reason), "{found}");
                }
                other => panic!("expected a corrupt line error, got {other:?}"),
            }
        }
    }
}
