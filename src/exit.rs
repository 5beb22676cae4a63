//! The documented exit codes (SPEC.md "Exit codes"), in one enum `main` maps to.

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every row delivered or skipped.
    Success,
    /// Finished, but some rows need attention (rejected, failed, invalid, conflict,
    /// not_attempted).
    Attention,
    /// Usage or configuration error; nothing was sent.
    Usage,
    /// Halted early: a fatal platform error, a failure rate over the threshold, a ban
    /// too long to wait out, or a write error.
    Halted,
    /// Another run holds the ledger.
    Locked,
    /// Interrupted by SIGINT.
    Interrupted,
    /// Interrupted by SIGTERM.
    Terminated,
    /// Interrupted by SIGHUP (the terminal closed).
    HungUp,
    /// Halted early for a reason worth retrying later, with the code
    /// `--retryable-exit-code` asked for (a unit retries that one only).
    HaltedRetryable(u8),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Attention => 1,
            Exit::Usage => 2,
            Exit::Halted => 3,
            Exit::Locked => 4,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
            Exit::HungUp => 129,
            Exit::HaltedRetryable(code) => code,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// An error that ends a command with a specific exit code rather than the usage
/// code every other error gets.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    pub exit: Exit,
    pub message: String,
}

impl ExitError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        ExitError {
            exit,
            message: message.into(),
        }
    }
}

/// The exit code for an error that ended a command: usage (2) unless the error chain
/// carries an `ExitError`.
pub fn exit_for(error: &anyhow::Error) -> Exit {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<ExitError>())
        .map_or(Exit::Usage, |e| e.exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec() {
        let codes: Vec<u8> = [
            Exit::Success,
            Exit::Attention,
            Exit::Usage,
            Exit::Halted,
            Exit::Locked,
            Exit::Interrupted,
            Exit::Terminated,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 130, 143]);
    }

    #[test]
    fn errors_default_to_usage_unless_they_carry_an_exit() {
        assert_eq!(exit_for(&anyhow::anyhow!("bad flag")), Exit::Usage);
        let locked = anyhow::Error::new(ExitError::new(Exit::Locked, "held")).context("ledger x");
        assert_eq!(exit_for(&locked), Exit::Locked);
    }
}
