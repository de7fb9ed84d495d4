//! Hop-by-hop header removal (RFC 9110 §7.6.1), in place, both directions.
//!
//! These headers describe one connection, not the message: forwarding them would let a client
//! steer the proxy's upstream connection (`Connection: close`, `Upgrade`), smuggle framing
//! (`Transfer-Encoding` next to `Content-Length`) or leak proxy credentials.

use http::HeaderValue;
use http::header::UPGRADE;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, HOST, HeaderMap, HeaderName};
use http::header::{PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING};

use crate::headers::X_REQUEST_ID;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Every hop-by-hop header that is not nominated through `Connection`; `Connection` first.
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
/// One pass over the header names finds which hop-by-hop headers are present; only those are
/// removed (most requests carry none, most upstream responses only `Connection`). Allocates
/// only when `Connection` names a header that is actually present (rare: SDKs send
/// `Connection: keep-alive`, itself hop-by-hop).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = 0_u16;
    for name in headers.keys() {
        if let Some(index) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present |= 1 << index;
        }
    }
    if present == 0 {
        return;
    }
    // CONNECTION is HOP_BY_HOP[0].
    if present & 1 != 0 {
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
    }
    for (index, name) in HOP_BY_HOP.into_iter().enumerate() {
        if present & (1 << index) != 0 {
            headers.remove(name);
        }
    }
}

/// The only content coding the proxy accepts from the upstream.
const IDENTITY: HeaderValue = HeaderValue::from_static("identity");

/// Turns a client's request headers into the upstream's: hop-by-hop headers out, the client's
/// `Host` out (the upstream's comes from the URI), the function's token replaced by the
/// organization's `authorization`, `Accept-Encoding: identity`, and the request id set.
///
/// `identity`, whatever the client accepts: the response is scanned for a reflected key, and a
/// compressed body cannot be (the function chooses `Accept-Encoding`; `gzip` would otherwise
/// turn the scan off). Without the header any coding would be acceptable (RFC 9110 §12.5.3).
pub fn rewrite_request_headers(
    headers: &mut HeaderMap,
    authorization: HeaderValue,
    request_id: HeaderValue,
) {
    strip_hop_by_hop(headers);
    headers.remove(HOST);
    headers.insert(AUTHORIZATION, authorization);
    headers.insert(ACCEPT_ENCODING, IDENTITY);
    headers.insert(X_REQUEST_ID, request_id);
}

#[cfg(test)]
mod tests {
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};

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
        strip_hop_by_hop(&mut headers);
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
        strip_hop_by_hop(&mut headers);
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
        strip_hop_by_hop(&mut headers);
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
        strip_hop_by_hop(&mut headers);
        assert!(!headers.contains_key(CONNECTION));
    }

    #[test]
    fn request_rewrite_swaps_the_token_and_drops_host_and_hop_headers() {
        let mut headers = map(&[
            ("host", "proxy.internal"),
            ("authorization", "Bearer function-token"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("x-request-id", "client-id"),
            ("accept-encoding", "gzip, deflate, br"),
            ("content-type", "application/json"),
        ]);
        rewrite_request_headers(
            &mut headers,
            HeaderValue::from_static("Bearer real-key"),
            HeaderValue::from_static("req-1"),
        );
        assert_eq!(headers.len(), 4, "{headers:?}");
        assert_eq!(headers[AUTHORIZATION], "Bearer real-key");
        assert_eq!(headers[ACCEPT_ENCODING], "identity");
        assert_eq!(headers[X_REQUEST_ID], "req-1");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
    }
}
