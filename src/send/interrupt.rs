//! Signals heard through a whole run: before the first call a signal stops the run
//! where it is (every step that can wait runs on a blocking thread raced with it); while
//! calls are made the first signal halts (calls in flight finish) and a second quits at
//! once; while the outputs are written a signal leaves them `GRACE`.

use std::sync::Arc;

use super::error::SendError;
use super::halt::{Halt, HaltReason};
use crate::signals::{Signal, Signals};

/// How long writing the outputs may go on after a signal before the run leaves
/// without them (a FIFO whose reader stopped reading would hold it for ever).
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// `work` on a blocking thread, so the runtime stays free to hear signals.
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, SendError> + Send + 'static,
) -> Result<T, SendError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| SendError::Panicked(what))?
}

/// `work`, unless a signal comes first: before the first call a signal stops the run
/// where it is.
pub async fn until_signal<T>(
    signals: &mut Signals,
    work: impl std::future::Future<Output = T>,
) -> Result<T, SendError> {
    tokio::select! {
        biased;
        signal = signals.next() => Err(SendError::Interrupted(signal)),
        done = work => Ok(done),
    }
}

/// Waits for the writing of the outputs; a signal during it leaves `GRACE` for it to
/// end, then the process exits with the signal's code (the ledger was synced before
/// any output was written; a temporary file is removed).
pub async fn finish_or_leave<T>(
    work: impl std::future::Future<Output = Result<T, SendError>>,
    mut stopped: tokio::sync::watch::Receiver<Option<Signal>>,
) -> Result<T, SendError> {
    tokio::pin!(work);
    stopped.borrow_and_update();
    tokio::select! {
        done = &mut work => done,
        _ = stopped.changed() => match tokio::time::timeout(GRACE, &mut work).await {
            Ok(done) => done,
            Err(_) => {
                let signal = (*stopped.borrow()).unwrap_or(Signal::Terminate);
                crate::outfile::remove_temporaries();
                crate::errln!(
                    "quitting: an output could not be written within {} of the signal (a FIFO nobody reads?); the ledger is intact",
                    humantime::format_duration(GRACE)
                );
                std::process::exit(i32::from(signal.exit().code()));
            }
        },
    }
}

/// First signal: stop starting calls (and say so through the receiver). Second: quit
/// at once (the ledger holds whole lines).
pub fn watch_signals(
    mut signals: Signals,
    halt: Arc<Halt>,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Receiver<Option<Signal>>,
) {
    let (heard, stopped) = tokio::sync::watch::channel(None);
    let watcher = tokio::spawn(async move {
        let first = signals.next().await;
        halt.trigger(HaltReason::Signal(first));
        heard.send_replace(Some(first));
        crate::errln!(
            "stopping: letting calls in flight finish, then writing the results (signal again to quit at once)"
        );
        let second = signals.next().await;
        heard.send_replace(Some(second));
        crate::outfile::remove_temporaries();
        crate::errln!("quitting at once: the ledger is intact; the result file was not written");
        std::process::exit(i32::from(second.exit().code()));
    });
    (watcher, stopped)
}
