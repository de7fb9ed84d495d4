//! The admin bearer-token check run before every `/v1` handler, and the [`Actor`] it yields.

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, header};

use crate::error::{AdminError, UnauthorizedReason};

/// Who made an admin change, as recorded in audit events: `admin:` + the first 8 hex
/// characters of the matching token digest. Never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actor(String);

/// The configured admin token digests. Cheap to clone: the middleware gets its own copy
/// per request.
#[derive(Clone)]
pub(crate) struct AdminTokens {
    digests: Arc<[[u8; 32]]>,
}

impl Actor {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl AdminTokens {
    pub(crate) fn new(digests: Vec<[u8; 32]>) -> Self {
        Self {
            digests: digests.into(),
        }
    }

    /// Checks `Authorization: Bearer <token>` against every digest.
    ///
    /// The digest is compared in constant time against each configured digest and the loop
    /// never stops early, so response timing says neither how much of a digest matched nor
    /// which entry did (a timing oracle on the admin token). With no digests configured every
    /// request is refused.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Actor, AdminError> {
        let token = bearer_token(headers).map_err(AdminError::Unauthorized)?;
        let presented = digest(&SHA256, token);
        let mut matched: Option<&[u8; 32]> = None;
        for configured in self.digests.iter() {
            let equal = verify_slices_are_equal(configured, presented.as_ref()).is_ok();
            if equal && matched.is_none() {
                matched = Some(configured);
            }
        }
        let digest = matched.ok_or(AdminError::Unauthorized(UnauthorizedReason::Unknown))?;
        Ok(Actor(format!("admin:{}", hex::encode(&digest[..4]))))
    }
}

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTokens")
            .field("digests", &self.digests.len())
            .finish()
    }
}

/// Middleware for the `/v1` routes: refuses with 401 `admin_unauthorized` unless the token is
/// one of ours; otherwise hands the [`Actor`] to the handler and to the access log.
///
/// Takes the digests rather than the whole admin state, so this module stays below `state`.
pub(crate) async fn require_admin(
    State(tokens): State<AdminTokens>,
    mut request: Request,
    next: Next,
) -> Result<Response, AdminError> {
    let actor = tokens.authenticate(request.headers())?;
    request.extensions_mut().insert(actor.clone());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(actor);
    Ok(response)
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or(AdminError::ActorMissing)
    }
}

/// The token of the one `Authorization: Bearer <token>` header. Two headers are refused:
/// which one a proxy in front of us would pick is anyone's guess.
fn bearer_token(headers: &HeaderMap) -> Result<&[u8], UnauthorizedReason> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(UnauthorizedReason::Missing)?;
    if values.next().is_some() {
        return Err(UnauthorizedReason::Repeated);
    }
    let bytes = value.as_bytes();
    let (scheme, token) = bytes
        .split_at_checked(7)
        .ok_or(UnauthorizedReason::Malformed)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") || token.is_empty() || token.contains(&b' ') {
        return Err(UnauthorizedReason::Malformed);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn sha(token: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        out
    }

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn any_configured_token_is_accepted_and_named_by_its_digest() {
        let tokens = AdminTokens::new(vec![sha("first"), sha("second")]);
        let actor = tokens.authenticate(&headers(&["Bearer second"])).unwrap();
        assert_eq!(
            actor.as_str(),
            format!("admin:{}", &hex::encode(sha("second"))[..8])
        );
    }

    #[test]
    fn missing_repeated_malformed_and_unknown_tokens_are_refused() {
        let tokens = AdminTokens::new(vec![sha("first")]);
        let reason = |values: &[&'static str]| match tokens.authenticate(&headers(values)) {
            Err(AdminError::Unauthorized(reason)) => Some(reason),
            Err(_) | Ok(_) => None,
        };
        assert_eq!(reason(&[]), Some(UnauthorizedReason::Missing));
        assert_eq!(
            reason(&["Bearer first", "Bearer first"]),
            Some(UnauthorizedReason::Repeated)
        );
        assert_eq!(
            reason(&["Basic first"]),
            Some(UnauthorizedReason::Malformed)
        );
        assert_eq!(reason(&["Bearer "]), Some(UnauthorizedReason::Malformed));
        assert_eq!(reason(&["Bearer other"]), Some(UnauthorizedReason::Unknown));
    }

    #[test]
    fn no_configured_digests_refuses_everything() {
        let tokens = AdminTokens::new(Vec::new());
        assert!(tokens.authenticate(&headers(&["Bearer first"])).is_err());
    }
}
