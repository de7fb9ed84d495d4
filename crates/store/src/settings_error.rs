//! The error every settings section reports: all of its problems at once, each with its key.
//!
//! Each crate owns its sections (a raw serde type and a `TryFrom` into typed settings); they all
//! collect problems into a [`SettingsError`], so the binary can prefix the section name, add the
//! environment variable and print one list. It lives here, at the bottom of the crate graph,
//! because every other crate needs it.

use std::fmt;
use std::time::Duration;

/// One problem in a settings section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    /// The key, relative to the section that reported it (`listen`, `voice`); the binary
    /// prefixes the section (`dataplane.listen`).
    pub key: String,
    /// What is wrong, for an operator: lowercase, no final period, never a secret.
    pub problem: String,
}

/// Every problem found in one or more settings sections, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsError {
    problems: Vec<SettingsProblem>,
}

impl SettingsError {
    /// No problem yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `key`.
    pub fn push(&mut self, key: impl Into<String>, problem: impl fmt::Display) {
        self.problems.push(SettingsProblem {
            key: key.into(),
            problem: problem.to_string(),
        });
    }

    /// Takes over another section's problems, each key prefixed with `section.`.
    pub fn extend_section(&mut self, section: &str, other: SettingsError) {
        self.problems
            .extend(other.problems.into_iter().map(|p| SettingsProblem {
                key: format!("{section}.{}", p.key),
                problem: p.problem,
            }));
    }

    /// The problems, in the order found.
    pub fn problems(&self) -> &[SettingsProblem] {
        &self.problems
    }

    /// The keys of the problems, in the order found.
    pub fn keys(&self) -> Vec<&str> {
        self.problems.iter().map(|p| p.key.as_str()).collect()
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok(value)` when no problem was found, else `Err(self)`.
    ///
    /// # Errors
    ///
    /// `self`, when it holds a problem.
    pub fn finish<T>(self, value: T) -> Result<T, SettingsError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// `value` milliseconds; zero is a problem with `key`.
    pub fn positive_millis(&mut self, key: &str, value: u64) -> Duration {
        if value == 0 {
            self.push(key, "must be greater than 0");
        }
        Duration::from_millis(value)
    }

    /// `value` seconds; zero is a problem with `key`.
    pub fn positive_secs(&mut self, key: &str, value: u64) -> Duration {
        if value == 0 {
            self.push(key, "must be greater than 0");
        }
        Duration::from_secs(value)
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", p.key, p.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_prefix_their_keys_and_every_problem_is_kept() {
        let mut section = SettingsError::new();
        section.push("listen", "is not an address");
        let _ = section.positive_millis("timeout_ms", 0);
        let _ = section.positive_secs("idle_secs", 5);
        let mut all = SettingsError::new();
        all.extend_section("dataplane", section);
        assert_eq!(all.keys(), ["dataplane.listen", "dataplane.timeout_ms"]);
        assert_eq!(
            all.to_string(),
            "dataplane.listen: is not an address; dataplane.timeout_ms: must be greater than 0"
        );
        assert!(all.finish(()).is_err());
        assert_eq!(SettingsError::new().finish(7), Ok(7));
    }
}
