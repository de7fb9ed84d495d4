//! `GET /metrics` (no admin token, like the health probes): the process's Prometheus registry
//! in the OpenMetrics text format. The registry is built and filled by the binary.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::error::{AdminError, Resource};
use crate::state::AdminState;

/// The content type of the OpenMetrics text exposition format.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// 200 with every registered metric; 404 `not_found` when no registry was wired in.
pub(crate) async fn metrics(State(state): State<AdminState>) -> Result<Response, AdminError> {
    let Some(registry) = state.metrics() else {
        return Err(AdminError::NotFound(Resource::Route));
    };
    let mut text = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut text, registry) {
        // Only a failing `fmt::Write` on a String: never in practice.
        tracing::error!(error = %err, "encoding metrics failed");
        return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Ok(([(CONTENT_TYPE, OPENMETRICS)], text).into_response())
}
