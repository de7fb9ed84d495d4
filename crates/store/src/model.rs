//! Records the store keeps. Times are unix seconds (UTC); ids are UUID strings.

use serde::{Deserialize, Serialize};

use crate::Secret;

/// A per-organization request budget, enforced by the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained rate.
    pub requests_per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// A binding: the one link between an organization and its real upstream API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Binding id (UUID). Tokens carry it as `bid`.
    pub id: String,
    /// Organization id. Unique: one binding per organization.
    pub org_id: String,
    /// Current generation; starts at 1, bumped by every rotation.
    pub generation: i64,
    /// Service scopes the binding grants (names such as `messaging`, `kv:<id>`).
    pub scopes: Vec<String>,
    /// Rate limit override; `None` means the configured default.
    pub rate_limit: Option<RateLimit>,
    /// Last 4 characters of the upstream key, for humans.
    pub api_key_hint: String,
    /// The generation before the last rotation, while its grace window lasts.
    pub previous_generation: Option<i64>,
    /// When the previous generation stops being accepted (unix seconds).
    pub previous_generation_expires_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// Input for [`crate::Store::create_binding`].
#[derive(Debug, Clone)]
pub struct NewBinding {
    /// Organization id.
    pub org_id: String,
    /// The real upstream key, plaintext; the store encrypts it.
    pub api_key: Secret,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Optional rate limit.
    pub rate_limit: Option<RateLimit>,
}

/// Input for [`crate::Store::update_binding`]; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct BindingUpdate {
    /// Replace the upstream key.
    pub api_key: Option<Secret>,
    /// Replace the scopes.
    pub scopes: Option<Vec<String>>,
    /// Replace the rate limit; `Some(None)` clears it back to the default.
    pub rate_limit: Option<Option<RateLimit>>,
}

/// Everything the data plane needs about a binding, loaded in one store call on a cache miss.
#[derive(Debug, Clone)]
pub struct BindingCredential {
    /// The binding.
    pub binding: Binding,
    /// The decrypted upstream key.
    pub api_key: Secret,
    /// `jti`s of this binding's revoked tokens that could still verify: expiring in the
    /// future or less than [`MAX_TOKEN_LEEWAY_SECS`] ago.
    pub revoked_jtis: Vec<String>,
}

/// The largest clock-skew leeway a token may be verified with (`tokens.leeway_secs`), in
/// seconds. The store keeps listing a revoked token this long past its expiry, so a token
/// still inside its leeway is never accepted again by a freshly loaded credential.
pub const MAX_TOKEN_LEEWAY_SECS: u64 = 300;

/// A minted token, recorded so it can be listed and revoked by `jti`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token id (the `jti` claim).
    pub jti: String,
    /// Binding the token belongs to.
    pub binding_id: String,
    /// Organization of the binding.
    pub org_id: String,
    /// Function the token was minted for, if any.
    pub function_id: Option<String>,
    /// Binding generation at mint time.
    pub generation: i64,
    /// Narrowed scopes (`scp`), if any.
    pub scopes: Option<Vec<String>>,
    /// Signing key id.
    pub kid: String,
    /// Mint time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// Input for [`crate::Store::insert_token`].
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Token id.
    pub jti: String,
    /// Binding id.
    pub binding_id: String,
    /// Function id.
    pub function_id: Option<String>,
    /// Generation at mint time.
    pub generation: i64,
    /// Narrowed scopes.
    pub scopes: Option<Vec<String>>,
    /// Signing key id.
    pub kid: String,
    /// Mint time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// Lifecycle of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Signs new tokens and verifies. Exactly one key is active.
    Active,
    /// Verifies tokens it signed earlier; signs nothing.
    VerifyOnly,
    /// Verifies nothing.
    Retired,
}

impl KeyStatus {
    /// Stable text form, as stored and as shown by the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::VerifyOnly => "verify_only",
            Self::Retired => "retired",
        }
    }
}

/// Public part of a signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id (JWT `kid`).
    pub kid: String,
    /// JWT algorithm the key is pinned to, e.g. `EdDSA`.
    pub algorithm: String,
    /// Raw public key bytes (32 bytes for Ed25519).
    pub public_key: Vec<u8>,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// Creation time.
    pub created_at: i64,
    /// Retirement time.
    pub retired_at: Option<i64>,
}

/// A signing key with its private half, decrypted.
#[derive(Debug, Clone)]
pub struct SigningKeyMaterial {
    /// Public part.
    pub key: SigningKey,
    /// Private key, PKCS#8 DER.
    pub private_key_pkcs8: Secret,
}

/// Input for [`crate::Store::insert_signing_key`].
#[derive(Debug, Clone)]
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// JWT algorithm.
    pub algorithm: String,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// Private key, PKCS#8 DER; the store encrypts it.
    pub private_key_pkcs8: Secret,
}

/// One recorded mutation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Monotonic id; also the pagination cursor.
    pub id: i64,
    /// When it happened.
    pub at: i64,
    /// Who did it (the admin token's label or digest prefix, or `cli`).
    pub actor: String,
    /// What was done, e.g. `binding.create`.
    pub action: String,
    /// Organization concerned, if any.
    pub org_id: Option<String>,
    /// Binding concerned, if any.
    pub binding_id: Option<String>,
    /// Non-secret details (never a key or a token).
    pub detail: serde_json::Value,
}

/// Input for [`crate::Store::append_audit`].
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// When it happened.
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// Organization concerned.
    pub org_id: Option<String>,
    /// Binding concerned.
    pub binding_id: Option<String>,
    /// Non-secret details.
    pub detail: serde_json::Value,
}

/// Filter and page for [`crate::Store::list_audit`]. Newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events of this organization.
    pub org_id: Option<String>,
    /// Only events with an id below this one (the previous page's last id).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// A change another component may have cached. Sent after the change is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A binding was created, updated, rotated or deleted, or one of its tokens revoked.
    Binding {
        /// The binding's id.
        binding_id: String,
    },
    /// The set of signing keys changed.
    SigningKeys,
    /// Changes may have been missed (a lagging receiver, a lost notification connection):
    /// drop everything cached.
    Everything,
}
