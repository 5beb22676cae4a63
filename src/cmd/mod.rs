//! The dispatcher (`run`: one parsed command line, its environment, its subcommand)
//! and one file per subcommand; each turns its arguments into work and an `Exit`. Only
//! here (and in `main`) do errors become exit codes.

pub mod audit;
pub mod check;
pub mod demo;
pub mod docs;
pub mod ledger;
pub mod reconcile;
pub mod report;
pub mod send;
pub mod serve;
pub mod simulate;

use crate::cli::{Cli, Command};
use crate::exit::{Exit, ExitError};
use crate::ledger::LockError;
use crate::signals::Signals;

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let file = match &cli.env_file {
        Some(path) => {
            // It holds the credentials: no output of this command may ever replace it.
            crate::outfile::protect(path, "--env-file");
            crate::config::envfile::load(path)?
        }
        None => Default::default(),
    };
    // The process's environment first, then --env-file.
    let env = crate::environment::Environment::process(file);
    // A file-size limit (`ulimit -f`) must be a write error with a message, wherever
    // a command writes.
    crate::signals::survive_file_size_limit();
    match cli.command {
        Command::Check(args) => check::run(args, &env).await,
        Command::Demo(args) => demo::run(args, &env, cli.quiet).await,
        Command::Send(mut args) => {
            let json_logs = cli.log_format == crate::cli::LogFormat::Json;
            args.env_file = cli.env_file.clone();
            send::run(*args, &env, cli.quiet, json_logs).await
        }
        Command::Report(args) => report::run(args),
        Command::Ledger(args) => ledger::run(args),
        Command::Audit(args) => audit::run(&args),
        Command::Reconcile(args) => reconcile::run(*args, &env, cli.quiet).await,
        Command::Serve(args) => serve::run(*args, env).await,
        Command::Users(args) => serve::users(args),
        Command::Simulate(args) => simulate::run(args, &env).await,
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    }
}

/// SIGINT, SIGTERM and SIGHUP for a run: the first is passed on through the returned
/// stop (the run starts no new call, lets those in flight finish, writes its outputs),
/// the second quits at once (the ledger holds whole transactions; temporary files are
/// removed).
pub fn stop_on_signals() -> std::io::Result<crate::send::Stop> {
    let mut signals = Signals::install()?;
    let (tell, stop) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let first = signals.next().await;
        tell.send_replace(Some(first));
        crate::console::errln!(
            "stopping: letting calls in flight finish, then writing the results (signal again to quit at once)"
        );
        let second = signals.next().await;
        tell.send_replace(Some(second));
        crate::outfile::remove_temporaries();
        crate::console::errln!(
            "quitting at once: the ledger is intact; the result file was not written"
        );
        std::process::exit(i32::from(second.exit().code()));
    });
    Ok(stop)
}

/// Who runs this command, as the ledger records it: `os:NAME` (`USER`, `LOGNAME`),
/// else `os:uid-N`.
pub fn os_user() -> String {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("uid-{}", rustix::process::getuid().as_raw()));
    format!("os:{}", crate::text::visible(&name))
}

/// Another run holding the ledger is exit 4 (SPEC.md "Exit codes"); any other lock
/// failure is a usage error.
fn lock_error(error: LockError) -> anyhow::Error {
    match error {
        held @ LockError::Held { .. } => ExitError::new(Exit::Locked, held.to_string()).into(),
        other => other.into(),
    }
}
