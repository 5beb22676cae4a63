//! Reading the small text files a command is given (`--config`, `--scenario`): at
//! most `MAX_BYTES`, so a device or a huge file can neither hang a run nor fill its
//! memory.

use std::io::Read as _;
use std::path::Path;

/// The largest config or scenario file read.
pub const MAX_BYTES: u64 = 1 << 20;

/// The UTF-8 text of `path`, if it is at most `MAX_BYTES`.
pub fn read(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {} KiB", MAX_BYTES / 1024),
        ));
    }
    Ok(text)
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
}
