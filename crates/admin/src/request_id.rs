//! The outermost layer: keeps or mints the request id, writes error documents with it, returns
//! it as `X-Request-Id`, and logs one line per admin request.

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue};

use crate::admin_token::Actor;
use crate::error::ErrorRender;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_REQUEST_ID_LEN: usize = 128;

/// Runs the request, then renders a pending [`ErrorRender`] as the error document.
pub(crate) async fn request_scope(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = keep_or_mint(request.headers());
    let method = request.method().clone();
    // The path only: queries may carry cursors and filters nobody needs in the log.
    let path = request.uri().path().to_owned();

    let mut response = next.run(request).await;

    if let Some(render) = response.extensions_mut().remove::<ErrorRender>() {
        let body = auth::error_json(render.code, &render.detail, &request_id);
        *response.body_mut() = Body::from(body);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let actor = response
        .extensions()
        .get::<Actor>()
        .map_or("-", |actor| actor.as_str());
    tracing::info!(
        target: "binding_proxy::admin_access",
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        actor = %actor,
        duration_ms = started.elapsed().as_millis() as u64,
        "admin request"
    );
    response
}

/// The caller's `X-Request-Id` when it is one short token of `[A-Za-z0-9._:-]` (so it is safe
/// to log and echo: no header or log injection), else a fresh UUID.
fn keep_or_mint(headers: &HeaderMap) -> String {
    let mut values = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(value), None) = (values.next(), values.next()) {
        let bytes = value.as_bytes();
        let sane = !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if let (true, Ok(text)) = (sane, value.to_str()) {
            return text.to_owned();
        }
    }
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID.clone(), HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn sane_request_ids_are_kept() {
        assert_eq!(keep_or_mint(&with("req-123_a.b:c")), "req-123_a.b:c");
    }

    #[test]
    fn odd_request_ids_are_replaced() {
        let minted = keep_or_mint(&with("a b"));
        assert_ne!(minted, "a b");
        assert!(uuid::Uuid::parse_str(&minted).is_ok());
        assert!(uuid::Uuid::parse_str(&keep_or_mint(&HeaderMap::new())).is_ok());
    }
}
