//! Pass one's rows kept for pass two, when they fit in memory: pass two then decides
//! them without reading, parsing or encoding anything again (each valid row keeps its
//! `param0` JSON and MD5, which pass one computed for the index). A larger input is
//! read again, as before. A CSV is judged by its size before pass one starts, so a big
//! export never collects rows only to drop them; a workbook (whose size on disk says
//! little of its rows) by what pass one collects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::input::{InputRow, InputSet};

/// The most memory kept rows may take (estimated from their text): about 100,000
/// rows of an export's seven short columns.
pub const KEEP_BYTES: usize = 64 << 20;

/// CSV inputs larger than this in all are read twice (a CSV row takes about two and a
/// half times its bytes once parsed and kept).
pub const KEEP_CSV_BYTES: u64 = 24 << 20;

/// A row of pass one, with what pass one encoded of it.
#[derive(Debug)]
pub struct KeptRow {
    pub row: InputRow,
    /// A valid row's canonical `param0` and its MD5.
    pub param0: Option<(String, [u8; 16])>,
}

impl KeptRow {
    /// The memory the row takes, near enough: the struct, and each text's allocation
    /// as an allocator rounds it.
    fn size(&self) -> usize {
        let heap = |text: &str| text.len().next_multiple_of(16) + 16;
        let order = match &self.row.order {
            Ok(order) => [
                Some(order.req_id.as_str()),
                order.result_code.as_deref(),
                order.result_desc.as_deref(),
                order.ext.as_deref(),
            ]
            .into_iter()
            .flatten()
            .map(heap)
            .sum(),
            // Invalid rows keep their cells as text: seven of them, about.
            Err(invalid) => 7 * 32 + heap(&invalid.error.message),
        };
        let extra: usize = self.row.extra.iter().map(|text| heap(text)).sum();
        let param0 = self.param0.as_ref().map_or(0, |(json, _)| heap(json));
        std::mem::size_of::<KeptRow>() + order + extra + param0
    }
}

/// Pass one's collection, while it fits.
#[derive(Debug)]
pub struct Keeping {
    rows: Vec<KeptRow>,
    bytes: usize,
    /// Read by pass one's workers (`flag`): once false, they stop encoding rows to keep.
    wanted: Arc<AtomicBool>,
}

impl Keeping {
    /// A collector for a pass over `inputs`, or `None` when their size alone says
    /// they will not fit.
    pub fn for_inputs(inputs: &InputSet) -> Option<Keeping> {
        let bytes = inputs.csv_bytes();
        // Room for the rows a CSV of this size can hold at 64 bytes a line (an order's
        // line is rarely shorter): growing a vector of half a million rows row by row
        // copies them all again, twice over, and touches twice the memory. Pages never
        // written are never resident.
        let room = usize::try_from(bytes / 64)
            .unwrap_or(usize::MAX)
            .min(KEEP_BYTES / std::mem::size_of::<KeptRow>());
        (bytes <= KEEP_CSV_BYTES).then(|| Keeping {
            rows: Vec::with_capacity(room),
            bytes: 0,
            wanted: Arc::new(AtomicBool::new(true)),
        })
    }

    /// What pass one's workers read to know whether rows are still being kept.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.wanted)
    }

    /// Whether rows are still being kept.
    pub fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    /// Keeps `row`, in input order, unless the rows no longer fit; then every row is
    /// dropped and nothing more is kept.
    pub fn add(&mut self, row: KeptRow) {
        if !self.wanted() {
            return;
        }
        self.bytes += row.size();
        if self.bytes > KEEP_BYTES {
            self.wanted.store(false, Ordering::Relaxed);
            self.rows = Vec::new();
            return;
        }
        self.rows.push(row);
    }

    /// The rows of a complete pass, if they all fit.
    pub fn finish(self) -> Option<Vec<KeptRow>> {
        self.wanted().then_some(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::Order;

    fn kept(req_id: &str, ext: Option<String>) -> KeptRow {
        let order = Order {
            sub_order_no: None,
            order_no: 1,
            success: true,
            result_code: None,
            result_desc: None,
            req_id: req_id.into(),
            ext,
        };
        let json = order.param0_json();
        let md5 = order.payload_md5();
        KeptRow {
            row: InputRow {
                source: 0,
                line: 2,
                file_line: 2,
                order: Ok(order),
                extra: Vec::new(),
            },
            param0: Some((json, md5)),
        }
    }

    fn keeping() -> Keeping {
        Keeping {
            rows: Vec::new(),
            bytes: 0,
            wanted: Arc::new(AtomicBool::new(true)),
        }
    }

    #[test]
    fn rows_that_fit_are_kept_in_order() {
        let mut keeping = keeping();
        keeping.add(kept("a", None));
        keeping.add(kept("b", None));
        let rows = keeping.finish().expect("kept");
        let ids: Vec<_> = rows
            .iter()
            .map(|k| k.row.order.as_ref().expect("valid").req_id.clone())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn rows_past_the_budget_are_dropped_and_no_more_are_kept() {
        let mut keeping = keeping();
        keeping.add(kept("a", None));
        keeping.add(kept("b", Some("x".repeat(KEEP_BYTES))));
        assert!(!keeping.wanted());
        assert!(keeping.rows.is_empty());
        keeping.add(kept("c", None));
        assert!(keeping.finish().is_none());
    }

    #[test]
    fn a_row_is_counted_by_its_text() {
        let small = kept("a", None).size();
        let big = kept("a", Some("x".repeat(1000))).size();
        // The ext twice: in the order, and in the JSON.
        assert!(big - small >= 2000, "{small} {big}");
    }

    /// Pass one over `set`: its kept rows as (line, req_id or error code).
    fn kept_by_pass_one(set: &InputSet) -> Option<Vec<(u64, Result<String, &'static str>)>> {
        let (index, _) = crate::plan::InputIndex::build_from(set).expect("pass one");
        let plan = crate::plan::Plan::new(index, Default::default(), set.names().to_vec(), false);
        let rows = plan.take_kept()?;
        assert!(plan.take_kept().is_none(), "taken once");
        Some(
            rows.into_iter()
                .map(|kept| {
                    (
                        kept.row.line,
                        kept.row.order.map(|o| o.req_id).map_err(|e| e.error.code),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn a_workbook_that_fits_is_read_once_per_run() {
        use crate::input::InputOptions;
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
        let read: Vec<_> = set
            .rows()
            .map(|row| {
                let row = row.expect("a row");
                (
                    row.line,
                    row.order.map(|o| o.req_id).map_err(|e| e.error.code),
                )
            })
            .collect();
        assert_eq!(read.len(), 3);
        let kept = kept_by_pass_one(&set).expect("kept");
        // Pass two takes these: the file is not needed again.
        std::fs::remove_file(&path).expect("removed");
        assert_eq!(kept, read);
    }

    #[test]
    fn a_large_csv_is_read_again_rather_than_kept() {
        use crate::input::InputOptions;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("orders.csv");
        let mut text = String::from("order_no,success,req_id\n1,true,R1\n");
        // Blank lines are no rows, but they are bytes.
        text.push_str(&"\n".repeat(KEEP_CSV_BYTES as usize));
        std::fs::write(&path, text).expect("written");
        let set =
            InputSet::open(std::slice::from_ref(&path), &InputOptions::default()).expect("opens");
        assert!(kept_by_pass_one(&set).is_none());
        std::fs::write(&path, "order_no,success,req_id\n1,true,R1\n").expect("written");
        let set =
            InputSet::open(std::slice::from_ref(&path), &InputOptions::default()).expect("opens");
        assert_eq!(kept_by_pass_one(&set), Some(vec![(2, Ok("R1".to_owned()))]));
    }
}
