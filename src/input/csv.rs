//! CSV exports: the encoding and the delimiter of a file found once (from its start),
//! then each record's cells decoded, trimmed and checked into an order — a cell in
//! the wrong encoding, a row of the wrong width or past the size limits is a row-level
//! refusal, never the end of the run.

use std::io::{BufReader, Read};

use super::encoding::{self, Detected};
use super::header::ColumnMap;
use super::origin::{Bytes, Origin};
use super::row::{Invalid, ReadRecord};
use super::values::{self, RowError};
use super::{InputError, InputOptions};
use crate::csvio::{RawRecord, RecordReader};
use crate::order::Order;

/// How a CSV file is read.
#[derive(Debug, Clone, Copy)]
pub struct CsvFormat {
    pub detected: Detected,
    pub delimiter: u8,
    header_len: usize,
}

/// The records of a CSV source, after its header.
pub type CsvRecords = RecordReader<BufReader<Bytes>>;

impl CsvFormat {
    /// Finds the encoding and the delimiter and reads the header line.
    pub(super) fn open(
        origin: &Origin,
        name: &str,
        options: &InputOptions,
    ) -> Result<(CsvFormat, Vec<String>), InputError> {
        let read_error = |error| InputError::Read {
            name: name.to_owned(),
            error,
        };
        let mut magic = Vec::with_capacity(8);
        origin
            .open(name)?
            .take(8)
            .read_to_end(&mut magic)
            .map_err(read_error)?;
        if let Some(what) = not_text(&magic) {
            return Err(InputError::Csv {
                name: name.to_owned(),
                message: what.to_owned(),
            });
        }
        let detected = encoding::detect(&mut BufReader::new(origin.open(name)?), options.encoding)
            .map_err(read_error)?
            .map_err(|source| InputError::Utf16 {
                name: name.to_owned(),
                error: source,
            })?;
        let mut first_line = Vec::new();
        after_bom(origin.open(name)?, detected)
            .map_err(read_error)?
            .take(64 * 1024)
            .read_to_end(&mut first_line)
            .map_err(read_error)?;
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| sniff_delimiter(&first_line));
        let bytes = after_bom(origin.open(name)?, detected).map_err(read_error)?;
        let mut reader = RecordReader::new(delimiter, BufReader::new(bytes));
        let mut raw = RawRecord::default();
        if !reader.read(&mut raw).map_err(read_error)?
            || (raw.len() == 1 && raw.get(0).is_some_and(<[u8]>::is_empty))
        {
            return Err(InputError::Empty {
                name: name.to_owned(),
            });
        }
        if raw.oversize.is_some() {
            return Err(InputError::HeaderTooWide {
                name: name.to_owned(),
            });
        }
        let headers = raw
            .iter()
            .map(|cell| encoding::decode(detected, cell).map(|c| c.into_owned()))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| InputError::HeaderEncoding {
                name: name.to_owned(),
                encoding: detected.encoding,
            })?;
        let format = CsvFormat {
            detected,
            delimiter,
            header_len: headers.len(),
        };
        Ok((format, headers))
    }

    /// A fresh pass over the records after the header.
    pub(super) fn records(&self, origin: &Origin, name: &str) -> Result<CsvRecords, InputError> {
        let read_error = |error| InputError::Read {
            name: name.to_owned(),
            error,
        };
        let bytes = after_bom(origin.open(name)?, self.detected).map_err(read_error)?;
        let mut reader =
            RecordReader::new(self.delimiter, BufReader::with_capacity(256 * 1024, bytes));
        reader.read(&mut RawRecord::default()).map_err(read_error)?;
        Ok(reader)
    }

    /// Turns one record into a row; `None` for a blank one.
    pub(super) fn row(
        &self,
        columns: &ColumnMap,
        record: &RawRecord,
    ) -> Option<Result<Order, Box<Invalid>>> {
        let mut read = ReadRecord {
            oversize: record.oversize,
            ..ReadRecord::default()
        };
        let mut undecodable = Vec::new();
        for (field, index) in columns.iter() {
            let mut bytes = record.get(index).unwrap_or_default();
            if bytes.len() > values::MAX_CELL_BYTES {
                read.too_long.push(field);
                bytes = &bytes[..values::MAX_CELL_BYTES];
            }
            let text = match encoding::decode(self.detected, bytes) {
                Some(text) => text,
                None => {
                    undecodable.push(field.name());
                    // Shown in the result file: likely the text as the other encoding reads it.
                    encoding::decode_for_display(self.detected.encoding, bytes)
                }
            };
            read.cells.set(field, values::clean_cow(text));
        }
        if !undecodable.is_empty() {
            read.unreadable = Some(RowError::new(
                values::code::BAD_ENCODING,
                format!(
                    "{} contains bytes that are not valid {} (the encoding of this file); re-save the export in one encoding, or pass --encoding",
                    undecodable.join(", "),
                    self.detected.encoding
                ),
            ));
        }
        let extra_filled = record
            .iter()
            .skip(self.header_len)
            .any(|cell| !cell.iter().all(u8::is_ascii_whitespace));
        if record.len() < self.header_len || extra_filled {
            read.shape = Some(format!(
                "the row has {} fields but the header has {}: a delimiter is missing or extra, or a quote is not closed",
                record.len(),
                self.header_len
            ));
        }
        read.finish()
    }
}

/// A source's bytes after the BOM `detected` found.
fn after_bom(mut bytes: Bytes, detected: Detected) -> std::io::Result<Bytes> {
    let mut bom = vec![0; detected.bom_len];
    bytes.read_exact(&mut bom)?;
    Ok(bytes)
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

/// What a file that is not text at all is, by its first bytes.
fn not_text(magic: &[u8]) -> Option<&'static str> {
    if magic.starts_with(b"PK\x03\x04") {
        Some(
            "it is a zip archive, not CSV text (an Excel workbook named otherwise?): if it is a workbook, rename it to .xlsx",
        )
    } else if magic.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        Some(
            "it is an Excel file (.xls, or a password-protected workbook), not CSV text: save it from Excel as .xlsx or as CSV",
        )
    } else {
        None
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
