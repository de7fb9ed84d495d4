//! The end-to-end harness, shared by every test that runs the real `binding-proxy` binary.
//!
//! [`ProxyProcess`] starts the binary on 127.0.0.1 ephemeral ports with its store in a temporary
//! directory and captures its JSON logs; [`HttpClient`] and [`raw_request`] talk to it over real
//! sockets; [`Forger`] signs tokens with the store's own key for attack tests. Test code only:
//! it panics with a clear message instead of returning errors.

mod client;
mod forge;
mod postgres;
mod process;

pub use client::{HttpClient, Reply, raw_request};
pub use forge::{Forger, claims_of, jwt_header_of};
pub use postgres::{POSTGRES_URL_ENV, Relay, TestSchema};
pub use process::{ADMIN_TOKEN, ProxyOptions, ProxyProcess};
