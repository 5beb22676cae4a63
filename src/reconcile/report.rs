//! Reconcile's reports of a `Reconciled` (or of a reconcile that stopped): the summary
//! on stderr, `--summary-json` and `--metrics-file` — all from the one value.

use std::io::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::Reconciled;
use super::bucket::Bucket;
use crate::exit::Exit;
use crate::outfile::Replacement;
use crate::top::trades::TIME_FORMAT;

/// The orders falling due that the summary JSON (and so the notification) names.
pub const DUE_LISTED: usize = 20;

/// The summary, for a person.
pub fn summary(found: &Reconciled, due_within: &str, out: Option<&Path>) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "reconcile {} → {} (Beijing time): {} trades in {} windows, {} calls (the documented minimum: {}{}){}",
        found.from.format(TIME_FORMAT),
        found.to.format(TIME_FORMAT),
        found.trades,
        found.windows,
        found.calls,
        found.minimum_calls,
        moved(found),
        match found.catch_up_calls {
            0 => String::new(),
            n => format!(" + {n} for the trades modified during the walk"),
        }
    );
    for bucket in Bucket::ALL {
        let count = found.count(bucket);
        if count == 0 {
            continue;
        }
        let _ = write!(
            text,
            "  {:<20} {count:>9}  {}",
            bucket.as_str(),
            bucket.chinese()
        );
        let due = found.due(bucket);
        if due > 0 {
            let _ = write!(text, " — {due} due within {due_within}");
        }
        text.push('\n');
    }
    if found.not_ours > 0 {
        let _ = writeln!(text, "  not paid yet (nothing for us): {}", found.not_ours);
    }
    if found.other_items > 0 {
        let _ = writeln!(
            text,
            "  of other items (config items): {}",
            found.other_items
        );
    }
    match found.due_total() {
        0 => {
            let _ = writeln!(
                text,
                "nothing that waits on us falls due within {due_within}"
            );
        }
        due => {
            let _ = writeln!(
                text,
                "{due} orders wait on us and fall due within {due_within} (or give no deadline){}",
                out.map(|p| format!(": listed first in {}", p.display()))
                    .unwrap_or_default()
            );
        }
    }
    let _ = write!(
        text,
        "calls today (Beijing day, every command): {}",
        found.calls_today
    );
    if let Some(quota) = found.daily_quota {
        let _ = write!(text, " of daily_quota {quota}");
    }
    text.push('\n');
    text
}

/// A duration as a person writes it: `24h`, `90m`, `2d`.
pub fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs > 0 && secs.is_multiple_of(86_400) && secs >= 7 * 86_400 {
        format!("{}d", secs / 86_400)
    } else if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs > 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

fn moved(found: &Reconciled) -> String {
    let mut notes = Vec::new();
    if found.rereads > 0 {
        notes.push(format!(
            "; {} first pages read again: trades left a window while it was walked",
            found.rereads
        ));
    }
    if found.rewalks > 0 {
        notes.push(format!(
            "; {} windows walked again: they grew while walked",
            found.rewalks
        ));
    }
    notes.concat()
}

/// What `--summary-json` holds.
#[derive(Debug)]
pub struct Doc<'a> {
    pub found: Option<&'a Reconciled>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub exit: Exit,
    pub error: Option<String>,
    pub halt_reason: Option<&'static str>,
    pub calls: u64,
}

pub fn json(doc: &Doc<'_>) -> serde_json::Value {
    let mut value = serde_json::json!({
        "schema_version": 1,
        "command": "reconcile",
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": crate::clock::stamp(doc.started),
        "finished_at": crate::clock::stamp(doc.finished),
        "exit_code": doc.exit.code(),
        "error": doc.error,
        "halt_reason": doc.halt_reason,
        "calls": doc.calls,
    });
    if let Some(found) = doc.found {
        let buckets: serde_json::Map<String, serde_json::Value> = Bucket::ALL
            .iter()
            .map(|b| (b.as_str().to_owned(), found.count(*b).into()))
            .collect();
        let due: serde_json::Map<String, serde_json::Value> = Bucket::ALL
            .iter()
            .filter(|b| b.needs_us())
            .map(|b| (b.as_str().to_owned(), found.due(*b).into()))
            .collect();
        value["window"] = serde_json::json!({
            "from": found.from.format(TIME_FORMAT).to_string(),
            "to": found.to.format(TIME_FORMAT).to_string(),
            "windows": found.windows,
        });
        value["window_calls"] = found.calls.into();
        value["minimum_calls"] = found.minimum_calls.into();
        value["catch_up_calls"] = found.catch_up_calls.into();
        value["calls_made"] = found.calls_made.into();
        value["rereads"] = found.rereads.into();
        value["rewalks"] = found.rewalks.into();
        value["platform_seconds"] = found.waited.as_secs_f64().into();
        value["trades"] = found.trades.into();
        value["buckets"] = buckets.into();
        value["due"] = due.into();
        value["due_total"] = found.due_total().into();
        value["not_paid"] = found.not_ours.into();
        value["other_items"] = found.other_items.into();
        value["deadlines_stored"] = found.deadlines_stored.into();
        value["calls_today"] = found.calls_today.into();
        value["due_orders"] = found
            .rows
            .iter()
            .filter(|r| r.due)
            .take(DUE_LISTED)
            .map(|r| {
                serde_json::json!({
                    "order_no": r.tid.to_string(),
                    "sub_order_no": r.oid.map(|o| o.to_string()),
                    "bucket": r.bucket.as_str(),
                    "deadline": r.deadline.map(|d| d.format(TIME_FORMAT).to_string()),
                    "req_ids": &*r.req_ids,
                })
            })
            .collect();
        value["daily_quota"] = found.daily_quota.into();
    }
    value
}

/// Writes a document to `path` (beside, then renamed).
pub fn write_json(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    let (replacement, mut file) = Replacement::create(path)?;
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    replacement.commit(file).map(drop)
}

/// The metrics file's text (Prometheus textfile format).
pub fn metrics(doc: &Doc<'_>) -> String {
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        crate::send::metrics::gauge(&mut text, name, help, samples);
    };
    let finished = doc.finished.timestamp_millis() as f64 / 1000.0;
    gauge(
        "reconcile_exit_code",
        "Exit code of the last reconcile.",
        &[(String::new(), f64::from(doc.exit.code()))],
    );
    gauge(
        "reconcile_finished_timestamp_seconds",
        "When the last reconcile finished.",
        &[(String::new(), finished)],
    );
    gauge(
        "reconcile_calls",
        "Trades API calls the last reconcile made.",
        &[(String::new(), doc.calls as f64)],
    );
    if let Some(found) = doc.found {
        gauge(
            "reconcile_last_success_timestamp_seconds",
            "When a reconcile last walked its whole window.",
            &[(String::new(), finished)],
        );
        let samples: Vec<(String, f64)> = Bucket::ALL
            .iter()
            .map(|b| {
                (
                    format!("{{bucket=\"{}\"}}", b.as_str()),
                    found.count(*b) as f64,
                )
            })
            .collect();
        gauge(
            "reconcile_orders",
            "Sub-orders by reconcile bucket.",
            &samples,
        );
        gauge(
            "reconcile_due_orders",
            "Orders that wait on us and fall due within --due-within.",
            &[(String::new(), found.due_total() as f64)],
        );
        gauge(
            "calls_today",
            "Calls made on the current Beijing day, every command.",
            &[(String::new(), found.calls_today as f64)],
        );
    }
    text
}

/// Writes the metrics (by rename, mode 0644).
pub fn write_metrics(path: &Path, doc: &Doc<'_>) -> std::io::Result<()> {
    crate::send::metrics::write_textfile(path, &metrics(doc))
}
