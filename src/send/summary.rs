//! Counting a run's rows and telling how it went: the stderr summary (counts by
//! status, the most frequent errors with their messages, elapsed, calls/s), the
//! `--summary-json` document, and the exit code they imply.

use std::path::Path;
use std::time::Duration;

use super::halt::HaltReason;
use crate::exit::Exit;
use crate::results::tally::Tally;

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
    /// Rows that were the ledger's failed orders, sent again (`source` = `ledger`).
    pub resent: u64,
    /// `Plan::digest` of the plan the run made.
    pub plan_digest: &'a str,
    /// The exit code of a halt worth retrying (`--retryable-exit-code`).
    pub retryable_exit: Option<u8>,
    /// The day the session ends (`session_expires` in the config).
    pub session_expires: Option<chrono::NaiveDate>,
    /// Today's calls against `daily_quota`.
    pub quota: Option<super::quota::QuotaUse>,
    /// Orders needing attention that fall due within a day: how many, the soonest.
    pub due_soon: &'a (u64, Vec<crate::ledger::reconcile::DueOrder>),
}

/// How many days ahead a run warns that the session ends (as `check` does by default).
pub const SESSION_WARN_DAYS: i64 = 30;

impl RunSummary<'_> {
    /// What a person should do before it is too late: the session's end, within
    /// `SESSION_WARN_DAYS` of today (Beijing).
    pub fn warnings(&self) -> Vec<String> {
        let today = chrono::Utc::now()
            .with_timezone(&crate::clock::beijing())
            .date_naive();
        let quota = self.quota.and_then(|q| {
            (q.used.saturating_mul(10) >= q.quota.saturating_mul(7)).then(|| {
                format!(
                    "today's calls reached {}% of daily_quota ({} of {}): the quota resets at 00:00 Beijing time; ask the open platform for a larger tier if nights come close",
                    q.used * 100 / q.quota.max(1),
                    q.used,
                    q.quota
                )
            })
        });
        self.session_expires
            .and_then(|expires| session_warning(expires, today))
            .into_iter()
            .chain(quota)
            .chain(due_warning(self.due_soon))
            .collect()
    }

    pub fn exit(&self) -> Exit {
        match (
            exit_of(self.tally, self.halt),
            self.halt,
            self.retryable_exit,
        ) {
            (Exit::Halted, Some(reason), Some(code)) if reason.kind().retryable() => {
                Exit::HaltedRetryable(code)
            }
            (exit, _, _) => exit,
        }
    }

    pub(super) fn rate(&self) -> f64 {
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
        if self.resent > 0 {
            text.push_str(&format!(
                "  ({} of them the ledger's failed orders, sent again)\n",
                self.resent
            ));
        }
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
                let code = group.code();
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
                "   ledger: {} (+{} outcomes)\n",
                path(self.ledger),
                self.ledger_appended
            ));
        }
        if let Some(q) = self.quota {
            text.push_str(&format!(
                "calls today (Beijing day, every command): {} of daily_quota {}\n",
                q.used, q.quota
            ));
        }
        if let Some(reason) = self.halt {
            text.push_str(&format!("halted: {}\n", visible(&reason.to_string())));
        }
        for warning in self.warnings() {
            text.push_str(&format!("warning: {warning}\n"));
        }
        text
    }
}

/// The warning for orders needing attention that fall due within a day, naming the
/// soonest.
fn due_warning(due: &(u64, Vec<crate::ledger::reconcile::DueOrder>)) -> Option<String> {
    let (count, soonest) = due;
    if *count == 0 {
        return None;
    }
    let named: Vec<String> = soonest
        .iter()
        .map(|o| {
            format!(
                "{} ({}, {}, due {})",
                visible(&o.order_no),
                visible(&o.req_id),
                o.state.as_str(),
                o.deadline
                    .get(..16)
                    .unwrap_or(&o.deadline)
                    .replace('T', " ")
            )
        })
        .collect();
    Some(format!(
        "{count} orders that still need attention fall due within a day (the platform closes them then): {}{}",
        named.join("; "),
        if *count as usize > soonest.len() {
            "; …"
        } else {
            ""
        }
    ))
}

/// The warning for a session that ends on `expires`, if that is within
/// `SESSION_WARN_DAYS` of `today` (or past).
pub fn session_warning(expires: chrono::NaiveDate, today: chrono::NaiveDate) -> Option<String> {
    let left = (expires - today).num_days();
    if left < 0 {
        Some(format!(
            "the session ended on {expires}: authorize the app again and set the new TOP_SESSION (and session_expires)"
        ))
    } else if left <= SESSION_WARN_DAYS {
        Some(format!(
            "the session ends on {expires}, in {left} days: authorize the app again before then (the platform cannot refresh it), and set session_expires"
        ))
    } else {
        None
    }
}

/// The summary on stderr, unless quiet and all went well: the text, or with JSON
/// logs one event whose fields are the summary document `doc`.
pub fn print(
    summary: &RunSummary<'_>,
    doc: &serde_json::Value,
    invalid: &[String],
    simulator: Option<&crate::simulator::Stats>,
    quiet: bool,
) {
    if !quiet || summary.exit() != Exit::Success || !summary.warnings().is_empty() {
        print_invalid(invalid, summary.tally.count(Status::Invalid));
        let text = summary.render();
        crate::console::event(
            if summary.exit() == Exit::Success {
                "INFO"
            } else {
                "WARN"
            },
            text.trim_end(),
            "run summary",
            doc.clone(),
        );
        if let Some(stats) = simulator {
            crate::console::event(
                "INFO",
                &format!(
                    "simulator: {} requests, {} accepted, {} duplicates, {} rejected",
                    stats.requests, stats.accepted, stats.duplicates, stats.rejected
                ),
                "simulator",
                serde_json::json!({
                    "requests": stats.requests,
                    "accepted": stats.accepted,
                    "duplicates": stats.duplicates,
                    "rejected": stats.rejected,
                }),
            );
        }
    }
}

fn print_invalid(examples: &[String], total: u64) {
    if examples.is_empty() {
        return;
    }
    if !crate::console::is_json() {
        crate::console::errln!("invalid rows:");
    }
    for example in examples {
        crate::console::event(
            "WARN",
            &format!("  {}", visible(example)),
            "invalid row",
            serde_json::json!({"row": example}),
        );
    }
    if total > examples.len() as u64 {
        let more = total - examples.len() as u64;
        crate::console::event(
            "WARN",
            &format!("  … and {more} more (status invalid in the result file)"),
            "more invalid rows",
            serde_json::json!({"more": more}),
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
            resent: 0,
            plan_digest: "d",
            retryable_exit: None,
            session_expires: None,
            quota: None,
            due_soon: &(0, Vec::new()),
        };
        use crate::send::summary_json::{self, RunInfo};
        let info = RunInfo::new(
            "r1",
            &[std::path::PathBuf::from("in.csv")],
            chrono::Utc::now(),
        );
        let doc = serde_json::to_value(summary_json::of_run(&summary, &info)).expect("serializes");
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["run_id"], "r1");
        assert_eq!(doc["inputs"][0]["given"], "in.csv");
        assert_eq!(doc["error"], serde_json::Value::Null);
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
