//! `opentrade-callback`: reports Tmall "recharge-and-get" order outcomes to the Taobao
//! Open Platform API `taobao.wt.trade.opentrade.resultcallback`, from CSV exports,
//! deduplicated against a ledger of earlier runs. The contract is SPEC.md.

pub mod advice;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod columns;
pub mod config;
pub mod console;
pub mod cores;
pub mod csvio;
pub mod desk;
pub mod exit;
pub mod input;
pub mod ledger;
pub mod mask;
pub mod money;
pub mod order;
pub mod outfile;
pub mod plan;
pub mod results;
pub mod roles;
pub mod send;
pub mod signals;
pub mod simulator;
pub mod status;
pub mod text;
pub mod textfile;
pub mod top;
pub mod xlsx;

use cli::{Cli, Command};
use exit::Exit;

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let file = match &cli.env_file {
        Some(path) => {
            // It holds the credentials: no output of this command may ever replace it.
            outfile::protect(path, "--env-file");
            config::envfile::load(path)?
        }
        None => Default::default(),
    };
    // The process's environment first, then --env-file.
    let env = |name: &str| std::env::var(name).ok().or_else(|| file.get(name).cloned());
    // A file-size limit (`ulimit -f`) must be a write error with a message, wherever
    // a command writes.
    signals::survive_file_size_limit();
    match cli.command {
        Command::Check(args) => cmd::check::run(args, &env).await,
        Command::Demo(args) => cmd::demo::run(args, &env, cli.quiet).await,
        Command::Send(mut args) => {
            let json_logs = cli.log_format == cli::LogFormat::Json;
            args.env_file = cli.env_file.clone();
            cmd::send::run(*args, &env, cli.quiet, json_logs).await
        }
        Command::Report(args) => cmd::report::run(args),
        Command::Ledger(args) => cmd::ledger::run(args),
        Command::Serve(args) => {
            // The desk outlives this borrow: it gets an owned view of the same variables.
            let file = std::sync::Arc::new(file);
            let env: desk::SharedEnv = std::sync::Arc::new(move |name: &str| {
                std::env::var(name).ok().or_else(|| file.get(name).cloned())
            });
            cmd::serve::run(*args, env).await
        }
        Command::Users(args) => cmd::serve::users(args),
        Command::Simulate(args) => cmd::simulate::run(args, &env).await,
        Command::Completions(args) => cmd::docs::completions(&args),
        Command::Man(args) => cmd::docs::man(&args),
    }
}
