//! The `[store]` and `[crypto]` settings: where the bindings live and the master key that
//! encrypts them. Raw types as read (defaults here, unknown keys refused) and their checked form.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::settings_error::SettingsError;

/// `[store]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStoreSettings {
    /// `sqlite://PATH`, `sqlite::memory:` or `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`.
    pub url: String,
}

impl Default for RawStoreSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/binding-proxy.db".into(),
        }
    }
}

/// `[store]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// The backend and where it is.
    pub url: StoreUrl,
}

impl TryFrom<RawStoreSettings> for StoreSettings {
    type Error = SettingsError;

    fn try_from(raw: RawStoreSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        let url = StoreUrl::parse(raw.url).unwrap_or_else(|| {
            problems.push(
                "url",
                "must be sqlite://PATH, sqlite::memory: or postgres://USER@HOST:PORT/DATABASE",
            );
            StoreUrl::SqliteMemory
        });
        problems.finish(StoreSettings { url })
    }
}

/// `store.url`, classified once. Only the binary picks the backend from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH[?OPTIONS]`: a file, created with its directory on first start.
    SqliteFile {
        /// The URL as configured, for the driver.
        url: String,
        /// The file (the URL's path without options), relative to the working directory.
        path: PathBuf,
    },
    /// `sqlite::memory:` (or `sqlite://:memory:`): nothing survives a restart.
    SqliteMemory,
    /// `postgres://…` or `postgresql://…`, shared by replicas.
    Postgres(PostgresUrl),
}

impl StoreUrl {
    /// Classifies `url`; `None` when it names no supported backend.
    pub fn parse(url: String) -> Option<StoreUrl> {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Some(StoreUrl::SqliteMemory);
        }
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let file = rest.split('?').next().unwrap_or(rest);
            if file.is_empty() {
                return None;
            }
            let path = PathBuf::from(file);
            return Some(StoreUrl::SqliteFile { url, path });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(StoreUrl::Postgres(PostgresUrl(url)));
        }
        None
    }
}

/// Shows the URL with any database password replaced by `[redacted]`.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::SqliteFile { url, .. } => f.write_str(url),
            StoreUrl::SqliteMemory => f.write_str("sqlite::memory:"),
            StoreUrl::Postgres(url) => f.write_str(&url.redacted()),
        }
    }
}

/// A PostgreSQL URL. It may carry a database password, so `Debug` and `Display` show it
/// redacted; the full URL is read only through [`PostgresUrl::expose`], where the store is
/// opened.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL as configured, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `[redacted]`, for messages.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &url[scheme_end + 3..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..])
            }
            _ => url.clone(),
        }
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `[crypto]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCryptoSettings {
    /// The master key file (64 hex characters); created with mode 0600 when absent.
    pub master_key_file: PathBuf,
}

impl Default for RawCryptoSettings {
    fn default() -> Self {
        Self {
            master_key_file: PathBuf::from("data/master.key"),
        }
    }
}

/// `[crypto]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoSettings {
    /// The master key file (not read here: `serve` loads or creates it at start-up).
    pub master_key_file: PathBuf,
}

impl TryFrom<RawCryptoSettings> for CryptoSettings {
    type Error = SettingsError;

    fn try_from(raw: RawCryptoSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        if raw.master_key_file.as_os_str().is_empty() {
            problems.push("master_key_file", "must not be empty");
        }
        problems.finish(CryptoSettings {
            master_key_file: raw.master_key_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let store = StoreSettings::try_from(RawStoreSettings::default()).unwrap();
        assert_eq!(
            store.url,
            StoreUrl::SqliteFile {
                url: "sqlite://data/binding-proxy.db".into(),
                path: PathBuf::from("data/binding-proxy.db"),
            }
        );
        CryptoSettings::try_from(RawCryptoSettings::default()).unwrap();
    }

    #[test]
    fn urls_are_classified_once() {
        let file = StoreUrl::parse("sqlite://d/x.db?mode=rwc".into()).unwrap();
        assert!(
            matches!(file, StoreUrl::SqliteFile { ref path, .. } if path == &PathBuf::from("d/x.db"))
        );
        for memory in ["sqlite::memory:", "sqlite://:memory:"] {
            assert_eq!(StoreUrl::parse(memory.into()), Some(StoreUrl::SqliteMemory));
        }
        for pg in ["postgres://db/bp", "postgresql://u@db/bp"] {
            assert!(matches!(
                StoreUrl::parse(pg.into()),
                Some(StoreUrl::Postgres(_))
            ));
        }
        for bad in ["mysql://x", "sqlite://", "", "data/x.db"] {
            assert_eq!(StoreUrl::parse(bad.into()), None, "{bad}");
        }
    }

    #[test]
    fn database_passwords_never_reach_debug_or_display() {
        let url = StoreUrl::parse("postgres://bp:s3cret@db:5432/bp".into()).unwrap();
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.to_string(), "postgres://bp:[redacted]@db:5432/bp");
        let StoreUrl::Postgres(pg) = url else {
            panic!("a postgres URL")
        };
        assert_eq!(pg.expose(), "postgres://bp:s3cret@db:5432/bp");
        let plain = StoreUrl::parse("postgres://db/bp".into()).unwrap();
        assert_eq!(plain.to_string(), "postgres://db/bp");
    }

    #[test]
    fn every_mistake_is_reported_with_its_key() {
        let err = StoreSettings::try_from(RawStoreSettings {
            url: "mysql://x".into(),
        })
        .unwrap_err();
        assert_eq!(err.problems()[0].key, "url");
        let err = CryptoSettings::try_from(RawCryptoSettings {
            master_key_file: PathBuf::new(),
        })
        .unwrap_err();
        assert_eq!(err.problems()[0].key, "master_key_file");
    }
}
