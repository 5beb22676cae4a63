//! The binary: parse, set up logging and the runtime, run, report, exit.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use opentrade_callback::cli::{Cli, Command, LogFormat};
use opentrade_callback::exit::exit_for;

/// Many small, short-lived strings per row: mimalloc measured faster than the system
/// allocator here (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    opentrade_callback::console::set_json(cli.log_format == LogFormat::Json);
    let runtime = match runtime_for(&cli.command).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            opentrade_callback::console::errln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let exit = match runtime.block_on(opentrade_callback::cmd::run(cli)) {
        Ok(exit) => exit,
        // A reader that stopped early (`man | head`) is not a failure of ours.
        Err(err) if is_broken_pipe(&err) => opentrade_callback::exit::Exit::Success,
        Err(err) => {
            // The error may quote an input or the gateway: shown, never obeyed.
            opentrade_callback::console::errln!(
                "error: {}",
                opentrade_callback::text::visible(&format!("{err:#}"))
            );
            exit_for(&err)
        }
    };
    // Every output is flushed and synced by now: leave without tearing down hundreds
    // of idle connections and tasks one by one (measured ~0.1 s after 512-way runs).
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(i32::from(exit.code()))
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The batch commands run on one thread: the pipeline is one stream with the reading
/// and the writing on threads of their own, and cross-thread wake-ups cost more than
/// they give (measured in bench/README.md). The simulator takes `--threads`.
fn runtime_for(command: &Command) -> tokio::runtime::Builder {
    match command {
        Command::Simulate(args) if args.threads.get() > 1 => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(args.threads.get());
            builder
        }
        // The desk serves pages while a send runs on a thread of its own.
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
}

/// Logs go to stderr; quiet by default so cron mails only trouble. Times are Beijing
/// time, as in the results and the ledger; JSON lines for a log collector.
fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    // rustls logs a refused certificate as an ERROR of its own; the run reports it
    // (`net.tls`, with the fix), so rustls speaks only at -vv.
    let default = match (quiet, verbose) {
        (true, _) => "error,rustls=off",
        (false, 0) => "warn,rustls=off",
        (false, 1) => "info,rustls=off",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Its own complaint about a failed write is an `eprintln!`, which panics on a
        // closed stderr: a log line that cannot be written is dropped instead.
        .log_internal_errors(false)
        .with_target(false)
        .with_timer(opentrade_callback::clock::BeijingTime);
    match format {
        // A run's lines carry `"span":{"run_id":…}` (the `send` shell enters that span
        // for JSON logs only: a person reading text logs has the run id in the summary).
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        // A person at a terminal wants the words; a cron log wants the time of each line.
        LogFormat::Text if std::io::stderr().is_terminal() => builder.without_time().init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}
