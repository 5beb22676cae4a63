//! Order and sub-order numbers, and what Excel does to them: scientific notation,
//! decimals, thousands separators, the text apostrophe. Pure.

use super::{RowError, clean, code};

/// An order or sub-order number: digits only, 1 ..= u64::MAX. Anything Excel did to
/// a long number is refused, because Excel keeps 15 significant digits and a 19-digit
/// Tmall order number that went through it is a different order.
pub fn parse_order_number(field: &str, text: &str) -> Result<u64, RowError> {
    // A leading apostrophe is Excel's "this is text" marker: the digits are intact.
    let digits = text.strip_prefix('\'').map(clean).unwrap_or(text);
    if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
        return match digits.parse::<u64>() {
            Ok(0) => Err(RowError::new(
                code::BAD_NUMBER,
                format!("{field} is 0; a Tmall order number is positive"),
            )),
            Ok(n) => Ok(n),
            Err(_) => Err(RowError::new(
                code::BAD_NUMBER,
                format!(
                    "{field} '{digits}' is longer than any Tmall order number (max 20 digits, 18446744073709551615)"
                ),
            )),
        };
    }
    let upper = digits.to_ascii_uppercase();
    if looks_scientific(&upper) {
        return Err(RowError::new(
            code::SCIENTIFIC,
            format!(
                "{field} '{digits}' is in scientific notation: Excel turned the number into a float and lost its last digits. \
                 Format the column as Text before pasting or export from the source system again"
            ),
        ));
    }
    if let Some(int) = digits
        .strip_suffix(".0")
        .or_else(|| digits.strip_suffix(".00"))
        && int.bytes().all(|b| b.is_ascii_digit())
        && !int.is_empty()
    {
        return Err(RowError::new(
            code::DECIMAL,
            format!(
                "{field} '{digits}' has a decimal part: it was stored as a number, which keeps only 15 digits. \
                 Format the column as Text in Excel (or re-export it) so the number is written as digits only"
            ),
        ));
    }
    if is_grouped(digits) {
        return Err(RowError::new(
            code::SEPARATORS,
            format!(
                "{field} '{digits}' has thousands separators: Excel formatted it as a number and may have rounded it. \
                 Format the column as Text and export again"
            ),
        ));
    }
    Err(RowError::new(
        code::BAD_NUMBER,
        format!("{field} '{digits}' is not a whole number; it must be digits only"),
    ))
}

pub(super) fn looks_scientific(upper: &str) -> bool {
    let Some((mantissa, exponent)) = upper.split_once('E') else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// `1,234,567` (also with `.` decimals, which `parse_order_number` refuses anyway).
pub(super) fn is_grouped(text: &str) -> bool {
    let integer = text.split('.').next().unwrap_or(text);
    let mut groups = integer.split(',');
    let first = groups.next().unwrap_or_default();
    let mut rest = groups.peekable();
    rest.peek().is_some()
        && (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && rest.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of<T: std::fmt::Debug>(result: Result<T, RowError>) -> &'static str {
        result.expect_err("should be refused").code
    }

    #[test]
    fn order_numbers_accept_digits_and_an_excel_text_apostrophe() {
        assert_eq!(
            parse_order_number("order_no", "4012345678901234567"),
            Ok(4_012_345_678_901_234_567)
        );
        assert_eq!(
            parse_order_number("order_no", "'4012345678901234567"),
            Ok(4_012_345_678_901_234_567)
        );
        assert_eq!(
            parse_order_number("order_no", "18446744073709551615"),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn excel_damage_to_order_numbers_has_its_own_codes() {
        for (text, expected) in [
            ("4.01235E+18", code::SCIENTIFIC),
            ("4.01235e18", code::SCIENTIFIC),
            ("4012345678901230000.0", code::DECIMAL),
            ("4,012,345,678,901,230,000", code::SEPARATORS),
            ("18446744073709551616", code::BAD_NUMBER),
            ("0", code::BAD_NUMBER),
            ("-12", code::BAD_NUMBER),
            ("12a", code::BAD_NUMBER),
            ("1,23", code::BAD_NUMBER),
        ] {
            assert_eq!(
                code_of(parse_order_number("order_no", text)),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn messages_name_the_field_and_the_fix() {
        let err = parse_order_number("sub_order_no", "1.2E+18").expect_err("refused");
        assert!(
            err.message.starts_with("sub_order_no '1.2E+18'"),
            "{}",
            err.message
        );
        assert!(err.message.contains("Text"), "{}", err.message);
    }
}
