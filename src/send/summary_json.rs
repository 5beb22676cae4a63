//! `--summary-json`: a typed document (`SummaryDoc`, `schema_version` 1) written by
//! rename on every exit of `send` — a finished run, a halt, a signal, and a run that
//! never started (exit 2 or 4: counts zero, `error` says why) — so a monitor never reads
//! last night's file as tonight's. Opened before the first call.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::SendError;
use super::summary::RunSummary;
use crate::exit::Exit;
use crate::outfile::Replacement;
use crate::results::tally::{ErrorGroup, Tally};
use crate::status::Status;

/// The version of the document's shape; fields are only ever added within one.
pub const SCHEMA_VERSION: u32 = 1;

/// What identifies a run, known before it starts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// As in the ledger's `run_id` column.
    pub run_id: String,
    pub started: DateTime<Utc>,
    pub inputs: Vec<InputDoc>,
}

/// One input: as given on the command line, and the file it resolved to.
#[derive(Debug, Clone, Serialize)]
pub struct InputDoc {
    pub given: String,
    pub resolved: String,
}

impl RunInfo {
    pub fn new(run_id: &str, inputs: &[PathBuf], started: DateTime<Utc>) -> RunInfo {
        let inputs = inputs
            .iter()
            .map(|path| InputDoc {
                given: path.display().to_string(),
                resolved: if path.as_os_str() == "-" {
                    crate::input::STDIN.to_owned()
                } else {
                    crate::roles::resolve(path).display().to_string()
                },
            })
            .collect();
        RunInfo {
            run_id: run_id.to_owned(),
            started,
            inputs,
        }
    }
}

/// The `--summary-json` document, field by field.
#[derive(Debug, Serialize)]
pub struct SummaryDoc<'a> {
    pub schema_version: u32,
    pub run_id: &'a str,
    /// This tool's version.
    pub version: &'static str,
    /// Beijing time, RFC 3339.
    pub started_at: String,
    pub finished_at: String,
    pub inputs: &'a [InputDoc],
    pub exit_code: u8,
    /// Why the run stopped early or never started; `null` when it finished.
    pub error: Option<String>,
    pub dry_run: bool,
    pub rows: u64,
    pub calls: u64,
    pub elapsed_seconds: f64,
    pub calls_per_second: f64,
    /// Rows of every status, in the order SPEC.md lists them (zeros included).
    pub counts: StatusCounts<'a>,
    /// First-charge amounts in yuan, exact: of the rows that reached the platform
    /// (delivered, rejected, failed), and of the delivered ones.
    pub amounts: Amounts,
    /// The errors of the rows that need attention, most frequent first.
    #[serde(serialize_with = "error_groups")]
    pub errors: Vec<&'a ErrorGroup>,
    pub halted: Option<String>,
    /// Why the run stopped early, for a machine (`gateway_down`, `session`, …:
    /// SPEC.md); `null` when it did not.
    pub halt_reason: Option<&'static str>,
    /// Whether running again later, unchanged, can succeed; `null` when it did not
    /// stop early.
    pub halt_retryable: Option<bool>,
    /// The day the session ends (`session_expires` in the config), if known.
    pub session_expires: Option<String>,
    /// What a person should do soon (the session's end, 30 days ahead).
    pub warnings: Vec<String>,
    /// Calls made today (Beijing day, every command's) and the `daily_quota`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls_today: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_quota: Option<u64>,
    pub results: String,
    pub ledger: String,
    /// Outcomes the run wrote to the ledger (the name of the CSV ledger's days).
    pub ledger_lines_appended: u64,
    /// Rows that were the ledger's failed orders sent again (`source` = `ledger`).
    pub resent_from_ledger: u64,
    /// The digest of exactly what the plan sent (or would send, in a dry run): the
    /// same digest, the same calls. `null` for a run that never made a plan.
    pub plan_digest: Option<&'a str>,
}

/// Amounts in yuan as exact text (`"149.90"`).
#[derive(Debug, Serialize)]
pub struct Amounts {
    pub sent: String,
    pub delivered: String,
}

impl Amounts {
    fn of(tally: &Tally) -> Amounts {
        let sent = [Status::Delivered, Status::Rejected, Status::Failed]
            .into_iter()
            .map(|status| tally.amount(status))
            .sum::<crate::money::Cents>();
        Amounts {
            sent: sent.to_string(),
            delivered: tally.amount(Status::Delivered).to_string(),
        }
    }
}

/// The document of a run that finished (or halted, or was interrupted).
pub fn of_run<'a>(summary: &'a RunSummary<'a>, info: &'a RunInfo) -> SummaryDoc<'a> {
    let halted = summary.halt.map(|reason| reason.to_string());
    SummaryDoc {
        schema_version: SCHEMA_VERSION,
        run_id: &info.run_id,
        version: env!("CARGO_PKG_VERSION"),
        started_at: crate::clock::stamp(info.started),
        finished_at: crate::clock::now_stamp(),
        inputs: &info.inputs,
        exit_code: summary.exit().code(),
        error: halted.clone(),
        dry_run: summary.dry_run,
        rows: summary.tally.rows(),
        calls: summary.tally.calls(),
        elapsed_seconds: (summary.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        calls_per_second: (summary.rate() * 10.0).round() / 10.0,
        counts: StatusCounts(summary.tally),
        amounts: Amounts::of(summary.tally),
        errors: summary.tally.errors(),
        halted,
        halt_reason: summary.halt.map(|reason| reason.kind().as_str()),
        halt_retryable: summary.halt.map(|reason| reason.kind().retryable()),
        session_expires: summary.session_expires.map(|date| date.to_string()),
        warnings: summary.warnings(),
        calls_today: summary.quota.map(|q| q.used),
        daily_quota: summary.quota.map(|q| q.quota),
        results: summary.out.display().to_string(),
        ledger: summary.ledger.display().to_string(),
        ledger_lines_appended: summary.ledger_appended,
        resent_from_ledger: summary.resent,
        plan_digest: Some(summary.plan_digest),
    }
}

/// What a run that never started says of itself.
#[derive(Debug)]
pub struct Failure<'a> {
    pub info: &'a RunInfo,
    pub exit: Exit,
    pub error: String,
    pub dry_run: bool,
    pub out: &'a Path,
    pub ledger: &'a Path,
}

/// The document of a run that stopped before its first call (exit 2 or 4).
pub fn of_failure<'a>(failure: &'a Failure<'a>, empty: &'a Tally) -> SummaryDoc<'a> {
    SummaryDoc {
        schema_version: SCHEMA_VERSION,
        run_id: &failure.info.run_id,
        version: env!("CARGO_PKG_VERSION"),
        started_at: crate::clock::stamp(failure.info.started),
        finished_at: crate::clock::now_stamp(),
        inputs: &failure.info.inputs,
        exit_code: failure.exit.code(),
        error: Some(failure.error.clone()),
        dry_run: failure.dry_run,
        rows: 0,
        calls: 0,
        elapsed_seconds: ((Utc::now() - failure.info.started)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0)
            .round()
            / 1000.0,
        calls_per_second: 0.0,
        counts: StatusCounts(empty),
        amounts: Amounts::of(empty),
        errors: Vec::new(),
        halted: None,
        halt_reason: None,
        halt_retryable: None,
        session_expires: None,
        warnings: Vec::new(),
        calls_today: None,
        daily_quota: None,
        results: failure.out.display().to_string(),
        ledger: failure.ledger.display().to_string(),
        ledger_lines_appended: 0,
        resent_from_ledger: 0,
        plan_digest: None,
    }
}

/// Every status with its rows, as a JSON object in `Status::ALL` order.
#[derive(Debug)]
pub struct StatusCounts<'a>(pub &'a Tally);

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

    /// Writes `text`, a `SummaryDoc` as JSON, and puts the file in place.
    pub fn write(mut self, text: &str) -> Result<(), SendError> {
        let path = self.replacement.out().to_owned();
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.write_all(b"\n"))
            .and_then(|()| self.replacement.commit(self.file).map(drop))
            .map_err(|error| SendError::SummaryJson { path, error })
    }
}
