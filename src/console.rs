//! Lines for the person at the terminal (stdout) and for the log (stderr), written so
//! that a closed stream — `| head`, `2>&1 >/dev/null | head`, a closed terminal — is
//! never a panic and never stops a run: what cannot be shown is dropped, and the
//! ledger, the results and the summary are written all the same. Every line the tool
//! prints goes through `out!`/`outln!`/`errln!` (clippy's `print_stdout` and
//! `print_stderr` lints keep it so).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the one place that writes to the terminal"
)]

use std::io::Write as _;

/// Writes to stdout; a failure (a reader gone) is ignored.
pub fn out(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// Writes to stderr; a failure (a reader gone) is ignored.
pub fn err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Flushes stdout, ignoring a reader gone.
pub fn flush() {
    let _ = std::io::stdout().lock().flush();
}

/// `print!` that never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::out(format_args!($($arg)*)) };
}

/// `println!` that never panics.
#[macro_export]
macro_rules! outln {
    () => { $crate::console::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::console::err(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::err(format_args!("{}\n", format_args!($($arg)*))) };
}
