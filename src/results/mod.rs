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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::row::ResultRow;
use self::table::TableWriter;

/// Writes the result table in input order.
#[derive(Debug)]
pub struct ResultWriter {
    table: TableWriter,
    sources: Arc<[String]>,
    pending: BTreeMap<u64, ResultRow>,
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
            pending: BTreeMap::new(),
            next: 0,
            written: 0,
        })
    }

    /// Takes the row with sequence number `seq` (0-based, input order), writes every
    /// row that is now next in line, and says how many that was.
    pub fn push(&mut self, seq: u64, row: ResultRow) -> std::io::Result<usize> {
        if seq != self.next {
            self.pending.insert(seq, row);
            return Ok(0);
        }
        self.write(&row)?;
        self.next += 1;
        let mut written = 1;
        while let Some(row) = self.pending.remove(&self.next) {
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
        self.pending.len()
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
        for (_, row) in std::mem::take(&mut self.pending) {
            self.write(&row)?;
        }
        self.table.finish()
    }
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
