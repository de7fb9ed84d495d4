//! Upstream paths no scope opens: credential and account management, and the proxy's own
//! mount point (no loops). Checked before authentication and before scopes.

use auth::scope::{first_path_byte, strip_path_prefix};

use crate::settings::ListenerSettings;

/// The `/v2/` the upstream form of every path starts with.
const UPSTREAM_ROOT: &str = "/v2/";

/// The configured deny prefixes plus the upstream form of `path_prefix`.
#[derive(Debug, Clone)]
pub(crate) struct DenyList {
    /// Prefixes after `/v2/`, validated (no `%`), matched on whole segments.
    prefixes: Vec<String>,
}

impl DenyList {
    /// Builds the list from validated settings.
    pub(crate) fn new(settings: &ListenerSettings) -> Self {
        let mut prefixes = settings.deny_prefixes.clone();
        // A request whose upstream path is our own mount point would come back to us when the
        // upstream is (or forwards to) this proxy: a request loop.
        if let Some(own) = settings
            .path_prefix
            .as_str()
            .strip_prefix(UPSTREAM_ROOT)
            .filter(|own| !own.is_empty())
        {
            prefixes.push(own.to_owned());
        }
        Self { prefixes }
    }

    /// Whether `api_path` (the raw path after `/v2/`) starts with a denied prefix. A
    /// percent-encoded unreserved character counts as itself, so `api%5Fkeys` is `api_keys`.
    /// Allocation-free.
    pub(crate) fn denies(&self, api_path: &str) -> bool {
        // Prefixes are never empty: one whose first byte is not the path's cannot match.
        let Some(first) = first_path_byte(api_path) else {
            return false;
        };
        self.prefixes.iter().any(|prefix| {
            prefix.as_bytes().first() == Some(&first)
                && strip_path_prefix(api_path, prefix).is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::PathPrefix;

    fn list(path_prefix: &str) -> DenyList {
        DenyList::new(&ListenerSettings {
            path_prefix: PathPrefix::parse(path_prefix).unwrap(),
            ..ListenerSettings::default()
        })
    }

    #[test]
    fn credential_routes_are_denied_in_every_spelling() {
        let deny = list("/bp");
        for path in [
            "api_keys",
            "api_keys/1",
            "api_keys?x",
            "api%5Fkeys",
            "api%5fkeys/1",
            "%61pi_keys",
            "oauth",
            "oauth_clients/x",
            "users/me",
            "compute/internal/binding-proxy/messages",
            "managed_accounts",
        ] {
            assert!(deny.denies(path), "{path}");
        }
        for path in ["api_keysx", "messages", "oauthx", "user", "storage/kvs"] {
            assert!(!deny.denies(path), "{path}");
        }
    }

    #[test]
    fn own_mount_point_is_denied_even_with_an_empty_list() {
        let deny = DenyList::new(&ListenerSettings {
            path_prefix: PathPrefix::parse("/v2/internal/proxy").unwrap(),
            deny_prefixes: Vec::new(),
            ..ListenerSettings::default()
        });
        assert!(deny.denies("internal/proxy/messages"));
        assert!(deny.denies("internal/proxy"));
        assert!(!deny.denies("internal/proxyx"));
        assert!(!deny.denies("internal"));
        let deny = DenyList::new(&ListenerSettings {
            path_prefix: PathPrefix::parse("/bp").unwrap(),
            deny_prefixes: Vec::new(),
            ..ListenerSettings::default()
        });
        assert!(!deny.denies("bp/messages"));
        // An empty prefix used to reach the list; it is refused when the settings are read.
        assert_eq!(PathPrefix::parse(""), None);
    }
}
