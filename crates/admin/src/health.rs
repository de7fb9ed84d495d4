//! `GET /health/liveness` and `/health/readiness` (no admin token).

use axum::extract::State;
use serde_json::json;

use crate::error::AdminError;
use crate::state::AdminState;
use crate::views::Reply;

/// 200 while the process serves requests at all.
pub(crate) async fn liveness() -> Reply {
    Reply::ok(json!({ "status": "alive" }))
}

/// 200 when not shutting down and the store answers; 503 `shutting_down` once
/// [`crate::Readiness::mark_not_ready`] was called, 503 `store_unavailable` when the store
/// does not answer.
pub(crate) async fn readiness(State(state): State<AdminState>) -> Result<Reply, AdminError> {
    if !state.readiness().is_ready() {
        return Err(AdminError::ShuttingDown);
    }
    state.store().ping().await?;
    Ok(Reply::ok(json!({ "status": "ready" })))
}
