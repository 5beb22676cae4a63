//! Where an input's bytes are, to be read from the start for each pass: a regular
//! file (reopened each time, and refused if it changed in between), or standard input
//! and pipes, copied once to an unnamed temporary file that no exit can leave behind.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt as _, FileTypeExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{InputError, STDIN};

/// What tells a file apart from itself changed: which file it is (device, inode), its
/// size, and when its contents (mtime) and its inode (ctime, which no tool can set
/// back) last changed. A file overwritten in place or replaced between passes differs.
type Fingerprint = (u64, u64, u64, i64, i64, i64, i64);

/// The most bytes read from standard input or a pipe (a regular file may be larger).
pub const MAX_SPOOL_BYTES: u64 = 1 << 30;

/// Where a source's bytes are, to be read from the start for each pass.
#[derive(Debug)]
pub(super) enum Origin {
    /// A regular file, reopened for each pass and refused if it changed.
    Path {
        path: PathBuf,
        fingerprint: Fingerprint,
    },
    /// Standard input or a pipe, copied to an unnamed temporary file.
    Spool(Arc<File>),
}

/// A source's bytes from the start.
pub(super) struct Bytes(Box<dyn Read + Send>);

impl Read for Bytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bytes")
    }
}

impl Origin {
    /// Where `path` (as given, `-` for stdin) can be read again and again, and its
    /// name: `label`, else the path as given.
    pub(super) fn of(path: &Path, label: Option<&str>) -> Result<(String, Origin), InputError> {
        if path.as_os_str() == "-" {
            let name = label.unwrap_or(STDIN);
            let spool = spool(std::io::stdin().lock(), name)?;
            return Ok((name.to_owned(), spool));
        }
        let name = label.map_or_else(|| path.display().to_string(), str::to_owned);
        let open_error = |error| InputError::Open {
            name: name.clone(),
            error,
        };
        let meta = std::fs::metadata(path).map_err(open_error)?;
        let kind = meta.file_type();
        if kind.is_file() {
            let file = File::open(path).map_err(open_error)?;
            let fingerprint = fingerprint(&file).map_err(|error| InputError::Read {
                name: name.clone(),
                error,
            })?;
            let origin = Origin::Path {
                path: path.to_owned(),
                fingerprint,
            };
            return Ok((name, origin));
        }
        if kind.is_fifo() {
            let spool = spool(File::open(path).map_err(open_error)?, &name)?;
            return Ok((name, spool));
        }
        Err(InputError::NotAFile {
            name,
            kind: if kind.is_dir() {
                "a directory"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else {
                "not a regular file"
            },
        })
    }

    pub(super) fn open(&self, name: &str) -> Result<Bytes, InputError> {
        match self {
            Origin::Path { path, fingerprint } => {
                Ok(Bytes(Box::new(reopen(path, fingerprint, name)?)))
            }
            Origin::Spool(file) => Ok(Bytes(Box::new(At {
                file: Arc::clone(file),
                at: 0,
            }))),
        }
    }

    /// Its size in bytes when first read (0 when a spool's cannot be read).
    pub(super) fn len(&self) -> u64 {
        match self {
            Origin::Path { fingerprint, .. } => fingerprint.2,
            Origin::Spool(file) => file.metadata().map_or(0, |meta| meta.len()),
        }
    }

    /// The file itself, for a reader that must seek (a workbook): a regular file only.
    pub(super) fn open_file(&self, name: &str) -> Result<File, InputError> {
        match self {
            Origin::Path { path, fingerprint } => reopen(path, fingerprint, name),
            Origin::Spool(_) => Err(InputError::Workbook {
                name: name.to_owned(),
                message: "a workbook is read from a file, not from standard input or a pipe".into(),
            }),
        }
    }
}

/// `path` opened again for another pass, refused if it is not the file first read.
fn reopen(path: &Path, fingerprint: &Fingerprint, name: &str) -> Result<File, InputError> {
    let file = File::open(path).map_err(|error| InputError::Open {
        name: name.to_owned(),
        error,
    })?;
    let now = self::fingerprint(&file).map_err(|error| InputError::Read {
        name: name.to_owned(),
        error,
    })?;
    if now != *fingerprint {
        return Err(InputError::Changed {
            name: name.to_owned(),
        });
    }
    Ok(file)
}

/// Copies `input` to an unnamed temporary file, at most `MAX_SPOOL_BYTES`.
fn spool(input: impl Read, name: &str) -> Result<Origin, InputError> {
    let read_error = |error| InputError::Read {
        name: name.to_owned(),
        error,
    };
    let mut file = crate::scratch::unnamed().map_err(read_error)?;
    let copied =
        std::io::copy(&mut input.take(MAX_SPOOL_BYTES + 1), &mut file).map_err(read_error)?;
    if copied > MAX_SPOOL_BYTES {
        return Err(InputError::TooLarge {
            name: name.to_owned(),
            limit: MAX_SPOOL_BYTES,
        });
    }
    Ok(Origin::Spool(Arc::new(file)))
}

/// Reads a shared file from its own position, so passes never disturb each other.
struct At {
    file: Arc<File>,
    at: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// A file that changes between the plan's two passes must not be sent.
fn fingerprint(file: &File) -> std::io::Result<Fingerprint> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = file.metadata()?;
    Ok((
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overwritten_in_place_with_its_size_and_time_kept_is_changed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("export.csv");
        std::fs::write(&path, "req_id\na\n").expect("write");
        let (name, origin) = Origin::of(&path, None).expect("a file");
        assert!(origin.open(&name).is_ok(), "unchanged: reopened");
        let modified = std::fs::metadata(&path)
            .expect("meta")
            .modified()
            .expect("mtime");
        // Same size, same modification time: only the inode's change time tells.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut &file, b"req_id\nb\n").expect("overwrite");
        file.set_modified(modified).expect("set mtime back");
        drop(file);
        assert!(matches!(
            origin.open(&name),
            Err(InputError::Changed { .. })
        ));
    }

    #[test]
    fn a_file_replaced_by_another_is_changed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("export.csv");
        std::fs::write(&path, "req_id\na\n").expect("write");
        let (name, origin) = Origin::of(&path, None).expect("a file");
        let other = dir.path().join("other.csv");
        std::fs::write(&other, "req_id\na\n").expect("write");
        std::fs::rename(&other, &path).expect("replace");
        assert!(matches!(
            origin.open(&name),
            Err(InputError::Changed { .. })
        ));
    }
}
