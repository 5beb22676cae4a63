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
    let path = &args.path;
    if !path.is_file() {
        bail!("{} is not a ledger file", path.display());
    }
    let _lock = ledger::acquire(path).map_err(super::lock_error)?;
    let cutoff = args.before.map(start_of_day);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".opentrade-ledger-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let (file, temp_path) = temp.into_parts();
    let (done, file) = write_compacted(path, cutoff, file)?;
    file.sync_all()
        .context("cannot sync the compacted ledger")?;

    let backup = keep_backup(path)?;
    temp_path
        .persist(path)
        .map_err(|e| anyhow::anyhow!("cannot put the compacted ledger in place: {}", e.error))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .context("cannot sync the ledger's directory")?;

    let total = done.kept + done.superseded + done.expired;
    println!(
        "compacted {}: {total} lines → {} (one per req_id; {} superseded{})",
        path.display(),
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
        println!(
            "the torn last line ({} bytes) was left out",
            done.torn_bytes
        );
    }
    println!("old ledger kept as {}", backup.display());
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
