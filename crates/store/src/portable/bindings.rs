//! Bindings: create, read, list, update, rotate, delete, and the data plane's credential load.
//!
//! Mutations run on the caller's transaction, which commits and announces them.

use super::{Connection, tokens};
use crate::envelope::binding_aad;
use crate::error::is_unique_violation;
use crate::rows::{
    BindingRow, CredentialRow, binding_columns, key_hint, rate_limit_columns, scopes_json,
    seal_column,
};
use crate::{Binding, BindingCredential, BindingUpdate, MasterKey, NewBinding, StoreError};

pub(super) async fn create(
    conn: &mut Connection,
    master: &MasterKey,
    new: NewBinding,
    now: i64,
) -> Result<Binding, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    let sealed = seal_column(
        master,
        "bindings",
        &id,
        &new.api_key,
        &binding_aad(&id, &new.org_id),
    )?;
    let (rps, burst) = rate_limit_columns(new.rate_limit);
    // The UNIQUE constraint on org_id decides races between two creators, not a prior read.
    let row = sqlx::query_as::<_, BindingRow>(concat!(
        "INSERT INTO bindings (id, org_id, generation, scopes_json, rate_limit_rps, \
         rate_limit_burst, api_key_ciphertext, api_key_nonce, api_key_key_id, api_key_hint, \
         previous_generation, previous_generation_expires_at, created_at, updated_at) \
         VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10, $10) RETURNING ",
        binding_columns!()
    ))
    .bind(&id)
    .bind(&new.org_id)
    .bind(scopes_json(&new.scopes))
    .bind(rps)
    .bind(burst)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .bind(&sealed.key_id)
    .bind(key_hint(&new.api_key))
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            StoreError::BindingExists
        } else {
            StoreError::Unavailable(err)
        }
    })?;
    row.into_binding()
}

pub(super) async fn by_org(
    conn: &mut Connection,
    org_id: &str,
) -> Result<Option<Binding>, StoreError> {
    sqlx::query_as::<_, BindingRow>(concat!(
        "SELECT ",
        binding_columns!(),
        " FROM bindings WHERE org_id = $1"
    ))
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(BindingRow::into_binding)
    .transpose()
}

pub(super) async fn list(
    conn: &mut Connection,
    after_org_id: Option<&str>,
    limit: u32,
) -> Result<Vec<Binding>, StoreError> {
    sqlx::query_as::<_, BindingRow>(concat!(
        "SELECT ",
        binding_columns!(),
        " FROM bindings WHERE $1 IS NULL OR org_id > $1 ORDER BY org_id LIMIT $2"
    ))
    .bind(after_org_id)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(BindingRow::into_binding)
    .collect()
}

pub(super) async fn update(
    conn: &mut Connection,
    master: &MasterKey,
    org_id: &str,
    update: BindingUpdate,
    now: i64,
) -> Result<Binding, StoreError> {
    // The row id is part of the associated data, so read it first. Ids never change, and the
    // UPDATE matches on both id and org id: a binding deleted and re-created in between is
    // not found rather than handed a ciphertext sealed for its predecessor.
    let binding_id: Option<String> =
        sqlx::query_scalar("SELECT id FROM bindings WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
    let binding_id = binding_id.ok_or(StoreError::BindingNotFound)?;
    let sealed = update
        .api_key
        .as_ref()
        .map(|key| {
            seal_column(
                master,
                "bindings",
                &binding_id,
                key,
                &binding_aad(&binding_id, org_id),
            )
        })
        .transpose()?;
    let hint = update.api_key.as_ref().map(key_hint);
    let scopes = update.scopes.as_deref().map(scopes_json);
    let (set_rate_limit, (rps, burst)) = match update.rate_limit {
        Some(rate_limit) => (1_i64, rate_limit_columns(rate_limit)),
        None => (0_i64, (None, None)),
    };
    let row = sqlx::query_as::<_, BindingRow>(concat!(
        "UPDATE bindings SET \
         api_key_ciphertext = COALESCE($3, api_key_ciphertext), \
         api_key_nonce = COALESCE($4, api_key_nonce), \
         api_key_key_id = COALESCE($5, api_key_key_id), \
         api_key_hint = COALESCE($6, api_key_hint), \
         scopes_json = COALESCE($7, scopes_json), \
         rate_limit_rps = CASE WHEN $8 = 1 THEN $9 ELSE rate_limit_rps END, \
         rate_limit_burst = CASE WHEN $8 = 1 THEN $10 ELSE rate_limit_burst END, \
         updated_at = $11 \
         WHERE id = $1 AND org_id = $2 RETURNING ",
        binding_columns!()
    ))
    .bind(&binding_id)
    .bind(org_id)
    .bind(sealed.as_ref().map(|s| &s.ciphertext))
    .bind(sealed.as_ref().map(|s| &s.nonce))
    .bind(sealed.as_ref().map(|s| &s.key_id))
    .bind(hint)
    .bind(scopes)
    .bind(set_rate_limit)
    .bind(rps)
    .bind(burst)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or(StoreError::BindingNotFound)?.into_binding()
}

pub(super) async fn rotate(
    conn: &mut Connection,
    org_id: &str,
    previous_valid_until: i64,
    now: i64,
) -> Result<Binding, StoreError> {
    // On the right of SET, `generation` is the value before this UPDATE.
    let row = if previous_valid_until > now {
        sqlx::query_as::<_, BindingRow>(concat!(
            "UPDATE bindings SET generation = generation + 1, \
             previous_generation = generation, previous_generation_expires_at = $2, \
             updated_at = $3 WHERE org_id = $1 RETURNING ",
            binding_columns!()
        ))
        .bind(org_id)
        .bind(previous_valid_until)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as::<_, BindingRow>(concat!(
            "UPDATE bindings SET generation = generation + 1, \
             previous_generation = NULL, previous_generation_expires_at = NULL, \
             updated_at = $2 WHERE org_id = $1 RETURNING ",
            binding_columns!()
        ))
        .bind(org_id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    };
    row.ok_or(StoreError::BindingNotFound)?.into_binding()
}

pub(super) async fn delete(conn: &mut Connection, org_id: &str) -> Result<Binding, StoreError> {
    // Token rows go with it (ON DELETE CASCADE).
    let row = sqlx::query_as::<_, BindingRow>(concat!(
        "DELETE FROM bindings WHERE org_id = $1 RETURNING ",
        binding_columns!()
    ))
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or(StoreError::BindingNotFound)?.into_binding()
}

pub(super) async fn load_credential(
    conn: &mut Connection,
    master: &MasterKey,
    binding_id: &str,
    now: i64,
) -> Result<Option<BindingCredential>, StoreError> {
    let row = sqlx::query_as::<_, CredentialRow>(concat!(
        "SELECT ",
        binding_columns!(),
        ", api_key_ciphertext, api_key_nonce, api_key_key_id FROM bindings WHERE id = $1"
    ))
    .bind(binding_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (binding, api_key) = row.open(master)?;
    let revoked_jtis = tokens::revoked_jtis(conn, binding_id, now).await?;
    Ok(Some(BindingCredential {
        binding,
        api_key,
        revoked_jtis,
    }))
}
