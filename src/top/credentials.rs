//! What identifies and authorizes the merchant's app. The secret and the session are
//! `Secret`s: their `Debug` never shows the value, so no log or error can leak them.

use std::fmt;

/// A value that must never be printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for signing and sending only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The app key, the secret it signs with, and the seller's session key.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app_key: String,
    pub secret: Secret,
    pub session: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret_or_the_session() {
        let credentials = Credentials {
            app_key: "12345678".into(),
            secret: Secret::new("helloworld"),
            session: Secret::new("test-session"),
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("helloworld"), "{shown}");
        assert!(!shown.contains("test-session"), "{shown}");
    }
}
