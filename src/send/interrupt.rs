//! Stopping a run from outside (SIGINT, SIGTERM, SIGHUP, or the desk shutting down),
//! told through a `Stop` receiver — whoever owns the signals decides what a second one
//! does. Before the first call a stop ends the run where it is (every step that can
//! wait runs on a blocking thread raced with it); while calls are made it halts the
//! run (calls in flight finish); while the outputs are written it leaves them `GRACE`.

use std::sync::Arc;

use super::error::SendError;
use super::halt::{Halt, HaltReason};
use crate::signals::Signal;

/// Stop requests: `Some(signal)` once the run is to stop.
pub type Stop = tokio::sync::watch::Receiver<Option<Signal>>;

/// A stop that never comes (runs nobody interrupts).
pub fn never() -> Stop {
    // The sender must live, or `changed` would end at once: one for the process.
    static NEVER: std::sync::OnceLock<tokio::sync::watch::Sender<Option<Signal>>> =
        std::sync::OnceLock::new();
    NEVER
        .get_or_init(|| tokio::sync::watch::channel(None).0)
        .subscribe()
}

/// How long writing the outputs may go on after a stop before the run leaves
/// without them (a FIFO whose reader stopped reading would hold it for ever).
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// `work` on a blocking thread, so the runtime stays free to hear a stop.
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, SendError> + Send + 'static,
) -> Result<T, SendError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| SendError::Panicked(what))?
}

/// `work`, unless a stop comes first (or came already): before the first call a stop
/// ends the run where it is.
pub async fn until_stopped<T>(
    stop: &mut Stop,
    work: impl std::future::Future<Output = T>,
) -> Result<T, SendError> {
    if let Some(signal) = *stop.borrow_and_update() {
        return Err(SendError::Interrupted(signal));
    }
    tokio::select! {
        biased;
        _ = stop.changed() => Err(SendError::Interrupted(
            (*stop.borrow()).unwrap_or(Signal::Terminate),
        )),
        done = work => Ok(done),
    }
}

/// Waits for the writing of the outputs; a stop during it leaves `GRACE` for it to
/// end, then the run gives up on them (`SendError::Stuck`: the ledger was synced
/// before any output was written).
pub async fn finish_or_leave<T>(
    work: impl std::future::Future<Output = Result<T, SendError>>,
    mut stop: Stop,
) -> Result<T, SendError> {
    tokio::pin!(work);
    stop.borrow_and_update();
    tokio::select! {
        done = &mut work => done,
        _ = stop.changed() => match tokio::time::timeout(GRACE, &mut work).await {
            Ok(done) => done,
            Err(_) => Err(SendError::Stuck {
                signal: (*stop.borrow()).unwrap_or(Signal::Terminate),
                grace: GRACE,
            }),
        },
    }
}

/// The first stop halts the run: no new call starts, the ones in flight finish.
pub fn halt_on_stop(mut stop: Stop, halt: Arc<Halt>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Some(signal) = *stop.borrow_and_update() {
                halt.trigger(HaltReason::Signal(signal));
                return;
            }
            if stop.changed().await.is_err() {
                return;
            }
        }
    })
}
