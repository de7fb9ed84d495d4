//! The control plane of binding-proxy: the admin HTTP API on its own listener.
//!
//! Binding lifecycle, token minting and revocation, binding rotation and validation, signing
//! keys, JWKS and the audit trail. Exports [`router`], [`serve`] (plain) and [`serve_tls`]
//! (TLS, optionally mTLS, from [`AdminTls`] via [`tls_acceptor`]), [`AdminState`],
//! its `[admin]` settings ([`RawAdminSettings`] → [`AdminSettings`]), [`Readiness`] and
//! [`AdminError`]. Persistence goes through `store`,
//! tokens through `auth`; no SQL here and never on the data-plane listener.

mod admin_token;
mod audit;
mod bindings;
mod error;
mod extract;
mod health;
mod input;
mod jwks;
mod metrics_route;
mod page;
mod probe;
mod request_id;
mod server;
mod settings;
mod signing_keys;
mod state;
mod tls;
mod tokens;
mod validate;
mod views;

pub use error::{AdminError, BodyRejection, InvalidInput, Resource, UnauthorizedReason};
pub use probe::ProbeSetupError;
pub use server::{router, serve, serve_tls};
pub use settings::{AdminLinks, AdminSettings, RawAdminSettings};
pub use state::{AdminState, Clock, Readiness, SetupError};
pub use tls::{AdminTls, AdminTlsError, tls_acceptor};
pub use tokio_rustls::TlsAcceptor;
