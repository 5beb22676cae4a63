//! A workbook's rows kept from the first pass for the next ones, when they fit in
//! memory. The plan reads its input at least twice (the index, then the rows to send);
//! unzipping and parsing a sheet costs more than everything else about a row, so a
//! sheet whose rows fit in `KEEP_BYTES` is parsed once per run. A larger one is read
//! again each pass, as a CSV always is (reading a CSV again costs less than holding it).

use std::sync::{Arc, OnceLock};

use crate::xlsx::read::{Cell, SheetRow};

/// The most memory a workbook's kept rows may take (estimated from their cells):
/// a little over 100,000 rows of an export's seven short columns.
pub(super) const KEEP_BYTES: usize = 64 << 20;

/// What the first complete pass over a workbook left: its rows, or that they were too
/// many to keep (`None`).
#[derive(Debug, Default)]
pub(super) struct Kept(OnceLock<Option<Arc<Vec<SheetRow>>>>);

impl Kept {
    /// The rows, when a pass kept them.
    pub(super) fn rows(&self) -> Option<Arc<Vec<SheetRow>>> {
        self.0.get().cloned().flatten()
    }

    /// A collector for a pass that reads the sheet itself: `None` once a pass has
    /// found the rows too many.
    pub(super) fn collector(&self) -> Option<Keeping> {
        self.0.get().is_none().then(Keeping::default)
    }

    /// Keeps what a complete pass collected (the first complete pass decides).
    pub(super) fn settle(&self, keeping: Keeping) {
        let rows = (!keeping.over).then(|| Arc::new(keeping.rows));
        let _ = self.0.set(rows);
    }
}

/// The rows of a pass in progress, while they fit.
#[derive(Debug, Default)]
pub(super) struct Keeping {
    rows: Vec<SheetRow>,
    bytes: usize,
    /// Past `KEEP_BYTES`: nothing more is kept, and what was is dropped.
    over: bool,
}

impl Keeping {
    pub(super) fn add(&mut self, row: &SheetRow) {
        if self.over {
            return;
        }
        self.bytes += size_of_row(row);
        if self.bytes > KEEP_BYTES {
            self.over = true;
            self.rows = Vec::new();
            return;
        }
        self.rows.push(row.clone());
    }
}

/// The memory one row takes, near enough: its cells, and each text's allocation as an
/// allocator rounds it (measured: 100,000 rows of seven short columns take ~50 MiB).
fn size_of_row(row: &SheetRow) -> usize {
    let text: usize = row
        .cells
        .iter()
        .map(|cell| match cell {
            Cell::Text(text) | Cell::Error(text) => text.capacity().next_multiple_of(16) + 16,
            _ => 0,
        })
        .sum();
    std::mem::size_of::<SheetRow>() + row.cells.capacity() * std::mem::size_of::<Cell>() + text
}

/// A later pass over kept rows.
#[derive(Debug)]
pub(super) struct Replay {
    rows: Arc<Vec<SheetRow>>,
    next: usize,
}

impl Replay {
    pub(super) fn new(rows: Arc<Vec<SheetRow>>) -> Self {
        Replay { rows, next: 0 }
    }

    pub(super) fn next_row(&mut self) -> Option<SheetRow> {
        let row = self.rows.get(self.next)?.clone();
        self.next += 1;
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(number: u32, text: &str) -> SheetRow {
        SheetRow {
            number,
            cells: vec![Cell::Text(text.into()), Cell::Number(1.0)],
            too_wide: false,
        }
    }

    #[test]
    fn a_complete_pass_is_replayed_in_order() {
        let kept = Kept::default();
        let mut keeping = kept.collector().expect("nothing decided yet");
        keeping.add(&row(2, "a"));
        keeping.add(&row(3, "b"));
        kept.settle(keeping);
        assert!(kept.collector().is_none(), "decided once");
        let mut replay = Replay::new(kept.rows().expect("kept"));
        assert_eq!(replay.next_row(), Some(row(2, "a")));
        assert_eq!(replay.next_row(), Some(row(3, "b")));
        assert_eq!(replay.next_row(), None);
    }

    #[test]
    fn rows_past_the_budget_are_not_kept_and_not_tried_again() {
        let kept = Kept::default();
        let mut keeping = kept.collector().expect("nothing decided yet");
        let big = "x".repeat(KEEP_BYTES / 2);
        for number in 2..5 {
            keeping.add(&row(number, &big));
        }
        assert!(keeping.rows.is_empty(), "dropped once over");
        kept.settle(keeping);
        assert!(kept.rows().is_none());
        assert!(kept.collector().is_none(), "the next pass reads the sheet");
    }

    #[test]
    fn an_unfinished_pass_decides_nothing() {
        let kept = Kept::default();
        let mut keeping = kept.collector().expect("nothing decided yet");
        keeping.add(&row(2, "a"));
        drop(keeping);
        assert!(kept.rows().is_none());
        assert!(kept.collector().is_some());
    }

    #[test]
    fn a_workbook_that_fits_is_parsed_once_per_run() {
        use crate::input::{InputOptions, InputSet};
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("orders.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let rows = [
            ["order_no", "success", "req_id"],
            ["101", "true", "R1"],
            ["102", "false", "R2"],
            ["x", "true", "R3"],
        ];
        for (r, row) in rows.iter().enumerate() {
            for (c, text) in row.iter().enumerate() {
                sheet.write_string(r as u32, c as u16, *text).expect("cell");
            }
        }
        book.save(&path).expect("saved");
        let set =
            InputSet::open(std::slice::from_ref(&path), &InputOptions::default()).expect("opens");
        let read = |set: &InputSet| -> Vec<_> {
            set.rows()
                .map(|row| {
                    let row = row.expect("a row");
                    (
                        row.line,
                        row.order.map(|o| o.req_id).map_err(|e| e.error.code),
                    )
                })
                .collect()
        };
        let first = read(&set);
        assert_eq!(first.len(), 3);
        assert_eq!(first[0], (2, Ok("R1".to_owned())));
        // The later passes replay the first one's rows: the file is not read again.
        std::fs::remove_file(&path).expect("removed");
        assert_eq!(read(&set), first);
        assert_eq!(read(&set), first);
    }
}
