//! Output files, written so that nothing is lost (SPEC.md "Files: one role each, never
//! clobbered"). A regular file — or the regular file a symlink names — is replaced
//! whole: written to a temporary file beside it and renamed over it once complete, so
//! it is always either the previous file or the new one. A stream the user named (a
//! pipe, `/dev/stdout`, a terminal, `/dev/null`) is written in place at the end and
//! never replaced. A ledger is never an output, wherever it is named; any other kind of
//! file (a directory, a socket, a disk) is refused. All of this is decided before any
//! work, so an output that cannot be written is found before the first call. Temporary
//! files still open are listed here, so the one exit that skips destructors (a second
//! signal) can remove them too.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::columns::is_ledger_head;

/// Temporary files not yet renamed or removed.
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Files this process reads and must never write, whatever an output names: the
/// `--env-file` (it holds the credentials), by device and inode, with the role named.
static PROTECTED: Mutex<Vec<((u64, u64), String)>> = Mutex::new(Vec::new());

/// Marks the file at `path` as never to be written by any output of this process
/// (`role` names it in the refusal). A file that does not exist is not marked.
pub fn protect(path: &Path, role: &str) {
    if let Ok(meta) = std::fs::metadata(path) {
        PROTECTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(((meta.dev(), meta.ino()), role.to_owned()));
    }
}

/// The role of the protected file at `path`, if it is one.
fn protected(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    PROTECTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(id, _)| *id == (meta.dev(), meta.ino()))
        .map(|(_, role)| role.clone())
}

/// A file being written in place of `out`.
#[derive(Debug)]
pub struct Replacement {
    out: PathBuf,
    target: Target,
}

#[derive(Debug)]
enum Target {
    /// A temporary file beside `path` (the regular file `out` names), renamed over it.
    Rename {
        path: PathBuf,
        temp: Option<tempfile::TempPath>,
    },
    /// A stream opened for writing; what is written goes to an unnamed temporary file
    /// first and is copied into the stream on commit (a workbook needs to seek).
    Stream { stream: File },
}

impl Replacement {
    /// Starts replacing `out`, an output: refuses a ledger, a protected file and
    /// anything that is not a regular file or a stream.
    pub fn create(out: &Path) -> std::io::Result<(Replacement, File)> {
        let (target, file) = match existing(out)? {
            Existing::Stream => {
                let stream = open_stream(out)?;
                (Target::Stream { stream }, crate::scratch::unnamed()?)
            }
            Existing::Regular(path) => {
                if let Some(role) = protected(&path) {
                    return Err(refused(&format!(
                        "it is the {role} this command reads: an output never replaces it — name another file"
                    )));
                }
                if is_ledger(&path)? {
                    return Err(refused(IS_A_LEDGER));
                }
                rename_target(path)?
            }
            Existing::None(path) => rename_target(path)?,
        };
        Ok((
            Replacement {
                out: out.to_owned(),
                target,
            },
            file,
        ))
    }

    /// The file being replaced, as named.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Where a writer's own scratch files belong: beside the target, as the
    /// temporary is (`None` for a stream: `scratch`'s rule).
    pub fn scratch_dir(&self) -> Option<&Path> {
        match &self.target {
            Target::Rename { path, .. } => Some(parent_of(path)),
            Target::Stream { .. } => None,
        }
    }

    /// Syncs `file` (the one `create` gave) and renames it over the target, or copies
    /// it into the stream.
    pub fn commit(mut self, mut file: File) -> std::io::Result<PathBuf> {
        match &mut self.target {
            Target::Stream { stream } => {
                file.seek(SeekFrom::Start(0))?;
                match std::io::copy(&mut file, stream) {
                    Ok(_) => {}
                    // A reader that stopped early (`| head`) is not a failure of ours.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    Err(e) => return Err(e),
                }
            }
            Target::Rename { path, temp } => {
                file.sync_all()?;
                let temp = temp.take().expect("committed once");
                let temp_path = temp.to_path_buf();
                let persisted = temp.persist(&*path).map_err(|e| e.error);
                forget(&temp_path);
                persisted?;
            }
        }
        Ok(std::mem::take(&mut self.out))
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        // The temporary file itself is removed by `TempPath`'s own drop.
        if let Target::Rename {
            temp: Some(temp), ..
        } = &self.target
        {
            forget(temp);
        }
    }
}

/// Why an output path is refused; the caller names the flag and the path.
const IS_A_LEDGER: &str = "it is a ledger (this tool's database, or a CSV ledger of an earlier version): a ledger is never replaced by an output — name another file";

fn refused(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, why)
}

/// What a path names now.
enum Existing {
    /// A regular file, at this path with every symlink resolved.
    Regular(PathBuf),
    /// A pipe or a character device (`/dev/stdout`, a terminal, `/dev/null`).
    Stream,
    /// Nothing yet; where it would be created (a dangling symlink followed).
    None(PathBuf),
}

fn existing(out: &Path) -> std::io::Result<Existing> {
    let meta = match std::fs::metadata(out) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Existing::None(crate::roles::resolve(out)));
        }
        Err(e) => return Err(e),
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(Existing::Regular(out.canonicalize()?));
    }
    if kind.is_fifo() || kind.is_char_device() {
        return Ok(Existing::Stream);
    }
    let what = if kind.is_dir() {
        "it is a directory"
    } else if kind.is_block_device() {
        "it is a disk device"
    } else if kind.is_socket() {
        "it is a socket"
    } else {
        "it is not a regular file"
    };
    Err(std::io::Error::new(
        if kind.is_dir() {
            std::io::ErrorKind::IsADirectory
        } else {
            std::io::ErrorKind::InvalidInput
        },
        format!("{what}: name a file"),
    ))
}

/// Opens a stream for writing without waiting for ever: a FIFO nobody reads is
/// refused after `READER_WAIT` (`open(2)` of one would block, deaf to signals, until a
/// reader came), and one with a reader is then written as usual (blocking writes).
pub fn open_stream(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let no_reader = rustix::io::Errno::NXIO.raw_os_error();
    let started = std::time::Instant::now();
    let stream = loop {
        let opened = OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path);
        match opened {
            Ok(stream) => break stream,
            // A reader starting at the same moment as the run: a moment to arrive.
            Err(error)
                if error.raw_os_error() == Some(no_reader) && started.elapsed() < READER_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(error) if error.raw_os_error() == Some(no_reader) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "it is a FIFO that nobody reads: start its reader first, or name a file",
                ));
            }
            Err(error) => return Err(error),
        }
    };
    let flags = rustix::fs::fcntl_getfl(&stream)?;
    rustix::fs::fcntl_setfl(&stream, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(stream)
}

/// How long a FIFO output may take to get its reader.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the regular file at `path` starts with the ledger header.
fn is_ledger(path: &Path) -> std::io::Result<bool> {
    let mut head = Vec::with_capacity(512);
    File::open(path)?.take(512).read_to_end(&mut head)?;
    Ok(is_ledger_head(&head))
}

fn rename_target(path: PathBuf) -> std::io::Result<(Target, File)> {
    let temp = tempfile::Builder::new()
        .prefix(".opentrade-")
        .suffix(".tmp")
        // Like any new file: 0666 less the umask (tempfile's default is 0600).
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(parent_of(&path))?;
    let (file, temp) = temp.into_parts();
    lock().push(temp.to_path_buf());
    let target = Target::Rename {
        path,
        temp: Some(temp),
    };
    Ok((target, file))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
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
    use std::os::unix::fs::OpenOptionsExt as _;

    const LEDGER: &str = "req_id,order_no,sub_order_no,status,error_code,sub_code,payload_md5,top_request_id,attempts,finished_at,run_id\n";

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
    fn a_ledger_is_never_an_output_however_it_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = dir.path().join("other-ledger.csv");
        std::fs::write(&ledger, format!("{LEDGER}a,1,,delivered,,,x,,1,t,r\n")).expect("write");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&ledger, &link).expect("symlink");
        for named in [&ledger, &link] {
            let err = Replacement::create(named).expect_err("a ledger");
            assert!(err.to_string().contains("it is a ledger"), "{err}");
        }
        assert!(
            std::fs::read_to_string(&ledger)
                .expect("read")
                .contains("a,1")
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 2);
    }

    #[test]
    fn a_symlink_to_a_file_keeps_the_link_and_replaces_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let real = dir.path().join("real.csv");
        std::fs::write(&real, "old").expect("write");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("real.csv", &link).expect("symlink");
        let (replacement, mut file) = Replacement::create(&link).expect("create");
        file.write_all(b"new").expect("write");
        replacement.commit(file).expect("commit");
        assert!(std::fs::symlink_metadata(&link).expect("meta").is_symlink());
        assert_eq!(std::fs::read_to_string(&real).expect("read"), "new");
    }

    #[test]
    fn a_stream_is_written_in_place_and_stays_a_stream() {
        let dir = tempfile::tempdir().expect("dir");
        let (replacement, mut file) = Replacement::create(Path::new("/dev/null")).expect("null");
        file.write_all(b"anything").expect("write");
        replacement.commit(file).expect("commit");
        let meta = std::fs::metadata("/dev/null").expect("meta");
        assert!(meta.file_type().is_char_device());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn a_fifo_nobody_reads_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        let fifo = dir.path().join("out.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let err = Replacement::create(&fifo).expect_err("no reader");
        assert!(err.to_string().contains("nobody reads"), "{err}");
        // With a reader, it is a stream written in place.
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&fifo)
            .expect("reader");
        let (replacement, mut file) = Replacement::create(&fifo).expect("a reader");
        file.write_all(b"hello").expect("write");
        replacement.commit(file).expect("commit");
        let mut got = String::new();
        let mut reader = reader;
        reader.read_to_string(&mut got).expect("read");
        assert_eq!(got, "hello");
    }

    #[test]
    fn a_protected_file_is_never_an_output() {
        let dir = tempfile::tempdir().expect("dir");
        let env = dir.path().join("env");
        std::fs::write(&env, "TOP_APP_SECRET=s\n").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&env, &link).expect("symlink");
        protect(&env, "--env-file");
        for named in [&env, &link] {
            let err = Replacement::create(named).expect_err("protected");
            assert!(err.to_string().contains("--env-file"), "{err}");
        }
        assert_eq!(
            std::fs::read_to_string(&env).expect("read"),
            "TOP_APP_SECRET=s\n"
        );
        // The list is the process's: the inode must not stay in it once the file goes
        // (another test's file may get the same inode).
        let meta = std::fs::metadata(&env).expect("meta");
        PROTECTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(id, _)| *id != (meta.dev(), meta.ino()));
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
