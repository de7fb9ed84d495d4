//! Binding lifecycle: create, list, get, update, rotate, delete.
//!
//! Every change drops the binding from the credential cache at once, so the data plane never
//! serves a replaced key, a superseded generation or a deleted binding from cache.

use axum::extract::State;
use http::StatusCode;
use serde_json::json;
use store::Binding;

use crate::admin_token::Actor;
use crate::audit::{self, Action, Subject};
use crate::error::{AdminError, Resource};
use crate::extract::{JsonBody, JsonOrEmpty, PathParam, QueryParams};
use crate::input::{CreateBinding, PageQuery, RotateBinding, UpdateBinding};
use crate::page;
use crate::state::AdminState;
use crate::views::{BindingView, PageMeta, Reply};

/// The binding of `org_id`, or 404 `not_found`.
pub(crate) async fn find(state: &AdminState, org_id: &str) -> Result<Binding, AdminError> {
    state
        .store()
        .binding_by_org(org_id)
        .await?
        .ok_or(AdminError::NotFound(Resource::Binding))
}

/// `POST /v1/bindings` → 201; 409 `binding_exists` when the organization has one.
pub(crate) async fn create(
    State(state): State<AdminState>,
    actor: Actor,
    JsonBody(body): JsonBody<CreateBinding>,
) -> Result<Reply, AdminError> {
    let new = body.checked()?;
    let now = state.now();
    let binding = state.store().create_binding(new, now).await?;
    let detail = json!({
        "generation": binding.generation,
        "scopes": binding.scopes,
        "rate_limit": binding.rate_limit,
    });
    audit::record(
        &state,
        &actor,
        Action::BindingCreate,
        Subject::Binding(&binding),
        detail,
        now,
    )
    .await;
    Ok(Reply::created(BindingView::from(&binding)))
}

/// `GET /v1/bindings?limit=&cursor=`, ordered by organization id.
pub(crate) async fn list(
    State(state): State<AdminState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Reply, AdminError> {
    let limit = page::limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(page::decode_cursor)
        .transpose()?;
    let rows = state
        .store()
        .list_bindings(after.as_deref(), limit.saturating_add(1))
        .await?;
    let (bindings, has_more) = page::split_page(rows, limit);
    let cursor = has_more
        .then(|| {
            bindings
                .last()
                .map(|binding| page::encode_cursor(&binding.org_id))
        })
        .flatten();
    let views = bindings.iter().map(BindingView::from).collect();
    Ok(Reply::page(views, PageMeta { has_more, cursor }))
}

/// `GET /v1/bindings/{org_id}`.
pub(crate) async fn get(
    State(state): State<AdminState>,
    PathParam(org_id): PathParam<String>,
) -> Result<Reply, AdminError> {
    let binding = find(&state, &org_id).await?;
    Ok(Reply::ok(BindingView::from(&binding)))
}

/// `PATCH /v1/bindings/{org_id}`: replace the key, the scopes or the rate limit.
pub(crate) async fn update(
    State(state): State<AdminState>,
    actor: Actor,
    PathParam(org_id): PathParam<String>,
    JsonBody(body): JsonBody<UpdateBinding>,
) -> Result<Reply, AdminError> {
    let update = body.checked()?;
    let detail = json!({ "changed": UpdateBinding::changed_fields(&update) });
    let now = state.now();
    let binding = state.store().update_binding(&org_id, update, now).await?;
    changed(&state, &actor, Action::BindingUpdate, &binding, detail, now).await;
    Ok(Reply::ok(BindingView::from(&binding)))
}

/// `POST /v1/bindings/{org_id}/rotate`: a new generation; the old one stays valid for
/// `grace_period_secs` (default 0: it ends now).
pub(crate) async fn rotate(
    State(state): State<AdminState>,
    actor: Actor,
    PathParam(org_id): PathParam<String>,
    JsonOrEmpty(body): JsonOrEmpty<RotateBinding>,
) -> Result<Reply, AdminError> {
    let grace = body.grace_period_secs()?;
    let now = state.now();
    // `grace` is at most seven days, so the conversion and the sum cannot overflow.
    let valid_until = now.saturating_add(i64::try_from(grace).unwrap_or(i64::MAX));
    let binding = state
        .store()
        .rotate_binding(&org_id, valid_until, now)
        .await?;
    let detail = json!({
        "generation": binding.generation,
        "previous_generation": binding.previous_generation,
        "grace_period_secs": grace,
    });
    changed(&state, &actor, Action::BindingRotate, &binding, detail, now).await;
    Ok(Reply::ok(BindingView::from(&binding)))
}

/// `DELETE /v1/bindings/{org_id}` → 204; every token of the binding stops working at once.
pub(crate) async fn delete(
    State(state): State<AdminState>,
    actor: Actor,
    PathParam(org_id): PathParam<String>,
) -> Result<StatusCode, AdminError> {
    let now = state.now();
    let binding = state.store().delete_binding(&org_id, now).await?;
    let detail = json!({ "generation": binding.generation });
    changed(&state, &actor, Action::BindingDelete, &binding, detail, now).await;
    Ok(StatusCode::NO_CONTENT)
}

/// After a committed change: drop the cached credential, then record the event.
async fn changed(
    state: &AdminState,
    actor: &Actor,
    action: Action,
    binding: &Binding,
    detail: serde_json::Value,
    now: i64,
) {
    state.credentials().invalidate(&binding.id).await;
    audit::record(state, actor, action, Subject::Binding(binding), detail, now).await;
}
