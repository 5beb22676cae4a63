//! `completions` and `man`: shell completion scripts and manual pages, generated from
//! the same clap definitions as `--help`, so they cannot drift from it.

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Exit;
use crate::outfile::Replacement;

/// The completion script for `args.shell`, on stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    // Generated whole first: clap_complete panics on a failed write (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(Exit::Success)
}

/// What every page says of the environment, the exit status and the files (roff).
const SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBTOP_APP_KEY\fR, \fBTOP_APP_SECRET\fR, \fBTOP_SESSION\fR
The app's credentials (or app_key, secret, session in the config file). The secret and
the session are never accepted on the command line, and never printed, logged or written.
.TP
\fBTOP_GATEWAY\fR, \fBTOP_CA_CERT\fR
The gateway URL (default https://eco.taobao.com/router/rest) and a root certificate to
trust beside the system's.
.TP
\fBOPENTRADE_CONFIG\fR
The config file, when \fB\-\-config\fR is not given.
.TP
\fBHTTPS_PROXY\fR, \fBALL_PROXY\fR, \fBNO_PROXY\fR
An https gateway is reached through the proxy as a CONNECT tunnel; a plain http gateway
never goes through a proxy.
.TP
\fBRUST_LOG\fR
Log filter, overriding \fB\-v\fR and \fB\-q\fR.
.PP
\fB\-\-env\-file\fR FILE reads KEY=VALUE lines (systemd EnvironmentFile syntax) for any of
these; variables already in the environment win.
.SH EXIT STATUS
.TP
0
Every row delivered or skipped (\fBcheck\fR: all good; \fBreport\fR: no row needs attention).
.TP
1
Finished, but some rows need attention (\fBcheck\fR: warnings only).
.TP
2
Usage, configuration or file error: nothing was sent.
.TP
3
Halted early: a fatal platform answer (the daily quota, credentials, clock), the failure
rate, bans longer than \fB\-\-max\-ban\-wait\fR, an input that changed, a write error.
.TP
4
Another run holds the ledger.
.TP
129, 130, 143
Interrupted by SIGHUP, SIGINT, SIGTERM: calls in flight finished, outputs written.
.SH FILES
.TP
the ledger (\fB\-\-ledger\fR)
Append-only CSV, one line per platform outcome; its lock is a sidecar \fILEDGER\fR.lock.
A file whose first line is the ledger header is never an output.
.TP
the results (\fB\-\-out\fR), \fB\-\-summary\-json\fR, \fB\-\-metrics\-file\fR
Written beside their target and renamed over it (a pipe is written in place).
.TP
the config file
TOML; warned about when others may read it (it may hold the secret).
"#;

/// The top-level manual page on stdout, or every command's page into `--dir`.
pub fn man(args: &ManArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building names each subcommand for its page: opentrade-callback-send, ...
    command.build();
    match &args.dir {
        None => {
            let mut stdout = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut stdout)?;
            stdout.write_all(SECTIONS.as_bytes())?;
            stdout.flush()?;
        }
        Some(dir) => {
            let mut written = Vec::new();
            write_pages(&command, dir, &mut written)?;
            for path in written {
                crate::console::outln!("{}", path.display());
            }
        }
    }
    Ok(Exit::Success)
}

/// The page of `command` and of each of its subcommands, each written beside its
/// target and renamed, like every output of the tool.
fn write_pages(
    command: &clap::Command,
    dir: &std::path::Path,
    written: &mut Vec<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let page = clap_mangen::Man::new(command.clone());
    let path = dir.join(page.get_filename());
    let (replacement, mut file) =
        Replacement::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    page.render(&mut file)?;
    file.write_all(SECTIONS.as_bytes())?;
    written.push(
        replacement
            .commit(file)
            .with_context(|| format!("cannot write {}", path.display()))?,
    );
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
