//! The request id: the client's `X-Request-Id` when it is sane, else a fresh UUID v4.
//!
//! It goes upstream, comes back on every response (refusals too) and is the `request_id` in
//! logs and error documents, so one id follows a call through function, proxy and upstream.

use http::{HeaderMap, HeaderValue};

use crate::headers::X_REQUEST_ID;

/// Longest client-supplied id we keep; longer ones are replaced (they end up in logs).
const MAX_LEN: usize = 200;

/// A request id known to be 1..=200 visible ASCII characters.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// Keeps the first `X-Request-Id` if it is 1..=200 visible ASCII characters (no spaces, no
    /// control bytes: it is logged), otherwise mints a UUID v4.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        match headers.get(X_REQUEST_ID) {
            Some(value) if is_acceptable(value) => Self(value.clone()),
            _ => Self::mint(),
        }
    }

    /// The same id in storage of its own. A client's id shares the connection's read buffer the
    /// request head was parsed from; what outlives the request (a WebSocket session's access
    /// line) must not keep that buffer alive.
    pub(crate) fn detached(&self) -> Self {
        HeaderValue::from_bytes(self.0.as_bytes()).map_or_else(|_| Self::mint(), Self)
    }

    /// A fresh UUID v4.
    pub(crate) fn mint() -> Self {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        Self(HeaderValue::from_str(text).expect("a hyphenated uuid is a valid header value"))
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // Both constructors guarantee visible ASCII, so this never falls back.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value (cheap clone).
    pub(crate) fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

fn is_acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_LEN).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn a_sane_client_id_is_kept() {
        let id = RequestId::from_headers(&with(b"req-123_abc.DEF:1"));
        assert_eq!(id.as_str(), "req-123_abc.DEF:1");
        let long = "a".repeat(200);
        assert_eq!(
            RequestId::from_headers(&with(long.as_bytes())).as_str(),
            long
        );
    }

    #[test]
    fn a_missing_or_odd_id_is_replaced_by_a_uuid() {
        let too_long = "a".repeat(201);
        for headers in [
            HeaderMap::new(),
            with(b""),
            with(b"has space"),
            with(b"tab\there"),
            with(b"caf\xc3\xa9"),
            with(too_long.as_bytes()),
        ] {
            let id = RequestId::from_headers(&headers);
            let parsed = uuid::Uuid::parse_str(id.as_str()).unwrap();
            assert_eq!(parsed.get_version_num(), 4);
        }
    }

    #[test]
    fn minted_ids_differ() {
        assert_ne!(RequestId::mint().as_str(), RequestId::mint().as_str());
    }
}
