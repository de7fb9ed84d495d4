//! The [`Store`] trait: what every backend provides.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{
    AuditEvent, AuditFilter, Binding, BindingCredential, BindingUpdate, Change, NewAuditEvent,
    NewBinding, NewSigningKey, NewToken, SigningKey, SigningKeyMaterial, StoreError, TokenRecord,
};

/// A shared handle to whichever backend the binary picked.
pub type StoreHandle = Arc<dyn Store>;

/// Persistence for bindings, tokens, signing keys and audit events.
///
/// Secrets go in and come out as plaintext [`crate::Secret`]s; backends encrypt them at rest
/// with the master key, bound to their row. Every mutation is committed before it returns and
/// then announced on [`Store::subscribe`]. `now` arguments are unix seconds, passed in so
/// callers (and tests) own the clock.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Checks the store answers (readiness, validation).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a binding at generation 1.
    ///
    /// Errors: [`StoreError::BindingExists`] when the organization already has one.
    async fn create_binding(&self, new: NewBinding, now: i64) -> Result<Binding, StoreError>;

    /// The binding of an organization.
    async fn binding_by_org(&self, org_id: &str) -> Result<Option<Binding>, StoreError>;

    /// Bindings ordered by `org_id`, starting after `after_org_id`, at most `limit`.
    async fn list_bindings(
        &self,
        after_org_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Binding>, StoreError>;

    /// Applies an update. Errors: [`StoreError::BindingNotFound`].
    async fn update_binding(
        &self,
        org_id: &str,
        update: BindingUpdate,
        now: i64,
    ) -> Result<Binding, StoreError>;

    /// Starts a new generation. The previous generation stays valid until
    /// `previous_valid_until` when it is later than `now`; otherwise it ends at once.
    /// Errors: [`StoreError::BindingNotFound`].
    async fn rotate_binding(
        &self,
        org_id: &str,
        previous_valid_until: i64,
        now: i64,
    ) -> Result<Binding, StoreError>;

    /// Deletes a binding and its token records; returns the deleted binding.
    /// Errors: [`StoreError::BindingNotFound`].
    async fn delete_binding(&self, org_id: &str, now: i64) -> Result<Binding, StoreError>;

    /// The binding with its decrypted key and revoked token ids, by binding id.
    /// `Ok(None)` when the binding does not exist (deleted).
    async fn load_credential(
        &self,
        binding_id: &str,
        now: i64,
    ) -> Result<Option<BindingCredential>, StoreError>;

    /// Records a minted token. Errors: [`StoreError::BindingNotFound`].
    async fn insert_token(&self, token: NewToken) -> Result<TokenRecord, StoreError>;

    /// Revokes a token by `jti`; revoking twice keeps the first time.
    /// Errors: [`StoreError::TokenNotFound`].
    async fn revoke_token(&self, jti: &str, now: i64) -> Result<TokenRecord, StoreError>;

    /// Adds a signing key and makes it the active one; the previously active key becomes
    /// verify-only. Atomic.
    async fn insert_signing_key(
        &self,
        key: NewSigningKey,
        now: i64,
    ) -> Result<SigningKey, StoreError>;

    /// All signing keys, newest first (retired ones included).
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError>;

    /// The active signing key with its private half, if there is one.
    async fn active_signing_key(&self) -> Result<Option<SigningKeyMaterial>, StoreError>;

    /// Retires a verify-only key. Errors: [`StoreError::SigningKeyNotFound`],
    /// [`StoreError::SigningKeyActive`] when it is the active key.
    async fn retire_signing_key(&self, kid: &str, now: i64) -> Result<SigningKey, StoreError>;

    /// Appends an audit event and returns it with its id.
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;

    /// Audit events, newest first.
    async fn list_audit(&self, filter: AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;

    /// Changes committed from now on, by this process and (for shared backends) by others.
    fn subscribe(&self) -> broadcast::Receiver<Change>;
}
