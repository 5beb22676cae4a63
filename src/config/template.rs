//! `--out` (or `out` in the config) as a template: `{date}` is the run's Beijing date
//! (`YYYY-MM-DD`, whatever the host's time zone), `{run}` its run id, `{{`/`}}` a
//! brace. Each run its own file: a rerun never replaces the night's results.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// `path` with its placeholders filled in for the run `run_id` started at `started`.
pub fn expand(path: &Path, run_id: &str, started: DateTime<Utc>) -> Result<PathBuf, String> {
    let Some(text) = path.to_str() else {
        // Not UTF-8: no placeholder can be in it that we would recognise.
        return Ok(path.to_owned());
    };
    if !text.contains(['{', '}']) {
        return Ok(path.to_owned());
    }
    let date = started
        .with_timezone(&crate::clock::beijing())
        .format("%Y-%m-%d")
        .to_string();
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (piece, used) = if tail.starts_with("{{") {
            ("{", 2)
        } else if tail.starts_with("}}") {
            ("}", 2)
        } else if tail.starts_with("{date}") {
            (date.as_str(), 6)
        } else if tail.starts_with("{run}") {
            (run_id, 5)
        } else {
            let name: String = tail
                .chars()
                .take_while(|&c| c != '}')
                .chain(['}'])
                .collect();
            return Err(format!(
                "{name} is not a placeholder: {{date}} (the run's Beijing date) and {{run}} (its run id) are; {{{{ and }}}} are braces"
            ));
        };
        out.push_str(piece);
        rest = &tail[used..];
    }
    out.push_str(rest);
    Ok(PathBuf::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_beijing_s_and_the_run_is_named() {
        // 16:30 UTC on the 7th is 00:30 on the 8th in Beijing.
        let started = DateTime::parse_from_rfc3339("2026-12-07T16:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let expand = |p: &str| expand(Path::new(p), "20261208T003000-1a2b", started);
        assert_eq!(
            expand("results/{date}-{run}.xlsx").expect("template"),
            Path::new("results/2026-12-08-20261208T003000-1a2b.xlsx")
        );
        assert_eq!(expand("plain.csv").expect("plain"), Path::new("plain.csv"));
        assert_eq!(expand("a{{b}}.csv").expect("braces"), Path::new("a{b}.csv"));
        let err = expand("r-{day}.csv").expect_err("unknown");
        assert!(err.starts_with("{day} is not a placeholder"), "{err}");
        assert!(expand("r-{date.csv").is_err());
    }
}
