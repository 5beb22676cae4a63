//! The variables a command reads: the process's environment, then `--env-file`'s (the
//! process wins, as systemd's `EnvironmentFile=` would have it). One owned type, cheap
//! to clone and to hand to a thread (the desk's sends outlive the command line);
//! tests make their own from pairs and never touch the process's. Every variable the
//! tool reads goes through it. Its values are never printed: they hold the credentials.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Environment {
    /// Read from the process first.
    process: bool,
    /// `--env-file`'s variables, or a test's.
    vars: Arc<HashMap<String, String>>,
}

impl Environment {
    /// The process's environment, then `file`'s variables (`--env-file`).
    pub fn process(file: HashMap<String, String>) -> Self {
        Environment {
            process: true,
            vars: Arc::new(file),
        }
    }

    /// Exactly these variables, nothing of the process's.
    pub fn of<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Environment {
            process: false,
            vars: Arc::new(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The variable's value, if it is set (and valid Unicode).
    pub fn get(&self, name: &str) -> Option<String> {
        self.process
            .then(|| std::env::var(name).ok())
            .flatten()
            .or_else(|| self.vars.get(name).cloned())
    }
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Environment")
            .field("process", &self.process)
            .field("names", &names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_wins_over_the_file_and_values_are_never_shown() {
        let file = HashMap::from([
            ("PATH".to_owned(), "from-the-file".to_owned()),
            (
                "OPENTRADE_TEST_ONLY_IN_FILE".to_owned(),
                "s3cr3t".to_owned(),
            ),
        ]);
        let env = Environment::process(file);
        assert_ne!(env.get("PATH").as_deref(), Some("from-the-file"));
        assert_eq!(
            env.get("OPENTRADE_TEST_ONLY_IN_FILE").as_deref(),
            Some("s3cr3t")
        );
        assert!(!format!("{env:?}").contains("s3cr3t"));
        let fixed = Environment::of([("A", "1")]);
        assert_eq!(fixed.get("A").as_deref(), Some("1"));
        assert_eq!(fixed.get("PATH"), None, "nothing of the process's");
    }
}
