//! Progress of the calls on stderr: an indicatif bar on a terminal, one plain line
//! every ~10 s otherwise (cron mails stay short), or nothing. Counts only the rows
//! the plan sends; the summary covers the rest.

use std::fmt;
use std::io::IsTerminal as _;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::status::Status;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else log lines.
    #[default]
    Auto,
    Bar,
    Log,
    Off,
}

impl FromStr for ProgressMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(ProgressMode::Auto),
            "bar" => Ok(ProgressMode::Bar),
            "log" => Ok(ProgressMode::Log),
            "off" => Ok(ProgressMode::Off),
            other => Err(format!(
                "unknown progress mode '{other}': expected auto, bar, log or off"
            )),
        }
    }
}

#[derive(Debug)]
struct Counters {
    total: u64,
    started: Instant,
    done: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    /// How long the run took, once it has ended.
    took: std::sync::OnceLock<Duration>,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delivered {} · rejected {} · failed {}",
            self.delivered.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        )
    }
}

impl Counters {
    fn log_line(&self) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / seconds;
        let left = self.total.saturating_sub(done);
        let eta = if rate > 0.0 {
            format!("{:.0}s", left as f64 / rate)
        } else {
            "?".into()
        };
        format!(
            "progress: {done}/{} ({:.0}%) — {self} — {} orders/s, ETA {eta}",
            self.total,
            100.0 * done as f64 / self.total.max(1) as f64,
            rate_text(rate)
        )
    }
}

/// A rate as people read it: whole numbers with thousands separators (`14,523`), one
/// decimal only below 1 (`0.4`), where a whole number would say nothing.
fn rate_text(per_second: f64) -> String {
    if !per_second.is_finite() || per_second <= 0.0 {
        return "0".into();
    }
    if per_second < 1.0 {
        return format!("{per_second:.1}");
    }
    indicatif::HumanCount(per_second.round() as u64).to_string()
}

/// A run's counts as another task reads them while it runs (the desk's progress page):
/// empty until the run knows how many calls it will make.
#[derive(Debug, Default)]
pub struct Live {
    counters: std::sync::Mutex<Option<Arc<Counters>>>,
    /// Whether the run has published its counters: awaited by `started`.
    published: tokio::sync::watch::Sender<bool>,
}

/// What `Live` shows at one moment.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Snapshot {
    pub total: u64,
    pub done: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub failed: u64,
    pub elapsed_seconds: f64,
    /// Calls finished per second so far.
    pub rate: f64,
    /// Seconds left at that rate; none before the first call ends.
    pub eta_seconds: Option<f64>,
}

impl Live {
    /// Once the run has started its calls (its counters published).
    pub async fn started(&self) {
        let mut published = self.published.subscribe();
        let _ = published.wait_for(|published| *published).await;
    }

    /// The counts now, once the run has started its calls.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let counters = self.counters.lock().ok()?.clone()?;
        let done = counters.done.load(Ordering::Relaxed);
        let elapsed = counters
            .took
            .get()
            .copied()
            .unwrap_or_else(|| counters.started.elapsed())
            .as_secs_f64();
        let rate = done as f64 / elapsed.max(0.001);
        Some(Snapshot {
            total: counters.total,
            done,
            delivered: counters.delivered.load(Ordering::Relaxed),
            rejected: counters.rejected.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            elapsed_seconds: elapsed,
            rate,
            eta_seconds: (done > 0).then(|| counters.total.saturating_sub(done) as f64 / rate),
        })
    }
}

/// The progress display of one run.
#[derive(Debug)]
pub struct Progress {
    counters: Arc<Counters>,
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing progress of `total` orders; log lines every `log_every`.
    /// Needs a tokio runtime for the log mode.
    pub fn start(mode: ProgressMode, total: u64, log_every: Duration) -> Self {
        let counters = Arc::new(Counters {
            total,
            started: Instant::now(),
            done: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            took: std::sync::OnceLock::new(),
        });
        let mode = match mode {
            // JSON logs are for a collector, even on a terminal: lines, not a bar.
            ProgressMode::Auto if crate::console::is_json() => ProgressMode::Log,
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Log,
            other => other,
        };
        let mut progress = Progress {
            counters: Arc::clone(&counters),
            bar: None,
            ticker: None,
        };
        if total == 0 {
            return progress;
        }
        match mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} {rate} ETA {eta} {msg}",
                    )
                    .expect("valid template")
                    .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
                        let _ = write!(w, "{}/s", rate_text(state.per_sec()));
                    })
                    .progress_chars("=> "),
                );
                bar.set_message(counters.to_string());
                progress.bar = Some(bar);
            }
            ProgressMode::Log => {
                progress.ticker = Some(tokio::spawn(async move {
                    let mut every = tokio::time::interval_at(
                        tokio::time::Instant::now() + log_every,
                        log_every,
                    );
                    loop {
                        every.tick().await;
                        if counters.done.load(Ordering::Relaxed) < counters.total {
                            // Off a terminal, each line says when (Beijing time).
                            let line = counters.log_line();
                            crate::console::event(
                                "INFO",
                                &format!("{} {line}", crate::clock::now_stamp()),
                                &line,
                                serde_json::json!({}),
                            );
                        }
                    }
                }));
            }
            ProgressMode::Off | ProgressMode::Auto => {}
        }
        progress
    }

    /// Lets `live` read this run's counts from now on.
    pub fn publish(&self, live: &Live) {
        if let Ok(mut slot) = live.counters.lock() {
            *slot = Some(Arc::clone(&self.counters));
        }
        live.published.send_replace(true);
    }

    /// One planned order finished with `status`.
    pub fn record(&self, status: Status) {
        let counter = match status {
            Status::Delivered => &self.counters.delivered,
            Status::Rejected => &self.counters.rejected,
            _ => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let done = self.counters.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            if status != Status::Delivered || done.is_multiple_of(64) {
                bar.set_message(self.counters.to_string());
            }
        }
    }

    /// Clears the bar (the summary follows) and stops the log lines.
    pub fn finish(&self) {
        let _ = self.counters.took.set(self.counters.started.elapsed());
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("log".parse(), Ok(ProgressMode::Log));
        assert!("loud".parse::<ProgressMode>().is_err());
    }

    #[test]
    fn rates_are_whole_numbers_people_can_read() {
        assert_eq!(rate_text(300.3193), "300");
        assert_eq!(rate_text(14_523.6), "14,524");
        assert_eq!(rate_text(1_234_567.0), "1,234,567");
        assert_eq!(rate_text(999.5), "1,000");
        assert_eq!(rate_text(1.0), "1");
        assert_eq!(rate_text(0.44), "0.4");
        assert_eq!(rate_text(0.0), "0");
        assert_eq!(rate_text(f64::NAN), "0");
    }

    #[test]
    fn log_lines_count_outcomes() {
        let progress = Progress::start(ProgressMode::Off, 4, Duration::from_secs(10));
        progress.record(Status::Delivered);
        progress.record(Status::Failed);
        let line = progress.counters.log_line();
        assert!(
            line.starts_with("progress: 2/4 (50%) — delivered 1 · rejected 0 · failed 1"),
            "{line}"
        );
        progress.finish();
    }

    #[test]
    fn a_published_run_is_read_while_it_runs() {
        let live = Live::default();
        assert_eq!(live.snapshot(), None);
        let progress = Progress::start(ProgressMode::Off, 3, Duration::from_secs(10));
        progress.publish(&live);
        progress.record(Status::Delivered);
        progress.record(Status::Rejected);
        let now = live.snapshot().expect("published");
        assert_eq!(
            (now.total, now.done, now.delivered, now.rejected),
            (3, 2, 1, 1)
        );
        assert!(now.eta_seconds.is_some_and(|eta| eta >= 0.0));
    }
}
