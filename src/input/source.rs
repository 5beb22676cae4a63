//! One input file: opened and checked (encoding, delimiter, header), then read as
//! many times as the plan asks, each CSV record turned into an order or the reasons
//! it is not one. A file that changes between passes is refused.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::cursor::LineCounter;
use super::encoding::{self, Detected};
use super::header::ColumnMap;
use super::row::{Cells, Invalid, build_order};
use super::values::{self, RowError};
use super::{InputError, InputOptions, STDIN};
use crate::columns::RowText;
use crate::order::Order;

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

impl Source {
    pub(super) fn open(path: &Path, options: &InputOptions) -> Result<Self, InputError> {
        let (name, path, spool) = if path.as_os_str() == "-" {
            let spool = spool_stdin().map_err(|error| InputError::Read {
                name: STDIN.into(),
                error,
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
            .map_err(|e| InputError::csv(&name, e))?
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

    pub(super) fn line_counter(&self) -> Result<LineCounter, InputError> {
        let file = File::open(&self.path).map_err(|source| InputError::Open {
            name: self.name.clone(),
            error: source,
        })?;
        LineCounter::new(file, self.detected.bom_len as u64).map_err(|source| InputError::Read {
            name: self.name.clone(),
            error: source,
        })
    }

    pub(super) fn reader(&self) -> Result<csv::Reader<BufReader<File>>, InputError> {
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
            .map_err(|e| InputError::csv(&self.name, e))?;
        Ok(reader)
    }

    /// Turns one CSV record into a row.
    pub(super) fn row(&self, record: &csv::ByteRecord) -> Option<Result<Order, Box<Invalid>>> {
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
            Ok(order) => RowText::of_order(&order),
            Err(invalid) => invalid.fields,
        };
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

/// Standard input, copied to a temporary file so it can be read twice.
fn spool_stdin() -> std::io::Result<tempfile::NamedTempFile> {
    let mut spool = tempfile::NamedTempFile::new()?;
    std::io::copy(&mut std::io::stdin().lock(), spool.as_file_mut())?;
    Ok(spool)
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
