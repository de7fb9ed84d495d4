//! The admin router (routes, layers, fallbacks) and the server loop with graceful shutdown.
//!
//! One serving loop for plain and TLS listeners: axum's, generic over the listener.
//! [`serve_tls`] only swaps in a listener that yields finished TLS handshakes
//! (`crate::tls::TlsListener`).

use std::future::Future;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::error::{AdminError, Resource};
use crate::state::AdminState;
use crate::tls::TlsListener;
use crate::{
    admin_token, audit, bindings, health, jwks, metrics_route, request_id, signing_keys, tokens,
    validate,
};

/// The admin API. `/v1` routes need an admin token; JWKS, health probes and `/metrics` do not. Unknown
/// paths answer 404 `not_found`, known paths with another method 405 `method_not_allowed`,
/// both in the error format.
pub fn router(state: AdminState) -> Router {
    let v1 = Router::new()
        .route("/v1/bindings", post(bindings::create).get(bindings::list))
        .route(
            "/v1/bindings/{org_id}",
            get(bindings::get)
                .patch(bindings::update)
                .delete(bindings::delete),
        )
        .route("/v1/bindings/{org_id}/rotate", post(bindings::rotate))
        .route("/v1/bindings/{org_id}/validate", post(validate::validate))
        .route("/v1/bindings/{org_id}/tokens", post(tokens::issue))
        .route("/v1/tokens/{jti}", axum::routing::delete(tokens::revoke))
        .route("/v1/signing-keys", get(signing_keys::list))
        .route("/v1/signing-keys/rotate", post(signing_keys::rotate))
        .route("/v1/signing-keys/{kid}/retire", post(signing_keys::retire))
        .route("/v1/audit-events", get(audit::list))
        .route_layer(from_fn_with_state(
            state.admin_tokens().clone(),
            admin_token::require_admin,
        ));

    Router::new()
        .merge(v1)
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/health/liveness", get(health::liveness))
        .route("/health/readiness", get(health::readiness))
        .route("/metrics", get(metrics_route::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(from_fn(request_id::request_scope))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits
/// for in-flight requests to finish. The caller bounds that wait (`shutdown_grace_secs`).
///
/// Errors: the listener's I/O errors.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, router, shutdown).await
}

/// [`serve`] over TLS: every connection completes a handshake with `acceptor` (from
/// [`crate::tls_acceptor`]) before it reaches the router, so mTLS, when configured, is
/// checked before any route. A failed handshake is logged at DEBUG and the connection
/// dropped; handshakes still running when `shutdown` resolves are aborted.
///
/// Errors: the listener's I/O errors.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    acceptor: TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(TlsListener::new(listener, acceptor), router, shutdown).await
}

/// The one serving loop: accept until `shutdown`, then drain in-flight requests
/// (HTTP/1.1 and HTTP/2, chosen per connection).
async fn serve_on<L>(
    listener: L,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    // axum logs the peer address of a failed connection.
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found() -> AdminError {
    AdminError::NotFound(Resource::Route)
}

async fn method_not_allowed() -> AdminError {
    AdminError::MethodNotAllowed
}
