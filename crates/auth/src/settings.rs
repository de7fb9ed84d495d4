//! The `[tokens]`, `[cache]` and `[scopes]` settings: raw types as read (defaults here,
//! unknown keys refused) and their checked forms, every problem reported with its key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use store::SettingsError;

use crate::claims::TokenSettings;
use crate::scope::{SERVICES, ScopeTable, ScopeTableError};

/// Largest `tokens.leeway_secs`: more clock skew than this is a broken clock, not skew. The
/// store lists revoked tokens this long past their expiry, so the two must be one number.
const MAX_LEEWAY_SECS: u64 = store::MAX_TOKEN_LEEWAY_SECS;

/// `[tokens]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTokenSettings {
    /// `iss` of minted tokens.
    pub issuer: String,
    /// `aud` of minted tokens.
    pub audience: String,
    /// Lifetime of a token minted without `ttl_secs`.
    pub default_ttl_secs: u64,
    /// Longest lifetime a mint request may ask for.
    pub max_ttl_secs: u64,
    /// Clock-skew allowance for `exp` and `nbf`.
    pub leeway_secs: u64,
}

impl Default for RawTokenSettings {
    fn default() -> Self {
        Self {
            issuer: "binding-proxy".into(),
            audience: "binding-proxy".into(),
            default_ttl_secs: 24 * 3600,
            max_ttl_secs: 30 * 24 * 3600,
            leeway_secs: 30,
        }
    }
}

impl TryFrom<RawTokenSettings> for TokenSettings {
    type Error = SettingsError;

    fn try_from(raw: RawTokenSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        if raw.issuer.is_empty() {
            problems.push("issuer", "must not be empty");
        }
        if raw.audience.is_empty() {
            problems.push("audience", "must not be empty");
        }
        if raw.default_ttl_secs == 0 || raw.default_ttl_secs > raw.max_ttl_secs {
            problems.push(
                "default_ttl_secs",
                "must be between 1 and tokens.max_ttl_secs",
            );
        }
        if raw.leeway_secs > MAX_LEEWAY_SECS {
            problems.push(
                "leeway_secs",
                format_args!("must be at most {MAX_LEEWAY_SECS}"),
            );
        }
        problems.finish(TokenSettings {
            issuer: raw.issuer,
            audience: raw.audience,
            leeway_secs: raw.leeway_secs,
            default_ttl_secs: raw.default_ttl_secs,
            max_ttl_secs: raw.max_ttl_secs,
        })
    }
}

/// `[cache]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCacheSettings {
    /// Verified tokens kept.
    pub token_capacity: u64,
    /// Bindings kept with their decrypted key.
    pub credential_capacity: u64,
    /// A cached binding is reloaded after this.
    pub credential_ttl_secs: u64,
    /// While the store is unavailable, cached bindings serve this long past their TTL.
    pub max_stale_secs: u64,
}

impl Default for RawCacheSettings {
    fn default() -> Self {
        Self {
            token_capacity: 100_000,
            credential_capacity: 100_000,
            credential_ttl_secs: 60,
            max_stale_secs: 300,
        }
    }
}

/// `[cache]`, checked: the sizes and lifetimes of the verified-token and credential caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Most verified tokens kept ([`crate::Verifier`]); at least 1.
    pub token_capacity: u64,
    /// Most bindings kept with their decrypted key ([`crate::CredentialCache`]); at least 1.
    pub credential_capacity: u64,
    /// A cached binding is reloaded from the store after this; not zero.
    pub credential_ttl: Duration,
    /// While the store cannot be read, a cached binding serves this long past its TTL;
    /// zero: never past it.
    pub credential_max_staleness: Duration,
}

impl TryFrom<RawCacheSettings> for CacheSettings {
    type Error = SettingsError;

    fn try_from(raw: RawCacheSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        if raw.token_capacity == 0 {
            problems.push("token_capacity", "must be greater than 0");
        }
        if raw.credential_capacity == 0 {
            problems.push("credential_capacity", "must be greater than 0");
        }
        let credential_ttl = problems.positive_secs("credential_ttl_secs", raw.credential_ttl_secs);
        problems.finish(CacheSettings {
            token_capacity: raw.token_capacity,
            credential_capacity: raw.credential_capacity,
            credential_ttl,
            credential_max_staleness: Duration::from_secs(raw.max_stale_secs),
        })
    }
}

/// `[scopes]` as read: service name → upstream path prefixes replacing that scope's defaults.
/// Every service's key is a list (environment variables split on commas: see
/// [`RawScopes::list_keys`]); one prefix may also be given as a plain string, which is also how
/// an unknown key arrives from the environment, so it is refused by name rather than by type.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct RawScopes(pub BTreeMap<String, Prefixes>);

/// The prefixes of one scope: a list, or a single prefix.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Prefixes {
    /// `scope = "prefix"`.
    One(String),
    /// `scope = ["prefix", …]`.
    Many(Vec<String>),
}

impl From<Prefixes> for Vec<String> {
    fn from(prefixes: Prefixes) -> Self {
        match prefixes {
            Prefixes::One(prefix) => vec![prefix],
            Prefixes::Many(prefixes) => prefixes,
        }
    }
}

impl RawScopes {
    /// The keys that hold lists: one per service scope.
    pub fn list_keys() -> impl Iterator<Item = &'static str> {
        SERVICES.into_iter()
    }
}

impl TryFrom<RawScopes> for ScopeTable {
    type Error = SettingsError;

    fn try_from(raw: RawScopes) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        let map = raw.0.into_iter().map(|(k, v)| (k, v.into())).collect();
        match ScopeTable::from_map(map) {
            Ok(table) => problems.finish(table),
            Err(found) => {
                for problem in found {
                    let key = match &problem {
                        ScopeTableError::UnknownScope { scope }
                        | ScopeTableError::InvalidPrefix { scope, .. } => scope.clone(),
                    };
                    problems.push(key, problem);
                }
                Err(problems)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let tokens = TokenSettings::try_from(RawTokenSettings::default()).unwrap();
        assert_eq!(tokens.leeway_secs, 30);
        let cache = CacheSettings::try_from(RawCacheSettings::default()).unwrap();
        assert_eq!(cache.credential_ttl, Duration::from_secs(60));
        ScopeTable::try_from(RawScopes::default()).unwrap();
    }

    #[test]
    fn every_token_mistake_is_reported_with_its_key() {
        let err = TokenSettings::try_from(RawTokenSettings {
            issuer: String::new(),
            audience: String::new(),
            default_ttl_secs: 10,
            max_ttl_secs: 5,
            leeway_secs: 301,
        })
        .unwrap_err();
        assert_eq!(
            err.keys(),
            ["issuer", "audience", "default_ttl_secs", "leeway_secs"]
        );
    }

    #[test]
    fn every_cache_mistake_is_reported_with_its_key() {
        let err = CacheSettings::try_from(RawCacheSettings {
            token_capacity: 0,
            credential_capacity: 0,
            credential_ttl_secs: 0,
            max_stale_secs: 0,
        })
        .unwrap_err();
        assert_eq!(
            err.keys(),
            [
                "token_capacity",
                "credential_capacity",
                "credential_ttl_secs"
            ]
        );
    }

    #[test]
    fn every_scope_mistake_is_reported_with_its_key() {
        let raw = RawScopes(BTreeMap::from([
            ("telepathy".to_owned(), Prefixes::One("minds".to_owned())),
            (
                "messaging".to_owned(),
                Prefixes::Many(vec!["messages".to_owned(), "/bad".to_owned()]),
            ),
            ("fax".to_owned(), Prefixes::One("a//b".to_owned())),
        ]));
        let err = ScopeTable::try_from(raw).unwrap_err();
        assert_eq!(err.keys(), ["fax", "messaging", "telepathy"]);
    }
}
