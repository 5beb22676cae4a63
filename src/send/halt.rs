//! Stopping a run early: the first reason wins, every worker sees it, nobody starts
//! a new call after it. In-flight calls are never cancelled: their outcome is known
//! to the platform and must reach the ledger.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::exit::Exit;
use crate::input::InputError;
use crate::ledger::LedgerError;
use crate::signals::Signal;

/// Why a run stopped early.
#[derive(Debug, Clone)]
pub enum HaltReason {
    /// A credentials, permission or clock error: nothing else can succeed.
    Fatal {
        code: String,
        msg: String,
        sub_code: String,
        sub_msg: String,
    },
    /// Too many of the last calls failed: the gateway is down.
    FailureRate {
        failed: usize,
        window: usize,
        max_percent: f64,
    },
    /// Flow control banned the app for longer, all bans together, than `--max-ban-wait`.
    BanTooLong {
        ban: Duration,
        total: Duration,
        max: Duration,
        /// The answer's sub_code (`…limited-by-app-access-count`: the app's quota).
        sub_code: String,
        /// When the ban ends, as the answer stated it (now + its seconds).
        ends: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// SIGINT or SIGTERM.
    Signal(Signal),
    /// An input file could not be read to its end (it changed, or a read failed).
    Input(Arc<InputError>),
    /// The ledger could not be appended to.
    LedgerWrite(Arc<LedgerError>),
    /// The result file could not be written.
    ResultWrite {
        path: PathBuf,
        error: Arc<std::io::Error>,
    },
    /// A thread of the run died; what it held is lost, the ledger holds whole lines.
    Crashed(&'static str),
    /// The next call would pass `daily_quota` (calls per Beijing day, every command's).
    QuotaSpent { quota: u64, used: u64 },
}

impl HaltReason {
    pub fn exit(&self) -> Exit {
        match self {
            HaltReason::Signal(signal) => signal.exit(),
            _ => Exit::Halted,
        }
    }

    /// What kind of stop this is, for a machine (`halt_reason`).
    pub fn kind(&self) -> HaltKind {
        match self {
            HaltReason::Fatal { code, sub_code, .. } => HaltKind::of_code(code, sub_code),
            HaltReason::FailureRate { .. } => HaltKind::GatewayDown,
            HaltReason::BanTooLong { ban, sub_code, .. } => {
                // The app's quota code with a ban of hours is the day's count.
                if sub_code.ends_with("limited-by-app-access-count")
                    && *ban >= Duration::from_secs(3600)
                {
                    HaltKind::DailyQuota
                } else {
                    HaltKind::Banned
                }
            }
            HaltReason::Signal(_) => HaltKind::Interrupted,
            HaltReason::Input(_) => HaltKind::Input,
            HaltReason::LedgerWrite(_) => HaltKind::LedgerWrite,
            HaltReason::ResultWrite { .. } => HaltKind::ResultWrite,
            HaltReason::Crashed(_) => HaltKind::Crashed,
            HaltReason::QuotaSpent { .. } => HaltKind::DailyQuota,
        }
    }
}

/// Why a run stopped early, as a machine can act on it: `halt_reason` in the summary
/// JSON, a label of the metrics, the notification. `retryable`: running again later,
/// unchanged, can succeed; otherwise a person must act first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltKind {
    /// Calls cannot reach the gateway, or too many of them fail.
    GatewayDown,
    /// Flow control banned the app for longer than `--max-ban-wait`.
    Banned,
    /// The app's daily call quota is spent (it resets at 00:00 Beijing time).
    DailyQuota,
    /// The session is missing, wrong or expired: authorize the app again.
    Session,
    /// The app key or secret is refused.
    Credentials,
    /// The app or the seller lacks permission for the API.
    Permission,
    /// This machine's clock is too far off.
    Clock,
    /// The gateway does not speak TOP (another URL, a proxy), or another refusal.
    Gateway,
    /// SIGINT, SIGTERM or SIGHUP.
    Interrupted,
    /// An input changed or could not be read to its end.
    Input,
    /// The ledger could not be written.
    LedgerWrite,
    /// The result file could not be written.
    ResultWrite,
    /// A thread of the run died.
    Crashed,
}

impl HaltKind {
    #[cfg(test)]
    const ALL: [HaltKind; 13] = [
        HaltKind::GatewayDown,
        HaltKind::Banned,
        HaltKind::DailyQuota,
        HaltKind::Session,
        HaltKind::Credentials,
        HaltKind::Permission,
        HaltKind::Clock,
        HaltKind::Gateway,
        HaltKind::Interrupted,
        HaltKind::Input,
        HaltKind::LedgerWrite,
        HaltKind::ResultWrite,
        HaltKind::Crashed,
    ];

    /// A fatal answer's kind, by its code.
    pub fn of_code(code: &str, sub_code: &str) -> HaltKind {
        match code {
            "26" | "27" => HaltKind::Session,
            "24" | "25" | "28" | "29" => HaltKind::Credentials,
            "11" | "12" | "13" => HaltKind::Permission,
            "7" if sub_code.ends_with("limited-by-app-api-access-count") => HaltKind::Permission,
            "7" if sub_code.ends_with("limited-by-app-access-count") => HaltKind::DailyQuota,
            "7" => HaltKind::Banned,
            "31" => HaltKind::Clock,
            "net.timeout" | "net.connect" | "net.reset" => HaltKind::GatewayDown,
            _ if code.starts_with("http.5") => HaltKind::GatewayDown,
            _ => HaltKind::Gateway,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HaltKind::GatewayDown => "gateway_down",
            HaltKind::Banned => "banned",
            HaltKind::DailyQuota => "daily_quota",
            HaltKind::Session => "session",
            HaltKind::Credentials => "credentials",
            HaltKind::Permission => "permission",
            HaltKind::Clock => "clock",
            HaltKind::Gateway => "gateway",
            HaltKind::Interrupted => "interrupted",
            HaltKind::Input => "input",
            HaltKind::LedgerWrite => "ledger_write",
            HaltKind::ResultWrite => "result_write",
            HaltKind::Crashed => "crashed",
        }
    }

    /// Whether running again later, unchanged, can succeed (a daily quota: after
    /// 00:00 Beijing time).
    pub fn retryable(self) -> bool {
        matches!(
            self,
            HaltKind::GatewayDown
                | HaltKind::Banned
                | HaltKind::DailyQuota
                | HaltKind::Interrupted
                | HaltKind::Input
                | HaltKind::Crashed
        )
    }
}

impl fmt::Display for HaltReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HaltReason::Fatal {
                code,
                msg,
                sub_code,
                sub_msg,
            } => {
                if code.starts_with("net.") {
                    write!(f, "no call can reach the gateway: {code} {msg}")?;
                } else {
                    write!(f, "the gateway answered {code} {msg}")?;
                }
                if !sub_code.is_empty() || !sub_msg.is_empty() {
                    write!(f, " ({sub_code} {sub_msg})")?;
                }
                if let Some(advice) = crate::top::response::advice(code, sub_code) {
                    write!(f, ": {advice}")?;
                }
                if code == "7" && sub_code.ends_with("limited-by-app-access-count") {
                    let left = crate::clock::until_beijing_midnight(chrono::Utc::now());
                    let minutes = left.as_secs().div_ceil(60);
                    write!(
                        f,
                        " — that is in {}h {:02}m from now",
                        minutes / 60,
                        minutes % 60
                    )?;
                }
                Ok(())
            }
            HaltReason::FailureRate {
                failed,
                window,
                max_percent,
            } => write!(
                f,
                "{failed} of the last {window} calls failed (more than {max_percent}%): the gateway looks down; \
                 resubmit later (--max-failure-rate to change the threshold)"
            ),
            HaltReason::BanTooLong {
                ban,
                total,
                max,
                sub_code,
                ends,
            } => {
                write!(
                    f,
                    "flow control (code 7{}) bans the app for {}",
                    if sub_code.is_empty() {
                        String::new()
                    } else {
                        format!(" {sub_code}")
                    },
                    long_duration(*ban),
                )?;
                if let Some(ends) = ends {
                    write!(
                        f,
                        ", until {} Beijing time",
                        ends.with_timezone(&crate::clock::beijing())
                            .format("%Y-%m-%d %H:%M:%S")
                    )?;
                }
                write!(
                    f,
                    ": {} banned in all this run, more than --max-ban-wait {}",
                    long_duration(*total),
                    humantime::format_duration(*max)
                )?;
                if sub_code.ends_with("limited-by-app-access-count") {
                    // TOP: "应用调用次数超限，包含调用频率超限" — which one, by the length.
                    if *ban >= DAILY_BAN {
                        f.write_str("; a ban of hours is the app's daily call quota, spent until 00:00 Beijing time (ask the open platform for a larger quota, or spread the calls)")?;
                    } else {
                        f.write_str("; a ban of seconds or minutes is the app's call frequency limit: lower --qps or --concurrency")?;
                    }
                }
                f.write_str(" — run again after the ban")
            }
            HaltReason::Signal(Signal::Interrupt) => f.write_str("interrupted (SIGINT)"),
            HaltReason::Signal(Signal::Terminate) => f.write_str("terminated (SIGTERM)"),
            HaltReason::Signal(Signal::Hangup) => f.write_str(
                "hung up (SIGHUP: the terminal closed; run it with nohup, or from cron or systemd)",
            ),
            HaltReason::Input(error) => {
                write!(f, "{error}; the rows after it have no result")
            }
            HaltReason::LedgerWrite(error) => write!(
                f,
                "{error}; the outcomes not recorded will be sent again by the next run (the platform recognises them by req_id)"
            ),
            HaltReason::ResultWrite { path, error } => {
                write!(
                    f,
                    "cannot write the result file {}: {error}",
                    path.display()
                )
            }
            HaltReason::Crashed(what) => write!(f, "{what} failed"),
            HaltReason::QuotaSpent { quota, used } => write!(
                f,
                "the next call would pass today's daily_quota of {quota} calls ({used} made today, by every command): stopped before it; the rest is sent by a run after 00:00 Beijing time"
            ),
        }
    }
}

/// A ban this long under `limited-by-app-access-count` is the daily count, not the
/// frequency limit: it lasts until 00:00 Beijing time, so it is said in hours.
const DAILY_BAN: Duration = Duration::from_secs(3600);

/// A duration for people; "for ever" past a century (a gateway's absurd ban).
fn long_duration(d: Duration) -> String {
    if d > Duration::from_secs(100 * 365 * 86_400) {
        "for ever".to_owned()
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// The run's stop flag.
#[derive(Debug)]
pub struct Halt {
    reason: OnceLock<HaltReason>,
    flag: watch::Sender<bool>,
}

impl Default for Halt {
    fn default() -> Self {
        Halt {
            reason: OnceLock::new(),
            flag: watch::Sender::new(false),
        }
    }
}

impl Halt {
    /// Stops the run for `reason`, unless it already stopped; true if this was first.
    pub fn trigger(&self, reason: HaltReason) -> bool {
        let first = self.reason.set(reason).is_ok();
        if first {
            self.flag.send_replace(true);
        }
        first
    }

    pub fn reason(&self) -> Option<&HaltReason> {
        self.reason.get()
    }

    pub fn is_halted(&self) -> bool {
        self.reason.get().is_some()
    }

    /// Resolves once the run is halted.
    pub async fn halted(&self) {
        let mut flag = self.flag.subscribe();
        let _ = flag.wait_for(|halted| *halted).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins() {
        let halt = Halt::default();
        assert!(halt.trigger(HaltReason::Signal(Signal::Interrupt)));
        assert!(!halt.trigger(HaltReason::Crashed("the input reader")));
        assert_eq!(halt.reason().map(HaltReason::exit), Some(Exit::Interrupted));
    }

    #[tokio::test]
    async fn waiters_wake_on_halt() {
        let halt = std::sync::Arc::new(Halt::default());
        let waiter = tokio::spawn({
            let halt = std::sync::Arc::clone(&halt);
            async move { halt.halted().await }
        });
        halt.trigger(HaltReason::Signal(Signal::Terminate));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woke")
            .expect("joined");
    }

    #[test]
    fn fatal_reasons_carry_advice() {
        let reason = HaltReason::Fatal {
            code: "27".into(),
            msg: "Invalid session".into(),
            sub_code: String::new(),
            sub_msg: String::new(),
        };
        assert!(reason.to_string().contains("TOP_SESSION"), "{reason}");
        assert_eq!(reason.exit(), Exit::Halted);
    }

    #[test]
    fn halts_say_whether_a_person_must_act() {
        let fatal = |code: &str, sub_code: &str| HaltReason::Fatal {
            code: code.into(),
            msg: String::new(),
            sub_code: sub_code.into(),
            sub_msg: String::new(),
        };
        let kind = |reason: HaltReason| (reason.kind().as_str(), reason.kind().retryable());
        assert_eq!(kind(fatal("27", "")), ("session", false));
        assert_eq!(kind(fatal("25", "")), ("credentials", false));
        assert_eq!(kind(fatal("11", "")), ("permission", false));
        assert_eq!(
            kind(fatal("7", "accesscontrol.limited-by-app-api-access-count")),
            ("permission", false)
        );
        assert_eq!(kind(fatal("31", "")), ("clock", false));
        assert_eq!(kind(fatal("net.connect", "")), ("gateway_down", true));
        assert_eq!(kind(fatal("http.404", "")), ("gateway", false));
        let failures = HaltReason::FailureRate {
            failed: 9,
            window: 10,
            max_percent: 50.0,
        };
        assert_eq!(kind(failures), ("gateway_down", true));
        let ban = |seconds, sub_code: &str| HaltReason::BanTooLong {
            ban: Duration::from_secs(seconds),
            total: Duration::from_secs(seconds),
            max: Duration::from_secs(60),
            sub_code: sub_code.into(),
            ends: None,
        };
        let quota = "accesscontrol.limited-by-app-access-count";
        assert_eq!(kind(ban(600, quota)), ("banned", true));
        assert_eq!(kind(ban(7 * 3600, quota)), ("daily_quota", true));
        let names: std::collections::HashSet<_> =
            HaltKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), HaltKind::ALL.len(), "names are distinct");
    }
}
