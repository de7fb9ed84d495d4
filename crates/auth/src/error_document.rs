//! The one error format both listeners answer with, and the stable codes it carries.
//!
//! Every refusal is `{"errors":[{"code","title","detail","meta":{"request_id"}}]}`, the
//! upstream API's shape, so SDKs parse proxy refusals like upstream errors. Codes are stable
//! strings: never renamed, never reused for another meaning (see `docs/errors.md`).

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};

/// A stable error code with its HTTP status and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No `Authorization` header.
    TokenMissing,
    /// The token is not a well-formed JWT, or the header is not `Bearer <token>`.
    TokenMalformed,
    /// The token's `alg` is not the algorithm its key is pinned to (`none`, HMAC, ...).
    TokenAlgorithmRejected,
    /// The token header names a key source (`jku`, `x5u`, `jwk`, `x5c`) or `crit`, or the
    /// request carries more than one `Authorization` header.
    TokenHeaderRejected,
    /// The token is larger than 8 KiB.
    TokenTooLarge,
    /// The token's `kid` names no signing key that verifies.
    TokenKeyUnknown,
    /// The signature does not verify.
    TokenSignatureInvalid,
    /// Wrong `iss` or `aud`, a missing claim or a claim of the wrong type.
    TokenClaimsInvalid,
    /// `exp` has passed (beyond the leeway).
    TokenExpired,
    /// `nbf` is still in the future (beyond the leeway).
    TokenNotYetValid,
    /// The token's `jti` was revoked.
    TokenRevoked,
    /// The token's generation is older than the binding's, after the rotation grace window.
    TokenSuperseded,
    /// The binding the token names no longer exists.
    BindingNotFound,
    /// The token's scopes do not allow this path.
    ScopeDenied,
    /// The path is on the deny-list.
    RouteDenied,
    /// No route for this path.
    RouteNotFound,
    /// Dot segments, encoded control characters or an absolute-form target.
    BadRequestTarget,
    /// The method is not proxied (`CONNECT`).
    MethodNotAllowed,
    /// The request body is larger than allowed.
    BodyTooLarge,
    /// The request headers are larger than allowed.
    HeadersTooLarge,
    /// The organization's rate limit is exhausted.
    RateLimited,
    /// A WebSocket handshake that is not one (a body, no key, a version other than 13).
    BadWebSocketHandshake,
    /// The organization (or this replica) has as many WebSocket sessions open as allowed.
    TooManySessions,
    /// The upstream could not be reached; nothing was sent, so a retry is safe.
    UpstreamUnavailable,
    /// The upstream failed after the request was sent.
    UpstreamFailed,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The store is unavailable and nothing usable is cached.
    StoreUnavailable,
    /// The proxy is shutting down.
    ShuttingDown,
    /// A bug or a broken invariant on our side.
    Internal,
    /// Admin listener: missing or wrong admin token.
    AdminUnauthorized,
    /// Admin listener: bad JSON or a bad field.
    InvalidRequest,
    /// Admin listener: no such binding, token or key.
    NotFound,
    /// Admin listener: the organization already has a binding.
    BindingExists,
    /// Admin listener: the signing key is the active one.
    SigningKeyActive,
    /// Admin listener: a token may not be wider than its binding.
    ScopeNotGranted,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: &'static [ErrorCode] = &[
        Self::TokenMissing,
        Self::TokenMalformed,
        Self::TokenAlgorithmRejected,
        Self::TokenHeaderRejected,
        Self::TokenTooLarge,
        Self::TokenKeyUnknown,
        Self::TokenSignatureInvalid,
        Self::TokenClaimsInvalid,
        Self::TokenExpired,
        Self::TokenNotYetValid,
        Self::TokenRevoked,
        Self::TokenSuperseded,
        Self::BindingNotFound,
        Self::ScopeDenied,
        Self::RouteDenied,
        Self::RouteNotFound,
        Self::BadRequestTarget,
        Self::MethodNotAllowed,
        Self::BodyTooLarge,
        Self::HeadersTooLarge,
        Self::RateLimited,
        Self::BadWebSocketHandshake,
        Self::TooManySessions,
        Self::UpstreamUnavailable,
        Self::UpstreamFailed,
        Self::UpstreamTimeout,
        Self::StoreUnavailable,
        Self::ShuttingDown,
        Self::Internal,
        Self::AdminUnauthorized,
        Self::InvalidRequest,
        Self::NotFound,
        Self::BindingExists,
        Self::SigningKeyActive,
        Self::ScopeNotGranted,
    ];

    /// The stable code string (`token_expired`), also the `code` metric label.
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status the code is answered with.
    pub fn status(self) -> StatusCode {
        self.row().1
    }

    /// A short human title, constant per code.
    pub fn title(self) -> &'static str {
        self.row().2
    }

    /// Whether a 401 answer with this code carries `WWW-Authenticate`.
    pub fn is_token_refusal(self) -> bool {
        self.status() == StatusCode::UNAUTHORIZED && self != Self::AdminUnauthorized
    }

    /// The one table: code string, status, title.
    fn row(self) -> (&'static str, StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Self::TokenMissing => ("token_missing", S::UNAUTHORIZED, "Token missing"),
            Self::TokenMalformed => ("token_malformed", S::UNAUTHORIZED, "Token malformed"),
            Self::TokenAlgorithmRejected => (
                "token_algorithm_rejected",
                S::UNAUTHORIZED,
                "Token algorithm rejected",
            ),
            Self::TokenHeaderRejected => (
                "token_header_rejected",
                S::UNAUTHORIZED,
                "Token header rejected",
            ),
            Self::TokenTooLarge => ("token_too_large", S::UNAUTHORIZED, "Token too large"),
            Self::TokenKeyUnknown => ("token_key_unknown", S::UNAUTHORIZED, "Token key unknown"),
            Self::TokenSignatureInvalid => (
                "token_signature_invalid",
                S::UNAUTHORIZED,
                "Token signature invalid",
            ),
            Self::TokenClaimsInvalid => (
                "token_claims_invalid",
                S::UNAUTHORIZED,
                "Token claims invalid",
            ),
            Self::TokenExpired => ("token_expired", S::UNAUTHORIZED, "Token expired"),
            Self::TokenNotYetValid => (
                "token_not_yet_valid",
                S::UNAUTHORIZED,
                "Token not yet valid",
            ),
            Self::TokenRevoked => ("token_revoked", S::UNAUTHORIZED, "Token revoked"),
            Self::TokenSuperseded => ("token_superseded", S::UNAUTHORIZED, "Token superseded"),
            Self::BindingNotFound => ("binding_not_found", S::UNAUTHORIZED, "Binding not found"),
            Self::ScopeDenied => ("scope_denied", S::FORBIDDEN, "Scope denied"),
            Self::RouteDenied => ("route_denied", S::FORBIDDEN, "Route denied"),
            Self::RouteNotFound => ("route_not_found", S::NOT_FOUND, "Route not found"),
            Self::BadRequestTarget => ("bad_request_target", S::BAD_REQUEST, "Bad request target"),
            Self::MethodNotAllowed => (
                "method_not_allowed",
                S::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            Self::BodyTooLarge => ("body_too_large", S::PAYLOAD_TOO_LARGE, "Body too large"),
            Self::HeadersTooLarge => (
                "headers_too_large",
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Headers too large",
            ),
            Self::RateLimited => ("rate_limited", S::TOO_MANY_REQUESTS, "Rate limited"),
            Self::BadWebSocketHandshake => (
                "bad_websocket_handshake",
                S::BAD_REQUEST,
                "Bad WebSocket handshake",
            ),
            Self::TooManySessions => (
                "too_many_sessions",
                S::TOO_MANY_REQUESTS,
                "Too many sessions",
            ),
            Self::UpstreamUnavailable => (
                "upstream_unavailable",
                S::BAD_GATEWAY,
                "Upstream unavailable",
            ),
            Self::UpstreamFailed => ("upstream_failed", S::BAD_GATEWAY, "Upstream failed"),
            Self::UpstreamTimeout => ("upstream_timeout", S::GATEWAY_TIMEOUT, "Upstream timeout"),
            Self::StoreUnavailable => (
                "store_unavailable",
                S::SERVICE_UNAVAILABLE,
                "Store unavailable",
            ),
            Self::ShuttingDown => ("shutting_down", S::SERVICE_UNAVAILABLE, "Shutting down"),
            Self::Internal => ("internal_error", S::INTERNAL_SERVER_ERROR, "Internal error"),
            Self::AdminUnauthorized => {
                ("admin_unauthorized", S::UNAUTHORIZED, "Admin unauthorized")
            }
            Self::InvalidRequest => ("invalid_request", S::BAD_REQUEST, "Invalid request"),
            Self::NotFound => ("not_found", S::NOT_FOUND, "Not found"),
            Self::BindingExists => ("binding_exists", S::CONFLICT, "Binding exists"),
            Self::SigningKeyActive => ("signing_key_active", S::CONFLICT, "Signing key active"),
            Self::ScopeNotGranted => ("scope_not_granted", S::BAD_REQUEST, "Scope not granted"),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error document: `{"errors":[...]}`. Deserializable so tests and clients can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDocument {
    /// Always exactly one entry when the proxy writes it.
    pub errors: Vec<ErrorObject>,
}

/// One entry of [`ErrorDocument::errors`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// Stable code string ([`ErrorCode::as_str`]).
    pub code: String,
    /// Constant title of the code.
    pub title: String,
    /// What went wrong in this case; never a token, key or header value.
    pub detail: String,
    /// Correlation data.
    pub meta: ErrorMeta,
}

/// `meta` of an [`ErrorObject`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMeta {
    /// The request id, as returned in `X-Request-Id`.
    pub request_id: String,
}

impl ErrorDocument {
    /// A document with one error.
    pub fn new(code: ErrorCode, detail: &str, request_id: &str) -> Self {
        Self {
            errors: vec![ErrorObject {
                code: code.as_str().to_owned(),
                title: code.title().to_owned(),
                detail: detail.to_owned(),
                meta: ErrorMeta {
                    request_id: request_id.to_owned(),
                },
            }],
        }
    }
}

/// Serializes a one-error document. `detail` and `request_id` are JSON-escaped; callers must
/// not put a token, key or header value in `detail`.
pub fn error_json(code: ErrorCode, detail: &str, request_id: &str) -> Bytes {
    // Serializing strings into JSON cannot fail; the fallback keeps this path panic-free.
    match serde_json::to_vec(&ErrorDocument::new(code, detail, request_id)) {
        Ok(body) => Bytes::from(body),
        Err(_) => Bytes::from_static(
            br#"{"errors":[{"code":"internal_error","title":"Internal error","detail":"error document could not be written","meta":{"request_id":""}}]}"#,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_string_is_unique_and_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                seen.insert(code.as_str()),
                "duplicate code {}",
                code.as_str()
            );
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{} is not snake_case",
                code.as_str()
            );
            assert!(!code.title().is_empty());
        }
        assert_eq!(seen.len(), 35);
    }

    #[test]
    fn statuses_follow_the_contract_table() {
        assert_eq!(ErrorCode::TokenExpired.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            ErrorCode::BindingNotFound.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(ErrorCode::ScopeDenied.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            ErrorCode::HeadersTooLarge.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            ErrorCode::UpstreamTimeout.status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(ErrorCode::Internal.as_str(), "internal_error");
        assert_eq!(ErrorCode::ScopeNotGranted.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorCode::TooManySessions.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            ErrorCode::BadWebSocketHandshake.status(),
            StatusCode::BAD_REQUEST
        );
        assert!(ErrorCode::TokenRevoked.is_token_refusal());
        assert!(!ErrorCode::AdminUnauthorized.is_token_refusal());
    }

    #[test]
    fn error_json_has_the_exact_upstream_shape_and_escapes() {
        let body = error_json(ErrorCode::TokenExpired, "token \"x\" expired\n", "req-1");
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            r#"{"errors":[{"code":"token_expired","title":"Token expired","detail":"token \"x\" expired\n","meta":{"request_id":"req-1"}}]}"#
        );
        let parsed: ErrorDocument = serde_json::from_slice(&body).expect("parses");
        assert_eq!(parsed.errors[0].detail, "token \"x\" expired\n");
    }
}
