//! Integration tests of the admin API: the real router on a real socket on 127.0.0.1, a
//! SQLite store in memory, the auth components, and the emulator as the upstream.

// Test code: a failed `unwrap` is a failed test (clippy's `allow-unwrap-in-tests` does not
// reach helper functions outside `#[test]`).
#![allow(clippy::unwrap_used)]

mod audit;
mod bindings;
mod harness;
mod server;
mod signing_keys;
mod tokens;
mod validate;
