//! Walking a ledger's complete lines, checked: the one reader behind the dedup index,
//! `report` and `ledger compact`. A torn last line is left out; a wrong header or a
//! damaged line stops the walk with the line's number.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::path::Path;

use super::index::{KeyMap, ReqKey, check_fields, complete_length, corrupt_or_read};
use super::{HEADER, LedgerError, Settled, col};

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
    fields: &'a [&'a [u8]; FIELDS],
}

const FIELDS: usize = HEADER.len();

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
    let mut reader = BufReader::with_capacity(1 << 20, file.take(complete_len));
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    reader.read_until(b'\n', &mut buf).map_err(read_error)?;
    if trim_end(&buf) != HEADER.join(",").as_bytes() {
        return Err(LedgerError::Header {
            path: shown,
            found: String::from_utf8_lossy(trim_end(&buf))
                .chars()
                .take(200)
                .collect(),
        });
    }
    shape.has_header = true;
    let mut number = 1u64;
    let mut record = csv::ByteRecord::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(read_error)? == 0 {
            break;
        }
        number += 1;
        let start = number;
        if trim_end(&buf).is_empty() {
            continue;
        }
        let corrupt = |reason: String| LedgerError::Corrupt {
            path: shown.clone(),
            line: start,
            reason,
        };
        let mut quick: [&[u8]; FIELDS] = [&[]; FIELDS];
        let split = split_fields(trim_end(&buf), &mut quick).map_err(corrupt)?;
        let fields = if split == Split::Done {
            quick
        } else {
            // Quoted fields may hold line breaks: take lines until the quotes balance.
            while memchr::memchr_iter(b'"', &buf).count() % 2 == 1 {
                if reader.read_until(b'\n', &mut buf).map_err(read_error)? == 0 {
                    break;
                }
                number += 1;
            }
            let mut parser = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&buf[..]);
            match parser.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => return Err(corrupt("an empty record".into())),
                Err(e) => return Err(corrupt_or_read(&shown, start, e)),
            }
            if record.len() != FIELDS {
                return Err(corrupt(format!(
                    "{} fields instead of {FIELDS}",
                    record.len()
                )));
            }
            let mut parsed: [&[u8]; FIELDS] = [&[]; FIELDS];
            for (slot, field) in parsed.iter_mut().zip(record.iter()) {
                *slot = field;
            }
            parsed
        };
        let (req_id, status, payload_md5) = check_fields(&fields).map_err(corrupt)?;
        shape.lines += 1;
        visit(Line {
            number: start,
            req_id,
            status,
            payload_md5,
            fields: &fields,
        });
    }
    Ok(shape)
}

/// What a part of a parallel walk found.
enum PartWalk<T> {
    Done {
        lines: u64,
        found: Vec<T>,
    },
    /// A quote or a damaged line: only the sequential walk may judge it.
    GiveUp,
}

/// Ledgers smaller than this are walked on one thread.
const PARALLEL_MIN_BYTES: u64 = 64 << 20;

/// `walk` on `threads` threads, each over a part of the file split at line breaks:
/// `pick` sees every line of its part in order and keeps what it returns, and the
/// parts come back in file order. `Line::number` is 0 here. Returns `None` — and the
/// caller walks sequentially, which reports exact line numbers — when the ledger is
/// small, has a quoted field (which may hold a line break at a split point), or has a
/// damaged line.
pub fn walk_parallel<T: Send>(
    path: &Path,
    threads: usize,
    pick: impl Fn(&Line<'_>) -> Option<T> + Sync,
) -> Result<Option<Parts<T>>, LedgerError> {
    walk_parallel_from(path, threads, PARALLEL_MIN_BYTES, pick)
}

/// The shape of the ledger and what each part picked, in file order.
pub type Parts<T> = (Shape, Vec<Vec<T>>);

fn walk_parallel_from<T: Send>(
    path: &Path,
    threads: usize,
    min_bytes: u64,
    pick: impl Fn(&Line<'_>) -> Option<T> + Sync,
) -> Result<Option<Parts<T>>, LedgerError> {
    let shown = path.display().to_string();
    let read_error = |source| LedgerError::Read {
        path: shown.clone(),
        error: source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let file_len = file.metadata().map_err(read_error)?.len();
    let complete_len = complete_length(&mut file, file_len).map_err(read_error)?;
    if threads < 2 || complete_len < min_bytes {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut reader = BufReader::new(&mut file);
    let mut header = Vec::new();
    reader.read_until(b'\n', &mut header).map_err(read_error)?;
    if trim_end(&header) != HEADER.join(",").as_bytes() {
        return Ok(None);
    }
    // Part boundaries: just after the first line break past each even split.
    let body = header.len() as u64;
    let mut bounds = vec![body];
    for k in 1..threads as u64 {
        let guess = body + (complete_len - body) * k / threads as u64;
        let mut reader = BufReader::new(File::open(path).map_err(read_error)?);
        reader.seek(SeekFrom::Start(guess)).map_err(read_error)?;
        let mut skipped = Vec::new();
        let at = guess + reader.read_until(b'\n', &mut skipped).map_err(read_error)? as u64;
        bounds.push(at.min(complete_len).max(*bounds.last().unwrap_or(&body)));
    }
    bounds.push(complete_len);
    let parts: Vec<Result<PartWalk<T>, std::io::Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|span| {
                let (from, to) = (span[0], span[1]);
                let pick = &pick;
                scope.spawn(move || walk_part(path, from, to, pick))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(PartWalk::GiveUp)))
            .collect()
    });
    let mut lines = 0;
    let mut found = Vec::with_capacity(parts.len());
    for part in parts {
        match part.map_err(read_error)? {
            PartWalk::Done { lines: n, found: f } => {
                lines += n;
                found.push(f);
            }
            PartWalk::GiveUp => return Ok(None),
        }
    }
    Ok(Some((
        Shape {
            has_header: true,
            lines,
            complete_len,
            file_len,
        },
        found,
    )))
}

fn walk_part<T>(
    path: &Path,
    from: u64,
    to: u64,
    pick: &(impl Fn(&Line<'_>) -> Option<T> + Sync),
) -> std::io::Result<PartWalk<T>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(to - from));
    let mut buf = Vec::with_capacity(1024);
    let (mut lines, mut found) = (0, Vec::new());
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(PartWalk::Done { lines, found });
        }
        let text = trim_end(&buf);
        if text.is_empty() {
            continue;
        }
        let mut fields: [&[u8]; FIELDS] = [&[]; FIELDS];
        if !matches!(split_fields(text, &mut fields), Ok(Split::Done)) {
            return Ok(PartWalk::GiveUp);
        }
        let Ok((req_id, status, payload_md5)) = check_fields(&fields) else {
            return Ok(PartWalk::GiveUp);
        };
        lines += 1;
        if let Some(kept) = pick(&Line {
            number: 0,
            req_id,
            status,
            payload_md5,
            fields: &fields,
        }) {
            found.push(kept);
        }
    }
}

/// A line without its line break.
fn trim_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[derive(Debug, PartialEq, Eq)]
enum Split {
    Done,
    /// The line has a quote: it needs a CSV parser.
    Quoted,
}

/// Splits an unquoted line on commas into exactly `FIELDS` fields, in one pass that
/// also notices a quote.
fn split_fields<'a>(line: &'a [u8], fields: &mut [&'a [u8]; FIELDS]) -> Result<Split, String> {
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

impl<'a> Line<'a> {
    /// Whether a `--simulate` run wrote this line.
    pub fn simulated(&self) -> bool {
        self.fields[col::RUN_ID].starts_with(super::SIMULATED_RUN_PREFIX.as_bytes())
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
            .fields()
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        visit(line.number, &fields);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(req_id: &str, status: &str, run_id: &str) -> String {
        format!(
            "{req_id},1,,{status},0000,,{},rid,1,2026-01-01T00:00:00.000+08:00,{run_id}\n",
            hex::encode([1u8; 16])
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
    fn a_parallel_walk_picks_what_the_sequential_walk_sees_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let mut text = header();
        for i in 0..5000 {
            text.push_str(&line(
                &format!("r{i}"),
                if i % 3 == 0 { "failed" } else { "delivered" },
                "x",
            ));
            if i % 97 == 0 {
                text.push('\n');
            }
        }
        let path = write(&dir, &text);
        let (shape, seen) = statuses(&path).expect("sequential");
        let expected: Vec<(String, Settled)> = seen.into_iter().map(|(r, s, _)| (r, s)).collect();
        for threads in [2, 3, 7] {
            let (parallel_shape, parts) =
                walk_parallel_from(&path, threads, 0, |l| Some((l.req_id.to_owned(), l.status)))
                    .expect("reads")
                    .expect("no quotes: parallel");
            assert_eq!(parallel_shape, shape, "{threads} threads");
            assert_eq!(
                parts.into_iter().flatten().collect::<Vec<_>>(),
                expected,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn a_parallel_walk_leaves_quotes_and_damage_to_the_sequential_walk() {
        let dir = tempfile::tempdir().expect("dir");
        let quoted = header()
            + &line("a", "delivered", "x")
            + &line("\"b,c\"", "delivered", "x")
            + &line("d", "delivered", "x");
        let path = write(&dir, &quoted);
        assert!(
            walk_parallel_from(&path, 2, 0, |_| Some(()))
                .expect("reads")
                .is_none()
        );
        assert_eq!(
            statuses(&path).expect("sequential reads quotes").1[1].0,
            "b,c"
        );
        let damaged = header()
            + &line("a", "delivered", "x")
            + "b,1,,shipped\n"
            + &line("d", "delivered", "x");
        let path = write(&dir, &damaged);
        assert!(
            walk_parallel_from(&path, 2, 0, |_| Some(()))
                .expect("reads")
                .is_none()
        );
        assert!(matches!(
            statuses(&path),
            Err(LedgerError::Corrupt { line: 3, .. })
        ));
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
    fn a_torn_header_means_a_new_ledger() {
        let dir = tempfile::tempdir().expect("dir");
        let (shape, _) = statuses(&write(&dir, "req_id,ord")).expect("reads");
        assert!(!shape.has_header);
        assert_eq!(shape.complete_len, 0);
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
        let a = hex::encode([1u8; 16]);
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
