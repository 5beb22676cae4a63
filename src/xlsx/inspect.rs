//! A workbook checked before calamine reads it, trusting nothing it declares: what kind
//! of file it really is (a password-protected workbook, an old `.xls`, a CSV named
//! `.xlsx`), which sheet is read (a hidden first sheet is not what the user sees),
//! how much every part actually inflates to (bounded per part and in all, whatever the
//! archive claims), how long one run of text between tags is (so no cell is larger than
//! Excel allows), and where the error cells (`t="e"`) of the sheet are, so that an error
//! code calamine does not know is still a cell with a place.

use std::fs::File;
use std::io::{BufReader, Read, Seek as _, SeekFrom};

use quick_xml::events::Event;

pub use super::error::{
    MAX_OTHER_PART_BYTES, MAX_SHARED_STRINGS_BYTES, MAX_TEXT_RUN, MAX_UNPACKED_BYTES, SheetError,
};

/// An error cell of the sheet (`#N/A`, `#SPILL!`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCell {
    /// The row Excel shows (1-based).
    pub row: u32,
    /// The column, from 0 for A.
    pub column: u32,
    pub code: String,
}

/// What the checks found: the sheet to read and its error cells, in document order.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub sheet: String,
    pub errors: Vec<ErrorCell>,
}

/// Checks the workbook in `file` and picks `sheet` (the first one when `None`); leaves
/// `file` at its start.
pub fn inspect(file: &mut File, sheet: Option<&str>) -> Result<Inspection, SheetError> {
    check_kind(file)?;
    let mut archive =
        zip::ZipArchive::new(&mut *file).map_err(|e| SheetError::NotAWorkbook(e.to_string()))?;
    let sheets = sheets(&mut archive)?;
    let chosen = choose(&sheets, sheet)?;
    let mut total = 0u64;
    let mut has_errors = false;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| SheetError::NotAWorkbook(e.to_string()))?;
        let name = entry.name().to_owned();
        let limit = limit_of(&name);
        let scan = scan(&mut entry, &name, limit, MAX_UNPACKED_BYTES - total)?;
        total += scan.bytes;
        if name == chosen.part {
            has_errors = scan.error_cells;
        }
    }
    let errors = if has_errors {
        let entry = archive
            .by_name(&chosen.part)
            .map_err(|e| SheetError::NotAWorkbook(e.to_string()))?;
        error_cells(entry)?
    } else {
        Vec::new()
    };
    drop(archive);
    file.seek(SeekFrom::Start(0))
        .map_err(|e| SheetError::Read(e.to_string()))?;
    Ok(Inspection {
        sheet: chosen.name.clone(),
        errors,
    })
}

/// A workbook is a zip archive; say what the file is when it is not one.
fn check_kind(file: &mut File) -> Result<(), SheetError> {
    let mut head = Vec::with_capacity(4096);
    (&mut *file)
        .take(4096)
        .read_to_end(&mut head)
        .map_err(|e| SheetError::Read(e.to_string()))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| SheetError::Read(e.to_string()))?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(());
    }
    const COMPOUND: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    if head.starts_with(COMPOUND) {
        // A password-protected .xlsx is a compound file holding an "EncryptionInfo"
        // stream; an old .xls is one too, without it.
        let mut rest = Vec::new();
        (&mut *file)
            .take(1 << 20)
            .read_to_end(&mut rest)
            .map_err(|e| SheetError::Read(e.to_string()))?;
        let marker: Vec<u8> = "EncryptionInfo"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        return Err(if memchr::memmem::find(&rest, &marker).is_some() {
            SheetError::Encrypted
        } else {
            SheetError::OldXls
        });
    }
    if !head.is_empty() && !head.contains(&0) {
        return Err(SheetError::Text);
    }
    Err(SheetError::NotAWorkbook(
        "it is not a zip archive, which every .xlsx workbook is".into(),
    ))
}

/// A sheet as the workbook lists it.
#[derive(Debug, Clone)]
struct SheetEntry {
    name: String,
    /// Its part in the archive, e.g. `xl/worksheets/sheet1.xml`.
    part: String,
    hidden: bool,
}

fn choose<'s>(
    sheets: &'s [SheetEntry],
    wanted: Option<&str>,
) -> Result<&'s SheetEntry, SheetError> {
    let names = || {
        sheets
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(wanted) => {
            sheets
                .iter()
                .find(|s| s.name == wanted)
                .ok_or_else(|| SheetError::NoSheet {
                    wanted: wanted.to_owned(),
                    found: names(),
                })
        }
        None => {
            let first = sheets.first().ok_or(SheetError::Empty)?;
            if first.hidden {
                let visible: Vec<&str> = sheets
                    .iter()
                    .filter(|s| !s.hidden)
                    .map(|s| s.name.as_str())
                    .collect();
                return Err(SheetError::HiddenFirst {
                    name: first.name.clone(),
                    visible: visible.join(", "),
                });
            }
            Ok(first)
        }
    }
}

/// The sheets of `xl/workbook.xml`, with their parts from its relationships.
fn sheets<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
) -> Result<Vec<SheetEntry>, SheetError> {
    let workbook = small_part(archive, "xl/workbook.xml")?;
    let rels = small_part(archive, "xl/_rels/workbook.xml.rels")?;
    let mut targets = Vec::new();
    for_each_element(&rels, b"Relationship", |attr| {
        if let (Some(id), Some(target)) = (attr(b"Id"), attr(b"Target")) {
            targets.push((id, target));
        }
    })?;
    let mut sheets = Vec::new();
    for_each_element(&workbook, b"sheet", |attr| {
        let (Some(name), Some(id)) = (attr(b"name"), attr(b"r:id").or_else(|| attr(b"id"))) else {
            return;
        };
        let Some((_, target)) = targets.iter().find(|(rid, _)| *rid == id) else {
            return;
        };
        let part = match target.strip_prefix('/') {
            Some(absolute) => absolute.to_owned(),
            None => format!("xl/{target}"),
        };
        let hidden = attr(b"state").is_some_and(|s| s != "visible");
        sheets.push(SheetEntry { name, part, hidden });
    })?;
    Ok(sheets)
}

/// A small part read whole (within `MAX_OTHER_PART_BYTES`).
fn small_part<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>, SheetError> {
    let entry = archive
        .by_name(name)
        .map_err(|_| SheetError::NotAWorkbook(format!("it has no {name}")))?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_OTHER_PART_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SheetError::NotAWorkbook(format!("{name}: {e}")))?;
    if bytes.len() as u64 > MAX_OTHER_PART_BYTES {
        return Err(SheetError::TooLarge);
    }
    Ok(bytes)
}

/// Calls `found` with an attribute getter for every element named `local` in `xml`.
fn for_each_element(
    xml: &[u8],
    local: &[u8],
    mut found: impl FnMut(&dyn Fn(&[u8]) -> Option<String>),
) -> Result<(), SheetError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == local => {
                let attr = |name: &[u8]| {
                    e.attributes().flatten().find_map(|a| {
                        (a.key.as_ref() == name || a.key.local_name().as_ref() == name)
                            .then(|| String::from_utf8_lossy(&a.value).into_owned())
                    })
                };
                found(&attr);
            }
            Ok(Event::Eof) => return Ok(()),
            Err(e) => return Err(SheetError::NotAWorkbook(e.to_string())),
            _ => {}
        }
        buf.clear();
    }
}

/// The most the part `name` may inflate to.
fn limit_of(name: &str) -> u64 {
    if name.starts_with("xl/worksheets/") {
        MAX_UNPACKED_BYTES
    } else if name == "xl/sharedStrings.xml" {
        MAX_SHARED_STRINGS_BYTES
    } else {
        MAX_OTHER_PART_BYTES
    }
}

/// What inflating one part found.
struct Scanned {
    bytes: u64,
    /// It has `t="e"` cells.
    error_cells: bool,
}

/// Inflates `part` to its end, counting what it really yields (never more than `limit`
/// or `left`), checking the longest run of text and looking for error cells.
fn scan(part: &mut impl Read, name: &str, limit: u64, left: u64) -> Result<Scanned, SheetError> {
    const NEEDLE: &[u8] = b"t=\"e\"";
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut bytes, mut run, mut error_cells) = (0u64, 0u64, false);
    // The end of the previous chunk, so a needle across two chunks is found.
    let mut carry = Vec::with_capacity(NEEDLE.len() * 2);
    loop {
        let n = part
            .read(&mut chunk)
            .map_err(|e| SheetError::NotAWorkbook(format!("{name}: {e}")))?;
        if n == 0 {
            return Ok(Scanned { bytes, error_cells });
        }
        bytes += n as u64;
        if bytes > limit || bytes > left {
            return Err(SheetError::TooLarge);
        }
        let data = &chunk[..n];
        let mut start = 0;
        for at in memchr::memchr_iter(b'<', data) {
            run += (at - start) as u64;
            if run > MAX_TEXT_RUN {
                return Err(SheetError::TextTooLong {
                    part: name.to_owned(),
                });
            }
            run = 0;
            start = at + 1;
        }
        run += (n - start) as u64;
        if run > MAX_TEXT_RUN {
            return Err(SheetError::TextTooLong {
                part: name.to_owned(),
            });
        }
        if !error_cells {
            carry.extend_from_slice(&data[..data.len().min(NEEDLE.len())]);
            error_cells = memchr::memmem::find(&carry, NEEDLE).is_some()
                || memchr::memmem::find(data, NEEDLE).is_some();
            carry.clear();
            carry.extend_from_slice(&data[data.len().saturating_sub(NEEDLE.len())..]);
        }
    }
}

/// The error cells of a sheet part, in document order.
fn error_cells(part: impl Read) -> Result<Vec<ErrorCell>, SheetError> {
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(part));
    let (mut buf, mut found) = (Vec::new(), Vec::new());
    let (mut row, mut column) = (0u32, 0u32);
    // The error cell being read: its place, and whether its <v> is open.
    let mut cell: Option<(u32, u32)> = None;
    let mut in_value = false;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"row" => {
                if let Some(r) = attribute(&e, b"r").and_then(|r| r.parse::<u32>().ok()) {
                    row = r;
                } else {
                    row += 1;
                }
                column = 0;
            }
            Ok(Event::Empty(e)) if e.local_name().as_ref() == b"c" => {
                // A cell without a value: only its place counts.
                column = place_of(&e, row, column).1 + 1;
                cell = None;
            }
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"c" => {
                let place = place_of(&e, row, column);
                column = place.1 + 1;
                let is_error = attribute(&e, b"t").as_deref() == Some("e");
                cell = is_error.then_some(place);
            }
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"v" => in_value = cell.is_some(),
            Ok(Event::Text(text)) if in_value => {
                if let Some((row, column)) = cell.take() {
                    let code = String::from_utf8_lossy(&text).trim().to_owned();
                    found.push(ErrorCell { row, column, code });
                }
                in_value = false;
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == b"c" => {
                cell = None;
                in_value = false;
            }
            Ok(Event::Eof) => return Ok(found),
            Err(e) => return Err(SheetError::NotAWorkbook(e.to_string())),
            _ => {}
        }
        buf.clear();
    }
}

/// A cell's place: its `r` attribute, or the next one in its row.
fn place_of(e: &quick_xml::events::BytesStart<'_>, row: u32, column: u32) -> (u32, u32) {
    attribute(e, b"r")
        .and_then(|r| cell_place(&r))
        .unwrap_or((row, column))
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// `B12` as (row 12, column 1).
fn cell_place(reference: &str) -> Option<(u32, u32)> {
    let letters = reference
        .bytes()
        .take_while(u8::is_ascii_alphabetic)
        .count();
    if letters == 0 || letters > 3 {
        return None;
    }
    let column = reference[..letters].bytes().fold(0u32, |n, b| {
        n * 26 + u32::from(b.to_ascii_uppercase() - b'A' + 1)
    }) - 1;
    let row = reference[letters..].parse().ok()?;
    Some((row, column))
}

/// Column `index` (from 0) as Excel names it: 0 → A, 26 → AA.
pub fn column_name(index: u32) -> String {
    let mut n = index + 1;
    let mut name = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        name.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII letters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_and_column_names_round_trip() {
        assert_eq!(cell_place("B12"), Some((12, 1)));
        assert_eq!(cell_place("AA3"), Some((3, 26)));
        assert_eq!(cell_place("12"), None);
        for (index, name) in [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA")] {
            assert_eq!(column_name(index), name);
        }
    }

    #[test]
    fn a_text_run_longer_than_any_cell_is_refused() {
        let mut xml = b"<c><v>".to_vec();
        xml.extend(std::iter::repeat_n(b'x', MAX_TEXT_RUN as usize + 1));
        let err = scan(
            &mut xml.as_slice(),
            "xl/sharedStrings.xml",
            u64::MAX,
            u64::MAX,
        )
        .err()
        .expect("too long");
        assert!(matches!(err, SheetError::TextTooLong { .. }));
        let fine = b"<c r=\"A1\" t=\"e\"><v>#N/A</v></c>";
        let scanned = scan(&mut fine.as_slice(), "x", u64::MAX, u64::MAX).expect("fine");
        assert!(scanned.error_cells);
        assert_eq!(scanned.bytes, fine.len() as u64);
    }

    #[test]
    fn what_a_part_inflates_to_is_bounded_whatever_it_declares() {
        let big = vec![b' '; 5000];
        assert!(matches!(
            scan(&mut big.as_slice(), "x", 4096, u64::MAX),
            Err(SheetError::TooLarge)
        ));
        assert!(matches!(
            scan(&mut big.as_slice(), "x", u64::MAX, 100),
            Err(SheetError::TooLarge)
        ));
    }

    #[test]
    fn error_cells_are_found_with_their_places() {
        let xml = br#"<worksheet><sheetData><row r="2"><c r="A2" t="s"><v>0</v></c><c r="C2" t="e"><f>X()</f><v>#SPILL!</v></c></row><row><c t="e"><v>#N/A</v></c></row></sheetData></worksheet>"#;
        let found = error_cells(xml.as_slice()).expect("parses");
        assert_eq!(
            found,
            [
                ErrorCell {
                    row: 2,
                    column: 2,
                    code: "#SPILL!".into()
                },
                ErrorCell {
                    row: 3,
                    column: 0,
                    code: "#N/A".into()
                },
            ]
        );
    }
}
