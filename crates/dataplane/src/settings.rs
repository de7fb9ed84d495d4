//! Data-plane settings and their start-up checks.

use std::time::Duration;

use http::Uri;
use http::uri::{Authority, Scheme};

use crate::error::DataplaneError;

/// Smallest `max_header_bytes` hyper's HTTP/1 parser accepts (its initial read buffer).
pub(crate) const MIN_HEADER_BYTES: usize = 8192;

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
    /// Limit for a client to send its request headers (HTTP/1).
    pub header_read_timeout: Duration,
    /// Largest request head accepted (HTTP/1 read buffer, HTTP/2 header list); at least 8192.
    pub max_header_bytes: usize,
}

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
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
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
    /// Checks the prefix, the upstream origin and the header limit.
    pub(crate) fn validate(&self) -> Result<Upstream, DataplaneError> {
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
