//! One input file: opened and checked (encoding, delimiter, header), then read as
//! many times as the plan asks, each CSV record turned into an order or the reasons
//! it is not one. A file that changes between passes is refused; standard input and
//! pipes are copied once to an unnamed temporary file, which no exit can leave behind.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::{FileExt as _, FileTypeExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::encoding::{self, Detected};
use super::header::ColumnMap;
use super::row::{Cells, Invalid, build_order};
use super::values::{self, RowError};
use super::{InputError, InputOptions, STDIN};
use crate::columns::RowText;
use crate::csvio::{Oversize, RawRecord, RecordReader};
use crate::order::Order;

/// The most bytes read from standard input or a pipe (a regular file may be larger).
pub const MAX_SPOOL_BYTES: u64 = 1 << 30;

/// One input file, checked and ready to be read.
#[derive(Debug)]
pub struct Source {
    /// As the user named it; `<stdin>` for `-`. Used in `source` and messages.
    pub name: String,
    origin: Origin,
    pub detected: Detected,
    pub delimiter: u8,
    columns: ColumnMap,
    header_len: usize,
}

/// Where a source's bytes are, to be read from the start for each pass.
#[derive(Debug)]
enum Origin {
    /// A regular file, reopened for each pass and refused if it changed.
    Path {
        path: PathBuf,
        fingerprint: (u64, Option<SystemTime>),
    },
    /// Standard input or a pipe, copied to an unnamed temporary file.
    Spool(Arc<File>),
}

/// A source's bytes from the start.
pub(super) struct Bytes(Box<dyn Read + Send>);

impl Read for Bytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bytes")
    }
}

/// The records of a source, after its header.
pub(super) type SourceRecords = RecordReader<BufReader<Bytes>>;

impl Origin {
    /// Where `path` (as given, `-` for stdin) can be read again and again.
    fn of(path: &Path) -> Result<(String, Origin), InputError> {
        if path.as_os_str() == "-" {
            let spool = spool(std::io::stdin().lock(), STDIN)?;
            return Ok((STDIN.to_owned(), spool));
        }
        let name = path.display().to_string();
        let open_error = |error| InputError::Open {
            name: name.clone(),
            error,
        };
        let meta = std::fs::metadata(path).map_err(open_error)?;
        let kind = meta.file_type();
        if kind.is_file() {
            let file = File::open(path).map_err(open_error)?;
            let fingerprint = fingerprint(&file).map_err(|error| InputError::Read {
                name: name.clone(),
                error,
            })?;
            let origin = Origin::Path {
                path: path.to_owned(),
                fingerprint,
            };
            return Ok((name, origin));
        }
        if kind.is_fifo() {
            let spool = spool(File::open(path).map_err(open_error)?, &name)?;
            return Ok((name, spool));
        }
        Err(InputError::NotAFile {
            name,
            kind: if kind.is_dir() {
                "a directory"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else {
                "not a regular file"
            },
        })
    }

    fn open(&self, name: &str) -> Result<Bytes, InputError> {
        match self {
            Origin::Path { path, fingerprint } => {
                let file = File::open(path).map_err(|error| InputError::Open {
                    name: name.to_owned(),
                    error,
                })?;
                let now = self::fingerprint(&file).map_err(|error| InputError::Read {
                    name: name.to_owned(),
                    error,
                })?;
                if now != *fingerprint {
                    return Err(InputError::Changed {
                        name: name.to_owned(),
                    });
                }
                Ok(Bytes(Box::new(file)))
            }
            Origin::Spool(file) => Ok(Bytes(Box::new(At {
                file: Arc::clone(file),
                at: 0,
            }))),
        }
    }
}

/// Copies `input` to an unnamed temporary file, at most `MAX_SPOOL_BYTES`.
fn spool(input: impl Read, name: &str) -> Result<Origin, InputError> {
    let read_error = |error| InputError::Read {
        name: name.to_owned(),
        error,
    };
    let mut file = tempfile::tempfile().map_err(read_error)?;
    let copied =
        std::io::copy(&mut input.take(MAX_SPOOL_BYTES + 1), &mut file).map_err(read_error)?;
    if copied > MAX_SPOOL_BYTES {
        return Err(InputError::TooLarge {
            name: name.to_owned(),
            limit: MAX_SPOOL_BYTES,
        });
    }
    Ok(Origin::Spool(Arc::new(file)))
}

/// Reads a shared file from its own position, so passes never disturb each other.
struct At {
    file: Arc<File>,
    at: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Source {
    pub(super) fn open(path: &Path, options: &InputOptions) -> Result<Self, InputError> {
        let (name, origin) = Origin::of(path)?;
        let read_error = |error| InputError::Read {
            name: name.clone(),
            error,
        };
        let detected = encoding::detect(&mut BufReader::new(origin.open(&name)?), options.encoding)
            .map_err(read_error)?
            .map_err(|source| InputError::Utf16 {
                name: name.clone(),
                error: source,
            })?;
        let mut first_line = Vec::new();
        after_bom(origin.open(&name)?, detected)
            .map_err(read_error)?
            .take(64 * 1024)
            .read_to_end(&mut first_line)
            .map_err(read_error)?;
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| sniff_delimiter(&first_line));
        let bytes = after_bom(origin.open(&name)?, detected).map_err(read_error)?;
        let mut reader = RecordReader::new(delimiter, BufReader::new(bytes));
        let mut raw = RawRecord::default();
        if !reader.read(&mut raw).map_err(read_error)?
            || (raw.len() == 1 && raw.get(0).is_some_and(<[u8]>::is_empty))
        {
            return Err(InputError::Empty { name });
        }
        if raw.oversize.is_some() {
            return Err(InputError::HeaderTooWide { name });
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
                crate::text::visible(&columns.unknown.join(", "))
            );
        }
        Ok(Source {
            name,
            origin,
            detected,
            delimiter,
            columns,
            header_len: headers.len(),
        })
    }

    /// A fresh pass over the records after the header.
    pub(super) fn records(&self) -> Result<SourceRecords, InputError> {
        let read_error = |error| InputError::Read {
            name: self.name.clone(),
            error,
        };
        let bytes = after_bom(self.origin.open(&self.name)?, self.detected).map_err(read_error)?;
        let mut reader =
            RecordReader::new(self.delimiter, BufReader::with_capacity(256 * 1024, bytes));
        reader.read(&mut RawRecord::default()).map_err(read_error)?;
        Ok(reader)
    }

    /// Turns one CSV record into a row.
    pub(super) fn row(&self, record: &RawRecord) -> Option<Result<Order, Box<Invalid>>> {
        let mut cells = Cells::default();
        let mut undecodable = Vec::new();
        let mut too_long = Vec::new();
        for (field, index) in self.columns.iter() {
            let mut bytes = record.get(index).unwrap_or_default();
            if bytes.len() > values::MAX_CELL_BYTES {
                too_long.push(field);
                bytes = &bytes[..values::MAX_CELL_BYTES];
            }
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
        if cells.is_blank() && undecodable.is_empty() && record.oversize.is_none() {
            return None;
        }
        let built = build_order(&cells);
        // A row refused for its encoding, size or shape shows its cells as found.
        let shown = |built: Result<Order, Box<Invalid>>| match built {
            Ok(order) => RowText::of_order(&order),
            Err(invalid) => invalid.fields,
        };
        if let Some(error) = oversize(record.oversize, &too_long) {
            return Some(Err(Box::new(Invalid {
                error,
                fields: shown(built),
            })));
        }
        if !undecodable.is_empty() {
            let names: Vec<&str> = undecodable.iter().map(|f| f.name()).collect();
            let error = RowError::new(
                values::code::BAD_ENCODING,
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
                values::code::FIELD_COUNT,
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

/// Why a row broke a size limit, if it did: the whole row, or some of its cells.
fn oversize(record: Option<Oversize>, cells: &[super::header::Field]) -> Option<RowError> {
    let kib = |bytes: usize| bytes / 1024;
    match record {
        Some(Oversize::Bytes) => Some(RowError::new(
            values::code::ROW_TOO_LONG,
            format!(
                "the row is longer than {} KiB; no callback row is that long — a quote is probably not closed, or the file is not an export",
                kib(crate::csvio::MAX_RECORD_BYTES)
            ),
        )),
        Some(Oversize::Fields) => Some(RowError::new(
            values::code::ROW_TOO_LONG,
            format!(
                "the row has more than {} fields; a delimiter is probably wrong",
                crate::csvio::MAX_FIELDS
            ),
        )),
        None if !cells.is_empty() => {
            let names: Vec<&str> = cells.iter().map(|f| f.name()).collect();
            Some(RowError::new(
                values::code::CELL_TOO_LONG,
                format!(
                    "{} is longer than {} KiB; only its start is shown",
                    names.join(", "),
                    kib(values::MAX_CELL_BYTES)
                ),
            ))
        }
        None => None,
    }
}

/// A source's bytes after the BOM `detected` found.
fn after_bom(mut bytes: Bytes, detected: Detected) -> std::io::Result<Bytes> {
    let mut bom = vec![0; detected.bom_len];
    bytes.read_exact(&mut bom)?;
    Ok(bytes)
}

/// A cell without the white space around it, still borrowed where it was.
fn cleaned(text: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(values::clean(text)),
        Cow::Owned(text) if values::clean(&text).len() == text.len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(values::clean(&text).to_owned()),
    }
}

/// Size and modification time: a file that changes between the plan's two passes
/// must not be sent.
fn fingerprint(file: &File) -> std::io::Result<(u64, Option<SystemTime>)> {
    let meta = file.metadata()?;
    Ok((meta.len(), meta.modified().ok()))
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
