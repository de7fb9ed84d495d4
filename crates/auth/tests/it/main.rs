//! Integration tests of `auth` against a real in-memory SQLite store.

// `allow-unwrap-in-tests` covers `#[test]` functions only, not this binary's shared helpers.
#![allow(clippy::unwrap_used)]

// The package is `binding-proxy-auth`; other crates import it as `auth`, and so do these tests.
extern crate binding_proxy_auth as auth;

mod authenticate;
mod follow;
mod harness;
mod issue;
mod keys;
mod redaction;
mod scope;
mod verify;
