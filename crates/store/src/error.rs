//! Store errors.

/// What went wrong in the store. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The organization already has a binding.
    #[error("organization already has a binding")]
    BindingExists,
    /// No binding for that organization or id.
    #[error("binding not found")]
    BindingNotFound,
    /// No token with that id.
    #[error("token not found")]
    TokenNotFound,
    /// No signing key with that id.
    #[error("signing key not found")]
    SigningKeyNotFound,
    /// The key is the active signing key and cannot be retired.
    #[error("signing key is the active key")]
    SigningKeyActive,
    /// The backend could not be reached or failed (connection, pool, I/O).
    #[error("store unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("store migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// A ciphertext did not decrypt: wrong master key, a moved or tampered row.
    #[error("ciphertext for {table} row {row_id} does not decrypt under master key {key_id}")]
    Decrypt {
        /// Table of the row.
        table: &'static str,
        /// Row id.
        row_id: String,
        /// Master key id recorded with the ciphertext.
        key_id: String,
    },
    /// A row holds a value this version cannot read.
    #[error("corrupt {table} row {row_id}: {reason}")]
    Corrupt {
        /// Table of the row.
        table: &'static str,
        /// Row id.
        row_id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The store URL is not one this backend accepts.
    #[error(
        "unsupported store url scheme (expected sqlite://, sqlite::memory:, postgres:// or postgresql://)"
    )]
    UnsupportedUrl,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::Unavailable(err)
    }
}

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// Whether a database error is a foreign-key violation.
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}
