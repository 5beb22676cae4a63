//! `demo`: the sample export sent to the built-in simulated gateway, with everything the
//! run writes under one ignored directory — so a newcomer's first command changes no
//! file of the project. On first use the directory's ledger database is made from the
//! sample "last night's" ledger (a CSV ledger of an earlier version, imported as
//! `ledger import` does); later runs continue it, as a nightly job would.

use std::path::Path;

use anyhow::{Context as _, bail};
use clap::Parser as _;

use crate::cli::{Cli, Command, DemoArgs};
use crate::environment::Environment;
use crate::exit::Exit;

/// The sample files the demo reads, relative to the project's directory.
const ORDERS: &str = "samples/orders.csv";
const LAST_NIGHT: &str = "samples/ledger.csv";
const SCENARIO: &str = "samples/scenario.json";

pub async fn run(args: DemoArgs, env: &Environment, quiet: bool) -> anyhow::Result<Exit> {
    for sample in [ORDERS, LAST_NIGHT, SCENARIO] {
        if !Path::new(sample).is_file() {
            bail!("demo: {sample} is missing; run the demo from the project's directory");
        }
    }
    let dir = &args.dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("demo: cannot create {}", dir.display()))?;
    let ledger = dir.join("ledger.db");
    if !ledger.exists() {
        let seeded = crate::ledger::Ledger::open(&ledger, crate::ledger::Access::Write)
            .and_then(|db| crate::ledger::import::import(&db, Path::new(LAST_NIGHT)));
        if let Err(error) = seeded {
            let _ = std::fs::remove_file(&ledger);
            return Err(error).with_context(|| {
                format!("demo: cannot make {} from {LAST_NIGHT}", ledger.display())
            });
        }
        crate::console::errln!(
            "demo: {} starts as {LAST_NIGHT}, last night's ledger, imported",
            ledger.display()
        );
    }
    let out = dir.join("results.csv");
    let argv = send_argv(&ledger, &out);
    crate::console::errln!("demo: opentrade-callback {}", shown(&argv));
    let cli = Cli::try_parse_from(std::iter::once("opentrade-callback".to_owned()).chain(argv))
        .context("demo: the send command line")?;
    let Command::Send(send) = cli.command else {
        unreachable!("the demo's argv starts with send");
    };
    super::send::run(*send, env, quiet, false).await
}

/// `send` of the sample export into `ledger` and `out`, against the simulator.
fn send_argv(ledger: &Path, out: &Path) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    [
        "send",
        ORDERS,
        "--ledger",
        &path(ledger),
        "--out",
        &path(out),
        "--simulate",
        "--scenario",
        SCENARIO,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// An argv as a shell would take it back.
fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_it_runs_is_shown_as_typed() {
        let argv = send_argv(Path::new("demo/ledger.db"), Path::new("my dir/r.csv"));
        assert_eq!(
            shown(&argv),
            "send samples/orders.csv --ledger demo/ledger.db --out 'my dir/r.csv' --simulate --scenario samples/scenario.json"
        );
    }
}
