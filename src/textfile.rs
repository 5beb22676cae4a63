//! Reading the small text files a command is given (`--config`, `--env-file`,
//! `--scenario`, the desk's users): at most `MAX_BYTES`, so a device or a huge file can
//! neither hang a run nor fill its memory; and never a FIFO, whose `open(2)` would wait
//! for a writer that may never come, deaf to signals.

use std::io::Read as _;
use std::path::Path;

/// The largest config or scenario file read.
pub const MAX_BYTES: u64 = 1 << 20;

/// The UTF-8 text of `path`, if it is at most `MAX_BYTES` (a leading UTF-8 BOM, as
/// Windows editors save, is dropped).
pub fn read(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    open(path)?.take(MAX_BYTES + 1).read_to_string(&mut text)?;
    if let Some(rest) = text.strip_prefix('\u{feff}') {
        text = rest.to_owned();
    }
    if text.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {} KiB", MAX_BYTES / 1024),
        ));
    }
    Ok(text)
}

/// The SHA-256 of the file at `path` (hex) and its size: a whole read, never of a FIFO.
pub fn sha256(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest as _;
    let mut file = open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((faster_hex::hex_string(&hasher.finalize()), bytes))
}

/// Opens `path` for reading without waiting: a FIFO or a socket is refused.
pub fn open(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_fifo() || kind.is_socket() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is a FIFO or a socket, not a file: give the path of a file",
        ));
    }
    if kind.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory: give the path of a file",
        ));
    }
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_after_the_limit() {
        let err = read(Path::new("/dev/zero")).expect_err("endless");
        assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
        assert!(read(Path::new("/dev/null")).expect("empty").is_empty());
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_and_a_bom_is_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let fifo = dir.path().join("users");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let err = read(&fifo).expect_err("a FIFO");
        assert!(err.to_string().contains("FIFO"), "{err}");
        let bom = dir.path().join("env");
        std::fs::write(&bom, "\u{feff}A=1\n").expect("write");
        assert_eq!(read(&bom).expect("read"), "A=1\n");
        assert!(read(dir.path()).is_err());
    }
}
