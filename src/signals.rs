//! SIGINT and SIGTERM as values: which one arrived and the exit code it means.

use crate::exit::Exit;

/// A request to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (kill, systemd, cron's timeout).
    Terminate,
}

impl Signal {
    /// 130 or 143 (SPEC.md "Exit codes").
    pub fn exit(self) -> Exit {
        match self {
            Signal::Interrupt => Exit::Interrupted,
            Signal::Terminate => Exit::Terminated,
        }
    }
}

/// Listens for SIGINT and SIGTERM from the moment it is created.
#[derive(Debug)]
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
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

/// Waits for the first SIGINT or SIGTERM.
pub async fn next_stop() -> std::io::Result<Signal> {
    Ok(Signals::install()?.next().await)
}
