//! Token verification: strict header checks before any crypto, then signature and claims,
//! with a cache of verified tokens so a repeated token costs a digest and a lookup.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use moka::Expiry;
use serde_json::{Map, Value};

use crate::keyring::SUPPORTED_ALGORITHM;
use crate::metrics::AuthMetrics;
use crate::{AuthError, Claims, Keyring, TokenSettings};

/// Longest token accepted, in bytes. Checked before anything else so an attacker cannot make
/// us decode or hash megabytes.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Header parameters that would let a token choose its own key or smuggle extensions. Keys
/// come only from the store; `crit` names extensions we do not implement.
const FORBIDDEN_HEADER_PARAMS: [&str; 5] = ["jku", "x5u", "jwk", "x5c", "crit"];

/// Upper bound on how long a cache entry lives, whatever its `exp` says; keeps moka's clock
/// arithmetic far from overflow.
const MAX_CACHE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Verifies tokens against the [`Keyring`] and caches the verified claims.
pub struct Verifier {
    metrics: AuthMetrics,
    keyring: Arc<Keyring>,
    settings: TokenSettings,
    validation: Validation,
    cache: moka::sync::Cache<[u8; 32], CachedClaims>,
}

/// A verified token's claims, the keyring version they were verified under, and how long the
/// entry may live (until the token's `exp` plus leeway, as of insertion).
#[derive(Clone)]
struct CachedClaims {
    claims: Arc<Claims>,
    keyring_version: u64,
    lifetime: Duration,
}

struct UntilTokenExpiry;

impl Expiry<[u8; 32], CachedClaims> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &CachedClaims,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

impl Verifier {
    /// A verifier holding at most `cache_capacity` verified tokens.
    pub fn new(keyring: Arc<Keyring>, settings: TokenSettings, cache_capacity: u64) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway_secs;
        // jsonwebtoken reads the system clock; time is checked here against the caller's `now`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        let cache = moka::sync::Cache::builder()
            .max_capacity(cache_capacity)
            .expire_after(UntilTokenExpiry)
            .build();
        Self {
            metrics: AuthMetrics::default(),
            keyring,
            settings,
            validation,
            cache,
        }
    }

    /// Counts cache hits and misses in `metrics` (registered by the caller).
    #[must_use]
    pub fn with_metrics(mut self, metrics: AuthMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Verifies `token` (the text after `Bearer `) at time `now` (unix seconds).
    ///
    /// A cached token costs a SHA-256 and a lookup; its `exp`/`nbf` are still checked against
    /// `now`. Failures are never cached. Errors: every token variant of [`AuthError`] except
    /// `TokenMissing`, `TokenRevoked`, `TokenSuperseded` (those need the credential).
    pub fn verify(&self, token: &str, now: i64) -> Result<Arc<Claims>, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TokenTooLarge);
        }
        let digest = token_digest(token);
        // Read the version before the key set, so claims verified under a key set that a
        // concurrent reload replaced are tagged old and re-verified on their next use.
        let keyring_version = self.keyring.version();
        if let Some(hit) = self.cache.get(&digest)
            && hit.keyring_version == keyring_version
        {
            self.metrics.token_hit.inc();
            hit.claims.check_time(now, self.settings.leeway())?;
            return Ok(hit.claims);
        }
        self.metrics.token_miss.inc();

        let claims = Arc::new(self.verify_uncached(token)?);
        claims.check_time(now, self.settings.leeway())?;
        let lifetime = claims
            .exp
            .saturating_add(self.settings.leeway())
            .saturating_sub(now);
        let lifetime = Duration::from_secs(u64::try_from(lifetime).unwrap_or(0));
        self.cache.insert(
            digest,
            CachedClaims {
                claims: Arc::clone(&claims),
                keyring_version,
                lifetime: lifetime.min(MAX_CACHE_LIFETIME),
            },
        );
        Ok(claims)
    }

    /// Drops every cached verification (after a signing key is retired, say).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    /// Verified tokens currently cached (approximate; for metrics).
    pub fn cached_tokens(&self) -> u64 {
        self.cache.entry_count()
    }

    fn verify_uncached(&self, token: &str) -> Result<Claims, AuthError> {
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(AuthError::TokenMalformed);
        };
        if ![header, payload, signature].iter().all(|s| is_base64url(s)) {
            return Err(AuthError::TokenMalformed);
        }
        let header = decode_header(header)?;
        if FORBIDDEN_HEADER_PARAMS
            .iter()
            .any(|param| header.contains_key(*param))
        {
            return Err(AuthError::TokenHeaderRejected);
        }
        let Some(Value::String(alg)) = header.get("alg") else {
            return Err(AuthError::TokenMalformed);
        };
        // Refuse `none`, HMAC (a public key used as a shared secret) and anything else we do
        // not pin keys to before looking at the key.
        if alg != SUPPORTED_ALGORITHM {
            return Err(AuthError::TokenAlgorithmRejected);
        }
        let Some(Value::String(kid)) = header.get("kid") else {
            return Err(AuthError::TokenMalformed);
        };
        let keys = self.keyring.current();
        let key = keys.verify_key(kid).ok_or(AuthError::TokenKeyUnknown)?;
        if Algorithm::EdDSA != key.algorithm {
            return Err(AuthError::TokenAlgorithmRejected);
        }

        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &self.validation)
                .map_err(|err| map_jwt_error(err.kind()))?;
        // The payload is JSON; a claim missing or of the wrong type is a claims problem.
        serde_json::from_value(Value::Object(data.claims))
            .map_err(|_| AuthError::TokenClaimsInvalid)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keyring", &self.keyring)
            .field("settings", &self.settings)
            .field("cached_tokens", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

/// Full SHA-256 of the token: a collision would hand one token's claims to another.
fn token_digest(token: &str) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether `segment` uses only the unpadded base64url alphabet (empty is allowed here; an empty
/// header fails to decode, an empty signature fails to verify).
fn is_base64url(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn decode_header(segment: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::TokenMalformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::TokenMalformed)
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::TokenSignatureInvalid,
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::InvalidIssuer
        | ErrorKind::InvalidAudience
        | ErrorKind::InvalidSubject => AuthError::TokenClaimsInvalid,
        ErrorKind::ExpiredSignature => AuthError::TokenExpired,
        ErrorKind::ImmatureSignature => AuthError::TokenNotYetValid,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => AuthError::TokenAlgorithmRejected,
        ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => AuthError::Internal {
            reason: "stored verification key is unusable",
        },
        // Base64, JSON, UTF-8, shape errors and anything jsonwebtoken adds later
        // (`ErrorKind` is non-exhaustive): the input is at fault.
        _ => AuthError::TokenMalformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_errors_map_to_codes() {
        assert!(matches!(
            map_jwt_error(&ErrorKind::InvalidSignature),
            AuthError::TokenSignatureInvalid
        ));
        assert!(matches!(
            map_jwt_error(&ErrorKind::InvalidAudience),
            AuthError::TokenClaimsInvalid
        ));
        assert!(matches!(
            map_jwt_error(&ErrorKind::MissingRequiredClaim("exp".into())),
            AuthError::TokenClaimsInvalid
        ));
        assert!(matches!(
            map_jwt_error(&ErrorKind::InvalidToken),
            AuthError::TokenMalformed
        ));
    }

    #[test]
    fn header_must_be_base64url_json_object() {
        assert!(matches!(
            decode_header("!!"),
            Err(AuthError::TokenMalformed)
        ));
        let not_object = URL_SAFE_NO_PAD.encode("[1]");
        assert!(matches!(
            decode_header(&not_object),
            Err(AuthError::TokenMalformed)
        ));
        let ok = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA"}"#);
        assert!(decode_header(&ok).is_ok());
    }

    #[test]
    fn digest_is_full_sha256() {
        let d = token_digest("abc");
        assert_eq!(
            hex::encode(d),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
