//! The upstream client: keep-alive connections owned by the proxy, TLS with ALPN (HTTP/2 when
//! the upstream offers it), timeouts, and the classification of what went wrong.
//!
//! An HTTP/1.1 upstream connection is driven by the request that uses it, in that request's
//! own task: while waiting for the response head by the sending future, then by the response
//! body ([`UpstreamBody`]) until its last byte, when the connection goes back to the idle list.
//! There is no connection task, no channel hop between tasks and no pool key per request; this
//! is most of what a general-purpose pooled client costs on a proxy's hot path
//! (`docs/performance.md`). An HTTP/2 upstream connection is shared by all requests and runs
//! in its own task, as multiplexing needs. Every task the client starts is owned by its pool,
//! which stops them when the server has drained ([`UpstreamClient::close`]).
//!
//! - `tls`: whom the proxy trusts upstream (Mozilla's roots plus `upstream_ca_file`).
//! - `pool`: opening, keeping and closing connections.
//! - `tasks`: the tasks the pool starts, and how it stops and waits for them.
//! - `exchange`: one request and its response head, on HTTP/1.1 or HTTP/2 ([`UpstreamClient`]).
//! - `upload`: the client's body on its way up ([`Upload`] is its progress).
//! - `body`: the upstream's response body on its way back ([`UpstreamBody`]).
//! - `upgrade`: a WebSocket session's own HTTP/1.1 connection and handshake ([`Upgrade`]).

mod body;
mod exchange;
mod pool;
mod tasks;
mod tls;
mod upgrade;
mod upload;

pub(crate) use body::UpstreamBody;
pub(crate) use exchange::{SendError, UpstreamClient};
pub use tls::check_upstream_ca_file;
pub(crate) use upgrade::Upgrade;
pub(crate) use upload::Upload;
