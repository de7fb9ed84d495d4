//! The data plane's settings: `[dataplane]` (the listener), `[upstream]`, `[rate_limit]` and
//! `[websocket]`.
//!
//! Each section has a raw type as read (serde, defaults here, unknown keys refused) and a
//! checked form built by `TryFrom`, which reports every problem at once with its key. This is
//! the only place these settings are defined, defaulted and checked; after it the data plane
//! sees only typed values.

mod listener;
mod rate_limit;
mod upstream;
mod websocket;

use auth::scope::ScopeTable;

pub use listener::{
    ForwardedHeaders, ListenerSettings, ListenerTls, PathPrefix, RawListenerSettings,
};
pub use rate_limit::{RateLimitSettings, RawRateLimitSettings};
pub use upstream::{RawUpstreamSettings, UpstreamOrigin, UpstreamSettings};
pub use websocket::{RawWebSocketSettings, WebSocketSettings};

/// The default mount point of the API (the seeds' `TELNYX_BASE_URL` path; note the doubled
/// `/v2/`, as the bindings documentation explains).
pub const DEFAULT_PATH_PREFIX: &str = "/v2/compute/internal/binding-proxy";

/// Default deny-list: the upstream routes that manage credentials or accounts, and `compute`
/// (where the proxy itself is mounted upstream). See `docs/scopes.md`.
pub const DEFAULT_DENY_PREFIXES: [&str; 12] = [
    "api_keys",
    "integration_secrets",
    "telephony_credentials",
    "credential_connections",
    "mobile_push_credentials",
    "access_ip_address",
    "access_ip_ranges",
    "managed_accounts",
    "oauth",
    "oauth_clients",
    "users",
    "compute",
];

/// Everything the data plane needs to run, one checked section each.
#[derive(Debug, Clone, Default)]
pub struct DataplaneSettings {
    /// `[dataplane]`: the listener functions call.
    pub listener: ListenerSettings,
    /// `[upstream]`: the real API.
    pub upstream: UpstreamSettings,
    /// `[rate_limit]`: per-organization limits.
    pub rate_limit: RateLimitSettings,
    /// `[scopes]`: which upstream paths each scope opens (checked by `auth`).
    pub scopes: ScopeTable,
    /// `[websocket]`: WebSocket sessions.
    pub websocket: WebSocketSettings,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::uri::Scheme;

    use super::*;

    #[test]
    fn defaults_are_valid() {
        let settings = DataplaneSettings::default();
        assert_eq!(settings.listener.path_prefix.as_str(), DEFAULT_PATH_PREFIX);
        assert_eq!(settings.listener.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(settings.upstream.origin.scheme, Scheme::HTTPS);
        assert_eq!(
            settings.upstream.origin.authority.as_str(),
            "api.telnyx.com"
        );
        assert_eq!(settings.upstream.connect_timeout, Duration::from_secs(2));
        assert_eq!(settings.rate_limit.default_limit, None);
    }
}
