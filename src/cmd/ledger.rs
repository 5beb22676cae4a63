//! `ledger compact`: rewrites a ledger as the latest line of each req_id, optionally
//! without states older than a date, keeping the old file as a backup. Runs under the
//! ledger's lock; the ledger path names a complete file at every moment (the old one
//! is hard-linked to the backup name, the new one renamed over it).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::cli::{CompactArgs, LedgerArgs, LedgerCommand};
use crate::clock::beijing;
use crate::exit::Exit;
use crate::ledger::{self, HEADER, col};
use crate::outfile::{Replacement, Replaces};

pub fn run(args: LedgerArgs) -> anyhow::Result<Exit> {
    match args.command {
        LedgerCommand::Compact(args) => compact(&args),
    }
}

/// What compaction did.
#[derive(Debug, Default, PartialEq, Eq)]
struct Compacted {
    kept: u64,
    superseded: u64,
    expired: u64,
    torn_bytes: u64,
}

fn compact(args: &CompactArgs) -> anyhow::Result<Exit> {
    // A symlink's target is compacted and the link kept: every step below works on
    // the real file (a hard link to a symlink would back up the link, not the ledger).
    let path = &args
        .path
        .canonicalize()
        .with_context(|| format!("cannot open ledger {}", args.path.display()))?;
    if !path.is_file() {
        bail!("{} is not a ledger file", args.path.display());
    }
    let today = chrono::Utc::now().with_timezone(&beijing()).date_naive();
    if let Some(before) = args.before
        && before > today
    {
        bail!(
            "--before {before} is in the future (today is {today}, Beijing time): it would drop every line of the ledger; give a past date"
        );
    }
    let _lock = ledger::acquire(path).map_err(super::lock_error)?;
    let cutoff = args.before.map(start_of_day);
    let (replacement, file) = Replacement::create_for(path, Replaces::Ledger)
        .with_context(|| format!("cannot compact {}", args.path.display()))?;
    let (done, file) = write_compacted(path, cutoff, file)?;
    let backup = keep_backup(path)?;
    replacement
        .commit(file)
        .context("cannot put the compacted ledger in place")?;

    let total = done.kept + done.superseded + done.expired;
    crate::outln!(
        "compacted {}: {total} lines → {} (one per req_id; {} superseded{})",
        args.path.display(),
        done.kept,
        done.superseded,
        match cutoff {
            Some(_) => format!(
                ", {} older than {} dropped",
                done.expired,
                args.before.map(|d| d.to_string()).unwrap_or_default()
            ),
            None => String::new(),
        }
    );
    if done.torn_bytes > 0 {
        crate::outln!(
            "the torn last line ({} bytes) was left out",
            done.torn_bytes
        );
    }
    crate::outln!("old ledger kept as {}", backup.display());
    Ok(Exit::Success)
}

/// Midnight at the start of `date`, Beijing time.
fn start_of_day(date: NaiveDate) -> DateTime<FixedOffset> {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_local_timezone(beijing())
        .single()
        .expect("a fixed offset has no gaps")
}

fn write_compacted(
    path: &Path,
    cutoff: Option<DateTime<FixedOffset>>,
    file: std::fs::File,
) -> anyhow::Result<(Compacted, std::fs::File)> {
    let latest = ledger::latest_lines(path)?;
    let mut done = Compacted::default();
    let mut out = crate::csvio::ledger_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    out.write_record(HEADER)?;
    let mut failure: Option<csv::Error> = None;
    let shape = ledger::scan::walk(path, |line| {
        if latest.get(&line.key()) != Some(&line.number) {
            done.superseded += 1;
            return;
        }
        let finished = std::str::from_utf8(line.fields()[col::FINISHED_AT])
            .ok()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        // A line whose time cannot be read is kept: never drop what is not understood.
        if let (Some(cutoff), Some(finished)) = (cutoff, finished)
            && finished < cutoff
        {
            done.expired += 1;
            return;
        }
        done.kept += 1;
        if failure.is_none()
            && let Err(e) = out.write_record(line.fields())
        {
            failure = Some(e);
        }
    })?;
    if let Some(e) = failure {
        return Err(e).context("cannot write the compacted ledger");
    }
    done.torn_bytes = shape.file_len - shape.complete_len;
    let mut sink = out
        .into_inner()
        .map_err(|e| e.into_error())
        .context("cannot write the compacted ledger")?;
    sink.flush()?;
    let file = sink.into_inner().map_err(|e| e.into_error())?;
    Ok((done, file))
}

/// Hard-links the ledger as `ledger.csv.bak-20261125T213000` (then `…-2`, `…-3`
/// when that name is taken) and returns the name.
fn keep_backup(path: &Path) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now()
        .with_timezone(&beijing())
        .format("%Y%m%dT%H%M%S")
        .to_string();
    for n in 1..1000 {
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(if n == 1 {
            format!(".bak-{stamp}")
        } else {
            format!(".bak-{stamp}-{n}")
        });
        let backup = path.with_file_name(name);
        match std::fs::hard_link(path, &backup) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot keep the old ledger as {}", backup.display())
                });
            }
        }
    }
    bail!("cannot find a free backup name beside {}", path.display())
}
