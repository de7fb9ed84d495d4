//! Token verification: strict header checks before any crypto, then signature and claims,
//! with a cache of verified tokens so a repeated token costs a digest and a lookup.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::{DecodeSliceError, Engine};
use moka::Expiry;
use serde_json::error::Category;

use crate::jose_header::checked_header_kid;
use crate::keyring::{KeyringState, VerifyKey};
use crate::metrics::AuthMetrics;
use crate::{AuthError, Claims, Keyring, TokenSettings};

/// Longest token accepted, in bytes. Checked before anything else so an attacker cannot make
/// us decode or hash megabytes.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Length of an Ed25519 signature (RFC 8032 §5.1.6).
const ED25519_SIGNATURE_LEN: usize = 64;

/// Upper bound on how long a cache entry lives, whatever its `exp` says; keeps moka's clock
/// arithmetic far from overflow.
const MAX_CACHE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Verifies tokens against the [`Keyring`] and caches the verified claims.
pub struct Verifier {
    metrics: AuthMetrics,
    keyring: Arc<Keyring>,
    settings: TokenSettings,
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
        let cache = moka::sync::Cache::builder()
            .max_capacity(cache_capacity)
            .expire_after(UntilTokenExpiry)
            .build();
        Self {
            metrics: AuthMetrics::default(),
            keyring,
            settings,
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

    /// The first instant (unix seconds) at which `claims` no longer verify for their expiry:
    /// `exp` plus the leeway, as [`Verifier::verify`] checks it.
    pub fn expires_at(&self, claims: &Claims) -> i64 {
        claims.exp.saturating_add(self.settings.leeway())
    }

    /// Drops every cached verification (after a signing key is retired, say).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    /// Verified tokens currently cached (approximate; for metrics).
    pub fn cached_tokens(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Header checks before any crypto, then the Ed25519 signature, then the claims: each
    /// segment is base64-decoded at most once and each JSON document parsed once, into its
    /// final type. A header byte-identical to one this service mints is not decoded at all.
    fn verify_uncached(&self, token: &str) -> Result<Claims, AuthError> {
        // Three base64url segments: exactly two dots and nothing outside the alphabet.
        if !is_compact_jws(token.as_bytes()) {
            return Err(AuthError::TokenMalformed);
        }
        let (header, rest) = token.split_once('.').ok_or(AuthError::TokenMalformed)?;
        let (payload, signature) = rest.split_once('.').ok_or(AuthError::TokenMalformed)?;

        let keys = self.keyring.current();
        let key = match keys.key_for_minted_header(header) {
            Some(key) => key,
            None => key_for_header(&keys, header)?,
        };

        let mut signature_bytes = [0_u8; ED25519_SIGNATURE_LEN];
        let signature_len = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut signature_bytes)
            .map_err(|err| match err {
                // Valid base64 of the wrong length: a signature that cannot verify.
                DecodeSliceError::OutputSliceTooSmall => AuthError::TokenSignatureInvalid,
                DecodeSliceError::DecodeError(_) => AuthError::TokenMalformed,
            })?;
        // The signing input is the first two segments exactly as sent (RFC 7515 §5.2).
        let signing_input = &token[..token.len() - signature.len() - 1];
        if !key.verifies(signing_input.as_bytes(), &signature_bytes[..signature_len]) {
            return Err(AuthError::TokenSignatureInvalid);
        }

        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthError::TokenMalformed)?;
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|err| match err.classify() {
                // Well-formed JSON with a claim missing or of the wrong type.
                Category::Data => AuthError::TokenClaimsInvalid,
                Category::Syntax | Category::Eof | Category::Io => AuthError::TokenMalformed,
            })?;
        if claims.iss != self.settings.issuer || claims.aud != self.settings.audience {
            return Err(AuthError::TokenClaimsInvalid);
        }
        Ok(claims)
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

/// Whether `token` is three segments in the unpadded base64url alphabet separated by two dots
/// (empty segments pass here; an empty header fails to decode, an empty signature to verify).
fn is_compact_jws(token: &[u8]) -> bool {
    // Fixed-size blocks with byte-wide accumulators and no early exit, so the compiler turns
    // the classification into vector compares (a token is ≈ 450 bytes, checked on every miss).
    const BLOCK: usize = 32;
    // `classify` counts a block's dots in a `u8`.
    const _: () = assert!(BLOCK <= u8::MAX as usize);
    let mut outside_alphabet = 0_u8;
    let mut dots = 0_usize;
    let blocks = token.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    for block in blocks {
        let (bad, block_dots) = classify(block);
        outside_alphabet |= bad;
        dots += usize::from(block_dots);
    }
    let (bad, tail_dots) = classify(tail);
    outside_alphabet |= bad;
    dots += usize::from(tail_dots);
    outside_alphabet == 0 && dots == 2
}

/// For at most 255 bytes: non-zero when one is outside the base64url alphabet and not a dot;
/// and how many dots there are.
#[inline(always)]
fn classify(bytes: &[u8]) -> (u8, u8) {
    let mut bad = 0_u8;
    let mut dots = 0_u8;
    for &b in bytes {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        let dot = b == b'.';
        let ok = letter | digit | (b == b'-') | (b == b'_') | dot;
        bad |= u8::from(!ok);
        dots = dots.wrapping_add(u8::from(dot));
    }
    (bad, dots)
}

/// The checks on a header that is not one this service mints: decoded, then refused if it
/// names its own key or extensions, an algorithm other than the pinned one, or no `kid`;
/// then its `kid` looked up.
fn key_for_header<'k>(
    keys: &'k KeyringState,
    header: &str,
) -> Result<&'k Arc<VerifyKey>, AuthError> {
    let kid = checked_header_kid(header)?;
    keys.verify_key(&kid).ok_or(AuthError::TokenKeyUnknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_jws_is_three_base64url_segments() {
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        assert!(is_compact_jws(
            format!("{alphabet}.{alphabet}.{alphabet}").as_bytes()
        ));
        assert!(is_compact_jws(b".."));
        for bad in [
            "a.b",
            "a.b.c.d",
            "abc",
            "",
            "a.b.c=",
            "a+b.c.d",
            "a/b.c.d",
            "a b.c.d",
            "a.b.c\n",
            "a.b.c\u{e9}",
            "a.b.{}",
            "@.[.`",
            "a.b.c\0",
        ] {
            assert!(!is_compact_jws(bad.as_bytes()), "{bad:?}");
        }
        // Every byte outside the alphabet is refused, wherever it sits: inside a full block
        // (the first and the second) and in the tail.
        let long = format!("{}.{}.{}", "a".repeat(40), "b".repeat(40), "c".repeat(10));
        assert!(is_compact_jws(long.as_bytes()));
        // 92 bytes: blocks 0..32 and 32..64, a 28-byte tail; the dots are at 40 and 81.
        for position in [0, 5, 31, 32, 50, 63, 64, 70, 91] {
            for byte in 0..=u8::MAX {
                let allowed = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_');
                let mut token = long.clone().into_bytes();
                token[position] = byte;
                // A dot there makes four segments: refused too.
                assert_eq!(is_compact_jws(&token), allowed, "byte {byte} at {position}");
            }
        }
        // The second dot in the tail, or missing there.
        assert!(is_compact_jws(
            format!("{}.{}.x", "a".repeat(40), "b".repeat(50)).as_bytes()
        ));
        assert!(!is_compact_jws(
            format!("{}.{}x", "a".repeat(40), "b".repeat(50)).as_bytes()
        ));
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
