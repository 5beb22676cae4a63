//! Scratch space that never needs `/tmp`: a container whose root filesystem is
//! read-only (Kubernetes' `readOnlyRootFilesystem`) still runs. Outputs write their
//! temporaries beside their target (`outfile`); what has no target of its own (a
//! stream's copy, stdin spooled for two passes) takes an unnamed file in `TMPDIR`
//! when it can, else one in memory.

use std::fs::File;

/// An unnamed read-write file: in `TMPDIR` when it is writable, else in memory
/// (`memfd`). Either way nothing is left behind.
pub fn unnamed() -> std::io::Result<File> {
    match tempfile::tempfile() {
        Ok(file) => Ok(file),
        Err(error) => {
            tracing::debug!("scratch: TMPDIR unusable ({error}); keeping it in memory");
            let fd = rustix::fs::memfd_create("opentrade-scratch", rustix::fs::MemfdFlags::CLOEXEC)
                .map_err(std::io::Error::from)?;
            Ok(File::from(fd))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, SeekFrom, Write};

    #[test]
    fn an_unnamed_file_reads_back_what_was_written() {
        let mut file = super::unnamed().expect("scratch");
        file.write_all(b"hello").expect("write");
        file.seek(SeekFrom::Start(0)).expect("seek");
        let mut back = String::new();
        file.read_to_string(&mut back).expect("read");
        assert_eq!(back, "hello");
    }
}
