//! Workbook exports (`.xlsx`, SPEC.md "Workbooks"): a sheet read cell by cell, each
//! cell taken for what Excel holds in it. Text is taken as it is; a number is an order
//! number (or a req_id) only when it holds that number exactly — Excel keeps 15
//! significant digits, so a 19-digit order number stored as a number is refused, never
//! guessed; booleans are `success` values, date-times first-charge times (Beijing time),
//! and a number amount is kept to the cent without float noise. Then the row is
//! checked like any other (`row::build_order`).

use std::borrow::Cow;

use super::header::{ColumnMap, Field};
use super::origin::Origin;
use super::row::{Invalid, ReadRecord};
use super::values::{self, RowError};
use super::{InputError, InputOptions};
use crate::csvio::Oversize;
use crate::order::Order;
use crate::xlsx::column_name;
use crate::xlsx::read::{Cell, Inspection, SheetRow, SheetRows, inspect};

/// Numbers from this one on may have lost digits in Excel (15 significant digits).
const EXACT_BELOW: f64 = 1e15;

/// How a workbook is read.
#[derive(Debug, Clone)]
pub struct WorkbookFormat {
    /// The checks made when it was first opened: the file cannot change since
    /// (`Origin` refuses one that did), so each pass reuses them.
    inspection: Inspection,
    /// The sheet row of the header: the first row with a value.
    header_row: u32,
    header_len: usize,
}

impl WorkbookFormat {
    /// Opens the sheet and reads its header row.
    pub(super) fn open(
        origin: &Origin,
        name: &str,
        options: &InputOptions,
    ) -> Result<(WorkbookFormat, Vec<String>), InputError> {
        let mut file = origin.open_file(name)?;
        let inspection =
            inspect(&mut file, options.sheet.as_deref()).map_err(|e| workbook_error(name, &e))?;
        let mut rows = SheetRows::open_inspected(file, &inspection)
            .map_err(|error| workbook_error(name, &error))?;
        let header = rows
            .next_row()
            .map_err(|error| workbook_error(name, &error))?
            .ok_or_else(|| InputError::Empty {
                name: name.to_owned(),
            })?;
        if header.too_wide {
            return Err(InputError::HeaderTooWide {
                name: name.to_owned(),
            });
        }
        let headers: Vec<String> = header.cells.iter().map(|c| shown(c).into_owned()).collect();
        let format = WorkbookFormat {
            inspection,
            header_row: header.number,
            header_len: headers.len(),
        };
        Ok((format, headers))
    }

    /// A fresh pass over the rows after the header.
    pub(super) fn records(&self, origin: &Origin, name: &str) -> Result<SheetRows, InputError> {
        let file = origin.open_file(name)?;
        let mut rows = SheetRows::open_inspected(file, &self.inspection)
            .map_err(|error| workbook_error(name, &error))?;
        // The header is the first row with a value: skip it.
        let header = rows
            .next_row()
            .map_err(|error| workbook_error(name, &error))?;
        if header.is_some_and(|h| h.number != self.header_row) {
            return Err(InputError::Changed {
                name: name.to_owned(),
            });
        }
        Ok(rows)
    }

    /// The columns of the header row, for the records to carry.
    pub(super) fn header_len(&self) -> usize {
        self.header_len
    }
}

/// One sheet row as a row, or every reason it is not one: each used cell taken for
/// what it holds (`as_text`), then `ReadRecord::finish` as for any record.
pub(super) fn row_of(
    columns: &ColumnMap,
    row: &SheetRow,
    header_len: usize,
) -> Option<Result<Order, Box<Invalid>>> {
    let mut read = ReadRecord {
        oversize: row.too_wide.then_some(Oversize::Fields),
        ..ReadRecord::default()
    };
    let mut typed_errors = Vec::new();
    for (field, index) in columns.iter() {
        let cell = row.get(index);
        let place = || format!("{}{}", column_name(index as u32), row.number);
        let text = match as_text(field, cell, place) {
            Ok(text) => text,
            Err(error) => {
                typed_errors.push(error);
                shown(cell)
            }
        };
        let text = if text.len() > values::MAX_CELL_BYTES {
            read.too_long.push(field);
            let mut end = values::MAX_CELL_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Cow::Owned(text[..end].to_owned())
        } else {
            text
        };
        read.cells.set(field, values::clean_cow(text));
    }
    read.unreadable = first_of(typed_errors);
    if row.cells.iter().skip(header_len).any(|c| !c.is_empty()) {
        read.shape = Some(format!(
            "the row has a value past the last titled column ({header_len} columns): give the column a title, or remove the value"
        ));
    }
    read.finish()
}

fn workbook_error(name: &str, error: &crate::xlsx::read::SheetError) -> InputError {
    InputError::Workbook {
        name: name.to_owned(),
        message: error.to_string(),
    }
}

/// The errors of one row as one: the first code, every message.
fn first_of(errors: Vec<RowError>) -> Option<RowError> {
    let first = errors.first()?.code;
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Some(RowError::new(first, message))
}

/// What a cell stands for as the text of `field`, or why it cannot; `place` names the
/// cell (`C5`) for a message.
fn as_text(
    field: Field,
    cell: &Cell,
    place: impl Fn() -> String,
) -> Result<Cow<'_, str>, RowError> {
    Ok(match (field, cell) {
        (_, Cell::Empty) => Cow::Borrowed(""),
        (_, Cell::Text(text)) => {
            // The CSV reader refuses text in the wrong encoding; in a workbook the
            // damage is done before the cell was saved: UTF-8 read as Windows-1252.
            if let Some(was) = super::encoding::misread_utf8(text) {
                return Err(RowError::new(
                    values::code::BAD_ENCODING,
                    format!(
                        "{field} (cell {}) reads \"{}\": UTF-8 text opened as Windows-1252 and saved (it said \"{}\"). Open the export as UTF-8 (Excel: Data → From Text/CSV, File origin 65001: Unicode (UTF-8)), then save the workbook again",
                        place(),
                        crate::text::shorten(text, 40),
                        crate::text::shorten(&was, 40)
                    ),
                ));
            }
            Cow::Borrowed(text)
        }
        (_, Cell::Error(code)) => {
            return Err(RowError::new(
                values::code::EXCEL_ERROR,
                format!(
                    "{field} (cell {}) holds the Excel error {code}, not a value: correct the formula, or type the value in its place",
                    place()
                ),
            ));
        }
        (field, Cell::DateTime(at)) if field != Field::FirstChargeTime => {
            return Err(RowError::new(
                values::code::DATE_CELL,
                format!(
                    "{field} (cell {}) is a date cell ({}): Excel took the value for a date. Format the column as Text, then type the value again",
                    place(),
                    date_time(at)
                ),
            ));
        }
        (Field::OrderNo | Field::SubOrderNo | Field::ReqId, Cell::Number(n)) => {
            Cow::Owned(exact_integer(field, *n)?)
        }
        (Field::FirstChargeAmount, Cell::Number(n)) => Cow::Owned(amount(*n)),
        (_, Cell::Number(n)) => Cow::Owned(number(*n)),
        (_, Cell::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        (_, Cell::DateTime(at)) => Cow::Owned(date_time(at)),
    })
}

/// A number cell as an order number: only when it holds the number exactly.
fn exact_integer(field: Field, n: f64) -> Result<String, RowError> {
    if n.fract() == 0.0 && (0.0..EXACT_BELOW).contains(&n) {
        return Ok(format!("{n:.0}"));
    }
    Err(RowError::new(
        values::code::INEXACT_NUMBER,
        format!(
            "{field} is a number cell ({}): Excel keeps only 15 digits of a number, so this is not the order's number any more. \
             Format the column as Text, then enter or paste the numbers again",
            general(n)
        ),
    ))
}

/// An amount to the cent, without float noise: 49.900000000000006 is "49.9".
fn amount(n: f64) -> String {
    let cents = (n * 100.0).round();
    if (n * 100.0 - cents).abs() < 1e-6 && cents.abs() < 1e17 {
        let cents = cents as i64;
        let (whole, part) = (cents / 100, (cents % 100).abs());
        let sign = if cents < 0 && whole == 0 { "-" } else { "" };
        return match part {
            0 => format!("{sign}{whole}"),
            p if p % 10 == 0 => format!("{sign}{whole}.{}", p / 10),
            p => format!("{sign}{whole}.{p:02}"),
        };
    }
    number(n)
}

/// Any other number: whole numbers without a decimal point.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < EXACT_BELOW {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// A number as Excel's General format shows a large one: 4.01234567890123E+18.
fn general(n: f64) -> String {
    if n.abs() >= EXACT_BELOW {
        let shown = format!("{n:.14E}");
        // 4.01234567890123E18 → 4.01234567890123E+18, trailing zeros of the mantissa dropped.
        match shown.split_once('E') {
            Some((mantissa, exponent)) => {
                let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{mantissa}E+{exponent}")
            }
            None => shown,
        }
    } else {
        n.to_string()
    }
}

/// A date-time cell as `YYYY-MM-DD HH:MM:SS` (with milliseconds when it has them).
fn date_time(at: &[u16; 7]) -> String {
    let [y, mo, d, h, mi, s, ms] = *at;
    let base = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
    if ms == 0 {
        base
    } else {
        format!("{base}.{ms:03}")
    }
}

/// A cell as shown in a result when it cannot be used: what Excel displays.
pub(super) fn shown(cell: &Cell) -> Cow<'_, str> {
    match cell {
        Cell::Empty => Cow::Borrowed(""),
        Cell::Text(text) | Cell::Error(text) => Cow::Borrowed(text),
        Cell::Number(n) => Cow::Owned(general(*n)),
        Cell::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        Cell::DateTime(at) => Cow::Owned(date_time(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_numbers_are_order_numbers() {
        assert_eq!(
            exact_integer(Field::OrderNo, 123_456_789_012_345.0).as_deref(),
            Ok("123456789012345")
        );
        for inexact in [4.012_345_678_901_234_5e18, 1e15, 12.5, -3.0] {
            let err = exact_integer(Field::OrderNo, inexact).expect_err("inexact");
            assert_eq!(err.code, values::code::INEXACT_NUMBER);
            assert!(
                err.message.contains("Format the column as Text"),
                "{}",
                err.message
            );
        }
        assert!(
            exact_integer(Field::OrderNo, 4.012_345_678_901_234_5e18)
                .expect_err("19 digits")
                .message
                .contains("4.01234567890123E+18")
        );
    }

    #[test]
    fn amounts_keep_their_cents_and_lose_their_noise() {
        assert_eq!(amount(100.0), "100");
        assert_eq!(amount(49.9), "49.9");
        assert_eq!(amount(49.900000000000006), "49.9");
        assert_eq!(amount(0.1 + 0.2), "0.3");
        assert_eq!(amount(12.34), "12.34");
        assert_eq!(
            amount(0.005),
            "0.005",
            "not a cent amount: left to be refused"
        );
        assert_eq!(amount(12.345678), "12.345678", "left to be refused");
    }

    #[test]
    fn typed_cells_become_the_text_of_their_field() {
        let text = |field, cell: Cell| as_text(field, &cell, || "B2".into()).map(Cow::into_owned);
        assert_eq!(
            text(Field::Success, Cell::Bool(true)).as_deref(),
            Ok("true")
        );
        assert_eq!(
            text(
                Field::FirstChargeTime,
                Cell::DateTime([2024, 1, 1, 0, 0, 0, 0])
            )
            .as_deref(),
            Ok("2024-01-01 00:00:00")
        );
        assert_eq!(
            text(Field::FirstChargeTime, Cell::Number(1_704_038_400_000.0)).as_deref(),
            Ok("1704038400000")
        );
        assert_eq!(
            text(Field::ResultCode, Cell::Number(0.0)).as_deref(),
            Ok("0")
        );
        assert_eq!(
            text(Field::ReqId, Cell::Number(20_261_124.0)).as_deref(),
            Ok("20261124")
        );
        let error = text(Field::ReqId, Cell::Error("#N/A".into())).expect_err("an error value");
        assert_eq!(error.code, values::code::EXCEL_ERROR);
        assert!(error.message.contains("cell B2") && error.message.contains("#N/A"));
        let date =
            text(Field::OrderNo, Cell::DateTime([2024, 1, 1, 0, 0, 0, 0])).expect_err("a date");
        assert_eq!(date.code, values::code::DATE_CELL);
        assert!(
            date.message.contains("Format the column as Text"),
            "{}",
            date.message
        );
    }
}
