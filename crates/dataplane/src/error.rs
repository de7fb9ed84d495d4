//! Start-up errors, per-request refusals, and the one mapping from a refusal to a response.

use std::path::PathBuf;
use std::time::Duration;

use auth::AuthError;
use auth::error_document::{ErrorCode, error_json};
use http::Response;
use http::header::{ALLOW, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http_body_util::Full;

use crate::body::{BoxError, LocalBody};
use crate::headers::{X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_REQUEST_ID};
use crate::rate_limit::{retry_after_millis, retry_after_secs};
use crate::request_id::RequestId;
use crate::target::TargetProblem;
use crate::tls::ListenerTlsError;

/// Why the data plane could not be set up. Reported at start-up, before a port is bound.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// The TLS client configuration could not be built.
    #[error("upstream tls configuration failed")]
    Tls(#[source] rustls::Error),
    /// `upstream_ca_file` cannot be used: unreadable, not PEM, no certificate in it, or a
    /// certificate that cannot be a trust anchor.
    #[error("upstream ca file {}: {problem}", path.display())]
    UpstreamCa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The data listener's TLS certificate or key (`dataplane.tls_cert_file`,
    /// `dataplane.tls_key_file`) cannot be used.
    #[error("data listener tls")]
    ListenerTls(#[from] ListenerTlsError),
}

/// Why the upstream exchange failed. Whose fault: the upstream's (502/504).
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection could be made; nothing was sent, so a retry is safe.
    #[error("upstream could not be reached")]
    Unavailable(#[source] BoxError),
    /// The exchange failed after the request may have been sent.
    #[error("upstream request failed")]
    Failed(#[source] hyper::Error),
    /// No response headers within the response timeout after the request body was sent.
    #[error("upstream did not answer in time")]
    Timeout,
    /// A small answer (read whole before its head is sent) was cut off or stalled.
    #[error("upstream answer cut off")]
    Cut(#[source] BodyError),
    /// The upstream answered with a body under a content (or transfer) coding although it was
    /// asked for `identity`: the body cannot be checked for the organization's key, so it is
    /// not passed on.
    #[error("upstream answered in a content coding the proxy cannot check")]
    Encoded,
    /// The upstream answered a WebSocket handshake with a `101` that is not a WebSocket
    /// session.
    #[error(transparent)]
    Switch(SwitchProblem),
}

/// Why an upstream response body ended before it was complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The connection failed or closed mid-body (a declared length not reached, a broken
    /// chunk, a reset HTTP/2 stream).
    #[error("upstream response body cut off")]
    Cut(#[source] hyper::Error),
    /// Nothing arrived for `body_idle_timeout` while the body was being waited for.
    #[error("upstream response body stalled for {} ms", .0.as_millis())]
    Stalled(Duration),
}

/// Why a handshake is not passed on (400 `bad_websocket_handshake`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HandshakeProblem {
    /// RFC 6455 handshakes carry no body.
    #[error("a WebSocket handshake carries no body")]
    Body,
    /// Not exactly one `Sec-WebSocket-Key` of 16 bytes in base64.
    #[error("the handshake needs one Sec-WebSocket-Key of 16 bytes in base64")]
    Key,
    /// Not exactly one `Sec-WebSocket-Version: 13`.
    #[error("the handshake needs Sec-WebSocket-Version: 13")]
    Version,
}

/// Why an upstream's `101` is not a WebSocket session (502 `upstream_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SwitchProblem {
    /// The `101` names another protocol, or none.
    #[error("the upstream switched to a protocol other than websocket")]
    Protocol,
    /// A 2xx without switching, to an HTTP/2 client: relayed, it would read as a session.
    #[error("the upstream answered the handshake without switching protocols")]
    NotSwitched,
    /// `Sec-WebSocket-Accept` does not answer the key the proxy sent.
    #[error("the upstream's Sec-WebSocket-Accept does not match the key sent")]
    Accept,
}

/// Which cap a WebSocket handshake ran into (429 `too_many_sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionLimit {
    /// `websocket.max_sessions_per_org`.
    #[error("the organization has {0} WebSocket sessions open on this replica, its limit")]
    Organization(usize),
    /// `websocket.max_sessions`.
    #[error("this replica has {0} WebSocket sessions open, its limit")]
    Replica(usize),
}

/// Why a request was answered by the proxy instead of the upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// `CONNECT` is never proxied (the client's fault, 405).
    #[error("method is not proxied")]
    MethodNotAllowed,
    /// A hostile or malformed request target (the client's fault, 400).
    #[error(transparent)]
    BadTarget(TargetProblem),
    /// Not an API path under the prefix (the client's fault, 404).
    #[error("no route for this path")]
    RouteNotFound,
    /// The path is on the deny-list; no scope opens it (the client's fault, 403).
    #[error("this path is never proxied")]
    RouteDenied,
    /// The token's effective scope does not open the path (the client's fault, 403).
    #[error("the token's scope does not cover this path{}", needed_scope(*.service))]
    ScopeDenied {
        /// The first service whose prefixes match the path; `None` when no scope opens it.
        service: Option<&'static str>,
    },
    /// The request body is larger than `max_body_bytes` (the client's fault, 413).
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The organization is over its rate limit (the client's fault, 429).
    #[error("rate limit of {limit} requests per second exceeded; retry after {} ms", crate::rate_limit::retry_after_millis(*.retry_after))]
    RateLimited {
        /// The organization's sustained limit.
        limit: u32,
        /// When a request would conform again (at most 60 s).
        retry_after: std::time::Duration,
    },
    /// A WebSocket handshake the proxy will not pass on (the client's fault, 400).
    #[error(transparent)]
    BadHandshake(HandshakeProblem),
    /// A WebSocket session over a cap (429).
    #[error(transparent)]
    TooManySessions(SessionLimit),
    /// Authentication failed: the client's token (401), or our store (503), or our bug (500).
    #[error(transparent)]
    Auth(AuthError),
    /// Readiness is off: the proxy is draining (503).
    #[error("proxy is shutting down")]
    NotReady,
    /// The upstream failed (502/504).
    #[error(transparent)]
    Upstream(UpstreamError),
}

/// The tail of the scope refusal's detail: which scope would open the path.
fn needed_scope(service: Option<&'static str>) -> String {
    match service {
        Some(service) => format!(" (it needs {service})"),
        None => " (no scope opens it)".to_owned(),
    }
}

/// `x-should-retry`: the SDKs' signal to skip their automatic retry.
const X_SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");
/// `retry-after-ms`: the SDKs prefer it to `Retry-After` for sub-second waits.
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
const INVALID_TOKEN: HeaderValue = HeaderValue::from_static(r#"Bearer error="invalid_token""#);
const PROXIED_METHODS: HeaderValue =
    HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");

/// `Retry-After` of a session over its cap: sessions end when their clients or upstream
/// decide, so there is no time at which one surely frees; a few seconds spares a tight loop.
const SESSION_RETRY_AFTER_SECS: u32 = 5;

/// Whether the SDKs may retry this refusal on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Leave the SDK's default policy alone.
    SdkDefault,
    /// `x-should-retry: false`: the request may have reached the upstream (a POST must not be
    /// sent twice) or will not get better by retrying now.
    Never,
}

impl Refusal {
    /// The error code (and so the status) this refusal is answered with.
    pub(crate) fn code(&self) -> ErrorCode {
        self.classify().0
    }

    /// The one table: code and retry advice for every refusal.
    fn classify(&self) -> (ErrorCode, Retry) {
        match self {
            Self::MethodNotAllowed => (ErrorCode::MethodNotAllowed, Retry::SdkDefault),
            Self::BadTarget(problem) => match problem {
                TargetProblem::DotSegment
                | TargetProblem::ControlCharacter
                | TargetProblem::Backslash
                | TargetProblem::Semicolon
                | TargetProblem::InvalidPercentEscape
                | TargetProblem::DoubleEncoding
                | TargetProblem::InvalidUtf8
                | TargetProblem::EmptySegment
                | TargetProblem::NotOriginForm => (ErrorCode::BadRequestTarget, Retry::SdkDefault),
            },
            Self::RouteNotFound => (ErrorCode::RouteNotFound, Retry::SdkDefault),
            Self::RouteDenied => (ErrorCode::RouteDenied, Retry::SdkDefault),
            Self::ScopeDenied { .. } => (ErrorCode::ScopeDenied, Retry::SdkDefault),
            Self::BodyTooLarge { .. } => (ErrorCode::BodyTooLarge, Retry::SdkDefault),
            Self::RateLimited { .. } => (ErrorCode::RateLimited, Retry::SdkDefault),
            Self::BadHandshake(_) => (ErrorCode::BadWebSocketHandshake, Retry::SdkDefault),
            Self::TooManySessions(_) => (ErrorCode::TooManySessions, Retry::SdkDefault),
            Self::Auth(err) => (err.code(), Retry::SdkDefault),
            Self::NotReady => (ErrorCode::ShuttingDown, Retry::SdkDefault),
            Self::Upstream(err) => match err {
                UpstreamError::Unavailable(_) => {
                    (ErrorCode::UpstreamUnavailable, Retry::SdkDefault)
                }
                UpstreamError::Failed(_) | UpstreamError::Cut(_) => {
                    (ErrorCode::UpstreamFailed, Retry::Never)
                }
                UpstreamError::Timeout => (ErrorCode::UpstreamTimeout, Retry::Never),
                UpstreamError::Encoded | UpstreamError::Switch(_) => {
                    (ErrorCode::UpstreamFailed, Retry::Never)
                }
            },
        }
    }

    /// The response for this refusal: the error document, its status, `x-request-id`,
    /// `WWW-Authenticate` on token refusals, `x-should-retry` where a retry could repeat a
    /// side effect, `Allow` on 405.
    pub(crate) fn into_response(self, request_id: &RequestId) -> Response<LocalBody> {
        let (code, retry) = self.classify();
        let detail = self.to_string();
        let body = error_json(code, &detail, request_id.as_str());
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = code.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        headers.insert(X_REQUEST_ID, request_id.header_value());
        if code.is_token_refusal() {
            headers.insert(WWW_AUTHENTICATE, INVALID_TOKEN);
        }
        if code == ErrorCode::MethodNotAllowed {
            headers.insert(ALLOW, PROXIED_METHODS);
        }
        if let Self::RateLimited { limit, retry_after } = &self {
            // Both forms the SDKs read; never more than 60 s (the Node SDK sleeps as told).
            headers.insert(
                RETRY_AFTER,
                HeaderValue::from(retry_after_secs(*retry_after)),
            );
            headers.insert(
                RETRY_AFTER_MS,
                HeaderValue::from(retry_after_millis(*retry_after)),
            );
            headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(*limit));
            headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(0u32));
        }
        if let Self::TooManySessions(_) = &self {
            headers.insert(RETRY_AFTER, HeaderValue::from(SESSION_RETRY_AFTER_SECS));
            headers.insert(
                RETRY_AFTER_MS,
                HeaderValue::from(SESSION_RETRY_AFTER_SECS * 1000),
            );
        }
        match retry {
            Retry::Never => {
                headers.insert(X_SHOULD_RETRY, HeaderValue::from_static("false"));
            }
            Retry::SdkDefault => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use http_body_util::BodyExt;

    use super::*;

    async fn answer(refusal: Refusal) -> (Response<()>, serde_json::Value) {
        let id = RequestId::mint();
        let (parts, body) = refusal.into_response(&id).into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["errors"][0]["meta"]["request_id"], id.as_str());
        assert_eq!(parts.headers[X_REQUEST_ID], id.as_str());
        assert_eq!(parts.headers[CONTENT_TYPE], "application/json");
        (Response::from_parts(parts, ()), json)
    }

    #[tokio::test]
    async fn token_refusals_are_401_with_www_authenticate() {
        let (response, json) = answer(Refusal::Auth(AuthError::TokenExpired)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(json["errors"][0]["code"], "token_expired");
        assert!(!response.headers().contains_key(X_SHOULD_RETRY));
    }

    #[tokio::test]
    async fn timeouts_tell_the_sdk_not_to_retry() {
        let (response, json) = answer(Refusal::Upstream(UpstreamError::Timeout)).await;
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(response.headers()[X_SHOULD_RETRY], "false");
        assert_eq!(json["errors"][0]["code"], "upstream_timeout");
    }

    #[tokio::test]
    async fn an_encoded_answer_is_an_upstream_failure_not_to_retry() {
        let (response, json) = answer(Refusal::Upstream(UpstreamError::Encoded)).await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(response.headers()[X_SHOULD_RETRY], "false");
        assert_eq!(json["errors"][0]["code"], "upstream_failed");
        assert_eq!(
            json["errors"][0]["detail"],
            "upstream answered in a content coding the proxy cannot check"
        );
    }

    #[tokio::test]
    async fn session_refusals_have_their_codes_and_a_retry_after() {
        let (response, json) =
            answer(Refusal::TooManySessions(SessionLimit::Organization(3))).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "5");
        assert_eq!(response.headers()[RETRY_AFTER_MS], "5000");
        assert_eq!(json["errors"][0]["code"], "too_many_sessions");
        assert_eq!(
            json["errors"][0]["detail"],
            "the organization has 3 WebSocket sessions open on this replica, its limit"
        );
        let (response, json) = answer(Refusal::BadHandshake(HandshakeProblem::Version)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json["errors"][0]["code"], "bad_websocket_handshake");
        let (response, json) = answer(Refusal::Upstream(UpstreamError::Switch(
            SwitchProblem::Accept,
        )))
        .await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(response.headers()[X_SHOULD_RETRY], "false");
        assert_eq!(json["errors"][0]["code"], "upstream_failed");
    }

    #[tokio::test]
    async fn bad_targets_and_routes_and_methods_have_their_codes() {
        let (response, json) = answer(Refusal::BadTarget(TargetProblem::DotSegment)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json["errors"][0]["code"], "bad_request_target");
        assert_eq!(json["errors"][0]["detail"], "path contains a dot segment");
        let (response, _) = answer(Refusal::RouteNotFound).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let (response, json) = answer(Refusal::MethodNotAllowed).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(response.headers().contains_key(ALLOW));
        assert_eq!(json["errors"][0]["code"], "method_not_allowed");
        let (response, json) = answer(Refusal::ScopeDenied {
            service: Some("voice"),
        })
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(json["errors"][0]["code"], "scope_denied");
        assert_eq!(
            json["errors"][0]["detail"],
            "the token's scope does not cover this path (it needs voice)"
        );
        let (response, json) = answer(Refusal::RouteDenied).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(json["errors"][0]["code"], "route_denied");
        let (response, json) = answer(Refusal::BodyTooLarge { limit: 10 }).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json["errors"][0]["code"], "body_too_large");
        let (response, json) = answer(Refusal::NotReady).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["errors"][0]["code"], "shutting_down");
    }
}
