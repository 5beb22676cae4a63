//! The desk's users file (`--users`): `name:argon2-hash` lines, read as the desk's own
//! file (never a FIFO, never one others may write or everyone read), and what a user
//! name and a password may be.

use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHasher as _, phc::PasswordHash};

/// `--users FILE` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read --users {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--users {}, line {line}: {reason}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("--users {}: no users in it; add one with `opentrade-callback users add NAME --users {}`", path.display(), path.display())]
    Empty { path: PathBuf },
    #[error(
        "--users {} has mode {mode:o}: other users could change who may log in, or read the password hashes; run: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Open { path: PathBuf, mode: u32 },
}

/// The shortest and longest password taken, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=1024;

/// Whether `password` may be one: long enough, not so long it is a paste gone wrong,
/// not blank, no control characters (a terminal's or a file's, never a person's).
pub fn check_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars > *PASSWORD_CHARS.end() {
        return Err(format!(
            "the password has {chars} characters, more than the {} taken; nothing is cut short — give a shorter one",
            PASSWORD_CHARS.end()
        ));
    }
    if password.trim().is_empty() {
        return Err("the password is only spaces: give one with letters, digits or signs".into());
    }
    if chars < *PASSWORD_CHARS.start() {
        return Err(format!(
            "the password must have at least {} characters",
            PASSWORD_CHARS.start()
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(
            "the password holds a control character (a tab, an escape…): type it again".into(),
        );
    }
    Ok(())
}

/// `name:hash` lines; `#` comments and blank lines are allowed.
pub fn read_users(path: &Path) -> Result<Vec<(String, String)>, UsersError> {
    let text = crate::textfile::read(path).map_err(|error| UsersError::Read {
        path: path.to_owned(),
        error,
    })?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|error| UsersError::Read {
                path: path.to_owned(),
                error,
            })?
            .permissions()
            .mode();
        // Writable by anyone but its owner, or readable by everyone: refused. (Group
        // read is a deployment's choice: root-owned, read by the service's group.)
        if mode & 0o026 != 0 {
            return Err(UsersError::Open {
                path: path.to_owned(),
                mode: mode & 0o7777,
            });
        }
    }
    let users = parse_users(&text).map_err(|(line, reason)| UsersError::Line {
        path: path.to_owned(),
        line,
        reason,
    })?;
    if users.is_empty() {
        return Err(UsersError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(users)
}

fn parse_users(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut users: Vec<(String, String)> = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, hash)) = line.split_once(':') else {
            return Err((at + 1, "expected name:hash".into()));
        };
        check_name(name).map_err(|reason| (at + 1, reason))?;
        if PasswordHash::new(hash).is_err() {
            return Err((
                at + 1,
                format!("the hash of '{name}' is not a PHC string ($argon2id$…)"),
            ));
        }
        if users.iter().any(|(other, _)| other == name) {
            return Err((at + 1, format!("'{name}' is listed twice")));
        }
        users.push((name.to_owned(), hash.to_owned()));
    }
    Ok(users)
}

/// A user name: 1-64 letters, digits, `.`, `_`, `-` or `@`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "'{}' is not a user name (1-64 letters, digits, '.', '_', '-', '@')",
            crate::text::visible(name)
        )),
    }
}

/// The argon2id hash of a password, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_refused_when_blank_short_long_or_with_controls() {
        assert!(check_password("correct horse").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        for (bad, why) in [
            ("          ", "only spaces"),
            (
                "\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}",
                "only spaces",
            ),
            ("short", "at least 10"),
            ("with\ttab-inside", "control character"),
        ] {
            let err = check_password(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let long = "y".repeat(5000);
        assert!(
            check_password(&long)
                .expect_err("long")
                .contains("5000 characters")
        );
    }

    #[test]
    fn users_files_are_checked_line_by_line() {
        let hash = hash_password("x").expect("hash");
        let good = format!("# finance\nana:{hash}\n\nbob.li:{hash}\n");
        assert_eq!(parse_users(&good).expect("valid").len(), 2);
        assert_eq!(parse_users("ana").expect_err("no hash").0, 1);
        assert!(
            parse_users("ana:plain")
                .expect_err("plain")
                .1
                .contains("PHC")
        );
        let twice = format!("ana:{hash}\nana:{hash}\n");
        assert_eq!(parse_users(&twice).expect_err("twice").0, 2);
        assert!(parse_users(&format!("a b:{hash}")).is_err());
    }
}
