//! `[upstream]`: the real API.

use std::path::PathBuf;
use std::time::Duration;

use auth::SettingsError;
use http::Uri;
use http::uri::{Authority, Scheme};
use serde::Deserialize;

/// Largest `buffer_small_responses_bytes`: each response in flight may hold that much.
const MAX_BUFFERED_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

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
    /// Responses declaring at most this many bytes are read whole before their head is sent.
    pub buffer_small_responses_bytes: u64,
    /// Longest pause allowed inside an upstream response body.
    pub body_idle_timeout_ms: u64,
}

impl Default for RawUpstreamSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.telnyx.com".into(),
            connect_timeout_ms: 2_000,
            response_timeout_ms: 30_000,
            pool_idle_timeout_secs: 90,
            ca_file: None,
            buffer_small_responses_bytes: 64 * 1024,
            body_idle_timeout_ms: 30_000,
        }
    }
}

/// `[upstream]`, checked.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The upstream origin. Chosen by configuration only, never by a request.
    pub origin: UpstreamOrigin,
    /// Limit for opening a connection to the upstream, counted once over all of it: resolving
    /// the host name, the TCP connect, the TLS handshake (`https`) and the HTTP handshake (for
    /// HTTP/2, writing the connection preface and our SETTINGS; the upstream's are not
    /// awaited; HTTP/1.1 has no handshake I/O). The TCP connect alone is also bounded by it,
    /// split evenly across the addresses a host name resolves to. A connection not open in
    /// time is answered 502 `upstream_unavailable`.
    pub connect_timeout: Duration,
    /// Limit for the upstream's response headers, counted from the end of the request body.
    pub response_timeout: Duration,
    /// How long an idle pooled upstream connection is kept.
    pub pool_idle_timeout: Duration,
    /// A PEM file of CA certificates trusted for the upstream's TLS certificate, in addition
    /// to Mozilla's roots (an egress proxy that re-signs TLS, a private test upstream).
    /// `None`: Mozilla's roots only. Read once, at start-up.
    pub ca_file: Option<PathBuf>,
    /// A response whose `Content-Length` is at most this is read whole before its head goes to
    /// the client, so an upstream that cuts it off is answered 502 `upstream_failed` with
    /// `x-should-retry: false` instead of a truncated answer the SDKs would retry. Larger and
    /// unframed responses stream. 0: every response streams.
    pub buffer_small_responses: u64,
    /// Longest pause between two pieces of an upstream response body; past it the exchange is
    /// treated as cut off. Not zero.
    pub body_idle_timeout: Duration,
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
        if raw.buffer_small_responses_bytes > MAX_BUFFERED_RESPONSE_BYTES {
            problems.push(
                "buffer_small_responses_bytes",
                format_args!(
                    "must be at most {MAX_BUFFERED_RESPONSE_BYTES} (a buffer per response in flight)"
                ),
            );
        }
        let body_idle_timeout =
            problems.positive_millis("body_idle_timeout_ms", raw.body_idle_timeout_ms);
        problems.finish(UpstreamSettings {
            origin,
            connect_timeout,
            response_timeout,
            pool_idle_timeout,
            ca_file: raw.ca_file,
            buffer_small_responses: raw.buffer_small_responses_bytes,
            body_idle_timeout,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_upstream_mistake_is_reported_with_its_key() {
        let err = UpstreamSettings::try_from(RawUpstreamSettings {
            base_url: "https://api.telnyx.com/v2".into(),
            connect_timeout_ms: 0,
            response_timeout_ms: 0,
            pool_idle_timeout_secs: 0,
            ca_file: None,
            buffer_small_responses_bytes: u64::MAX,
            body_idle_timeout_ms: 0,
        })
        .unwrap_err();
        assert_eq!(
            err.keys(),
            [
                "base_url",
                "connect_timeout_ms",
                "response_timeout_ms",
                "pool_idle_timeout_secs",
                "buffer_small_responses_bytes",
                "body_idle_timeout_ms",
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
}
