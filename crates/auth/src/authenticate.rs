//! The per-request check: header → verified claims → credential → revocation and generation.

use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;

use tokio::sync::broadcast;

use crate::credential_cache::Invalidation;
use crate::{AuthError, Authenticated, Claims, Credential, CredentialCache, Verifier, scope};

// Beside the authenticator rather than the struct: `allows` applies `scope`'s rules and
// `scope` reads an `Authenticated`, so the struct's module can import neither.
impl Authenticated {
    /// Whether the effective scope (binding scopes ∩ token `scp`) allows `requested`.
    /// Allocation-free.
    pub fn allows(&self, requested: &str) -> bool {
        scope::is_granted(&self.credential.scopes, requested)
            && self
                .claims
                .scp
                .as_deref()
                .is_none_or(|narrowed| scope::is_granted(narrowed, requested))
    }
}

/// Checks a request's `Authorization` header against the verifier and the credential cache.
///
/// Holds the same `Arc`s the admin API and [`crate::follow_changes`] invalidate.
#[derive(Debug, Clone)]
pub struct Authenticator {
    verifier: Arc<Verifier>,
    credentials: Arc<CredentialCache>,
}

impl Authenticator {
    /// An authenticator over a verifier and a credential cache.
    pub fn new(verifier: Arc<Verifier>, credentials: Arc<CredentialCache>) -> Self {
        Self {
            verifier,
            credentials,
        }
    }

    /// Authenticates a request at `now` (unix seconds).
    ///
    /// Requires exactly one `Authorization: Bearer <token>` header (scheme case-insensitive,
    /// one space, no further spaces). Revocation, generation and deletion are checked on every
    /// call against the credential cache, so they win over the verified-token cache.
    /// On cache hits: no crypto, no store call, no allocation.
    ///
    /// Errors: any token variant of [`AuthError`], `BindingNotFound`, `StoreUnavailable`,
    /// `Internal`.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Authenticated, AuthError> {
        let result = self.check(headers, now).await;
        if let Err(err) = &result {
            // The code only: never the token or the header.
            tracing::debug!(code = err.code().as_str(), "request not authenticated");
        }
        result
    }

    async fn check(&self, headers: &HeaderMap, now: i64) -> Result<Authenticated, AuthError> {
        let token = bearer_token(headers)?;
        let claims = self.verifier.verify(token, now)?;
        let credential = self.recheck(&claims, now).await?;
        Ok(Authenticated { claims, credential })
    }

    /// Checks claims verified earlier against their binding as it is at `now`: the binding
    /// still exists and belongs to the token's organization, the token's generation is still
    /// accepted and its `jti` is not revoked. The token's own times are not checked again
    /// ([`Authenticator::expires_at`] says when it expires). For a WebSocket session, which
    /// outlives the handshake its token was checked for.
    ///
    /// Errors: `BindingNotFound`, `TokenClaimsInvalid`, `TokenSuperseded`, `TokenRevoked`,
    /// `StoreUnavailable`, `Internal`.
    pub async fn recheck(&self, claims: &Claims, now: i64) -> Result<Arc<Credential>, AuthError> {
        let credential = self.credentials.get(&claims.bid, now).await?;
        // A token signed for one organization must not unlock another's binding.
        if claims.sub != credential.org_id {
            return Err(AuthError::TokenClaimsInvalid);
        }
        if !credential.accepts_generation(claims.generation, now) {
            return Err(AuthError::TokenSuperseded);
        }
        if credential.is_revoked(&claims.jti) {
            return Err(AuthError::TokenRevoked);
        }
        Ok(credential)
    }

    /// When `claims` stop verifying for their expiry (`exp` plus the leeway), unix seconds.
    pub fn expires_at(&self, claims: &Claims) -> i64 {
        self.verifier.expires_at(claims)
    }

    /// Every later invalidation of the credential cache (one binding, or all of them), from
    /// this replica's admin API or another replica's change, sent after the entry is gone: a
    /// [`Authenticator::recheck`] on receipt reads the binding anew.
    pub fn invalidations(&self) -> broadcast::Receiver<Invalidation> {
        self.credentials.invalidations()
    }
}

/// The token of the one `Authorization: Bearer` header.
fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::TokenMissing)?;
    // Two headers could be read differently by us and by a component in front of us
    // (request smuggling of credentials); refuse rather than pick one.
    if values.next().is_some() {
        return Err(AuthError::TokenHeaderRejected);
    }
    // One pass over the value: `<scheme> <token>`, the token visible ASCII without spaces.
    let value = value.as_bytes();
    let space = value
        .iter()
        .position(|&b| b == b' ')
        .ok_or(AuthError::TokenMalformed)?;
    let (scheme, token) = (&value[..space], &value[space + 1..]);
    if !scheme.eq_ignore_ascii_case(b"bearer") || token.is_empty() || !all_visible_ascii(token) {
        return Err(AuthError::TokenMalformed);
    }
    // Visible ASCII is UTF-8; this cannot fail.
    let token = std::str::from_utf8(token).map_err(|_| AuthError::TokenMalformed)?;
    Ok(token)
}

/// Whether every byte is visible ASCII (0x21..=0x7e). No early exit: a branch-free fold the
/// compiler vectorizes, since a token is hundreds of bytes and checked on every request.
fn all_visible_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(0x21) < 0x5e))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(AUTHORIZATION, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn visible_ascii_is_exactly_0x21_to_0x7e() {
        for b in 0..=u8::MAX {
            assert_eq!(all_visible_ascii(&[b]), b.is_ascii_graphic(), "{b:#x}");
        }
        assert!(all_visible_ascii(b""));
        assert!(!all_visible_ascii(b"abc def"));
    }

    #[test]
    fn bearer_header_rules() {
        assert!(matches!(
            bearer_token(&headers(&[])),
            Err(AuthError::TokenMissing)
        ));
        assert!(matches!(
            bearer_token(&headers(&["Bearer a.b.c", "Bearer a.b.c"])),
            Err(AuthError::TokenHeaderRejected)
        ));
        assert_eq!(
            bearer_token(&headers(&["Bearer a.b.c"])).ok(),
            Some("a.b.c")
        );
        assert_eq!(
            bearer_token(&headers(&["bEaReR a.b.c"])).ok(),
            Some("a.b.c")
        );
        for bad in [
            "Basic a.b.c",
            "Bearer",
            "Bearer ",
            "Bearer  a.b.c",
            "Bearer a.b.c x",
            "Bearer\ta.b.c",
            "a.b.c",
        ] {
            assert!(
                matches!(
                    bearer_token(&headers(&[bad])),
                    Err(AuthError::TokenMalformed)
                ),
                "{bad}"
            );
        }
        for bad in [
            &b"Bearer a.b\xc3\xa9"[..],
            b"Bearer a.b.c\t",
            b"B\xc3\xa9arer a.b.c",
        ] {
            let mut map = HeaderMap::new();
            map.insert(AUTHORIZATION, HeaderValue::from_bytes(bad).unwrap());
            assert!(
                matches!(bearer_token(&map), Err(AuthError::TokenMalformed)),
                "{bad:?}"
            );
        }
    }
}
