//! The server side of the RFC 6455 opening handshake: what a request must carry to be upgraded,
//! and the `Sec-WebSocket-Accept` value that proves the server read it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Version};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::problem::{HandshakeFault, Problem};

/// The one WebSocket version there is (RFC 6455 section 4.1).
const WEBSOCKET_VERSION: &str = "13";
/// Decoded length of a `Sec-WebSocket-Key` nonce.
const KEY_NONCE_BYTES: usize = 16;

/// Checks an HTTP/1.1 upgrade request for the handshake's headers and returns the
/// `Sec-WebSocket-Accept` value for the `101` answer.
///
/// # Errors
/// [`Problem::BadHandshake`] naming the first requirement the request misses.
pub(crate) fn accept_key(version: Version, headers: &HeaderMap) -> Result<HeaderValue, Problem> {
    let fault = |fault| Problem::BadHandshake(fault);
    if version != Version::HTTP_11 {
        return Err(fault(HandshakeFault::NotHttp11));
    }
    if !lists_token(headers, &CONNECTION, "upgrade") {
        return Err(fault(HandshakeFault::NoConnectionUpgrade));
    }
    if !lists_token(headers, &UPGRADE, "websocket") {
        return Err(fault(HandshakeFault::NoUpgradeWebsocket));
    }
    let version = single(headers, &SEC_WEBSOCKET_VERSION).map(<[u8]>::trim_ascii);
    if version != Some(WEBSOCKET_VERSION.as_bytes()) {
        return Err(fault(HandshakeFault::UnsupportedVersion));
    }
    let key = single(headers, &SEC_WEBSOCKET_KEY)
        .map(<[u8]>::trim_ascii)
        .filter(|key| {
            STANDARD
                .decode(key)
                .is_ok_and(|nonce| nonce.len() == KEY_NONCE_BYTES)
        })
        .ok_or(fault(HandshakeFault::InvalidKey))?;
    // Base64 of a SHA-1 digest: always a valid header value.
    HeaderValue::try_from(derive_accept_key(key)).map_err(|_| fault(HandshakeFault::InvalidKey))
}

/// Whether any value of `name` holds `token` in its comma-separated list (case-insensitive).
fn lists_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&byte| byte == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The value of a header sent exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value.as_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handshake of RFC 6455 section 1.3, whose answer the RFC gives.
    fn rfc_example() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        headers.insert(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        headers
    }

    fn fault_of(version: Version, headers: &HeaderMap) -> HandshakeFault {
        match accept_key(version, headers) {
            Err(Problem::BadHandshake(fault)) => fault,
            other => panic!("expected a handshake fault, got {other:?}"),
        }
    }

    #[test]
    fn accept_key_is_the_one_rfc_6455_gives_for_its_example() {
        let accept = accept_key(Version::HTTP_11, &rfc_example()).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn each_missing_requirement_is_named() {
        let headers = rfc_example();
        assert_eq!(
            fault_of(Version::HTTP_2, &headers),
            HandshakeFault::NotHttp11
        );
        assert_eq!(
            fault_of(Version::HTTP_10, &headers),
            HandshakeFault::NotHttp11
        );

        let mut no_connection = headers.clone();
        no_connection.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        assert_eq!(
            fault_of(Version::HTTP_11, &no_connection),
            HandshakeFault::NoConnectionUpgrade
        );

        let mut other_upgrade = headers.clone();
        other_upgrade.insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert_eq!(
            fault_of(Version::HTTP_11, &other_upgrade),
            HandshakeFault::NoUpgradeWebsocket
        );

        let mut old_version = headers.clone();
        old_version.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(
            fault_of(Version::HTTP_11, &old_version),
            HandshakeFault::UnsupportedVersion
        );
        let mut two_versions = headers.clone();
        two_versions.append(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        assert_eq!(
            fault_of(Version::HTTP_11, &two_versions),
            HandshakeFault::UnsupportedVersion
        );

        for bad_key in ["", "not base64!", "c2hvcnQ=", "dGhlIHNhbXBsZSBub25jZSEh"] {
            let mut bad = headers.clone();
            bad.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static(bad_key));
            assert_eq!(
                fault_of(Version::HTTP_11, &bad),
                HandshakeFault::InvalidKey,
                "{bad_key:?}"
            );
        }
        let mut no_key = headers.clone();
        no_key.remove(SEC_WEBSOCKET_KEY);
        assert_eq!(
            fault_of(Version::HTTP_11, &no_key),
            HandshakeFault::InvalidKey
        );
    }

    #[test]
    fn connection_tokens_are_matched_whole_and_across_values() {
        let mut headers = rfc_example();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        headers.append(CONNECTION, HeaderValue::from_static(" UPGRADE "));
        assert!(accept_key(Version::HTTP_11, &headers).is_ok());
        headers.insert(CONNECTION, HeaderValue::from_static("upgraded"));
        assert_eq!(
            fault_of(Version::HTTP_11, &headers),
            HandshakeFault::NoConnectionUpgrade
        );
    }
}
