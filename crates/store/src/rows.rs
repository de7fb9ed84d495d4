//! Rows as the SQL backends read them, and their checked conversion into records.
//!
//! Backend-neutral: the row structs derive `sqlx::FromRow` for any database whose columns decode
//! to plain integers, text and bytes, so SQLite and PostgreSQL share the column lists and the
//! checks. A value this version cannot interpret becomes [`StoreError::Corrupt`], never a panic.

use crate::envelope::{self, OpenError, Sealed};
use crate::{
    AuditEvent, Binding, KeyStatus, MasterKey, RateLimit, Secret, SigningKey, StoreError,
    TokenRecord,
};

/// Columns of `bindings` read into a [`BindingRow`], in a SQL-ready list.
macro_rules! binding_columns {
    () => {
        "id, org_id, generation, scopes_json, rate_limit_rps, rate_limit_burst, api_key_hint, \
         previous_generation, previous_generation_expires_at, created_at, updated_at"
    };
}
pub(crate) use binding_columns;

/// Columns of `signing_keys` read into a [`SigningKeyRow`].
macro_rules! signing_key_columns {
    () => {
        "kid, algorithm, public_key, status, created_at, retired_at"
    };
}
pub(crate) use signing_key_columns;

/// Columns of `tokens` (aliased `t`) joined with `bindings` (aliased `b`) for a [`TokenRow`].
macro_rules! token_columns {
    () => {
        "t.jti, t.binding_id, b.org_id, t.function_id, t.generation, t.scopes_json, t.kid, \
         t.issued_at, t.expires_at, t.revoked_at"
    };
}
pub(crate) use token_columns;

/// Columns of `audit_events` read into an [`AuditRow`].
macro_rules! audit_columns {
    () => {
        "id, at, actor, action, org_id, binding_id, detail_json"
    };
}
pub(crate) use audit_columns;

/// A `bindings` row without its ciphertext.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BindingRow {
    id: String,
    org_id: String,
    generation: i64,
    scopes_json: String,
    rate_limit_rps: Option<i64>,
    rate_limit_burst: Option<i64>,
    api_key_hint: String,
    previous_generation: Option<i64>,
    previous_generation_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl BindingRow {
    pub(crate) fn into_binding(self) -> Result<Binding, StoreError> {
        let corrupt = |reason| StoreError::Corrupt {
            table: "bindings",
            row_id: self.id.clone(),
            reason,
        };
        let scopes = serde_json::from_str(&self.scopes_json)
            .map_err(|_| corrupt("scopes_json is not a list of strings"))?;
        let rate_limit = match (self.rate_limit_rps, self.rate_limit_burst) {
            (None, None) => None,
            (Some(rps), Some(burst)) => Some(RateLimit {
                requests_per_second: u32::try_from(rps)
                    .map_err(|_| corrupt("rate_limit_rps out of range"))?,
                burst: u32::try_from(burst)
                    .map_err(|_| corrupt("rate_limit_burst out of range"))?,
            }),
            _ => return Err(corrupt("rate limit columns are half set")),
        };
        Ok(Binding {
            id: self.id,
            org_id: self.org_id,
            generation: self.generation,
            scopes,
            rate_limit,
            api_key_hint: self.api_key_hint,
            previous_generation: self.previous_generation,
            previous_generation_expires_at: self.previous_generation_expires_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A `bindings` row with its sealed API key.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CredentialRow {
    #[sqlx(flatten)]
    pub(crate) binding: BindingRow,
    api_key_ciphertext: Vec<u8>,
    api_key_nonce: Vec<u8>,
    api_key_key_id: String,
}

impl CredentialRow {
    /// The binding and its decrypted API key.
    pub(crate) fn open(self, master: &MasterKey) -> Result<(Binding, Secret), StoreError> {
        let aad = envelope::binding_aad(&self.binding.id, &self.binding.org_id);
        let api_key = open_column(
            master,
            "bindings",
            &self.binding.id,
            &self.api_key_key_id,
            &self.api_key_nonce,
            &self.api_key_ciphertext,
            &aad,
        )?;
        Ok((self.binding.into_binding()?, api_key))
    }
}

/// A `tokens` row joined with its binding's organization.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenRow {
    jti: String,
    binding_id: String,
    org_id: String,
    function_id: Option<String>,
    generation: i64,
    scopes_json: Option<String>,
    kid: String,
    issued_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TokenRow {
    pub(crate) fn into_record(self) -> Result<TokenRecord, StoreError> {
        let scopes = match &self.scopes_json {
            None => None,
            Some(json) => Some(serde_json::from_str(json).map_err(|_| StoreError::Corrupt {
                table: "tokens",
                row_id: self.jti.clone(),
                reason: "scopes_json is not a list of strings",
            })?),
        };
        Ok(TokenRecord {
            jti: self.jti,
            binding_id: self.binding_id,
            org_id: self.org_id,
            function_id: self.function_id,
            generation: self.generation,
            scopes,
            kid: self.kid,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// A `signing_keys` row without its private half.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    status: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl SigningKeyRow {
    pub(crate) fn into_key(self) -> Result<SigningKey, StoreError> {
        let status = parse_status(&self.status).ok_or_else(|| StoreError::Corrupt {
            table: "signing_keys",
            row_id: self.kid.clone(),
            reason: "unknown status",
        })?;
        Ok(SigningKey {
            kid: self.kid,
            algorithm: self.algorithm,
            public_key: self.public_key,
            status,
            created_at: self.created_at,
            retired_at: self.retired_at,
        })
    }
}

/// A `signing_keys` row with its sealed private half.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SigningKeyMaterialRow {
    #[sqlx(flatten)]
    key: SigningKeyRow,
    private_ciphertext: Vec<u8>,
    private_nonce: Vec<u8>,
    private_key_id: String,
}

impl SigningKeyMaterialRow {
    /// The public part and the decrypted private key.
    pub(crate) fn open(self, master: &MasterKey) -> Result<(SigningKey, Secret), StoreError> {
        let aad = envelope::signing_key_aad(&self.key.kid);
        let private = open_column(
            master,
            "signing_keys",
            &self.key.kid,
            &self.private_key_id,
            &self.private_nonce,
            &self.private_ciphertext,
            &aad,
        )?;
        Ok((self.key.into_key()?, private))
    }
}

/// An `audit_events` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    org_id: Option<String>,
    binding_id: Option<String>,
    detail_json: String,
}

impl AuditRow {
    pub(crate) fn into_event(self) -> Result<AuditEvent, StoreError> {
        let detail = serde_json::from_str(&self.detail_json).map_err(|_| StoreError::Corrupt {
            table: "audit_events",
            row_id: self.id.to_string(),
            reason: "detail_json is not JSON",
        })?;
        Ok(AuditEvent {
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            org_id: self.org_id,
            binding_id: self.binding_id,
            detail,
        })
    }
}

/// A list of scopes as stored in a `scopes_json` column.
pub(crate) fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).expect("a list of strings always serializes to JSON")
}

/// A rate limit as its two nullable columns (`rate_limit_rps`, `rate_limit_burst`).
pub(crate) fn rate_limit_columns(rate_limit: Option<RateLimit>) -> (Option<i64>, Option<i64>) {
    match rate_limit {
        Some(limit) => (
            Some(i64::from(limit.requests_per_second)),
            Some(i64::from(limit.burst)),
        ),
        None => (None, None),
    }
}

/// The key hint shown to humans: the last 4 characters of the key (fewer if it is shorter).
pub(crate) fn key_hint(api_key: &Secret) -> String {
    let text = String::from_utf8_lossy(api_key.expose_secret());
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(4)).collect()
}

/// Seals a secret for `table` row `row_id`, mapping failure to a store error.
pub(crate) fn seal_column(
    master: &MasterKey,
    table: &'static str,
    row_id: &str,
    plaintext: &Secret,
    aad: &[u8],
) -> Result<Sealed, StoreError> {
    envelope::seal(master, plaintext.expose_secret(), aad).map_err(|_| StoreError::Corrupt {
        table,
        row_id: row_id.to_owned(),
        reason: "secret too large to encrypt",
    })
}

fn open_column(
    master: &MasterKey,
    table: &'static str,
    row_id: &str,
    key_id: &str,
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Secret, StoreError> {
    envelope::open(master, key_id, nonce, ciphertext, aad).map_err(|err| match err {
        OpenError::OtherMasterKey | OpenError::Rejected => StoreError::Decrypt {
            table,
            row_id: row_id.to_owned(),
            key_id: key_id.to_owned(),
        },
        OpenError::MalformedNonce => StoreError::Corrupt {
            table,
            row_id: row_id.to_owned(),
            reason: "nonce is not 12 bytes",
        },
    })
}

fn parse_status(text: &str) -> Option<KeyStatus> {
    [KeyStatus::Active, KeyStatus::VerifyOnly, KeyStatus::Retired]
        .into_iter()
        .find(|status| status.as_str() == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_is_the_last_four_characters() {
        let hint = |key: &str| key_hint(&Secret::from(key.to_owned()));
        assert_eq!(hint("KEY0123456789abcd"), "abcd");
        assert_eq!(hint("abc"), "abc");
        assert_eq!(hint(""), "");
        // Characters, not bytes.
        assert_eq!(hint("KEYxéüöä"), "éüöä");
    }

    #[test]
    fn every_status_round_trips() {
        for status in [KeyStatus::Active, KeyStatus::VerifyOnly, KeyStatus::Retired] {
            assert_eq!(parse_status(status.as_str()), Some(status));
        }
        assert_eq!(parse_status("ACTIVE"), None);
    }

    #[test]
    fn half_set_rate_limit_is_corrupt() {
        let row = BindingRow {
            id: "b1".into(),
            org_id: "o1".into(),
            generation: 1,
            scopes_json: "[]".into(),
            rate_limit_rps: Some(5),
            rate_limit_burst: None,
            api_key_hint: "abcd".into(),
            previous_generation: None,
            previous_generation_expires_at: None,
            created_at: 1,
            updated_at: 1,
        };
        assert!(matches!(
            row.into_binding(),
            Err(StoreError::Corrupt {
                table: "bindings",
                ..
            })
        ));
    }
}
