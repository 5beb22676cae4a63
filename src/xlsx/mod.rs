//! Excel workbooks (`.xlsx`), the files finance works in: a workbook checked before it
//! is read (`inspect`), then a sheet read row by row with its cells typed (`read`).
//! Generic: knows nothing of orders, results or ledgers (the result workbook is
//! written in `results::workbook`).

mod error;
mod inspect;
pub mod read;

pub use inspect::column_name;

use std::path::Path;

/// The most rows of data one sheet holds under its header (Excel's 1,048,576 rows).
pub const MAX_DATA_ROWS: u64 = 1_048_575;

/// Whether `path` names a workbook: its name ends in `.xlsx` (any case).
pub fn is_workbook(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workbooks_are_known_by_their_name() {
        assert!(is_workbook(Path::new("a/failed.XLSX")));
        assert!(!is_workbook(Path::new("results.csv")));
        assert!(!is_workbook(Path::new("-")));
    }
}
