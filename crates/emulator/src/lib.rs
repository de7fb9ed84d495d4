//! An in-process emulation of the upstream Telnyx API: KV storage (the full KV REST API),
//! `POST /v2/messages`, `GET /v2/balance`, the speech-to-text WebSocket
//! (`GET /v2/speech-to-text/transcription`), plus emulator-only test routes under `/v2/_emulator/`.
//! Tests, benches and `binding-proxy dev` run it as the upstream behind the proxy.
//! Exports [`Emulator`], [`EmulatorConfig`], [`RunningEmulator`] and the request [`Journal`].
//! It depends on no other workspace crate and keeps all state in memory; nothing persists.

mod balance;
mod config;
mod journal;
mod kv;
mod messages;
mod percent;
mod problem;
mod query;
mod reply;
mod request_body;
mod routes;
mod server;
mod sessions;
mod shared;
mod speech;
mod test_routes;
mod timestamp;

pub use config::EmulatorConfig;
pub use journal::{Journal, JournalEntry};
pub use server::{Emulator, RunningEmulator};
