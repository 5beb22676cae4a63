//! `check`: the nightly job's setup proven without changing anything. Each check is a
//! line — ok, a warning, or a failure with its fix — and the worst decides the exit
//! code: 0 all good, 1 warnings only, 2 configuration or files, 3 the platform refuses.
//! The credentials and session are proven by a signed call without `param0`: the
//! platform checks the app key, signature, timestamp and session first and answers 40
//! `Missing required arguments:param0` only when all of them passed.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::exit::Exit;
use crate::send::{Connection, Mode};
use crate::top::{Probe, TopClient};

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Warning,
    Failed,
}

/// One check's line.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub check: &'static str,
    pub outcome: Outcome,
    pub message: String,
    /// The exit code a failure means (2 configuration, 3 the platform).
    #[serde(skip)]
    pub exit: Exit,
}

impl Line {
    fn ok(check: &'static str, message: impl Into<String>) -> Line {
        Line {
            check,
            outcome: Outcome::Ok,
            message: message.into(),
            exit: Exit::Success,
        }
    }

    fn warning(check: &'static str, message: impl Into<String>) -> Line {
        Line {
            check,
            outcome: Outcome::Warning,
            message: message.into(),
            exit: Exit::Attention,
        }
    }

    fn failed(check: &'static str, exit: Exit, message: impl Into<String>) -> Line {
        Line {
            check,
            outcome: Outcome::Failed,
            message: message.into(),
            exit,
        }
    }
}

/// The exit code of a set of lines: the worst of them.
pub fn exit_of(lines: &[Line]) -> Exit {
    lines.iter().map(|l| l.exit).max().unwrap_or(Exit::Success)
}

/// Clock skew beyond which a run fails (the gateway refuses over 10 minutes).
const SKEW_FAIL: Duration = Duration::from_secs(10 * 60);
/// Clock skew worth a warning.
const SKEW_WARN: Duration = Duration::from_secs(60);

/// Runs the checks a built configuration allows; `today` and `now` are injected.
pub async fn run(config: &Connection, warn_days: i64, today: NaiveDate) -> Vec<Line> {
    let Mode::Live {
        gateway,
        credentials,
    } = &config.mode
    else {
        return vec![Line::failed(
            "config",
            Exit::Usage,
            "check needs live credentials, not a dry run or a simulation",
        )];
    };
    let mut lines = vec![Line::ok(
        "config",
        format!(
            "app key {} with a secret and a session",
            crate::text::visible(&credentials.app_key)
        ),
    )];
    match TopClient::new(config.client_settings(gateway.clone(), credentials.clone())) {
        Ok(client) => {
            let sent = Utc::now();
            let probe = client.probe().await;
            let judged = judge(&probe, gateway, sent);
            let passed = judged.iter().all(|l| l.outcome != Outcome::Failed);
            lines.extend(judged);
            if passed {
                lines.push(trades_line(&client, sent).await);
            }
        }
        Err(error) => lines.push(Line::failed(
            "gateway",
            Exit::Usage,
            crate::mask::parameters(&error.to_string()).into_owned(),
        )),
    }
    lines.extend(session_line(config.session_expires, warn_days, today));
    lines
}

/// What the probe's answer says of the gateway, the clock and the credentials.
fn judge(probe: &Probe, gateway: &str, sent: DateTime<Utc>) -> Vec<Line> {
    let reply = &probe.reply;
    let gateway = crate::text::visible(&crate::mask::url(gateway)).into_owned();
    if reply.error_code.starts_with("net.") || reply.error_code.starts_with("http.") {
        let fix = crate::top::response::advice(&reply.error_code, "").unwrap_or("");
        return vec![Line::failed(
            "gateway",
            Exit::Halted,
            format!("{gateway}: {} {} {fix}", reply.error_code, reply.error_msg),
        )];
    }
    let mut lines = vec![Line::ok(
        "gateway",
        format!(
            "{gateway} answers as a TOP gateway{}",
            if gateway.starts_with("https") {
                ", its certificate verified"
            } else {
                ""
            }
        ),
    )];
    match probe.gateway_time {
        Some(theirs) => {
            let skew = (theirs - sent).abs().to_std().unwrap_or_default();
            let text = format!(
                "{:.0} s from the gateway's (its Date header)",
                skew.as_secs_f64()
            );
            lines.push(if skew > SKEW_FAIL {
                Line::failed("clock", Exit::Halted, format!("{text}: more than the 10 minutes the gateway allows; synchronize this machine's clock (NTP)"))
            } else if skew > SKEW_WARN {
                Line::warning("clock", format!("{text}: synchronize this machine's clock (NTP) before it drifts past 10 minutes"))
            } else {
                Line::ok("clock", text)
            });
        }
        None => lines.push(Line::warning(
            "clock",
            "the gateway's answer has no Date header: the clock cannot be compared",
        )),
    }
    let code = reply.error_code.as_str();
    let said = format!(
        "{code} {} {} {}",
        reply.error_msg, reply.sub_code, reply.sub_msg
    );
    let said = crate::text::visible(said.trim()).into_owned();
    lines.push(if code == "40" && reply.error_msg.contains("param0") {
        Line::ok("credentials", "app key, signature, timestamp and session accepted (the probe without param0 was refused for that alone)")
    } else {
        let fix = crate::top::response::advice(code, &reply.sub_code)
            .unwrap_or("the gateway did not answer a probe as TOP does: check --gateway");
        Line::failed("credentials", Exit::Halted, format!("{said}: {fix}"))
    });
    lines
}

/// Whether the app may read the shop's trades (what `reconcile` needs; `send` does
/// not): one page of one trade of the last minute, which changes nothing.
async fn trades_line(client: &TopClient, now: DateTime<Utc>) -> Line {
    let end = crate::reconcile::to_beijing(now);
    let query = crate::top::trades::PageQuery {
        start: end - chrono::TimeDelta::minutes(1),
        end,
        page_no: 1,
        page_size: 1,
        use_has_next: true,
    };
    match client.trades_page(&query).await {
        Ok(_) => Line::ok(
            "trades",
            "the app may read the shop's trades (taobao.trades.sold.increment.get): reconcile can run",
        ),
        Err(reply)
            if matches!(reply.error_code.as_str(), "11" | "12" | "13")
                || reply.sub_code.contains("permission")
                || reply.sub_code.ends_with("limited-by-app-api-access-count") =>
        {
            Line::warning(
                "trades",
                format!(
                    "the app lacks the trade permission ({} {}): reconcile cannot run until it is granted on the open platform console; send does not need it",
                    reply.error_code,
                    crate::text::visible(&reply.sub_code)
                ),
            )
        }
        Err(reply) => Line::warning(
            "trades",
            format!(
                "the trades API answered {} {} {}: reconcile may not run",
                reply.error_code,
                crate::text::visible(&reply.error_msg),
                crate::text::visible(&reply.sub_code)
            ),
        ),
    }
}

/// The session's end date, from the config: warned `warn_days` ahead.
fn session_line(expires: Option<NaiveDate>, warn_days: i64, today: NaiveDate) -> Option<Line> {
    let expires = expires?;
    let left = (expires - today).num_days();
    Some(if left < 0 {
        Line::failed(
            "session",
            Exit::Halted,
            format!(
                "the session ended on {expires}: authorize the app again and set the new TOP_SESSION (and session_expires)"
            ),
        )
    } else if left <= warn_days {
        Line::warning(
            "session",
            format!(
                "the session ends on {expires}, in {left} days: authorize the app again before then (the platform cannot refresh it)"
            ),
        )
    } else {
        Line::ok("session", format!("valid until {expires} ({left} days)"))
    })
}

/// The ledger and the results a run will use: the ledger this tool's database (or a
/// place one can be made), the results' directory one that takes a new file.
/// The calls made today (Beijing day, every command's) against `daily_quota`, read
/// from the ledger without opening it for writing (a check migrates nothing).
pub fn quota_line(ledger: Option<&Path>, quota: Option<u64>, day: &str) -> Option<Line> {
    let ledger = ledger.filter(|l| l.exists())?;
    let conn = rusqlite::Connection::open_with_flags(
        ledger,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    let calls: i64 = conn
        .query_row(
            "SELECT coalesce(sum(calls), 0) FROM calls_per_day WHERE day = ?1",
            [day],
            |row| row.get(0),
        )
        .ok()?;
    let calls = calls.max(0) as u64;
    Some(match quota {
        Some(quota) if calls.saturating_mul(10) >= quota.saturating_mul(7) => Line::warning(
            "quota",
            format!(
                "{calls} calls made today (Beijing day, every command) of daily_quota {quota}: past 70%; the quota resets at 00:00 Beijing time"
            ),
        ),
        Some(quota) => Line::ok(
            "quota",
            format!("{calls} calls made today (Beijing day, every command) of daily_quota {quota}"),
        ),
        None => Line::ok(
            "quota",
            format!(
                "{calls} calls made today (Beijing day, every command); no daily_quota in the config"
            ),
        ),
    })
}

pub fn path_lines(ledger: Option<&Path>, out: Option<&Path>) -> Vec<Line> {
    let mut lines = Vec::new();
    if let Some(ledger) = ledger {
        let shown = ledger.display();
        // What the file is, from its first bytes: never opened, so never migrated or
        // otherwise written by a check.
        lines.push(match crate::ledger::Ledger::check_new(ledger) {
            Err(error) => Line::failed("ledger", Exit::Usage, error.to_string()),
            Ok(()) if ledger.exists() => {
                Line::ok("ledger", format!("{shown}: this tool's database"))
            }
            Ok(()) => match takes_a_file(ledger) {
                Ok(()) => Line::ok(
                    "ledger",
                    format!("{shown}: none yet; the first run makes it"),
                ),
                Err(error) => Line::failed(
                    "ledger",
                    Exit::Usage,
                    format!("{shown}: none yet, and none can be made there: {error}"),
                ),
            },
        });
    }
    if let Some(out) = out {
        let named = crate::config::template::expand(out, "check", chrono::Utc::now())
            .map_err(|message| format!("{}: {message}", out.display()))
            .and_then(|path| {
                takes_a_file(&path).map_err(|error| {
                    format!(
                        "{}: its directory takes no new file: {error}",
                        out.display()
                    )
                })
            });
        lines.push(match named {
            Ok(()) => Line::ok(
                "results",
                format!("{}: its directory takes a new file", out.display()),
            ),
            Err(message) => Line::failed("results", Exit::Usage, message),
        });
    }
    lines
}

/// Whether a new file can be made beside `path` (one is made and removed).
fn takes_a_file(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".opentrade-check-")
        .tempfile_in(dir)
        .map(drop)
}

/// The lines as a person reads them.
pub fn render(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|line| {
            let mark = match line.outcome {
                Outcome::Ok => "✓",
                Outcome::Warning => "!",
                Outcome::Failed => "✗",
            };
            format!("{mark} {:<12}{}\n", line.check, line.message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_end_is_warned_ahead_and_failed_after() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).expect("date");
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).expect("date");
        assert_eq!(session_line(None, 30, today).map(|l| l.outcome), None);
        assert_eq!(
            session_line(Some(day(1)), 30, today).map(|l| l.exit),
            Some(Exit::Halted)
        );
        assert_eq!(
            session_line(Some(day(20)), 30, today).map(|l| l.outcome),
            Some(Outcome::Warning)
        );
        assert_eq!(
            session_line(Some(day(20)), 10, today).map(|l| l.outcome),
            Some(Outcome::Ok)
        );
        let lines = [
            Line::ok("a", ""),
            Line::warning("b", ""),
            Line::failed("c", Exit::Usage, ""),
        ];
        assert_eq!(exit_of(&lines), Exit::Usage);
        assert_eq!(exit_of(&lines[..2]), Exit::Attention);
    }
}
