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

/// 200 while not shutting down; 503 `shutting_down` once [`crate::Readiness::mark_not_ready`]
/// was called. A store outage does not fail readiness: it would take every replica out at
/// once while cached bindings keep working; the outage shows in metrics and logs instead.
pub(crate) async fn readiness(State(state): State<AdminState>) -> Result<Reply, AdminError> {
    if !state.readiness().is_ready() {
        return Err(AdminError::ShuttingDown);
    }
    Ok(Reply::ok(json!({ "status": "ready" })))
}
