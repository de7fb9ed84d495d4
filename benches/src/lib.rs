//! Shared set-up for the criterion benches: an in-process stack of store, auth, data plane
//! and the upstream emulator on 127.0.0.1, plus a client. Bench code only.

mod stack;

pub use stack::{BenchStack, Client, now};
