//! The handshake: how a client asks for a session (an HTTP/1.1 `Upgrade: websocket`, or an
//! HTTP/2 extended CONNECT with `:protocol = websocket`, RFC 8441), the upstream's request
//! made from it (always an HTTP/1.1 upgrade), and the client's answer made from the
//! upstream's `101`.
//!
//! What passes unchanged: `Sec-WebSocket-Key` (HTTP/1.1 clients), `-Version`, `-Protocol`,
//! `-Extensions` and `Origin` up; `Sec-WebSocket-Accept`, `-Protocol` and `-Extensions` down.
//! An HTTP/2 client sends no key (RFC 8441 §5): the proxy makes one for the upstream and checks
//! the upstream's accept against it, since no client will.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT};
use http::header::{SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{Method, Request, StatusCode, Version};

use crate::error::{HandshakeProblem, SwitchProblem};

/// How the client asked for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// HTTP/1.1 `GET` with `Connection: upgrade` and `Upgrade: websocket`; answered `101`.
    Http1,
    /// HTTP/2 `CONNECT` with `:protocol = websocket`; answered `200`.
    ExtendedConnect,
}

const WEBSOCKET: HeaderValue = HeaderValue::from_static("websocket");
const CONNECTION_UPGRADE: HeaderValue = HeaderValue::from_static("upgrade");

/// RFC 6455 §1.3: appended to the key before hashing it into the accept value.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether one of the comma-separated tokens of `name`'s values is `token` (any case).
fn has_token(headers: &HeaderMap, name: &http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// Whether `request` asks for a WebSocket session, and how. Anything else (another `Upgrade`
/// protocol, an HTTP/1.0 or non-`GET` upgrade) is a plain request whose `Upgrade` is dropped
/// as hop-by-hop.
pub(crate) fn detect<B>(request: &Request<B>) -> Option<Handshake> {
    match request.version() {
        Version::HTTP_2 => (request.method() == Method::CONNECT
            && request
                .extensions()
                .get::<hyper::ext::Protocol>()
                .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket")))
        .then_some(Handshake::ExtendedConnect),
        Version::HTTP_11 => (request.method() == Method::GET
            && has_token(request.headers(), &UPGRADE, "websocket")
            && has_token(request.headers(), &CONNECTION, "upgrade"))
        .then_some(Handshake::Http1),
        _ => None,
    }
}

/// Checks what the handshake itself must carry. `body_empty`: whether the request declares no
/// body (only read for HTTP/1.1: an extended CONNECT's body is the session).
pub(crate) fn check(
    handshake: Handshake,
    headers: &HeaderMap,
    body_empty: bool,
) -> Result<(), HandshakeProblem> {
    let mut versions = headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    if versions.next().is_none_or(|version| version != "13") || versions.next().is_some() {
        return Err(HandshakeProblem::Version);
    }
    if handshake == Handshake::Http1 {
        if !body_empty {
            return Err(HandshakeProblem::Body);
        }
        let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
        let valid = keys
            .next()
            .and_then(|key| BASE64.decode(key.as_bytes()).ok())
            .is_some_and(|key| key.len() == 16);
        if !valid || keys.next().is_some() {
            return Err(HandshakeProblem::Key);
        }
    }
    Ok(())
}

/// Turns the client's headers (already rewritten for the upstream: hop-by-hop headers out,
/// `Authorization` swapped) into an HTTP/1.1 upgrade's. Returns the accept value the upstream
/// must answer with when the proxy made the key (HTTP/2 clients), to check with
/// [`client_answer`].
pub(crate) fn upstream_headers(handshake: Handshake, headers: &mut HeaderMap) -> Option<String> {
    headers.insert(CONNECTION, CONNECTION_UPGRADE);
    headers.insert(UPGRADE, WEBSOCKET);
    match handshake {
        Handshake::Http1 => None,
        Handshake::ExtendedConnect => {
            let mut nonce = [0u8; 16];
            if aws_lc_rs::rand::fill(&mut nonce).is_err() {
                // Not secret, only fresh: RFC 6455 uses it to tell a WebSocket server apart.
                nonce = *uuid::Uuid::new_v4().as_bytes();
            }
            let key = BASE64.encode(nonce);
            let accept = accept_for(key.as_bytes());
            if let Ok(value) = HeaderValue::from_str(&key) {
                headers.insert(SEC_WEBSOCKET_KEY, value);
            }
            Some(accept)
        }
    }
}

/// `Sec-WebSocket-Accept` for `key`: base64 of SHA-1 over the key and the GUID.
fn accept_for(key: &[u8]) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(key);
    context.update(ACCEPT_GUID);
    BASE64.encode(context.finish().as_ref())
}

/// Turns the upstream's `101` head (hop-by-hop headers already stripped) into the client's
/// answer: `101` with `Connection: upgrade` and `Upgrade: websocket` for HTTP/1.1, `200`
/// without `Sec-WebSocket-Accept` for HTTP/2. `upgrade`: the upstream's `Upgrade` value, read
/// before the strip. `expected_accept`: from [`upstream_headers`].
pub(crate) fn client_answer(
    handshake: Handshake,
    head: &mut http::response::Parts,
    upgrade: Option<&HeaderValue>,
    expected_accept: Option<&str>,
) -> Result<(), SwitchProblem> {
    if !upgrade.is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket")) {
        return Err(SwitchProblem::Protocol);
    }
    if let Some(expected) = expected_accept
        && head
            .headers
            .get(SEC_WEBSOCKET_ACCEPT)
            .map(HeaderValue::as_bytes)
            != Some(expected.as_bytes())
    {
        return Err(SwitchProblem::Accept);
    }
    match handshake {
        Handshake::Http1 => {
            head.status = StatusCode::SWITCHING_PROTOCOLS;
            head.headers.insert(CONNECTION, CONNECTION_UPGRADE);
            head.headers.insert(UPGRADE, WEBSOCKET);
        }
        Handshake::ExtendedConnect => {
            head.status = StatusCode::OK;
            head.headers.remove(SEC_WEBSOCKET_ACCEPT);
        }
    }
    head.version = Version::HTTP_11;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, method: Method, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().version(version).method(method).uri("/x");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn the_rfc_example_key_gives_the_rfc_example_accept() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn only_websocket_upgrades_on_get_are_sessions() {
        let upgrade = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ];
        assert_eq!(
            detect(&request(Version::HTTP_11, Method::GET, &upgrade)),
            Some(Handshake::Http1)
        );
        assert_eq!(
            detect(&request(Version::HTTP_11, Method::POST, &upgrade)),
            None
        );
        assert_eq!(
            detect(&request(Version::HTTP_10, Method::GET, &upgrade)),
            None
        );
        assert_eq!(
            detect(&request(
                Version::HTTP_11,
                Method::GET,
                &[("connection", "upgrade"), ("upgrade", "h2c")]
            )),
            None
        );
        assert_eq!(
            detect(&request(
                Version::HTTP_11,
                Method::GET,
                &[("upgrade", "websocket")]
            )),
            None,
            "Upgrade without Connection: upgrade"
        );
        let mut connect = request(Version::HTTP_2, Method::CONNECT, &[]);
        assert_eq!(detect(&connect), None, "plain CONNECT");
        connect
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert_eq!(detect(&connect), Some(Handshake::ExtendedConnect));
    }

    #[test]
    fn handshake_headers_are_checked() {
        let good = [
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        let headers = |pairs: &[(&str, &str)]| {
            request(Version::HTTP_11, Method::GET, pairs)
                .headers()
                .clone()
        };
        assert_eq!(check(Handshake::Http1, &headers(&good), true), Ok(()));
        assert_eq!(
            check(Handshake::Http1, &headers(&good), false),
            Err(HandshakeProblem::Body)
        );
        assert_eq!(
            check(Handshake::Http1, &headers(&good[1..]), true),
            Err(HandshakeProblem::Version)
        );
        assert_eq!(
            check(
                Handshake::Http1,
                &headers(&[("sec-websocket-version", "8"), good[1]]),
                true
            ),
            Err(HandshakeProblem::Version)
        );
        assert_eq!(
            check(
                Handshake::Http1,
                &headers(&[good[0], ("sec-websocket-key", "c2hvcnQ=")]),
                true
            ),
            Err(HandshakeProblem::Key)
        );
        assert_eq!(
            check(
                Handshake::Http1,
                &headers(&[good[0], good[1], good[1]]),
                true
            ),
            Err(HandshakeProblem::Key)
        );
        assert_eq!(
            check(Handshake::ExtendedConnect, &headers(&good[..1]), false),
            Ok(()),
            "HTTP/2: no key, and the body is the session"
        );
    }

    #[test]
    fn an_http2_session_gets_a_key_and_its_accept_is_checked() {
        let mut headers = HeaderMap::new();
        let expected =
            upstream_headers(Handshake::ExtendedConnect, &mut headers).expect("key made");
        let key = headers.get(SEC_WEBSOCKET_KEY).expect("key");
        assert_eq!(BASE64.decode(key.as_bytes()).expect("base64").len(), 16);
        assert_eq!(expected, accept_for(key.as_bytes()));
        assert_eq!(headers[UPGRADE], "websocket");

        let answer = |accept: &str| {
            let mut head = http::Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(SEC_WEBSOCKET_ACCEPT, accept)
                .body(())
                .expect("response")
                .into_parts()
                .0;
            let result = client_answer(
                Handshake::ExtendedConnect,
                &mut head,
                Some(&WEBSOCKET),
                Some(&expected),
            );
            (result, head)
        };
        let (result, head) = answer(&expected);
        assert_eq!(result, Ok(()));
        assert_eq!(head.status, StatusCode::OK);
        assert!(!head.headers.contains_key(SEC_WEBSOCKET_ACCEPT));
        assert_eq!(answer("d3Jvbmc=").0, Err(SwitchProblem::Accept));
    }

    #[test]
    fn a_switch_to_another_protocol_is_refused() {
        let mut head = http::Response::new(()).into_parts().0;
        let h2c = HeaderValue::from_static("h2c");
        assert_eq!(
            client_answer(Handshake::Http1, &mut head, Some(&h2c), None),
            Err(SwitchProblem::Protocol)
        );
        assert_eq!(
            client_answer(Handshake::Http1, &mut head, None, None),
            Err(SwitchProblem::Protocol)
        );
        assert_eq!(
            client_answer(Handshake::Http1, &mut head, Some(&WEBSOCKET), None),
            Ok(())
        );
        assert_eq!(head.status, StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(head.headers[CONNECTION], "upgrade");
    }
}
