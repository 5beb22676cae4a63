//! Compaction: a ledger rewritten as the latest line of each req_id, optionally
//! without states older than a date, the old file kept as a backup. Runs under the
//! ledger's lock; the ledger path names a complete file at every moment (the old one
//! is hard-linked to the backup name, the new one renamed over it by
//! `outfile::Replacement`, which keeps its owner and mode and syncs the directory).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

use super::{HEADER, LedgerError, LockError, col};
use crate::clock::beijing;
use crate::outfile::{Replacement, Replaces};

/// What compaction did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    pub kept: u64,
    pub superseded: u64,
    pub expired: u64,
    pub torn_bytes: u64,
    /// Where the old ledger is kept.
    pub backup: PathBuf,
}

/// Why a ledger was not compacted; it is as it was.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("cannot open ledger {}: {error}", path.display())]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not a ledger file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "--before {before} is in the future (today is {today}, Beijing time): it would drop every line of the ledger; give a past date"
    )]
    Future { before: NaiveDate, today: NaiveDate },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot compact {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot find a free backup name beside {}", path.display())]
    NoBackupName { path: PathBuf },
}

/// Compacts the ledger `path` (a symlink's target, the link kept), dropping states
/// finished before `before` (Beijing time), which must not be after `now`'s day.
pub fn compact(
    path: &Path,
    before: Option<NaiveDate>,
    now: NaiveDateTime,
) -> Result<Compacted, CompactError> {
    // Every step works on the real file (a hard link to a symlink would back up the
    // link, not the ledger).
    let path = &path.canonicalize().map_err(|error| CompactError::Open {
        path: path.to_owned(),
        error,
    })?;
    if !path.is_file() {
        return Err(CompactError::NotAFile {
            path: path.to_owned(),
        });
    }
    let today = now.date();
    if let Some(before) = before
        && before > today
    {
        return Err(CompactError::Future { before, today });
    }
    let write = |error| CompactError::Write {
        path: path.to_owned(),
        error,
    };
    let _lock = super::acquire(path)?;
    let (replacement, file) = Replacement::create_for(path, Replaces::Ledger).map_err(write)?;
    let (mut done, file) = write_compacted(path, before.map(start_of_day), file)?;
    done.backup = keep_backup(path, now)?;
    replacement.commit(file).map_err(write)?;
    Ok(done)
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
) -> Result<(Compacted, std::fs::File), CompactError> {
    let write = |error: std::io::Error| CompactError::Write {
        path: path.to_owned(),
        error,
    };
    let latest = super::latest_lines(path)?;
    let mut done = Compacted::default();
    let mut out = crate::csvio::ledger_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    out.write_record(HEADER)
        .map_err(|e| write(std::io::Error::other(e)))?;
    let mut failure: Option<csv::Error> = None;
    let shape = super::scan::walk(path, |line| {
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
        return Err(write(std::io::Error::other(e)));
    }
    done.torn_bytes = shape.file_len - shape.complete_len;
    let mut sink = out.into_inner().map_err(|e| write(e.into_error()))?;
    sink.flush().map_err(write)?;
    let file = sink.into_inner().map_err(|e| write(e.into_error()))?;
    Ok((done, file))
}

/// Hard-links the ledger as `ledger.csv.bak-20261125T213000` (then `…-2`, `…-3`
/// when that name is taken) and returns the name.
fn keep_backup(path: &Path, now: NaiveDateTime) -> Result<PathBuf, CompactError> {
    let stamp = now.format("%Y%m%dT%H%M%S").to_string();
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
            Err(error) => {
                return Err(CompactError::Write {
                    path: backup,
                    error,
                });
            }
        }
    }
    Err(CompactError::NoBackupName {
        path: path.to_owned(),
    })
}
