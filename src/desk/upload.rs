//! An uploaded file, streamed to disk under `DIR/uploads/` by a name the desk makes
//! (the uploaded name is only a label), never over another file, never held whole in
//! memory, and refused unless it is what it claims: a workbook is a zip archive, a CSV
//! is text. Its SHA-256 is computed on the way.

use std::path::{Path, PathBuf};

use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

/// Why an upload is refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("empty")]
    Empty,
    #[error("neither a workbook (.xlsx) nor a CSV text file")]
    NotATable,
    #[error("the upload broke off: {0}")]
    Broken(String),
    /// The stored file is not the one checked (SHA-256 `now`, checked `then`).
    #[error("the file changed after it was checked (SHA-256 {now}, checked {then})")]
    Changed { then: String, now: String },
    #[error("cannot store the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored upload.
#[derive(Debug, Clone)]
pub struct Stored {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

/// What the first bytes of a file say it is.
fn kind_of(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"PK\x03\x04") {
        return Some("xlsx");
    }
    // Text: no NUL byte (UTF-16 and binaries have them); the CSV reader decides the
    // encoding and says what it cannot read, naming the row.
    (!head.is_empty() && !head.contains(&0)).then_some("csv")
}

/// The bytes of one uploaded file, as they arrive.
pub(crate) trait Chunks {
    async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, String>;
}

impl Chunks for axum::extract::multipart::Field<'_> {
    async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, String> {
        self.chunk().await.map_err(|e| e.body_text())
    }
}

/// Streams `chunks` into `dir` as `<id>.<kind>`, at most `limit` bytes.
pub(crate) async fn store(
    chunks: &mut impl Chunks,
    dir: &Path,
    id: &str,
    limit: u64,
) -> Result<Stored, UploadError> {
    tokio::fs::create_dir_all(dir).await?;
    let part = dir.join(format!(".{id}.part"));
    let result = stream_to(chunks, &part, limit).await;
    let (bytes, sha256, head) = match result {
        Ok(done) => done,
        Err(error) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(error);
        }
    };
    let kind = match (bytes, kind_of(&head)) {
        (0, _) => Err(UploadError::Empty),
        (_, None) => Err(UploadError::NotATable),
        (_, Some(kind)) => Ok(kind),
    };
    let kind = match kind {
        Ok(kind) => kind,
        Err(error) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(error);
        }
    };
    let path = dir.join(format!("{id}.{kind}"));
    // Never over another file: a hard link fails if the name is taken.
    let placed = tokio::fs::hard_link(&part, &path).await;
    let _ = tokio::fs::remove_file(&part).await;
    placed?;
    Ok(Stored {
        path,
        bytes,
        sha256,
    })
}

async fn stream_to(
    chunks: &mut impl Chunks,
    part: &Path,
    limit: u64,
) -> Result<(u64, String, Vec<u8>), UploadError> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(part)
        .await?;
    let mut hasher = sha2::Sha256::new();
    let mut bytes = 0u64;
    let mut head = Vec::new();
    while let Some(chunk) = chunks.next_chunk().await.map_err(UploadError::Broken)? {
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(UploadError::TooLarge { limit });
        }
        if head.len() < 8192 {
            let take = (8192 - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok((bytes, faster_hex::hex_string(&hasher.finalize()), head))
}

/// A copy of `stored` made for one send, as `dir/<name>`: the bytes the send reads
/// are the bytes hashed here, and they must be the ones the preview checked (the
/// stored file may be changed under the desk; the copy is a new file nobody else
/// has opened).
pub(crate) fn snapshot(stored: &Stored, dir: &Path, name: &str) -> Result<Stored, UploadError> {
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut source = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&stored.path)?;
    let path = dir.join(name);
    let mut copy = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let copied = (|| {
        let mut hasher = sha2::Sha256::new();
        let mut bytes = 0u64;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = source.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            copy.write_all(&buffer[..n])?;
            bytes += n as u64;
        }
        copy.sync_all()?;
        Ok::<_, std::io::Error>((bytes, faster_hex::hex_string(&hasher.finalize())))
    })();
    let (bytes, sha256) = match copied {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&path);
            return Err(error.into());
        }
    };
    if sha256 != stored.sha256 {
        let _ = std::fs::remove_file(&path);
        return Err(UploadError::Changed {
            then: stored.sha256.clone(),
            now: sha256,
        });
    }
    Ok(Stored {
        path,
        bytes,
        sha256,
    })
}

/// The name an upload is shown by: its file name's last part, visible characters only,
/// at most 120 of them.
pub fn label(uploaded: Option<&str>) -> String {
    let name = uploaded.unwrap_or("upload");
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let shown = crate::text::visible(last);
    crate::text::shorten(&shown, 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pieces(Vec<&'static [u8]>);

    impl Chunks for Pieces {
        async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, String> {
            Ok((!self.0.is_empty()).then(|| bytes::Bytes::from_static(self.0.remove(0))))
        }
    }

    #[tokio::test]
    async fn uploads_are_stored_by_their_content() {
        let dir = tempfile::tempdir().expect("dir");
        let csv = store(
            &mut Pieces(vec![b"req_id,", b"order_no\n"]),
            dir.path(),
            "a1",
            100,
        )
        .await
        .expect("csv");
        assert!(csv.path.ends_with("a1.csv"));
        assert_eq!(csv.bytes, 16);
        assert_eq!(csv.sha256.len(), 64);
        let zip = store(&mut Pieces(vec![b"PK\x03\x04rest"]), dir.path(), "a2", 100)
            .await
            .expect("zip");
        assert!(zip.path.ends_with("a2.xlsx"));
        let binary = store(&mut Pieces(vec![b"\x00\x01"]), dir.path(), "a3", 100).await;
        assert!(matches!(binary, Err(UploadError::NotATable)));
        let big = store(
            &mut Pieces(vec![b"0123456789", b"0123456789"]),
            dir.path(),
            "a4",
            15,
        )
        .await;
        assert!(matches!(big, Err(UploadError::TooLarge { limit: 15 })));
        let taken = store(&mut Pieces(vec![b"x"]), dir.path(), "a1", 100).await;
        assert!(
            matches!(taken, Err(UploadError::Io(_))),
            "never over another file"
        );
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        assert_eq!(left, ["a1.csv", "a2.xlsx"], "refused uploads leave nothing");
    }

    #[tokio::test]
    async fn a_snapshot_is_the_checked_bytes_or_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let stored = store(&mut Pieces(vec![b"req_id\n1\n"]), dir.path(), "s1", 100)
            .await
            .expect("stored");
        let copy = snapshot(&stored, dir.path(), "s1.sent-j1.csv").expect("same bytes");
        assert_eq!(std::fs::read(&copy.path).expect("read"), b"req_id\n1\n");
        std::fs::write(&stored.path, b"req_id\n2\n3\n").expect("changed under the desk");
        let err = snapshot(&stored, dir.path(), "s1.sent-j2.csv").expect_err("changed");
        assert!(matches!(err, UploadError::Changed { .. }), "{err}");
        assert!(!dir.path().join("s1.sent-j2.csv").exists(), "no copy left");
    }

    #[test]
    fn labels_are_never_paths() {
        assert_eq!(label(Some("../../etc/passwd")), "passwd");
        assert_eq!(label(Some("C:\\Users\\ana\\退回.xlsx")), "退回.xlsx");
        assert_eq!(label(None), "upload");
    }
}
