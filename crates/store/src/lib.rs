//! Persistence for binding-proxy behind one trait, [`Store`].
//!
//! Exports the record types (bindings, tokens, signing keys, audit events), the [`Store`] trait,
//! the SQLite backend ([`SqliteStore`], the embedded default), the PostgreSQL backend
//! ([`PostgresStore`], shared by replicas, changes crossing processes), envelope encryption under a
//! [`MasterKey`] (AES-256-GCM, ciphertext bound to its row) and the [`Secret`] type that holds
//! every secret in memory, and the `[store]`/`[crypto]` settings with the [`SettingsError`] every
//! settings section reports. Callers hand plaintext secrets in and get them back; only this crate
//! sees ciphertext. No HTTP and no JWT logic here.

mod envelope;
mod error;
mod model;
mod postgres;
mod rows;
mod secret;
mod settings;
mod settings_error;
mod sqlite;
mod store;

pub use envelope::{MasterKey, MasterKeyError, MasterKeySource};
pub use error::StoreError;
pub use model::{
    AuditEvent, AuditFilter, Binding, BindingCredential, BindingUpdate, Change, KeyStatus,
    MAX_TOKEN_LEEWAY_SECS, NewAuditEvent, NewBinding, NewSigningKey, NewToken, RateLimit,
    SigningKey, SigningKeyMaterial, TokenRecord,
};
pub use postgres::{PostgresOptions, PostgresStore};
pub use secret::Secret;
pub use settings::{
    CryptoSettings, PostgresUrl, RawCryptoSettings, RawStoreSettings, StoreSettings, StoreUrl,
};
pub use settings_error::{SettingsError, SettingsProblem};
pub use sqlite::SqliteStore;
pub use store::{Store, StoreHandle};
