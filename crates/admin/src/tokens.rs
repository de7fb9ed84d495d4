//! Minting binding tokens and revoking them.

use axum::extract::State;
use http::StatusCode;
use serde::Serialize;
use serde_json::json;

use crate::admin_token::Actor;
use crate::audit::{self, Action, Subject};
use crate::bindings;
use crate::error::AdminError;
use crate::extract::{JsonOrEmpty, PathParam};
use crate::input::IssueToken;
use crate::state::AdminState;
use crate::views::{Reply, Timestamp};

/// What a deploy puts into `TELNYX_API_KEY` (`token`) and `TELNYX_BASE_URL` (`base_url`).
/// No `Debug`: it holds the token.
#[derive(Serialize)]
struct IssuedView<'a> {
    token: &'a str,
    base_url: &'a str,
    jti: &'a str,
    generation: i64,
    expires_at: Timestamp,
    kid: &'a str,
}

/// `POST /v1/bindings/{org_id}/tokens` → 201. 400 `scope_not_granted` when the requested
/// scopes are wider than the binding's, 400 `invalid_request` for a bad TTL or function id.
pub(crate) async fn issue(
    State(state): State<AdminState>,
    actor: Actor,
    PathParam(org_id): PathParam<String>,
    JsonOrEmpty(body): JsonOrEmpty<IssueToken>,
) -> Result<Reply, AdminError> {
    let request = body.checked()?;
    let binding = bindings::find(&state, &org_id).await?;
    let now = state.now();
    let function_id = request.function_id.clone();
    let issued = state.issuer().issue(&binding, request, now).await?;
    let detail = json!({
        "jti": issued.jti,
        "function_id": function_id,
        "generation": issued.generation,
        "expires_at": Timestamp(issued.expires_at).to_rfc3339(),
        "kid": issued.kid,
    });
    audit::record(
        &state,
        &actor,
        Action::TokenIssue,
        Subject::Binding(&binding),
        detail,
        now,
    )
    .await;
    Ok(Reply::created(IssuedView {
        token: &issued.token,
        base_url: &state.links().public_base_url,
        jti: &issued.jti,
        generation: issued.generation,
        expires_at: Timestamp(issued.expires_at),
        kid: &issued.kid,
    }))
}

/// `DELETE /v1/tokens/{jti}` → 204; 404 `not_found` for an unknown `jti`.
pub(crate) async fn revoke(
    State(state): State<AdminState>,
    actor: Actor,
    PathParam(jti): PathParam<String>,
) -> Result<StatusCode, AdminError> {
    let now = state.now();
    let record = state.store().revoke_token(&jti, now).await?;
    state.credentials().invalidate(&record.binding_id).await;
    let subject = Subject::Ids {
        org_id: &record.org_id,
        binding_id: &record.binding_id,
    };
    let detail = json!({ "jti": record.jti, "generation": record.generation });
    audit::record(&state, &actor, Action::TokenRevoke, subject, detail, now).await;
    Ok(StatusCode::NO_CONTENT)
}
