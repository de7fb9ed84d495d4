//! Why a request was not authenticated.

use std::sync::Arc;

use store::StoreError;

use crate::ErrorCode;

/// Why authentication (or a part of it: the header, the token, the credential) refused a
/// request.
///
/// Token variants are the client's fault (401); `StoreUnavailable` is ours to retry (503);
/// `Internal` is a broken invariant or bad stored data (500). Messages never contain a token,
/// a key or a header value, so they are safe as an error document's `detail`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("authorization header is missing")]
    TokenMissing,
    /// Not `Bearer <token>`, not three base64url segments, or the header is not JSON.
    #[error("token is malformed")]
    TokenMalformed,
    /// `alg` is not the algorithm the token's key is pinned to (`none`, HMAC, ECDSA, ...).
    #[error("token algorithm is not accepted")]
    TokenAlgorithmRejected,
    /// The token header names a key source or `crit`, or there are several `Authorization`
    /// headers.
    #[error("token header is not accepted")]
    TokenHeaderRejected,
    /// The token is longer than the verifier accepts (`MAX_TOKEN_BYTES`).
    #[error("token is larger than 8192 bytes")]
    TokenTooLarge,
    /// `kid` names no key that verifies (unknown or retired).
    #[error("token signing key is unknown")]
    TokenKeyUnknown,
    /// The signature does not verify under the named key.
    #[error("token signature is invalid")]
    TokenSignatureInvalid,
    /// Wrong `iss`/`aud`, a claim missing or of the wrong type, `sub` is not the binding's
    /// organization, or `iat` is in the future beyond the leeway.
    #[error("token claims are invalid")]
    TokenClaimsInvalid,
    /// `exp` has passed, beyond the leeway.
    #[error("token has expired")]
    TokenExpired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token is not valid yet")]
    TokenNotYetValid,
    /// The token's `jti` was revoked.
    #[error("token has been revoked")]
    TokenRevoked,
    /// The token's generation was superseded by a rotation and its grace window is over.
    #[error("token generation has been superseded")]
    TokenSuperseded,
    /// The binding named by `bid` does not exist (deleted).
    #[error("binding not found")]
    BindingNotFound,
    /// The store could not be asked and nothing usable was cached. Shared because one store
    /// failure answers every request waiting on the same load.
    #[error("store unavailable")]
    StoreUnavailable(#[source] Arc<StoreError>),
    /// A broken invariant or unusable stored data (e.g. an upstream key that is not a valid
    /// header value). The operator must act.
    #[error("internal error: {reason}")]
    Internal {
        /// What is wrong, as a constant phrase.
        reason: &'static str,
    },
}

impl AuthError {
    /// The error code (and with it the status) this refusal is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TokenMissing => ErrorCode::TokenMissing,
            Self::TokenMalformed => ErrorCode::TokenMalformed,
            Self::TokenAlgorithmRejected => ErrorCode::TokenAlgorithmRejected,
            Self::TokenHeaderRejected => ErrorCode::TokenHeaderRejected,
            Self::TokenTooLarge => ErrorCode::TokenTooLarge,
            Self::TokenKeyUnknown => ErrorCode::TokenKeyUnknown,
            Self::TokenSignatureInvalid => ErrorCode::TokenSignatureInvalid,
            Self::TokenClaimsInvalid => ErrorCode::TokenClaimsInvalid,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::TokenNotYetValid => ErrorCode::TokenNotYetValid,
            Self::TokenRevoked => ErrorCode::TokenRevoked,
            Self::TokenSuperseded => ErrorCode::TokenSuperseded,
            Self::BindingNotFound => ErrorCode::BindingNotFound,
            Self::StoreUnavailable(_) => ErrorCode::StoreUnavailable,
            Self::Internal { .. } => ErrorCode::Internal,
        }
    }

    /// Wraps a store error.
    pub(crate) fn store(err: StoreError) -> Self {
        Self::StoreUnavailable(Arc::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_variants() {
        assert_eq!(AuthError::TokenExpired.code().as_str(), "token_expired");
        assert_eq!(
            AuthError::store(StoreError::UnsupportedUrl).code(),
            ErrorCode::StoreUnavailable
        );
        assert_eq!(
            AuthError::Internal { reason: "x" }.code().status(),
            http::StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
