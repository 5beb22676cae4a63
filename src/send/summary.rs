//! Counting a run's rows and telling how it went: the stderr summary (counts by
//! status, the most frequent errors with their messages, elapsed, calls/s), the
//! `--summary-json` document, and the exit code they imply.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::error::SendError;
use super::halt::HaltReason;
use crate::exit::Exit;
use crate::outfile::Replacement;
use crate::results::tally::{ErrorGroup, Tally};
use crate::simulator::RunningSimulator;
use crate::status::Status;
use crate::text::{shorten, visible};

/// The exit code a run's rows and halt imply: a halt's, else 1 when any row needs
/// attention, else 0.
pub fn exit_of(tally: &Tally, halt: Option<&HaltReason>) -> Exit {
    match halt {
        Some(reason) => reason.exit(),
        None if tally.needs_attention() => Exit::Attention,
        None => Exit::Success,
    }
}

/// Everything the end-of-run report says.
#[derive(Debug)]
pub struct RunSummary<'a> {
    pub tally: &'a Tally,
    pub elapsed: Duration,
    pub halt: Option<&'a HaltReason>,
    pub dry_run: bool,
    pub out: &'a Path,
    pub ledger: &'a Path,
    pub ledger_appended: u64,
}

impl RunSummary<'_> {
    pub fn exit(&self) -> Exit {
        exit_of(self.tally, self.halt)
    }

    fn rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.tally.calls() as f64 / seconds
        } else {
            0.0
        }
    }

    /// The text for stderr.
    pub fn render(&self) -> String {
        let tally = self.tally;
        let mut text = format!(
            "{}{} rows in {:.1}s, {} calls ({:.1}/s), exit {}\n",
            if self.dry_run { "dry run: " } else { "" },
            tally.rows(),
            self.elapsed.as_secs_f64(),
            tally.calls(),
            self.rate(),
            self.exit().code(),
        );
        for status in Status::ALL {
            let count = tally.count(status);
            if count > 0 {
                text.push_str(&format!("  {:<20}{count:>8}\n", status.as_str()));
            }
        }
        let top: Vec<_> = tally.errors().into_iter().take(5).collect();
        if !top.is_empty() {
            text.push_str("errors:\n");
            for group in top {
                let code = if group.sub_code.is_empty() {
                    group.error_code.clone()
                } else {
                    format!("{} {}", group.error_code, group.sub_code)
                };
                text.push_str(&format!(
                    "  {:>6}  {}  {}\n",
                    group.count,
                    visible(&code),
                    visible(&shorten(&group.message, 110))
                ));
            }
        }
        let path = |p: &Path| visible(&p.display().to_string()).into_owned();
        text.push_str(&format!("results: {}", path(self.out)));
        if self.dry_run {
            text.push_str(&format!("   ledger: {} (read only)\n", path(self.ledger)));
        } else {
            text.push_str(&format!(
                "   ledger: {} (+{} lines)\n",
                path(self.ledger),
                self.ledger_appended
            ));
        }
        if let Some(reason) = self.halt {
            text.push_str(&format!("halted: {}\n", visible(&reason.to_string())));
        }
        text
    }

    /// The `--summary-json` document.
    pub fn to_doc(&self) -> SummaryDoc<'_> {
        SummaryDoc {
            exit_code: self.exit().code(),
            dry_run: self.dry_run,
            rows: self.tally.rows(),
            calls: self.tally.calls(),
            elapsed_seconds: (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            calls_per_second: (self.rate() * 10.0).round() / 10.0,
            counts: StatusCounts(self.tally),
            errors: self.tally.errors(),
            halted: self.halt.map(|r| r.to_string()),
            results: self.out.display().to_string(),
            ledger: self.ledger.display().to_string(),
            ledger_lines_appended: self.ledger_appended,
        }
    }
}

/// The `--summary-json` document, field by field.
#[derive(Debug, Serialize)]
pub struct SummaryDoc<'a> {
    pub exit_code: u8,
    pub dry_run: bool,
    pub rows: u64,
    pub calls: u64,
    pub elapsed_seconds: f64,
    pub calls_per_second: f64,
    /// Rows of every status, in the order SPEC.md lists them (zeros included).
    pub counts: StatusCounts<'a>,
    /// The errors of the rows that need attention, most frequent first.
    #[serde(serialize_with = "error_groups")]
    pub errors: Vec<&'a ErrorGroup>,
    pub halted: Option<String>,
    pub results: String,
    pub ledger: String,
    pub ledger_lines_appended: u64,
}

/// Every status with its rows, as a JSON object in `Status::ALL` order.
#[derive(Debug)]
pub struct StatusCounts<'a>(&'a Tally);

impl Serialize for StatusCounts<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(Status::ALL.len()))?;
        for status in Status::ALL {
            map.serialize_entry(status.as_str(), &self.0.count(status))?;
        }
        map.end()
    }
}

fn error_groups<S: serde::Serializer>(
    groups: &[&ErrorGroup],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq as _;
    #[derive(Serialize)]
    struct Group<'g> {
        error_code: &'g str,
        sub_code: &'g str,
        count: u64,
        message: &'g str,
    }
    let mut seq = serializer.serialize_seq(Some(groups.len()))?;
    for g in groups {
        seq.serialize_element(&Group {
            error_code: &g.error_code,
            sub_code: &g.sub_code,
            count: g.count,
            message: &g.message,
        })?;
    }
    seq.end()
}

/// The summary on stderr (unless quiet and all went well) and in `--summary-json`.
pub fn report(
    summary: &RunSummary<'_>,
    invalid: &[String],
    simulator: Option<RunningSimulator>,
    summary_json: Option<SummaryJson>,
    quiet: bool,
) -> Exit {
    let mut exit = summary.exit();
    if !quiet || exit != Exit::Success {
        print_invalid(invalid, summary.tally.count(Status::Invalid));
        crate::err!("{}", summary.render());
        if let Some(sim) = &simulator {
            let stats = sim.stats();
            crate::errln!(
                "simulator: {} requests, {} accepted, {} duplicates, {} rejected",
                stats.requests,
                stats.accepted,
                stats.duplicates,
                stats.rejected
            );
        }
    }
    if let Some(json) = summary_json
        && let Err(error) = json.write(&summary.to_doc())
    {
        // The calls are made: a write error now is exit 3, not a usage error.
        crate::errln!("error: {error}");
        exit = exit.max(Exit::Halted);
    }
    exit
}

/// `--summary-json`, opened before the first call and written at the end.
#[derive(Debug)]
pub struct SummaryJson {
    replacement: Replacement,
    file: File,
}

impl SummaryJson {
    pub fn create(path: &Path) -> Result<Self, SendError> {
        let (replacement, file) =
            Replacement::create(path).map_err(|error| SendError::SummaryJson {
                path: path.to_owned(),
                error,
            })?;
        Ok(SummaryJson { replacement, file })
    }

    fn write(mut self, doc: &SummaryDoc<'_>) -> Result<(), SendError> {
        let path = self.replacement.out().to_owned();
        let text = serde_json::to_string_pretty(doc).expect("the summary serializes");
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.write_all(b"\n"))
            .and_then(|()| self.replacement.commit(self.file).map(drop))
            .map_err(|error| SendError::SummaryJson { path, error })
    }
}

fn print_invalid(examples: &[String], total: u64) {
    if examples.is_empty() {
        return;
    }
    crate::errln!("invalid rows:");
    for example in examples {
        crate::errln!("  {}", visible(example));
    }
    if total > examples.len() as u64 {
        crate::errln!(
            "  … and {} more (status invalid in the result file)",
            total - examples.len() as u64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::RowText;
    use crate::results::ResultRow;
    use crate::signals::Signal;

    fn row(status: Status, code: &str, attempts: u32) -> ResultRow {
        let mut row = ResultRow::new(RowText::default(), status, 0, 1)
            .with_error(code, format!("msg {code}"));
        row.attempts = attempts;
        row
    }

    #[test]
    fn exit_codes_follow_the_rows_and_the_halt() {
        let mut tally = Tally::default();
        tally.add(&row(Status::Delivered, "0000", 1));
        tally.add(&row(Status::SkippedDelivered, "dedup.already_delivered", 0));
        assert_eq!(exit_of(&tally, None), Exit::Success);
        tally.add(&row(Status::Invalid, "input.bad_number", 0));
        assert_eq!(exit_of(&tally, None), Exit::Attention);
        assert_eq!(
            exit_of(&tally, Some(&HaltReason::Signal(Signal::Terminate))),
            Exit::Terminated
        );
        assert_eq!(
            exit_of(&tally, Some(&HaltReason::Crashed("the recorder"))),
            Exit::Halted
        );
    }

    #[test]
    fn errors_group_by_code_most_frequent_first() {
        let mut tally = Tally::default();
        for _ in 0..3 {
            tally.add(&row(Status::Rejected, "B001", 1));
        }
        tally.add(&row(Status::Failed, "net.timeout", 5));
        tally.add(&row(Status::Delivered, "0000", 1));
        let top: Vec<(&str, u64)> = tally
            .errors()
            .iter()
            .map(|g| (g.error_code.as_str(), g.count))
            .collect();
        assert_eq!(top, [("B001", 3), ("net.timeout", 1)]);
        assert_eq!(tally.calls(), 9);
    }

    #[test]
    fn json_has_every_status_and_the_exit_code() {
        let mut tally = Tally::default();
        tally.add(&row(Status::Delivered, "0000", 1));
        let summary = RunSummary {
            tally: &tally,
            elapsed: Duration::from_secs(2),
            halt: None,
            dry_run: false,
            out: Path::new("r.csv"),
            ledger: Path::new("l.csv"),
            ledger_appended: 1,
        };
        let doc = serde_json::to_value(summary.to_doc()).expect("serializes");
        assert_eq!(doc["exit_code"], 0);
        assert_eq!(doc["counts"]["delivered"], 1);
        assert_eq!(doc["counts"]["would_send"], 0);
        assert_eq!(doc["calls_per_second"], 0.5);
        assert!(
            summary.render().contains("delivered"),
            "{}",
            summary.render()
        );
    }
}
