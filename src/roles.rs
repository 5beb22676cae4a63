//! File roles (SPEC.md "Files: one role each, never clobbered"): every path a command
//! reads or writes plays one role, and two roles on one file — however it is reached:
//! symlinks, hard links, `./x` beside `/abs/x` — is refused before anything is read,
//! written or sent. Files are compared by identity (device and inode) when they exist,
//! and by their resolved path when they do not yet.

use std::path::{Path, PathBuf};

/// Two roles on one file.
#[derive(Debug, thiserror::Error)]
#[error(
    "{first} ({}) and {second} ({}) are the same file, {}: each file may play one role only — give them different paths",
    first_path.display(),
    second_path.display(),
    resolved.display()
)]
pub struct RoleError {
    pub first: String,
    pub first_path: PathBuf,
    pub second: String,
    pub second_path: PathBuf,
    pub resolved: PathBuf,
}

/// The roles claimed so far by one command.
#[derive(Debug, Default)]
pub struct Roles {
    taken: Vec<Taken>,
}

#[derive(Debug)]
struct Taken {
    role: String,
    given: PathBuf,
    identity: Identity,
}

/// What makes two paths one file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    /// Device and inode, when the file exists (symlinks followed).
    inode: Option<(u64, u64)>,
    /// The absolute path with every symlink resolved, as far as it exists.
    resolved: PathBuf,
}

impl Identity {
    fn of(path: &Path) -> Identity {
        use std::os::unix::fs::MetadataExt as _;
        Identity {
            inode: std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino())),
            resolved: resolve(path),
        }
    }

    fn same(&self, other: &Identity) -> bool {
        matches!((self.inode, other.inode), (Some(a), Some(b)) if a == b)
            || self.resolved == other.resolved
    }
}

impl Roles {
    /// Claims `path` for `role` (a flag, or `INPUT`); one role may name a file twice
    /// (an input given twice), two roles may not.
    pub fn claim(&mut self, role: &str, path: &Path) -> Result<(), RoleError> {
        let identity = Identity::of(path);
        if let Some(taken) = self
            .taken
            .iter()
            .find(|t| t.role != role && t.identity.same(&identity))
        {
            return Err(RoleError {
                first: taken.role.clone(),
                first_path: taken.given.clone(),
                second: role.to_owned(),
                second_path: path.to_owned(),
                resolved: identity.resolved,
            });
        }
        self.taken.push(Taken {
            role: role.to_owned(),
            given: path.to_owned(),
            identity,
        });
        Ok(())
    }
}

/// `path` made absolute with its symlinks resolved; a part that does not exist yet is
/// kept as written (a dangling symlink is followed to where it points).
pub fn resolve(path: &Path) -> PathBuf {
    let mut path = absolute(path);
    for _ in 0..40 {
        if let Ok(real) = path.canonicalize() {
            return real;
        }
        match std::fs::read_link(&path) {
            // A dangling symlink: where it would write.
            Ok(target) => {
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                path = absolute(&base.join(target));
            }
            Err(_) => break,
        }
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => resolve_parent(parent).join(name),
        _ => path,
    }
}

fn resolve_parent(parent: &Path) -> PathBuf {
    parent
        .canonicalize()
        .unwrap_or_else(|_| match (parent.parent(), parent.file_name()) {
            (Some(up), Some(name)) => resolve_parent(up).join(name),
            _ => parent.to_owned(),
        })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim_both(a: &Path, b: &Path) -> Result<(), RoleError> {
        let mut roles = Roles::default();
        roles.claim("--out", a)?;
        roles.claim("--ledger", b)
    }

    #[test]
    fn every_way_of_naming_one_file_is_one_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("ledger.csv");
        std::fs::write(&file, "x").expect("write");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&file, &hard).expect("hard link");
        let dotted = dir
            .path()
            .join(".")
            .join("sub")
            .join("..")
            .join("ledger.csv");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        for other in [&file, &link, &hard, &dotted] {
            let err = claim_both(&file, other).expect_err("one file");
            assert_eq!(
                (err.first.as_str(), err.second.as_str()),
                ("--out", "--ledger")
            );
        }
        assert!(claim_both(&file, &dir.path().join("other.csv")).is_ok());
    }

    #[test]
    fn files_not_yet_written_are_compared_by_where_they_would_be() {
        let dir = tempfile::tempdir().expect("dir");
        let new = dir.path().join("new.csv");
        let dangling = dir.path().join("dangling.csv");
        std::os::unix::fs::symlink("new.csv", &dangling).expect("symlink");
        assert!(claim_both(&new, &dangling).is_err());
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        assert!(claim_both(&new, &dir.path().join("sub/../new.csv")).is_err());
    }

    #[test]
    fn one_role_may_name_a_file_twice() {
        let mut roles = Roles::default();
        roles.claim("INPUT", Path::new("a.csv")).expect("first");
        roles.claim("INPUT", Path::new("./a.csv")).expect("again");
    }
}
