//! Signing keys: list, rotate, retire.
//!
//! Rotation adds a new active key; the previous one stays verify-only so tokens it signed keep
//! working until it is retired. Retiring a key stops every token it signed at once.

use axum::extract::State;
use serde_json::json;

use crate::admin_token::Actor;
use crate::audit::{self, Action, Subject};
use crate::error::AdminError;
use crate::extract::PathParam;
use crate::state::AdminState;
use crate::views::{Reply, SigningKeyView};

/// `GET /v1/signing-keys`: public facts of every key, newest first.
pub(crate) async fn list(State(state): State<AdminState>) -> Result<Reply, AdminError> {
    let keys = state.store().signing_keys().await?;
    let views: Vec<SigningKeyView<'_>> = keys.iter().map(SigningKeyView::from).collect();
    Ok(Reply::ok(views))
}

/// `POST /v1/signing-keys/rotate` → 201 with the new active key.
pub(crate) async fn rotate(
    State(state): State<AdminState>,
    actor: Actor,
) -> Result<Reply, AdminError> {
    let now = state.now();
    // The issuer stores the key and reloads the shared keyring before it returns.
    let key = state.issuer().rotate_signing_key(now).await?;
    let detail = json!({ "kid": key.kid, "algorithm": key.algorithm });
    audit::record(
        &state,
        &actor,
        Action::SigningKeyRotate,
        Subject::Global,
        detail,
        now,
    )
    .await;
    Ok(Reply::created(SigningKeyView::from(&key)))
}

/// `POST /v1/signing-keys/{kid}/retire` → 200; 409 `signing_key_active` for the active key,
/// 404 `not_found` for an unknown one.
pub(crate) async fn retire(
    State(state): State<AdminState>,
    actor: Actor,
    PathParam(kid): PathParam<String>,
) -> Result<Reply, AdminError> {
    let now = state.now();
    let key = state.store().retire_signing_key(&kid, now).await?;
    // Drop the key from the keyring, then every verified token: cached verifications of
    // tokens it signed must not outlive it.
    let reloaded = state.keyring().reload(state.store()).await;
    state.verifier().invalidate_all();
    // Open WebSocket sessions verify their tokens again too.
    state.credentials().signing_keys_changed();
    let detail = json!({ "kid": key.kid });
    audit::record(
        &state,
        &actor,
        Action::SigningKeyRetire,
        Subject::Global,
        detail,
        now,
    )
    .await;
    reloaded.map_err(AdminError::Keyring)?;
    Ok(Reply::ok(SigningKeyView::from(&key)))
}
