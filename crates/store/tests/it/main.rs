//! Integration tests for the store, one binary (see STYLE.md).
//!
//! `contract` is the backend-neutral behaviour suite, written against `StoreHandle` only; each
//! backend runs it with one `run_contract_suite!` line (`sqlite` does, for memory and file
//! stores; `postgres` for a fresh schema per test, when `BINDING_PROXY_TEST_POSTGRES_URL` is
//! set). The other modules test what only one backend or type has: at-rest encryption,
//! replicas hearing each other's changes, master key files.

// Other crates know this one as `store`; so do its tests.
extern crate binding_proxy_store as store;

mod contract;
mod master_key;
mod postgres;
mod sqlite;
