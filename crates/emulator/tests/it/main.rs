//! Integration tests: the emulator on a real socket on 127.0.0.1, called over HTTP.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed unwrap is a failed test"
)]

// Other crates import this one as `emulator`; the tests use the same name.
extern crate binding_proxy_emulator as emulator;

mod account;
mod auth;
mod echo;
mod journal;
mod kv;
mod server;
mod speech;
mod streaming;
mod support;
