//! SIGINT, SIGTERM and SIGHUP as values: which one arrived and the exit code it means.
//! A closed terminal (SIGHUP, a run started without `nohup`) stops a run as SIGTERM
//! does: calls in flight finish, the ledger, results and summary are written.

use crate::exit::Exit;

/// A request to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (kill, systemd, cron's timeout).
    Terminate,
    /// SIGHUP (the terminal closed).
    Hangup,
}

impl Signal {
    /// 130, 143 (SPEC.md "Exit codes") or 129: 128 + the signal's number.
    pub fn exit(self) -> Exit {
        match self {
            Signal::Interrupt => Exit::Interrupted,
            Signal::Terminate => Exit::Terminated,
            Signal::Hangup => Exit::HungUp,
        }
    }
}

/// Listens for SIGINT, SIGTERM and SIGHUP from the moment it is created.
#[derive(Debug)]
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next SIGINT, SIGTERM or SIGHUP.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
            _ = self.hangup.recv() => Signal::Hangup,
        }
    }
}

/// Makes exceeding a file-size limit (`ulimit -f`) a write error with a message
/// instead of SIGXFSZ's default, which kills the process without a word. Tokio keeps
/// the handler installed for the life of the process.
pub fn survive_file_size_limit() {
    const SIGXFSZ: i32 = 25;
    if let Err(e) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(SIGXFSZ))
    {
        tracing::debug!("cannot handle SIGXFSZ: {e}");
    }
}

/// Waits for the first SIGINT, SIGTERM or SIGHUP.
pub async fn next_stop() -> std::io::Result<Signal> {
    Ok(Signals::install()?.next().await)
}
