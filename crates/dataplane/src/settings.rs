//! The data plane's settings: `[dataplane]` (the listener), `[upstream]` and `[rate_limit]`.
//!
//! Each section has a raw type as read (serde, defaults here, unknown keys refused) and a
//! checked form built by `TryFrom`, which reports every problem at once with its key. This is
//! the only place these settings are defined, defaulted and checked; after it the data plane
//! sees only typed values.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use auth::scope::{ScopeTable, is_valid_prefix};
use auth::{RateLimit, SettingsError};
use http::Uri;
use http::uri::{Authority, Scheme};
use serde::Deserialize;

/// Smallest `max_header_bytes` hyper's HTTP/1 parser accepts (its initial read buffer).
const MIN_HEADER_BYTES: usize = 8192;

/// Largest `max_connections` (the semaphore's limit).
const MAX_CONNECTIONS: usize = tokio::sync::Semaphore::MAX_PERMITS;

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
}

/// `[dataplane]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawListenerSettings {
    /// Address of the data plane.
    pub listen: String,
    /// The public prefix; a trailing `/` is dropped.
    pub path_prefix: String,
    /// The `base_url` handed out with tokens; unset: derived from the bound address.
    pub public_base_url: Option<String>,
    /// Time a client has to send its request headers.
    pub header_read_timeout_ms: u64,
    /// Largest request head accepted.
    pub max_header_bytes: usize,
    /// Upstream path prefixes no scope opens; unset: [`DEFAULT_DENY_PREFIXES`].
    pub deny_prefixes: Option<Vec<String>>,
    /// Largest request body; unset: no limit.
    pub max_body_bytes: Option<u64>,
    /// An idle client connection is closed after this.
    pub client_idle_timeout_secs: u64,
    /// Most client connections served at once.
    pub max_connections: usize,
}

impl RawListenerSettings {
    /// The keys that hold lists (environment variables split on commas).
    pub const LIST_KEYS: &'static [&'static str] = &["deny_prefixes"];
}

impl Default for RawListenerSettings {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            path_prefix: DEFAULT_PATH_PREFIX.into(),
            public_base_url: None,
            header_read_timeout_ms: 10_000,
            max_header_bytes: 64 * 1024,
            deny_prefixes: None,
            max_body_bytes: None,
            client_idle_timeout_secs: 60,
            max_connections: 10_000,
        }
    }
}

/// `[dataplane]`, checked.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// Where the data plane listens (HTTP/1.1 and h2c).
    pub listen: SocketAddr,
    /// Where the API is mounted, e.g. `/v2/compute/internal/binding-proxy`.
    pub path_prefix: PathPrefix,
    /// The `base_url` handed out with tokens (an absolute http(s) URL); `None`: derived from
    /// the bound data-plane address at start-up.
    pub public_base_url: Option<String>,
    /// Limit for a client to send its request headers (HTTP/1).
    pub header_read_timeout: Duration,
    /// Largest request head accepted (HTTP/1 read buffer, HTTP/2 header list); at least 8192.
    /// Above it hyper itself answers 431 with an empty body (HTTP/1) or resets the stream
    /// (HTTP/2); the request never reaches the proxy's code.
    pub max_header_bytes: usize,
    /// Upstream path prefixes (after `/v2/`, whole segments, unreserved escapes decoded) that
    /// no scope opens: 403 `route_denied`, checked before authentication. Each passes
    /// [`auth::scope::is_valid_prefix`]. The upstream form of `path_prefix` (when it starts
    /// with `/v2/`) is always denied on top of this list, so the proxy never calls itself.
    pub deny_prefixes: Vec<String>,
    /// Largest request body forwarded, in bytes; `None`: no limit. A larger `Content-Length`
    /// is refused with 413 `body_too_large` before authentication and before any upstream
    /// contact. A body without a length (chunked, HTTP/2 without `content-length`) that grows
    /// past the limit while streaming aborts the upstream request (HTTP/1: the upstream
    /// connection is closed; HTTP/2: the stream is reset) and is answered 413 if the upstream
    /// response has not started; if it has, the client gets the upstream response as far as
    /// it goes. At least 1 when set.
    pub max_body_bytes: Option<u64>,
    /// How long a client connection may stay open with no request in flight before it is
    /// closed gracefully (HTTP/1: closed; HTTP/2: GOAWAY). A request is in flight from its
    /// head until its response body has been sent. On HTTP/1, hyper's `header_read_timeout`
    /// also closes a connection that sends no next request within that time, so the shorter
    /// of the two wins there. Not zero.
    pub client_idle_timeout: Duration,
    /// Most client connections served at once. When all are taken the listener stops
    /// accepting: new connections wait in the kernel's accept queue (the listen backlog) until
    /// one closes, and are refused by the kernel only when that queue is full. Each HTTP/2
    /// connection counts once, whatever its number of streams. At least 1.
    pub max_connections: usize,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        Self::try_from(RawListenerSettings::default())
            .expect("the default [dataplane] settings are valid (a unit test checks it)")
    }
}

impl TryFrom<RawListenerSettings> for ListenerSettings {
    type Error = SettingsError;

    fn try_from(raw: RawListenerSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        let listen = raw.listen.parse().unwrap_or_else(|_| {
            problems.push(
                "listen",
                format_args!("`{}` is not an address such as 127.0.0.1:8080", raw.listen),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let path_prefix = PathPrefix::parse(&raw.path_prefix).unwrap_or_else(|| {
            problems.push(
                "path_prefix",
                "must be an absolute path of plain segments such as /v2/compute/internal/binding-proxy",
            );
            PathPrefix(DEFAULT_PATH_PREFIX.to_owned())
        });
        if let Some(url) = &raw.public_base_url {
            let absolute = url.parse::<Uri>().is_ok_and(|uri| {
                matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
            });
            if !absolute {
                problems.push(
                    "public_base_url",
                    "must be an absolute http(s) URL ending in the path prefix",
                );
            }
        }
        let header_read_timeout =
            problems.positive_millis("header_read_timeout_ms", raw.header_read_timeout_ms);
        if raw.max_header_bytes < MIN_HEADER_BYTES {
            problems.push(
                "max_header_bytes",
                format_args!("must be at least {MIN_HEADER_BYTES}"),
            );
        }
        let deny_prefixes = raw.deny_prefixes.unwrap_or_else(|| {
            DEFAULT_DENY_PREFIXES
                .iter()
                .map(|p| (*p).to_owned())
                .collect()
        });
        for (i, prefix) in deny_prefixes.iter().enumerate() {
            if !is_valid_prefix(prefix) {
                problems.push(
                    "deny_prefixes",
                    format_args!("entry {i} is not a path prefix such as api_keys or storage/kvs"),
                );
            }
        }
        if raw.max_body_bytes == Some(0) {
            problems.push(
                "max_body_bytes",
                "must be at least 1 (omit it for no limit)",
            );
        }
        let client_idle_timeout =
            problems.positive_secs("client_idle_timeout_secs", raw.client_idle_timeout_secs);
        if !(1..=MAX_CONNECTIONS).contains(&raw.max_connections) {
            problems.push(
                "max_connections",
                format_args!("must be between 1 and {MAX_CONNECTIONS}"),
            );
        }
        problems.finish(ListenerSettings {
            listen,
            path_prefix,
            public_base_url: raw.public_base_url,
            header_read_timeout,
            max_header_bytes: raw.max_header_bytes,
            deny_prefixes,
            max_body_bytes: raw.max_body_bytes,
            client_idle_timeout,
            max_connections: raw.max_connections,
        })
    }
}

/// A checked mount point: `/` followed by `/`-separated segments of `A-Z a-z 0-9 - . _ ~`, no
/// empty, `.` or `..` segment, no trailing slash. The route parser and the deny-list rely on
/// it holding nothing that needs decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// Checks `prefix` (a trailing `/` is dropped); `None` when it is not a plain absolute path.
    pub fn parse(prefix: &str) -> Option<PathPrefix> {
        let prefix = prefix.trim_end_matches('/');
        let plain = prefix
            .strip_prefix('/')
            .is_some_and(|rest| !rest.is_empty() && is_valid_prefix(rest));
        plain.then(|| PathPrefix(prefix.to_owned()))
    }

    /// The prefix, e.g. `/v2/compute/internal/binding-proxy`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for PathPrefix {
    fn default() -> Self {
        PathPrefix(DEFAULT_PATH_PREFIX.to_owned())
    }
}

/// `[upstream]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUpstreamSettings {
    /// The upstream origin.
    pub base_url: String,
    /// Limit for opening an upstream connection.
    pub connect_timeout_ms: u64,
    /// Limit for the upstream's response headers.
    pub response_timeout_ms: u64,
    /// Idle pooled connections are closed after this.
    pub pool_idle_timeout_secs: u64,
    /// Extra CA certificates trusted for the upstream.
    pub ca_file: Option<PathBuf>,
}

impl Default for RawUpstreamSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.telnyx.com".into(),
            connect_timeout_ms: 2_000,
            response_timeout_ms: 30_000,
            pool_idle_timeout_secs: 90,
            ca_file: None,
        }
    }
}

/// `[upstream]`, checked.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The upstream origin. Chosen by configuration only, never by a request.
    pub origin: UpstreamOrigin,
    /// Limit for opening an upstream connection: TCP connect, the TLS handshake (https) and,
    /// for an HTTP/2 upstream, the HTTP/2 handshake, together. Past it: 502
    /// `upstream_unavailable`.
    pub connect_timeout: Duration,
    /// Limit for the upstream's response headers, counted from the end of the request body.
    pub response_timeout: Duration,
    /// How long an idle pooled upstream connection is kept.
    pub pool_idle_timeout: Duration,
    /// A PEM file of CA certificates trusted for the upstream's TLS certificate, in addition
    /// to Mozilla's roots (an egress proxy that re-signs TLS, a private test upstream).
    /// `None`: Mozilla's roots only. Read once, at start-up.
    pub ca_file: Option<PathBuf>,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self::try_from(RawUpstreamSettings::default())
            .expect("the default [upstream] settings are valid (a unit test checks it)")
    }
}

impl TryFrom<RawUpstreamSettings> for UpstreamSettings {
    type Error = SettingsError;

    fn try_from(raw: RawUpstreamSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        let origin = UpstreamOrigin::parse(&raw.base_url).unwrap_or_else(|| {
            problems.push(
                "base_url",
                "must be an origin such as https://api.telnyx.com (scheme and host, no path)",
            );
            UpstreamOrigin {
                scheme: Scheme::HTTPS,
                authority: Authority::from_static("invalid"),
            }
        });
        let connect_timeout =
            problems.positive_millis("connect_timeout_ms", raw.connect_timeout_ms);
        let response_timeout =
            problems.positive_millis("response_timeout_ms", raw.response_timeout_ms);
        let pool_idle_timeout =
            problems.positive_secs("pool_idle_timeout_secs", raw.pool_idle_timeout_secs);
        problems.finish(UpstreamSettings {
            origin,
            connect_timeout,
            response_timeout,
            pool_idle_timeout,
            ca_file: raw.ca_file,
        })
    }
}

/// The upstream origin, `http(s)://host[:port]`: no user info, path or query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamOrigin {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and optional port.
    pub authority: Authority,
}

impl UpstreamOrigin {
    /// Checks `url`; `None` when it is not an http(s) origin.
    pub fn parse(url: &str) -> Option<UpstreamOrigin> {
        let uri = url.parse::<Uri>().ok()?;
        let scheme = uri.scheme().cloned()?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return None;
        }
        let authority = uri.authority().cloned()?;
        let path_is_root = uri.path_and_query().is_none_or(|pq| pq.as_str() == "/");
        (path_is_root && !authority.as_str().contains('@'))
            .then_some(UpstreamOrigin { scheme, authority })
    }

    /// The upstream's `Host`: its host, and its port unless it is the scheme's default.
    pub fn host_header(&self) -> http::HeaderValue {
        let host = self.authority.host();
        let default_port = if self.scheme == Scheme::HTTPS {
            443
        } else {
            80
        };
        let value = match self.authority.port_u16() {
            Some(port) if port != default_port => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        http::HeaderValue::from_str(&value)
            .expect("a parsed authority's host and port are valid header bytes")
    }

    /// The origin as a URI, `scheme://authority/`: what the connector dials.
    pub fn to_uri(&self) -> Uri {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query("/")
            .build()
            .expect("a checked scheme and authority with path / form a URI")
    }
}

/// `[rate_limit]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimitSettings {
    /// Sustained rate for bindings without their own limit.
    pub default_requests_per_second: Option<u32>,
    /// Burst for bindings without their own limit.
    pub default_burst: Option<u32>,
    /// An organization's limiter is forgotten after this long without a request.
    pub idle_secs: u64,
    /// Most organizations tracked at once.
    pub max_tracked: u64,
}

impl Default for RawRateLimitSettings {
    fn default() -> Self {
        Self {
            default_requests_per_second: None,
            default_burst: None,
            idle_secs: 600,
            max_tracked: 100_000,
        }
    }
}

/// `[rate_limit]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// The limit for bindings without their own; `None`: such bindings are not limited.
    pub default_limit: Option<RateLimit>,
    /// An organization's limiter is forgotten after this long without a request.
    pub idle_ttl: Duration,
    /// At most this many organizations are tracked at once (least recently used go first).
    pub max_tracked: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self::try_from(RawRateLimitSettings::default())
            .expect("the default [rate_limit] settings are valid (a unit test checks it)")
    }
}

impl TryFrom<RawRateLimitSettings> for RateLimitSettings {
    type Error = SettingsError;

    fn try_from(raw: RawRateLimitSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        let default_limit = match (raw.default_requests_per_second, raw.default_burst) {
            (None, None) => None,
            (Some(rps), Some(burst)) if rps > 0 && burst > 0 => Some(RateLimit {
                requests_per_second: rps,
                burst,
            }),
            _ => {
                problems.push(
                    "default_requests_per_second",
                    "set both default_requests_per_second and default_burst (each at least 1), or neither",
                );
                None
            }
        };
        let idle_ttl = problems.positive_secs("idle_secs", raw.idle_secs);
        // Zero would make the cache forget every organization at once; one is the smallest
        // meaningful bound (kept from the first release, which clamped rather than refused).
        let max_tracked = raw.max_tracked.max(1);
        problems.finish(RateLimitSettings {
            default_limit,
            idle_ttl,
            max_tracked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(err: &SettingsError) -> Vec<&str> {
        err.problems().iter().map(|p| p.key.as_str()).collect()
    }

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

    #[test]
    fn every_listener_mistake_is_reported_with_its_key() {
        let err = ListenerSettings::try_from(RawListenerSettings {
            listen: "nowhere".into(),
            path_prefix: "/a b".into(),
            public_base_url: Some("/relative".into()),
            header_read_timeout_ms: 0,
            max_header_bytes: 1024,
            deny_prefixes: Some(vec!["api_keys".into(), "a//b".into()]),
            max_body_bytes: Some(0),
            client_idle_timeout_secs: 0,
            max_connections: 0,
        })
        .unwrap_err();
        assert_eq!(
            keys(&err),
            [
                "listen",
                "path_prefix",
                "public_base_url",
                "header_read_timeout_ms",
                "max_header_bytes",
                "deny_prefixes",
                "max_body_bytes",
                "client_idle_timeout_secs",
                "max_connections",
            ]
        );
        assert!(err.problems()[5].problem.contains("entry 1"), "{err}");
    }

    #[test]
    fn path_prefixes_are_plain_absolute_paths() {
        for good in [
            "/v2/compute/internal/binding-proxy",
            "/bp",
            "/a/b/",
            "/a.b~c_d-e",
        ] {
            assert!(PathPrefix::parse(good).is_some(), "{good}");
        }
        assert_eq!(PathPrefix::parse("/a/b/").unwrap().as_str(), "/a/b");
        for bad in [
            "", "/", "//", "a", "/a//b", "/a b", "/a%2F", "/a?b", "/a#b", "/./a", "/a/..", "/a\\b",
        ] {
            assert!(PathPrefix::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_upstream_mistake_is_reported_with_its_key() {
        let err = UpstreamSettings::try_from(RawUpstreamSettings {
            base_url: "https://api.telnyx.com/v2".into(),
            connect_timeout_ms: 0,
            response_timeout_ms: 0,
            pool_idle_timeout_secs: 0,
            ca_file: None,
        })
        .unwrap_err();
        assert_eq!(
            keys(&err),
            [
                "base_url",
                "connect_timeout_ms",
                "response_timeout_ms",
                "pool_idle_timeout_secs"
            ]
        );
    }

    #[test]
    fn upstream_must_be_an_http_origin() {
        for bad in [
            "https://api.telnyx.com/v2",
            "/v2",
            "https://u:p@api.telnyx.com",
            "https://h/?q",
            "ftp://h",
        ] {
            assert!(UpstreamOrigin::parse(bad).is_none(), "{bad}");
        }
        let origin = UpstreamOrigin::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(origin.to_uri().to_string(), "http://127.0.0.1:9/");
        assert_eq!(origin.host_header(), "127.0.0.1:9");
        let default_port = UpstreamOrigin::parse("https://api.telnyx.com:443").unwrap();
        assert_eq!(default_port.host_header(), "api.telnyx.com");
    }

    #[test]
    fn every_rate_limit_mistake_is_reported_with_its_key() {
        let err = RateLimitSettings::try_from(RawRateLimitSettings {
            default_requests_per_second: Some(5),
            default_burst: None,
            idle_secs: 0,
            max_tracked: 0,
        })
        .unwrap_err();
        assert_eq!(keys(&err), ["default_requests_per_second", "idle_secs"]);
        let clamped = RateLimitSettings::try_from(RawRateLimitSettings {
            max_tracked: 0,
            ..RawRateLimitSettings::default()
        })
        .unwrap();
        assert_eq!(clamped.max_tracked, 1);
    }
}
