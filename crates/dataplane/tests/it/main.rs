//! The data plane over real sockets: store → auth → proxy on 127.0.0.1:0 → emulator.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed unwrap is a failed test"
)]

// The package is `binding-proxy-dataplane`; the workspace imports it as `dataplane`.
extern crate binding_proxy_dataplane as dataplane;

mod cut_off;
mod forwarding;
mod harness;
mod limits;
mod pooling;
mod reflection;
mod refusals;
mod scopes;
mod shutdown;
mod slots;
mod smuggling;
mod upstream;
mod upstream_tls;
