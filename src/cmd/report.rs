//! `report PATH [--failed-only --out FILE]`: the shell of `results::report`.

use anyhow::bail;

use crate::cli::ReportArgs;
use crate::exit::Exit;
use crate::results::report::{self, Kind, ReportError};

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let mut roles = crate::roles::Roles::default();
    roles.claim("PATH", &args.path)?;
    if let Some(out) = &args.out {
        roles.claim("--out", out)?;
    }
    if args.failed_only != args.out.is_some() {
        bail!("--failed-only and --out go together: report PATH --failed-only --out FILE");
    }
    let report = match report::kind_of(&args.path)? {
        Kind::Ledger if args.failed_only => return Err(ReportError::FailedOfLedger.into()),
        Kind::Ledger => report::of_ledger(&args.path)?,
        Kind::Results => report::of_results(&args.path, args.out.as_deref())?,
    };
    if args.json {
        let doc = report::to_doc(&args.path, &report);
        crate::console::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        crate::console::out!("{}", report::render(&args.path, &report));
    }
    if let Some(out) = &args.out {
        let line = format!(
            "wrote {} rows that need attention to {}",
            report.written,
            out.display()
        );
        // With --json, stdout is the document alone.
        if args.json {
            crate::console::errln!("{line}");
        } else {
            crate::console::outln!("{line}");
        }
    }
    // A monitor (or a script) can tell a file that needs attention by the status alone.
    Ok(if report.tally.needs_attention() {
        Exit::Attention
    } else {
        Exit::Success
    })
}
