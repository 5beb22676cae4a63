//! `--env-file FILE`: `KEY=VALUE` lines read as systemd's `EnvironmentFile=` reads them
//! — `#` and `;` comment lines, blank lines, an optional `export `, values in single or
//! double quotes (with `\"`, `\\`, `\n` in double quotes), a trailing `\` continuing a
//! line — so the file a service unit uses is the file cron uses, without `. file`
//! needing `export` on every line. Variables already in the process's environment win.

use std::collections::HashMap;
use std::path::Path;

/// A `--env-file` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("cannot read --env-file {}: {error}", path.display())]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("--env-file {} line {line}: {reason}", path.display())]
    Line {
        path: std::path::PathBuf,
        line: usize,
        reason: &'static str,
    },
}

/// The variables of the file at `path`.
pub fn load(path: &Path) -> Result<HashMap<String, String>, EnvFileError> {
    let text = crate::textfile::read(path).map_err(|error| EnvFileError::Read {
        path: path.to_owned(),
        error,
    })?;
    warn_if_readable_by_others(path);
    parse(&text).map_err(|(line, reason)| EnvFileError::Line {
        path: path.to_owned(),
        line,
        reason,
    })
}

/// The variables of `text`; an error names the (1-based) line and what is wrong.
pub fn parse(text: &str) -> Result<HashMap<String, String>, (usize, &'static str)> {
    let mut vars = HashMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let mut line = raw.trim().to_owned();
        while line.ends_with('\\') && !line.ends_with("\\\\") {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next.trim()),
                None => break,
            }
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(&line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((index + 1, "not KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || key.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err((index + 1, "the name must be letters, digits and _"));
        }
        vars.insert(
            key.to_owned(),
            value_of(value.trim()).ok_or((index + 1, "a quote is not closed"))?,
        );
    }
    Ok(vars)
}

/// A value without its quotes (and, in double quotes, its escapes).
fn value_of(value: &str) -> Option<String> {
    if let Some(inner) = value.strip_prefix('\'') {
        return inner.strip_suffix('\'').map(str::to_owned);
    }
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some(escaped @ ('"' | '\\' | '$' | '`'))) => {
                out.push(escaped);
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    Some(out)
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "--env-file {} may hold the secret but other users may read it (mode {:o}); run: chmod 600 {}",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_environment_file_syntax() {
        let vars = parse(
            "# the nightly job\n; also a comment\n\nTOP_APP_KEY=12345678\nexport TOP_SESSION = 'a b=c'\nTOP_APP_SECRET=\"s\\\"e\\\\c\"\nLONG=one\\\ntwo\nEMPTY=\n",
        )
        .expect("parses");
        assert_eq!(vars["TOP_APP_KEY"], "12345678");
        assert_eq!(vars["TOP_SESSION"], "a b=c");
        assert_eq!(vars["TOP_APP_SECRET"], "s\"e\\c");
        assert_eq!(vars["LONG"], "onetwo");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(parse("JUST TEXT\n"), Err((1, "not KEY=VALUE")));
        assert_eq!(parse("A=1\nB='open\n"), Err((2, "a quote is not closed")));
        assert_eq!(
            parse("1A=x\n"),
            Err((1, "the name must be letters, digits and _"))
        );
    }
}
