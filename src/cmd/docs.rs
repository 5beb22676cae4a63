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

/// The top-level manual page on stdout, or every command's page into `--dir`.
pub fn man(args: &ManArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building names each subcommand for its page: opentrade-callback-send, ...
    command.build();
    match &args.dir {
        None => {
            let mut stdout = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut stdout)?;
            stdout.flush()?;
        }
        Some(dir) => {
            let mut written = Vec::new();
            write_pages(&command, dir, &mut written)?;
            for path in written {
                crate::outln!("{}", path.display());
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
