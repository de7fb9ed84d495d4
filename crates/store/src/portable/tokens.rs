//! Token records: insert at mint time, revoke by `jti`, list a binding's live revocations.

use super::Connection;
use crate::error::is_foreign_key_violation;
use crate::rows::{TokenRow, scopes_json, token_columns};
use crate::{MAX_TOKEN_LEEWAY_SECS, NewToken, StoreError, TokenRecord};

pub(super) async fn insert(
    conn: &mut Connection,
    token: NewToken,
) -> Result<TokenRecord, StoreError> {
    let org_id: Option<String> = sqlx::query_scalar("SELECT org_id FROM bindings WHERE id = $1")
        .bind(&token.binding_id)
        .fetch_optional(&mut *conn)
        .await?;
    let org_id = org_id.ok_or(StoreError::BindingNotFound)?;
    // A binding deleted since the read above trips the foreign key.
    sqlx::query(
        "INSERT INTO tokens (jti, binding_id, function_id, generation, scopes_json, kid, \
         issued_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
    )
    .bind(&token.jti)
    .bind(&token.binding_id)
    .bind(&token.function_id)
    .bind(token.generation)
    .bind(token.scopes.as_deref().map(scopes_json))
    .bind(&token.kid)
    .bind(token.issued_at)
    .bind(token.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(|err| {
        if is_foreign_key_violation(&err) {
            StoreError::BindingNotFound
        } else {
            StoreError::Unavailable(err)
        }
    })?;
    Ok(TokenRecord {
        jti: token.jti,
        binding_id: token.binding_id,
        org_id,
        function_id: token.function_id,
        generation: token.generation,
        scopes: token.scopes,
        kid: token.kid,
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        revoked_at: None,
    })
}

/// Revokes `jti`; the second value says whether this call changed anything.
pub(super) async fn revoke(
    conn: &mut Connection,
    jti: &str,
    now: i64,
) -> Result<(TokenRecord, bool), StoreError> {
    let changed =
        sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE jti = $1 AND revoked_at IS NULL")
            .bind(jti)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            > 0;
    let row = sqlx::query_as::<_, TokenRow>(concat!(
        "SELECT ",
        token_columns!(),
        " FROM tokens t JOIN bindings b ON b.id = t.binding_id WHERE t.jti = $1"
    ))
    .bind(jti)
    .fetch_optional(&mut *conn)
    .await?;
    Ok((
        row.ok_or(StoreError::TokenNotFound)?.into_record()?,
        changed,
    ))
}

/// `jti`s of the binding's revoked tokens that could still verify at `now`, sorted: those
/// whose `expires_at` is less than [`MAX_TOKEN_LEEWAY_SECS`] in the past, or in the future.
pub(super) async fn revoked_jtis(
    conn: &mut Connection,
    binding_id: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    // A token verifies until `exp + tokens.leeway_secs`, and the leeway is at most
    // MAX_TOKEN_LEEWAY_SECS: a revoked token must stay listed that long past its expiry, or a
    // credential loaded in that window would accept it again. Older ones fail verification
    // anyway; leaving them out keeps the list short.
    let leeway = i64::try_from(MAX_TOKEN_LEEWAY_SECS).unwrap_or(i64::MAX);
    Ok(sqlx::query_scalar(
        "SELECT jti FROM tokens WHERE binding_id = $1 AND revoked_at IS NOT NULL \
         AND expires_at > $2 ORDER BY jti",
    )
    .bind(binding_id)
    .bind(now.saturating_sub(leeway))
    .fetch_all(&mut *conn)
    .await?)
}
