//! `send` on the command line: flags and environment into a checked `SendConfig`,
//! the job, and its errors into exit codes. The job itself is `crate::send`.

use crate::cli::SendArgs;
use crate::config::{self, Env};
use crate::exit::Exit;
use crate::send::{self, SendError};

pub async fn run(args: SendArgs, env: Env<'_>, quiet: bool) -> anyhow::Result<Exit> {
    let config = config::build_send(args, env)?;
    send::run(config, quiet).await.map_err(exit_error)
}

/// Another run holding the ledger is exit 4; anything else that stops a run before it
/// sends is a usage or configuration error (exit 2).
fn exit_error(error: SendError) -> anyhow::Error {
    match error {
        SendError::Lock(error) => super::lock_error(error),
        other => other.into(),
    }
}
