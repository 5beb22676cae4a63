//! The result file (SPEC.md "Result CSV", "Workbooks"): one row per input row, in
//! input order, fixed columns — a CSV, or a workbook when `--out` ends in `.xlsx`
//! (`table`). Rows finish out of order, so they wait in a reorder buffer until their
//! turn. Written beside `--out` and renamed at the end, so `--out` is either the
//! previous complete file or the new complete one. Cells that Excel would run as
//! formulas are defused with a leading `'` (OWASP CSV injection); `tally` counts rows
//! for summaries.

pub mod report;
mod row;
pub mod table;
pub mod tally;
pub mod workbook;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::row::ResultRow;
use self::table::TableWriter;

/// Writes the result table in input order.
#[derive(Debug)]
pub struct ResultWriter {
    table: TableWriter,
    sources: Arc<[String]>,
    /// The reorder buffer: slot `i` holds row `next + i` once it has finished. A
    /// ring, not a map: a row is moved in once and out once (a result row is half a
    /// kilobyte, and a B-tree's nodes shift theirs on every insert and remove).
    pending: VecDeque<Option<ResultRow>>,
    /// Rows in `pending`.
    held: usize,
    next: u64,
    written: u64,
}

impl ResultWriter {
    /// Starts a result table for `out` — a workbook when its name ends in `.xlsx`;
    /// `excel` starts a CSV with a UTF-8 BOM.
    /// `extra` names the input's columns the API does not use, carried after `line`.
    pub fn create(
        out: &Path,
        sources: Arc<[String]>,
        excel: bool,
        extra: &[String],
    ) -> std::io::Result<Self> {
        Ok(ResultWriter {
            table: TableWriter::with_extra(out, excel, extra)?,
            sources,
            pending: VecDeque::new(),
            held: 0,
            next: 0,
            written: 0,
        })
    }

    /// Takes the row with sequence number `seq` (0-based, input order), writes every
    /// row that is now next in line, and says how many that was.
    pub fn push(&mut self, seq: u64, row: ResultRow) -> std::io::Result<usize> {
        // Each seq comes once: one already past is written where it is, never lost.
        let Some(at) = seq.checked_sub(self.next).map(|at| at as usize) else {
            self.write(&row)?;
            return Ok(1);
        };
        if at > 0 {
            if self.pending.len() <= at {
                self.pending.resize_with(at + 1, || None);
            }
            self.held += usize::from(self.pending[at].is_none());
            self.pending[at] = Some(row);
            return Ok(0);
        }
        self.write(&row)?;
        self.next += 1;
        let mut written = 1;
        // Slot 0 was this row's.
        self.pending.pop_front();
        while let Some(Some(_)) = self.pending.front() {
            let Some(Some(row)) = self.pending.pop_front() else {
                break;
            };
            self.held -= 1;
            self.write(&row)?;
            self.next += 1;
            written += 1;
        }
        Ok(written)
    }

    /// Where the table goes.
    pub fn out(&self) -> &Path {
        self.table.out()
    }

    /// Rows waiting for an earlier one.
    pub fn waiting(&self) -> usize {
        self.held
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    fn write(&mut self, row: &ResultRow) -> std::io::Result<()> {
        let source = self
            .sources
            .get(row.source as usize)
            .map_or("", String::as_str);
        self.table.write(row, source)?;
        self.written += 1;
        Ok(())
    }

    /// Finishes the table and renames it onto `out`. Rows still waiting for an
    /// earlier one (only possible after a crash of the pipeline) are written last.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        for row in std::mem::take(&mut self.pending).into_iter().flatten() {
            self.write(&row)?;
        }
        self.table.finish()
    }
}

/// The opaque id of a result file, by its name: the desk's `/runs/{id}` (a link to a
/// run's page can be made by whoever knows the file's name).
pub fn run_id_of(name: &str) -> String {
    use sha2::Digest as _;
    faster_hex::hex_string(&sha2::Sha256::digest(name.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::RowText;
    use crate::status::Status;

    fn row(req_id: &str, status: Status) -> ResultRow {
        ResultRow::new(
            RowText {
                req_id: req_id.into(),
                ..RowText::default()
            },
            status,
            0,
            1,
        )
    }

    #[test]
    fn rows_come_out_in_input_order_and_only_on_finish() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("results.csv");
        let mut writer =
            ResultWriter::create(&out, Arc::from(vec!["in.csv".to_owned()]), false, &[])
                .expect("create");
        writer.push(2, row("c", Status::Delivered)).expect("push");
        writer.push(0, row("a", Status::Invalid)).expect("push");
        assert_eq!(writer.waiting(), 1);
        writer.push(1, row("=b", Status::Failed)).expect("push");
        assert_eq!(writer.waiting(), 0);
        assert!(!out.exists(), "nothing at --out before finish");
        writer.finish().expect("finish");
        let text = std::fs::read_to_string(&out).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], crate::columns::RESULT_HEADER.join(","));
        assert!(
            lines[1].starts_with("a,")
                && lines[2].starts_with("'=b,")
                && lines[3].starts_with("c,"),
            "{text}"
        );
        assert!(text.contains("\r\n"), "CRLF for Excel");
    }

    proptest::proptest! {
        #[test]
        fn rows_in_any_finishing_order_are_written_in_input_order(
            order in proptest::strategy::Strategy::prop_shuffle(proptest::strategy::Just((0..60u64).collect::<Vec<_>>())),
            missing in 0..61u64,
        ) {
            let dir = tempfile::tempdir().expect("dir");
            let out = dir.path().join("r.csv");
            let mut writer =
                ResultWriter::create(&out, Arc::from(Vec::new()), false, &[]).expect("create");
            let mut written = 0;
            for &seq in order.iter().filter(|&&seq| seq != missing) {
                written += writer.push(seq, row(&format!("r{seq:02}"), Status::Delivered)).expect("push");
            }
            // Every row before the missing one is out; those after it wait for it.
            proptest::prop_assert_eq!(written as u64, missing.min(60));
            proptest::prop_assert_eq!(writer.waiting() as u64, 60u64.saturating_sub(missing + 1));
            writer.finish().expect("finish");
            let text = std::fs::read_to_string(&out).expect("read");
            let ids: Vec<String> = text.lines().skip(1).map(|l| l[..3].to_owned()).collect();
            let expected: Vec<String> = (0..60).filter(|&s| s != missing).map(|s| format!("r{s:02}")).collect();
            proptest::prop_assert_eq!(ids, expected);
        }
    }

    #[test]
    fn excel_mode_writes_a_bom() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("r.csv");
        ResultWriter::create(&out, Arc::from(Vec::new()), true, &[])
            .expect("create")
            .finish()
            .expect("finish");
        assert!(
            std::fs::read(&out)
                .expect("read")
                .starts_with(b"\xEF\xBB\xBFreq_id,")
        );
    }
}
