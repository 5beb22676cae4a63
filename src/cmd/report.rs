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
    crate::out!("{}", report::render(&args.path, &report));
    if let Some(out) = &args.out {
        crate::outln!(
            "wrote {} rows that need attention to {}",
            report.written,
            out.display()
        );
    }
    Ok(Exit::Success)
}
