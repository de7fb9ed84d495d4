//! Data-plane settings and their start-up checks.

use std::path::PathBuf;
use std::time::Duration;

use auth::scope::ScopeTable;
use http::Uri;
use http::uri::{Authority, Scheme};

use crate::error::DataplaneError;
use crate::rate_limit::RateLimitSettings;

/// Smallest `max_header_bytes` hyper's HTTP/1 parser accepts (its initial read buffer).
pub(crate) const MIN_HEADER_BYTES: usize = 8192;

/// Largest `max_connections` (the semaphore's limit).
pub(crate) const MAX_CONNECTIONS: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// What the data plane needs to run; the binary builds it from the typed config.
#[derive(Debug, Clone)]
pub struct DataplaneSettings {
    /// Where the API is mounted, e.g. `/v2/compute/internal/binding-proxy`: empty or starting
    /// with `/`, no trailing slash, no `%`, `?` or `#`.
    pub path_prefix: String,
    /// The upstream origin, `scheme://host[:port]` (http or https), no path or query.
    pub upstream_base_url: Uri,
    /// Limit for establishing a TCP connection to the upstream.
    pub connect_timeout: Duration,
    /// Limit for the upstream's response headers, counted from the end of the request body.
    pub response_timeout: Duration,
    /// How long an idle pooled upstream connection is kept.
    pub pool_idle_timeout: Duration,
    /// A PEM file of CA certificates trusted for the upstream's TLS certificate, in addition
    /// to Mozilla's roots (an egress proxy that re-signs TLS, a private test upstream).
    /// `None` (the default): Mozilla's roots only. Read once, at start-up.
    pub upstream_ca_file: Option<PathBuf>,
    /// Limit for a client to send its request headers (HTTP/1).
    pub header_read_timeout: Duration,
    /// Largest request head accepted (HTTP/1 read buffer, HTTP/2 header list); at least 8192.
    /// Above it hyper itself answers 431 with an empty body (HTTP/1) or resets the stream
    /// (HTTP/2); the request never reaches the proxy's code. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Which upstream paths each scope opens. Default [`ScopeTable::defaults`].
    pub scopes: ScopeTable,
    /// Upstream path prefixes (after `/v2/`, whole segments, unreserved escapes decoded) that
    /// no scope opens: 403 `route_denied`, checked before authentication. Each must pass
    /// [`auth::scope::is_valid_prefix`]. The upstream form of `path_prefix` (when it starts
    /// with `/v2/`) is always denied on top of this list, so the proxy never calls itself.
    /// Default [`DEFAULT_DENY_PREFIXES`].
    pub deny_prefixes: Vec<String>,
    /// Largest request body forwarded, in bytes; `None` (the default): no limit. A larger
    /// `Content-Length` is refused with 413 `body_too_large` before authentication and before
    /// any upstream contact. A body without a length (chunked, HTTP/2 without
    /// `content-length`) that grows past the limit while streaming aborts the upstream request
    /// (HTTP/1: the upstream connection is closed; HTTP/2: the stream is reset) and is answered
    /// 413 if the upstream response has not started; if it has, the client gets the upstream
    /// response as far as it goes. At least 1 when set.
    pub max_body_bytes: Option<u64>,
    /// How long a client connection may stay open with no request in flight before it is
    /// closed gracefully (HTTP/1: closed; HTTP/2: GOAWAY). A request is in flight from its
    /// head until its response body has been sent. On HTTP/1, hyper's `header_read_timeout`
    /// also closes a connection that sends no next request within that time, so the shorter
    /// of the two wins there. Default 60 s; must not be zero.
    pub client_idle_timeout: Duration,
    /// Most client connections served at once. When all are taken the listener stops
    /// accepting: new connections wait in the kernel's accept queue (the listen backlog) until
    /// one closes, and are refused by the kernel only when that queue is full. Each HTTP/2
    /// connection counts once, whatever its number of streams. Default 10 000; at least 1.
    pub max_connections: usize,
    /// Per-organization rate limits: the default for bindings without their own, and how
    /// long an idle organization's limiter is kept.
    pub rate_limit: RateLimitSettings,
}

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

/// The default mount point of the API (the seeds' `TELNYX_BASE_URL` path).
pub const DEFAULT_PATH_PREFIX: &str = "/v2/compute/internal/binding-proxy";

impl Default for DataplaneSettings {
    fn default() -> Self {
        Self {
            path_prefix: DEFAULT_PATH_PREFIX.to_owned(),
            upstream_base_url: Uri::from_static("https://api.telnyx.com"),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(90),
            upstream_ca_file: None,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            scopes: ScopeTable::defaults(),
            deny_prefixes: DEFAULT_DENY_PREFIXES.map(str::to_owned).to_vec(),
            max_body_bytes: None,
            client_idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            rate_limit: RateLimitSettings::default(),
        }
    }
}

/// The upstream origin, split once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
}

impl DataplaneSettings {
    /// Checks the prefix, the upstream origin, the limits and the deny-list.
    pub(crate) fn validate(&self) -> Result<Upstream, DataplaneError> {
        if let Some(index) = self
            .deny_prefixes
            .iter()
            .position(|prefix| !auth::scope::is_valid_prefix(prefix))
        {
            return Err(DataplaneError::InvalidDenyPrefix { index });
        }
        if self.max_body_bytes == Some(0) {
            return Err(DataplaneError::MaxBodyBytesZero);
        }
        if self.client_idle_timeout.is_zero() {
            return Err(DataplaneError::ClientIdleTimeoutZero);
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(DataplaneError::MaxConnectionsOutOfRange {
                max: MAX_CONNECTIONS,
                got: self.max_connections,
            });
        }
        let prefix = self.path_prefix.as_str();
        if !(prefix.is_empty() || prefix.starts_with('/'))
            || prefix.ends_with('/')
            || prefix
                .bytes()
                .any(|b| !(0x21..=0x7e).contains(&b) || matches!(b, b'%' | b'?' | b'#' | b'\\'))
        {
            return Err(DataplaneError::InvalidPathPrefix);
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(DataplaneError::MaxHeaderBytesTooSmall {
                min: MIN_HEADER_BYTES,
                got: self.max_header_bytes,
            });
        }
        let url = &self.upstream_base_url;
        let scheme = url
            .scheme()
            .cloned()
            .ok_or(DataplaneError::UpstreamNotOrigin)?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(DataplaneError::UpstreamScheme);
        }
        let authority = url
            .authority()
            .cloned()
            .ok_or(DataplaneError::UpstreamNotOrigin)?;
        let path_is_root = url.path_and_query().is_none_or(|pq| pq.as_str() == "/");
        if !path_is_root || authority.as_str().contains('@') {
            return Err(DataplaneError::UpstreamNotOrigin);
        }
        Ok(Upstream { scheme, authority })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut DataplaneSettings)) -> Result<Upstream, DataplaneError> {
        let mut settings = DataplaneSettings::default();
        f(&mut settings);
        settings.validate()
    }

    #[test]
    fn defaults_are_valid() {
        let upstream = with(|_| {}).unwrap();
        assert_eq!(upstream.scheme, Scheme::HTTPS);
        assert_eq!(upstream.authority.as_str(), "api.telnyx.com");
        with(|s| s.path_prefix = String::new()).unwrap();
        with(|s| s.upstream_base_url = Uri::from_static("http://127.0.0.1:9/")).unwrap();
    }

    #[test]
    fn bad_prefixes_are_rejected() {
        for prefix in ["/", "/a/", "a", "/a b", "/a%2F", "/a?b"] {
            assert!(
                matches!(
                    with(|s| s.path_prefix = prefix.into()),
                    Err(DataplaneError::InvalidPathPrefix)
                ),
                "{prefix}"
            );
        }
    }

    #[test]
    fn upstream_must_be_an_http_origin() {
        for url in [
            "https://api.telnyx.com/v2",
            "/v2",
            "https://u:p@api.telnyx.com",
            "https://h/?q",
        ] {
            let err = with(|s| s.upstream_base_url = Uri::from_static(url)).unwrap_err();
            assert!(matches!(err, DataplaneError::UpstreamNotOrigin), "{url}");
        }
        let err = with(|s| s.upstream_base_url = Uri::from_static("ftp://h")).unwrap_err();
        assert!(matches!(err, DataplaneError::UpstreamScheme));
    }

    #[test]
    fn limits_and_deny_prefixes_are_checked() {
        let err = with(|s| s.deny_prefixes.push("a//b".into())).unwrap_err();
        assert!(matches!(
            err,
            DataplaneError::InvalidDenyPrefix { index: 12 }
        ));
        let err = with(|s| s.deny_prefixes = vec!["/api_keys".into()]).unwrap_err();
        assert!(matches!(
            err,
            DataplaneError::InvalidDenyPrefix { index: 0 }
        ));
        with(|s| s.deny_prefixes = Vec::new()).unwrap();
        let err = with(|s| s.max_body_bytes = Some(0)).unwrap_err();
        assert!(matches!(err, DataplaneError::MaxBodyBytesZero));
        with(|s| s.max_body_bytes = Some(1)).unwrap();
        let err = with(|s| s.client_idle_timeout = Duration::ZERO).unwrap_err();
        assert!(matches!(err, DataplaneError::ClientIdleTimeoutZero));
        let err = with(|s| s.max_connections = 0).unwrap_err();
        assert!(matches!(
            err,
            DataplaneError::MaxConnectionsOutOfRange { got: 0, .. }
        ));
    }

    #[test]
    fn tiny_header_limit_is_rejected() {
        let err = with(|s| s.max_header_bytes = 1024).unwrap_err();
        assert!(matches!(
            err,
            DataplaneError::MaxHeaderBytesTooSmall {
                min: 8192,
                got: 1024
            }
        ));
    }
}
