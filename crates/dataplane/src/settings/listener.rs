//! `[dataplane]`: the listener functions call.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use auth::SettingsError;
use auth::scope::is_valid_prefix;
use http::Uri;
use serde::Deserialize;

use super::{DEFAULT_DENY_PREFIXES, DEFAULT_PATH_PREFIX};

/// Smallest `max_header_bytes` hyper's HTTP/1 parser accepts (its initial read buffer).
const MIN_HEADER_BYTES: usize = 8192;

/// Largest `max_connections` (the semaphore's limit).
const MAX_CONNECTIONS: usize = tokio::sync::Semaphore::MAX_PERMITS;

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
    /// Time a client has to send a request head; for a connection's first request, counted
    /// from the accept.
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
    /// What happens to the client's `X-Forwarded-*` and `Forwarded` headers.
    pub forwarded_headers: ForwardedHeaders,
    /// PEM certificate chain: serve TLS (needs `tls_key_file`).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub tls_key_file: Option<PathBuf>,
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
            forwarded_headers: ForwardedHeaders::Replace,
            tls_cert_file: None,
            tls_key_file: None,
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
    /// Limit for a client to send a request head. A new connection (HTTP/1.1 or h2c) that has
    /// not delivered a complete first request head this long after it was accepted is closed
    /// without a response, a socket that never sends a byte included. Later HTTP/1.1 heads
    /// have this long from when hyper starts reading them (right after the previous response),
    /// so it also bounds how long an HTTP/1.1 connection stays idle. It is also how long a
    /// connection asked to close (idle, to make room, drain) gets to finish once nothing is in
    /// flight: an HTTP/2 client that never answers the GOAWAY's PING is then dropped. Not zero.
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
    /// Most client connections served at once. When all are taken and a new connection
    /// arrives, the listener accepts it and holds it unread, and asks the connection idle the
    /// longest (none in flight, at least one request served) to close gracefully (HTTP/1:
    /// closed between requests; HTTP/2: GOAWAY) to make room; if none is idle it looks again
    /// every 100 ms until a slot frees. Connections that never had a request are left to
    /// `header_read_timeout`. Further new connections wait in the kernel's accept queue (the
    /// listen backlog) and are refused by the kernel only when it is full. Each HTTP/2
    /// connection counts once, whatever its number of streams. At least 1.
    pub max_connections: usize,
    /// What the upstream hears of where a request came from.
    pub forwarded_headers: ForwardedHeaders,
    /// TLS on the listener (ALPN `h2` and `http/1.1`); `None`: plain HTTP/1.1 and h2c.
    pub tls: Option<ListenerTls>,
}

/// Where the data listener's certificate and key are (PEM). Read at start-up and again
/// whenever either file changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// The certificate followed by any intermediates (`dataplane.tls_cert_file`).
    pub cert_chain_pem: PathBuf,
    /// Its private key: PKCS#8, PKCS#1 or SEC1 (`dataplane.tls_key_file`).
    pub private_key_pem: PathBuf,
}

/// `dataplane.forwarded_headers`: what happens to `X-Forwarded-For`, `X-Forwarded-Host`,
/// `X-Forwarded-Proto`, `Forwarded` and `X-Real-IP` from the client. Function code controls
/// its requests' headers, so by default it must not choose the address the upstream sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardedHeaders {
    /// Drop the client's; send `X-Forwarded-For: <peer address>` (the default).
    #[default]
    Replace,
    /// Append the peer address to the client's `X-Forwarded-For` and pass the others as
    /// received: for a proxy behind a load balancer that sets them and strips the client's.
    Append,
    /// Drop them all and send none.
    Drop,
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
        let tls = match (raw.tls_cert_file, raw.tls_key_file) {
            (Some(cert_chain_pem), Some(private_key_pem)) => Some(ListenerTls {
                cert_chain_pem,
                private_key_pem,
            }),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                problems.push(
                    "tls_cert_file",
                    "dataplane.tls_cert_file and dataplane.tls_key_file go together",
                );
                None
            }
        };
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
            forwarded_headers: raw.forwarded_headers,
            tls,
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

#[cfg(test)]
mod tests {
    use super::*;

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
            forwarded_headers: ForwardedHeaders::Replace,
            tls_cert_file: Some("cert.pem".into()),
            tls_key_file: None,
        })
        .unwrap_err();
        assert_eq!(
            err.keys(),
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
                "tls_cert_file",
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
}
