//! Signing keys: one active key signs, older ones verify until retired.

use super::Connection;
use crate::envelope::signing_key_aad;
use crate::rows::{SigningKeyMaterialRow, SigningKeyRow, seal_column, signing_key_columns};
use crate::{KeyStatus, MasterKey, NewSigningKey, SigningKey, SigningKeyMaterial, StoreError};

pub(super) async fn insert(
    conn: &mut Connection,
    master: &MasterKey,
    key: NewSigningKey,
    now: i64,
) -> Result<SigningKey, StoreError> {
    let sealed = seal_column(
        master,
        "signing_keys",
        &key.kid,
        &key.private_key_pkcs8,
        &signing_key_aad(&key.kid),
    )?;
    // Demote and insert in the caller's transaction: readers never see zero or two active keys.
    sqlx::query("UPDATE signing_keys SET status = 'verify_only' WHERE status = 'active'")
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query_as::<_, SigningKeyRow>(concat!(
        "INSERT INTO signing_keys (kid, algorithm, public_key, private_ciphertext, \
         private_nonce, private_key_id, status, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, NULL) RETURNING ",
        signing_key_columns!()
    ))
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .bind(&sealed.key_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    row.into_key()
}

pub(super) async fn list(conn: &mut Connection) -> Result<Vec<SigningKey>, StoreError> {
    sqlx::query_as::<_, SigningKeyRow>(concat!(
        "SELECT ",
        signing_key_columns!(),
        " FROM signing_keys ORDER BY created_at DESC, kid DESC"
    ))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(SigningKeyRow::into_key)
    .collect()
}

pub(super) async fn active(
    conn: &mut Connection,
    master: &MasterKey,
) -> Result<Option<SigningKeyMaterial>, StoreError> {
    let row = sqlx::query_as::<_, SigningKeyMaterialRow>(concat!(
        "SELECT ",
        signing_key_columns!(),
        ", private_ciphertext, private_nonce, private_key_id \
         FROM signing_keys WHERE status = 'active'"
    ))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (key, private_key_pkcs8) = row.open(master)?;
    Ok(Some(SigningKeyMaterial {
        key,
        private_key_pkcs8,
    }))
}

/// Retires a verify-only key; the second value says whether this call changed anything.
pub(super) async fn retire(
    conn: &mut Connection,
    kid: &str,
    now: i64,
) -> Result<(SigningKey, bool), StoreError> {
    // Only a verify-only key moves; the WHERE clause makes the check and the change one step.
    let retired = sqlx::query_as::<_, SigningKeyRow>(concat!(
        "UPDATE signing_keys SET status = 'retired', retired_at = $2 \
         WHERE kid = $1 AND status = 'verify_only' RETURNING ",
        signing_key_columns!()
    ))
    .bind(kid)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = retired {
        return Ok((row.into_key()?, true));
    }
    let current = sqlx::query_as::<_, SigningKeyRow>(concat!(
        "SELECT ",
        signing_key_columns!(),
        " FROM signing_keys WHERE kid = $1"
    ))
    .bind(kid)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::SigningKeyNotFound)?
    .into_key()?;
    match current.status {
        KeyStatus::Active => Err(StoreError::SigningKeyActive),
        // Already retired: nothing to do. Verify-only: lost a race with a concurrent retire.
        KeyStatus::Retired | KeyStatus::VerifyOnly => Ok((current, false)),
    }
}
