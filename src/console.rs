//! Lines for the person at the terminal (stdout) and for the log (stderr), written so
//! that a closed stream — `| head`, `2>&1 >/dev/null | head`, a closed terminal — is
//! never a panic and never stops a run: what cannot be shown is dropped, and the
//! ledger, the results and the summary are written all the same. Every line the tool
//! prints goes through `out!`/`outln!`/`errln!` (clippy's `print_stdout` and
//! `print_stderr` lints keep it so).
//!
//! With `--log-format json` (`set_json`), every line on stderr is one JSON object, as
//! the log's own lines are: `timestamp` (Beijing time), `level`, `fields` (`message`
//! and, for an `event`, its fields), `target`, and the run's id in `span`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the one place that writes to the terminal"
)]

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether stderr carries JSON lines (`--log-format json`).
static JSON: AtomicBool = AtomicBool::new(false);

/// The run the lines are about, for JSON lines.
static RUN_ID: Mutex<Option<String>> = Mutex::new(None);

/// Every stderr line as a JSON object from now on.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// The run later JSON lines are about.
pub fn set_run(run_id: &str) {
    *RUN_ID.lock().unwrap_or_else(|p| p.into_inner()) = Some(run_id.to_owned());
}

/// One line for the log: in text, `text`; in JSON, an object whose `fields` are
/// `message` and `fields` (an object).
pub fn event(level: &str, text: &str, message: &str, fields: serde_json::Value) {
    if is_json() {
        json_line(level, message, fields);
    } else {
        err(format_args!("{text}\n"));
    }
}

fn json_line(level: &str, message: &str, fields: serde_json::Value) {
    let mut all = serde_json::Map::new();
    all.insert("message".into(), message.into());
    if let serde_json::Value::Object(more) = fields {
        all.extend(more);
    }
    let mut line = serde_json::json!({
        "timestamp": crate::clock::now_stamp(),
        "level": level,
        "fields": all,
        "target": "opentrade_callback",
    });
    if let Some(run_id) = RUN_ID.lock().unwrap_or_else(|p| p.into_inner()).as_deref() {
        line["span"] = serde_json::json!({"run_id": run_id, "name": "run"});
    }
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Writes to stdout; a failure (a reader gone) is ignored.
pub fn out(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// Writes to stderr; a failure (a reader gone) is ignored. In JSON mode each line is
/// an object of its own (`error: …` at level ERROR, the rest INFO).
pub fn err(args: std::fmt::Arguments<'_>) {
    if !is_json() {
        let _ = std::io::stderr().lock().write_fmt(args);
        return;
    }
    let text = args.to_string();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match line.strip_prefix("error: ") {
            Some(message) => json_line("ERROR", message, serde_json::json!({})),
            None => json_line("INFO", line.trim_start(), serde_json::json!({})),
        }
    }
}

/// Flushes stdout, ignoring a reader gone.
pub fn flush() {
    let _ = std::io::stdout().lock().flush();
}

// The macros live at the crate's root (as every exported macro does) under hidden
// names; they are used by their paths here: `crate::console::outln!`.

/// `print!` that never panics.
#[doc(hidden)]
#[macro_export]
macro_rules! __console_out {
    ($($arg:tt)*) => { $crate::console::out(format_args!($($arg)*)) };
}

/// `println!` that never panics.
#[doc(hidden)]
#[macro_export]
macro_rules! __console_outln {
    () => { $crate::console::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that never panics.
#[doc(hidden)]
#[macro_export]
macro_rules! __console_err {
    ($($arg:tt)*) => { $crate::console::err(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
#[doc(hidden)]
#[macro_export]
macro_rules! __console_errln {
    ($($arg:tt)*) => { $crate::console::err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub use crate::{
    __console_err as err, __console_errln as errln, __console_out as out, __console_outln as outln,
};
