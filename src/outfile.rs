//! Output files replaced whole: written to a temporary file beside the target and
//! renamed over it once complete, so the target is always either the previous file or
//! the new one. Created before any work, so an output that cannot be written is found
//! before the first call. Temporary files still open are listed here, so the one exit
//! that skips destructors (a second signal) can remove them too.

use std::fs::File;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files not yet renamed or removed.
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A file being written in place of `out`.
#[derive(Debug)]
pub struct Replacement {
    out: PathBuf,
    temp: Option<tempfile::TempPath>,
}

impl Replacement {
    /// Starts replacing `out`: refuses a directory, creates the temporary file.
    pub fn create(out: &Path) -> std::io::Result<(Replacement, File)> {
        if out.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory",
            ));
        }
        let dir = match out.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".opentrade-")
            .suffix(".tmp")
            // Like any new file: 0666 less the umask (tempfile's default is 0600).
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)?;
        let (file, path) = temp.into_parts();
        lock().push(path.to_path_buf());
        let replacement = Replacement {
            out: out.to_owned(),
            temp: Some(path),
        };
        Ok((replacement, file))
    }

    /// The file being replaced.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Syncs `file` (the one `create` gave) and renames it over the target.
    pub fn commit(mut self, file: File) -> std::io::Result<PathBuf> {
        file.sync_all()?;
        let temp = self.temp.take().expect("committed once");
        let path = temp.to_path_buf();
        let persisted = temp.persist(&self.out).map_err(|e| e.error);
        forget(&path);
        persisted?;
        Ok(std::mem::take(&mut self.out))
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        // The temporary file itself is removed by `TempPath`'s own drop.
        if let Some(temp) = &self.temp {
            forget(temp);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    TEMPORARIES.lock().unwrap_or_else(|p| p.into_inner())
}

fn forget(path: &Path) {
    lock().retain(|p| p != path);
}

/// Removes every temporary file not yet renamed: for an exit that runs no destructors.
pub fn remove_temporaries() {
    for path in lock().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn the_target_changes_only_on_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("r.csv");
        std::fs::write(&out, "old").expect("write");
        let (replacement, mut file) = Replacement::create(&out).expect("create");
        file.write_all(b"new").expect("write");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "old");
        replacement.commit(file).expect("commit");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn a_directory_is_refused_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().expect("dir");
        let err = Replacement::create(dir.path()).expect_err("a directory");
        assert_eq!(err.kind(), std::io::ErrorKind::IsADirectory);
        let out = dir.path().join("r.csv");
        let (replacement, _file) = Replacement::create(&out).expect("create");
        drop(replacement);
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn temporaries_are_listed_until_renamed_or_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let listed = |dir: &Path| lock().iter().filter(|p| p.starts_with(dir)).count();
        let (committed, file) = Replacement::create(&dir.path().join("a.csv")).expect("create");
        let (dropped, _file) = Replacement::create(&dir.path().join("b.csv")).expect("create");
        assert_eq!(listed(dir.path()), 2);
        committed.commit(file).expect("commit");
        drop(dropped);
        assert_eq!(listed(dir.path()), 0);
    }
}
