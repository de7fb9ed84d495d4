//! The admin API's one error type and its one mapping to status, code and detail.
//!
//! Handlers return [`AdminError`]; its `IntoResponse` sets the status (and
//! `WWW-Authenticate` for admin refusals) and leaves an [`ErrorRender`] in the response
//! extensions. The request-id layer turns that into the error document, because only it
//! knows the request id.

use std::borrow::Cow;

use auth::{AuthError, ErrorCode, IssueError};
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use store::StoreError;

/// Why an admin request was refused or failed. Messages never hold a key, token or header value.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The admin bearer token is missing, malformed, repeated or unknown.
    #[error("admin request not authorized: {0}")]
    Unauthorized(UnauthorizedReason),
    /// A field of the request failed validation.
    #[error("invalid request: {0}")]
    Invalid(#[from] InvalidInput),
    /// The request body could not be read or decoded.
    #[error("request body rejected")]
    Body(#[source] BodyRejection),
    /// The query string could not be decoded.
    #[error("query string rejected")]
    Query(#[source] QueryRejection),
    /// A path parameter could not be decoded.
    #[error("path parameter rejected")]
    Path(#[source] PathRejection),
    /// No such route, binding, token or signing key.
    #[error("{0} not found")]
    NotFound(Resource),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The listener is draining; readiness fails.
    #[error("shutting down")]
    ShuttingDown,
    /// A store call failed (or refused: duplicate, unknown, active key).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Minting a token or a signing key failed.
    #[error("issuing: {0}")]
    Issue(#[from] IssueError),
    /// Reloading the signing keyring failed.
    #[error("keyring reload: {0}")]
    Keyring(#[source] AuthError),
    /// A response body could not be encoded (a timestamp out of range).
    #[error("response could not be encoded")]
    Encode(#[source] serde_json::Error),
    /// A handler ran without the admin identity the auth layer provides (a wiring bug).
    #[error("admin identity missing from request")]
    ActorMissing,
}

/// Why the admin token was refused. Shown to the client: it says nothing about which tokens exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnauthorizedReason {
    /// No `Authorization` header.
    #[error("authorization header is missing")]
    Missing,
    /// More than one `Authorization` header.
    #[error("more than one authorization header")]
    Repeated,
    /// Not `Bearer <token>`.
    #[error("authorization header is not a bearer token")]
    Malformed,
    /// The token matches no configured digest.
    #[error("admin token is not recognised")]
    Unknown,
}

/// A request field that failed validation; the message names the field, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// `org_id` is empty, too long or has characters outside `[A-Za-z0-9._:-]`.
    #[error("org_id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'")]
    OrgId,
    /// `api_key` is empty, too long or not visible ASCII.
    #[error("api_key must be 1 to 512 visible ASCII characters")]
    ApiKey,
    /// `scopes` is an empty list.
    #[error("scopes must not be empty")]
    ScopesEmpty,
    /// One entry of `scopes` is not a known scope.
    #[error(
        "scopes[{index}] is not a scope: expected voice, messaging, numbers, fax, verify, kv, speech, account or kv:<namespace-id> (1 to 64 of A-Z, a-z, 0-9, '-')"
    )]
    Scope {
        /// Position in the list.
        index: usize,
    },
    /// `rate_limit.requests_per_second` is 0.
    #[error("rate_limit.requests_per_second must be at least 1")]
    RequestsPerSecond,
    /// `rate_limit.burst` is 0.
    #[error("rate_limit.burst must be at least 1")]
    Burst,
    /// A `PATCH` body that changes nothing.
    #[error("nothing to update: give api_key, scopes or rate_limit")]
    EmptyUpdate,
    /// `grace_period_secs` is longer than seven days.
    #[error("grace_period_secs must be between 0 and 604800 (7 days)")]
    GracePeriod,
    /// `limit` is outside `1..=100`.
    #[error("limit must be between 1 and 100")]
    Limit,
    /// `cursor` is not one this API handed out.
    #[error("cursor is not one this API issued")]
    Cursor,
}

/// Why a request body was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BodyRejection {
    /// The body is not declared as JSON.
    #[error("content-type must be application/json")]
    ContentType,
    /// The route needs a body and there is none.
    #[error("request body is empty; a JSON object is required")]
    Empty,
    /// The body could not be read (too large, connection lost).
    #[error("request body could not be read")]
    Read(#[source] BytesRejection),
    /// The body is not JSON of the expected shape.
    #[error("request body is not the expected JSON")]
    Json(#[source] JsonRejection),
}

/// What was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// No route for this path.
    Route,
    /// The organization has no binding.
    Binding,
    /// No token with this `jti`.
    Token,
    /// No signing key with this `kid`.
    SigningKey,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Route => "route",
            Self::Binding => "binding",
            Self::Token => "token",
            Self::SigningKey => "signing key",
        })
    }
}

const INTERNAL_DETAIL: &str = "internal error; the server log has the cause under this request id";
const STORE_DOWN_DETAIL: &str = "the store is unavailable; retry later";

/// What the request-id layer needs to write the error document.
#[derive(Debug, Clone)]
pub(crate) struct ErrorRender {
    pub(crate) code: ErrorCode,
    pub(crate) detail: Cow<'static, str>,
}

impl AdminError {
    /// The stable code; with it the status. Exhaustive: a new variant needs a code to compile.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized(_) => ErrorCode::AdminUnauthorized,
            Self::Invalid(_) | Self::Query(_) | Self::Path(_) => ErrorCode::InvalidRequest,
            Self::Body(rejection) => match rejection {
                BodyRejection::Read(read) if read.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ErrorCode::BodyTooLarge
                }
                BodyRejection::ContentType
                | BodyRejection::Empty
                | BodyRejection::Read(_)
                | BodyRejection::Json(_) => ErrorCode::InvalidRequest,
            },
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Store(err) => store_code(err),
            Self::Issue(err) => err.code(),
            Self::Keyring(err) => err.code(),
            Self::Encode(_) | Self::ActorMissing => ErrorCode::Internal,
        }
    }

    /// The `detail` of the error document: says what to fix, never echoes a secret.
    fn detail(&self) -> Cow<'static, str> {
        match self {
            Self::Unauthorized(reason) => Cow::Owned(reason.to_string()),
            Self::Invalid(input) => Cow::Owned(input.to_string()),
            Self::Body(BodyRejection::Json(rejection)) => {
                Cow::Owned(redact_quoted(&rejection.body_text()))
            }
            Self::Body(other) => Cow::Owned(other.to_string()),
            Self::Query(rejection) => Cow::Owned(redact_quoted(&rejection.body_text())),
            Self::Path(rejection) => Cow::Owned(redact_quoted(&rejection.body_text())),
            Self::NotFound(resource) => Cow::Borrowed(match resource {
                Resource::Route => "no such route",
                Resource::Binding => "the organization has no binding",
                Resource::Token => "no token with this jti",
                Resource::SigningKey => "no signing key with this kid",
            }),
            Self::MethodNotAllowed => Cow::Borrowed("this route does not accept this method"),
            Self::ShuttingDown => Cow::Borrowed("the admin API is shutting down"),
            Self::Store(err) => store_detail(err),
            Self::Issue(err) => issue_detail(err),
            Self::Keyring(err) => by_code(err.code()),
            Self::Encode(_) | Self::ActorMissing => Cow::Borrowed(INTERNAL_DETAIL),
        }
    }

    fn log(&self, code: ErrorCode) {
        match code {
            ErrorCode::Internal => tracing::error!(error = %self, "admin request failed"),
            ErrorCode::StoreUnavailable => tracing::warn!(error = %self, "admin request failed"),
            // Refusals are the caller's to fix (or, for `shutting_down`, to retry elsewhere),
            // never an operator's. Codes only the data plane answers with are listed too, so
            // a new code needs a decision here to compile.
            ErrorCode::TokenMissing
            | ErrorCode::TokenMalformed
            | ErrorCode::TokenAlgorithmRejected
            | ErrorCode::TokenHeaderRejected
            | ErrorCode::TokenTooLarge
            | ErrorCode::TokenKeyUnknown
            | ErrorCode::TokenSignatureInvalid
            | ErrorCode::TokenClaimsInvalid
            | ErrorCode::TokenExpired
            | ErrorCode::TokenNotYetValid
            | ErrorCode::TokenRevoked
            | ErrorCode::TokenSuperseded
            | ErrorCode::BindingNotFound
            | ErrorCode::ScopeDenied
            | ErrorCode::RouteDenied
            | ErrorCode::RouteNotFound
            | ErrorCode::BadRequestTarget
            | ErrorCode::MethodNotAllowed
            | ErrorCode::BodyTooLarge
            | ErrorCode::HeadersTooLarge
            | ErrorCode::RateLimited
            | ErrorCode::BadWebSocketHandshake
            | ErrorCode::TooManySessions
            | ErrorCode::UpstreamUnavailable
            | ErrorCode::UpstreamFailed
            | ErrorCode::UpstreamTimeout
            | ErrorCode::ShuttingDown
            | ErrorCode::AdminUnauthorized
            | ErrorCode::InvalidRequest
            | ErrorCode::NotFound
            | ErrorCode::BindingExists
            | ErrorCode::SigningKeyActive
            | ErrorCode::ScopeNotGranted => {
                tracing::debug!(error = %self, code = code.as_str(), "admin request refused")
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let code = self.code();
        self.log(code);
        let mut response = code.status().into_response();
        if code == ErrorCode::AdminUnauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(ErrorRender {
            code,
            detail: self.detail(),
        });
        response
    }
}

fn store_code(err: &StoreError) -> ErrorCode {
    match err {
        StoreError::BindingExists => ErrorCode::BindingExists,
        StoreError::BindingNotFound
        | StoreError::TokenNotFound
        | StoreError::SigningKeyNotFound => ErrorCode::NotFound,
        StoreError::SigningKeyActive => ErrorCode::SigningKeyActive,
        StoreError::Unavailable(_) => ErrorCode::StoreUnavailable,
        StoreError::Migration(_)
        | StoreError::Decrypt { .. }
        | StoreError::Corrupt { .. }
        | StoreError::UnsupportedUrl => ErrorCode::Internal,
    }
}

fn store_detail(err: &StoreError) -> Cow<'static, str> {
    Cow::Borrowed(match err {
        StoreError::BindingExists => "the organization already has a binding",
        StoreError::BindingNotFound => "the organization has no binding",
        StoreError::TokenNotFound => "no token with this jti",
        StoreError::SigningKeyNotFound => "no signing key with this kid",
        StoreError::SigningKeyActive => {
            "the active signing key cannot be retired; rotate to a new key first"
        }
        StoreError::Unavailable(_) => STORE_DOWN_DETAIL,
        StoreError::Migration(_)
        | StoreError::Decrypt { .. }
        | StoreError::Corrupt { .. }
        | StoreError::UnsupportedUrl => INTERNAL_DETAIL,
    })
}

fn issue_detail(err: &IssueError) -> Cow<'static, str> {
    match err {
        IssueError::InvalidTtl { .. }
        | IssueError::EmptyScopes
        | IssueError::InvalidScope
        | IssueError::ScopeNotGranted { .. }
        | IssueError::InvalidFunctionId => Cow::Owned(err.to_string()),
        IssueError::NoActiveKey | IssueError::Signing(_) | IssueError::KeyGeneration => {
            Cow::Borrowed(INTERNAL_DETAIL)
        }
        IssueError::Store(store) => store_detail(store),
        IssueError::Keyring(keyring) => by_code(keyring.code()),
    }
}

/// Detail for errors whose cause stays in the server log.
fn by_code(code: ErrorCode) -> Cow<'static, str> {
    Cow::Borrowed(if code == ErrorCode::StoreUnavailable {
        STORE_DOWN_DETAIL
    } else {
        INTERNAL_DETAIL
    })
}

/// Replaces every double-quoted run with `"…"`: serde messages quote the offending string
/// value, and a misplaced API key must not come back in an error document.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            redact_quoted(r#"rate_limit: invalid type: string "KEY_SECRET", expected struct"#),
            r#"rate_limit: invalid type: string "…", expected struct"#
        );
    }

    #[test]
    fn admin_refusals_carry_www_authenticate_and_a_render() {
        let response = AdminError::Unauthorized(UnauthorizedReason::Unknown).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let render = response.extensions().get::<ErrorRender>().cloned();
        assert_eq!(render.map(|r| r.code), Some(ErrorCode::AdminUnauthorized));
    }

    #[test]
    fn store_errors_map_to_their_codes() {
        assert_eq!(
            AdminError::from(StoreError::BindingExists).code().status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            AdminError::from(StoreError::TokenNotFound).code(),
            ErrorCode::NotFound
        );
        assert_eq!(
            AdminError::from(StoreError::SigningKeyActive).code(),
            ErrorCode::SigningKeyActive
        );
        let corrupt = StoreError::Corrupt {
            table: "bindings",
            row_id: "x".into(),
            reason: "bad",
        };
        assert_eq!(AdminError::from(corrupt).code(), ErrorCode::Internal);
    }
}
