//! `--metrics-file`: the run in the Prometheus textfile-collector format (node_exporter's
//! `--collector.textfile.directory`), written by rename on every exit, so a scrape never
//! sees half a file. Metric names start `opentrade_callback_`; the last success (a run
//! that finished: exit 0 or 1) is kept from the previous file when this run fails, so
//! "no success for 26 hours" is one alert rule. Error codes are labels, at most
//! `ERROR_SERIES` of them (the rest summed as `other`), escaped and cut short.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::exit::Exit;
use crate::outfile::Replacement;
use crate::results::tally::Tally;
use crate::status::Status;

/// The most error series written.
const ERROR_SERIES: usize = 10;
/// The longest label value written.
const MAX_LABEL: usize = 64;

/// What one run says to the metrics file.
#[derive(Debug)]
pub struct RunMetrics<'a> {
    pub exit: Exit,
    /// Why the run stopped early, if it did.
    pub halt: Option<crate::send::halt::HaltKind>,
    /// The day the session ends, if known.
    pub session_expires: Option<chrono::NaiveDate>,
    /// Today's calls against `daily_quota`.
    pub quota: Option<super::quota::QuotaUse>,
    pub tally: &'a Tally,
    pub duration: Duration,
    pub banned: Duration,
    pub finished: DateTime<Utc>,
}

/// Writes `metrics` to `path`, keeping the previous file's last success if this run
/// is not one.
pub fn write(path: &Path, metrics: &RunMetrics<'_>) -> std::io::Result<()> {
    let previous = last_success(path);
    write_textfile(path, &render(metrics, previous))
}

/// Writes a textfile collector's file by rename, mode 0644 whatever the umask
/// (systemd's `UMask=0027` would make it 0640, unreadable to the collector): it holds
/// counts, never a secret.
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    let (replacement, mut file) = Replacement::create(path)?;
    if replacement.scratch_dir().is_some() {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.write_all(text.as_bytes())?;
    replacement.commit(file).map(drop)
}

/// Appends one gauge, its help and type lines, to `text` (names prefixed
/// `opentrade_callback_`; `samples` are labels, like `{bucket="done"}`, and values).
pub fn gauge(text: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    use std::fmt::Write as _;
    let _ = writeln!(text, "# HELP opentrade_callback_{name} {help}");
    let _ = writeln!(text, "# TYPE opentrade_callback_{name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(text, "opentrade_callback_{name}{labels} {value}");
    }
}

/// The `last_success_timestamp_seconds` of an earlier file at `path`, if any.
fn last_success(path: &Path) -> Option<f64> {
    let text = crate::textfile::read(path).ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix("opentrade_callback_last_success_timestamp_seconds ")
            .and_then(|value| value.trim().parse().ok())
    })
}

/// The file's text.
pub fn render(metrics: &RunMetrics<'_>, previous_success: Option<f64>) -> String {
    let now = metrics.finished.timestamp_millis() as f64 / 1000.0;
    let finished_run = matches!(metrics.exit, Exit::Success | Exit::Attention);
    let last_success = if finished_run {
        Some(now)
    } else {
        previous_success
    };
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        gauge(&mut text, name, help, samples);
    };
    let one = |value: f64| vec![(String::new(), value)];
    gauge(
        "last_run_timestamp_seconds",
        "When the last run ended (Unix time).",
        &one(now),
    );
    if let Some(success) = last_success {
        gauge(
            "last_success_timestamp_seconds",
            "When the last run that finished (exit 0 or 1) ended (Unix time).",
            &one(success),
        );
    }
    gauge(
        "exit_code",
        "The last run's exit code (0 all done, 1 rows need attention, 2 usage, 3 halted, 4 locked, 129/130/143 signals).",
        &one(f64::from(metrics.exit.code())),
    );
    if let Some(kind) = metrics.halt {
        gauge(
            "halted",
            "1 when the last run stopped early: why (reason), and whether running again later can succeed (retryable).",
            &[(
                format!(
                    "{{reason=\"{}\",retryable=\"{}\"}}",
                    kind.as_str(),
                    kind.retryable()
                ),
                1.0,
            )],
        );
    }
    if let Some(quota) = metrics.quota {
        gauge(
            "calls_today",
            "Calls made on the current Beijing day, every command (daily_quota counts them).",
            &one(quota.used as f64),
        );
        gauge(
            "daily_quota",
            "The app's calls per Beijing day (daily_quota in the config).",
            &one(quota.quota as f64),
        );
    }
    if let Some(expires) = metrics.session_expires {
        let midnight = expires
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(crate::clock::beijing()).single())
            .map_or(0, |t| t.timestamp());
        gauge(
            "session_expires_timestamp_seconds",
            "When the session ends (session_expires in the config, 00:00 Beijing time; Unix time): alert 30 days ahead.",
            &one(midnight as f64),
        );
    }
    gauge(
        "duration_seconds",
        "How long the last run took.",
        &one(metrics.duration.as_secs_f64()),
    );
    gauge(
        "calls",
        "Calls the last run made (attempts).",
        &one(metrics.tally.calls() as f64),
    );
    gauge(
        "ban_seconds",
        "Time the last run spent banned by flow control.",
        &one(metrics.banned.as_secs_f64()),
    );
    let rows: Vec<(String, f64)> = Status::ALL
        .iter()
        .map(|status| {
            (
                format!("{{status=\"{}\"}}", status.as_str()),
                metrics.tally.count(*status) as f64,
            )
        })
        .collect();
    gauge("rows", "Rows of the last run by status.", &rows);
    let errors = metrics.tally.errors();
    let mut series: Vec<(String, f64)> = errors
        .iter()
        .take(ERROR_SERIES)
        .map(|group| {
            (
                format!(
                    "{{error_code=\"{}\",sub_code=\"{}\"}}",
                    label(&group.error_code),
                    label(&group.sub_code)
                ),
                group.count as f64,
            )
        })
        .collect();
    let other: u64 = errors.iter().skip(ERROR_SERIES).map(|g| g.count).sum();
    if other > 0 {
        series.push((
            "{error_code=\"other\",sub_code=\"\"}".to_owned(),
            other as f64,
        ));
    }
    gauge(
        "errors",
        "Rows of the last run that need attention, by error code.",
        &series,
    );
    text
}

/// A label value as the text format needs it: `\`, `"` and line breaks escaped,
/// control characters dropped, at most `MAX_LABEL` characters.
fn label(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars().take(MAX_LABEL) {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_keeps_the_last_success_and_labels_are_escaped() {
        let tally = Tally::default();
        let metrics = RunMetrics {
            exit: Exit::Halted,
            halt: Some(crate::send::halt::HaltKind::Session),
            session_expires: chrono::NaiveDate::from_ymd_opt(2027, 3, 1),
            quota: None,
            tally: &tally,
            duration: Duration::from_millis(1500),
            banned: Duration::ZERO,
            finished: DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
        };
        let text = render(&metrics, Some(1_699_990_000.0));
        assert!(text.contains("opentrade_callback_exit_code 3\n"), "{text}");
        // 2027-03-01 00:00 Beijing is 2027-02-28 16:00 UTC.
        assert!(
            text.contains("opentrade_callback_session_expires_timestamp_seconds 1803830400\n"),
            "{text}"
        );
        assert!(
            text.contains("opentrade_callback_halted{reason=\"session\",retryable=\"false\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("opentrade_callback_last_success_timestamp_seconds 1699990000\n"),
            "{text}"
        );
        assert!(text.contains("opentrade_callback_last_run_timestamp_seconds 1700000000\n"));
        assert!(!render(&metrics, None).contains("last_success"));
        assert_eq!(label("a\"b\\c\nd\u{1b}"), "a\\\"b\\\\c\\nd");
    }
}
