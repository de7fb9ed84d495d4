//! The data plane: the hot path from an edge function's call to the upstream API and back.
//!
//! Exports [`Proxy`] (shared state built from [`DataplaneSettings`]), [`serve`] (HTTP/1.1 and
//! h2c listener with graceful drain), [`Readiness`], [`DrainReport`] and [`DataplaneMetrics`].
//! Per request: probes, method and target checks, route, deny-list, declared body size,
//! authentication through `auth`, scope, the organization's rate limit, then the upstream
//! exchange (`Authorization` swapped, hop-by-hop headers stripped, bodies streamed both ways);
//! `proxy` has the details. No SQL, no admin logic, no body buffering.

mod access;
mod body;
mod deny_list;
mod error;
mod forwarded;
mod headers;
mod health;
mod hop_headers;
mod metrics;
mod proxy;
mod rate_limit;
mod redact;
mod request_id;
mod route;
mod server;
mod settings;
mod target;
mod tls;
mod upstream;
mod websocket;

pub use error::DataplaneError;
pub use health::Readiness;
pub use metrics::DataplaneMetrics;
pub use proxy::Proxy;
pub use server::{DrainReport, serve};
pub use settings::{
    DEFAULT_DENY_PREFIXES, DEFAULT_PATH_PREFIX, DataplaneSettings, ForwardedHeaders,
    ListenerSettings, ListenerTls, PathPrefix, RateLimitSettings, RawListenerSettings,
    RawRateLimitSettings, RawUpstreamSettings, RawWebSocketSettings, UpstreamOrigin,
    UpstreamSettings, WebSocketSettings,
};
pub use tls::{ListenerTlsError, check_listener_tls};
pub use upstream::check_upstream_ca_file;

/// Internals that the benches, the fuzz targets and this crate's integration tests call. Not
/// part of the API: no stability promise, hidden from the docs.
#[doc(hidden)]
pub mod __private {
    pub use crate::forwarded::{ClientAddr, rewrite as rewrite_forwarded};
    pub use crate::hop_headers::{rewrite_request_headers, strip_hop_by_hop};
    pub use crate::proxy::upstream_tasks;
    pub use crate::redact::{Scanner, redact_headers};
    pub use crate::route::{Route, RouteError};
    pub use crate::target::TargetProblem;
}
