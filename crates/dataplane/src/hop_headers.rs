//! Hop-by-hop header removal (RFC 9110 §7.6.1), in place, both directions.
//!
//! These headers describe one connection, not the message: forwarding them would let a client
//! steer the proxy's upstream connection (`Connection: close`, `Upgrade`), smuggle framing
//! (`Transfer-Encoding` next to `Content-Length`) or leak proxy credentials.

use http::header::{CONNECTION, HeaderMap, HeaderName, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION};
use http::header::{TE, TRAILER, TRANSFER_ENCODING, UPGRADE};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Every hop-by-hop header that is not nominated through `Connection`.
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Removes the hop-by-hop headers and every header named in `Connection`.
///
/// Allocates only when `Connection` names a header that is actually present (rare: SDKs send
/// `Connection: keep-alive`, itself hop-by-hop).
pub(crate) fn strip(headers: &mut HeaderMap) {
    let mut nominated: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',').map(str::trim) {
            if headers.contains_key(token)
                && let Ok(name) = HeaderName::from_bytes(token.as_bytes())
            {
                nominated.push(name);
            }
        }
    }
    for name in nominated {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};

    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        headers
    }

    #[test]
    fn standard_hop_by_hop_headers_are_removed() {
        let mut headers = map(&[
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic abc"),
            ("proxy-authenticate", "Basic"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("content-type", "application/json"),
        ]);
        strip(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(CONTENT_TYPE));
    }

    #[test]
    fn headers_named_in_connection_are_removed_in_any_case() {
        let mut headers = map(&[
            ("connection", "close, X-Custom"),
            ("connection", " x-other ,x-missing"),
            ("x-custom", "1"),
            ("x-other", "2"),
            ("user-agent", "Telnyx/1"),
        ]);
        strip(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(USER_AGENT));
    }

    #[test]
    fn end_to_end_headers_are_untouched() {
        let mut headers = map(&[
            ("authorization", "Bearer t"),
            ("content-length", "5"),
            ("x-stainless-lang", "python"),
            ("accept-encoding", "gzip"),
            ("x-stainless-lang", "again"),
        ]);
        let before = headers.clone();
        strip(&mut headers);
        assert_eq!(headers, before);
        assert!(headers.contains_key(AUTHORIZATION) && headers.contains_key(CONTENT_LENGTH));
    }

    #[test]
    fn a_non_ascii_connection_value_is_still_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_bytes(b"x-a, \xff").unwrap());
        headers.insert(
            HeaderName::from_static("x-a"),
            HeaderValue::from_static("1"),
        );
        strip(&mut headers);
        assert!(!headers.contains_key(CONNECTION));
    }
}
