//! The [`Store`] impl over the portable SQL, and the [`Core`] state it works on.

use async_trait::async_trait;
use sqlx::{Pool, Transaction};
use tokio::sync::broadcast;

use super::{Backend, Db, Notifier, audit, bindings, signing_keys, tokens};
use crate::{
    AuditEvent, AuditFilter, Binding, BindingCredential, BindingUpdate, Change, MasterKey,
    NewAuditEvent, NewBinding, NewSigningKey, NewToken, SigningKey, SigningKeyMaterial, Store,
    StoreError, TokenRecord,
};

/// How many changes a slow subscriber may fall behind before it sees a lag (and drops
/// everything it cached).
pub(crate) const CHANGE_CAPACITY: usize = 1024;

/// What every SQL backend holds: connections, the master key, and the local change channel.
pub(crate) struct Core {
    pub(crate) pool: Pool<Db>,
    pub(crate) master_key: MasterKey,
    pub(crate) changes: broadcast::Sender<Change>,
    pub(crate) notifier: Notifier,
}

impl Core {
    /// Commits `tx`; when it carries a `change`, tells other processes inside the transaction
    /// (so they hear of it only if it commits) and this process's subscribers after it.
    async fn commit(
        &self,
        mut tx: Transaction<'static, Db>,
        change: Option<Change>,
    ) -> Result<(), StoreError> {
        if let Some(change) = &change {
            self.notifier.notify(&mut tx, change).await?;
        }
        tx.commit().await?;
        if let Some(change) = change {
            // Nobody listening is fine.
            let _ = self.changes.send(change);
        }
        Ok(())
    }

    async fn commit_binding(
        &self,
        tx: Transaction<'static, Db>,
        binding: Binding,
    ) -> Result<Binding, StoreError> {
        let change = Change::Binding {
            binding_id: binding.id.clone(),
        };
        self.commit(tx, Some(change)).await?;
        Ok(binding)
    }
}

#[async_trait]
impl Store for Backend {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.core.pool).await?;
        Ok(())
    }

    async fn create_binding(&self, new: NewBinding, now: i64) -> Result<Binding, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        let binding = bindings::create(&mut tx, &self.core.master_key, new, now).await?;
        self.core.commit_binding(tx, binding).await
    }

    async fn binding_by_org(&self, org_id: &str) -> Result<Option<Binding>, StoreError> {
        bindings::by_org(&mut *self.core.pool.acquire().await?, org_id).await
    }

    async fn list_bindings(
        &self,
        after_org_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Binding>, StoreError> {
        bindings::list(&mut *self.core.pool.acquire().await?, after_org_id, limit).await
    }

    async fn update_binding(
        &self,
        org_id: &str,
        update: BindingUpdate,
        now: i64,
    ) -> Result<Binding, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        let binding = bindings::update(&mut tx, &self.core.master_key, org_id, update, now).await?;
        self.core.commit_binding(tx, binding).await
    }

    async fn rotate_binding(
        &self,
        org_id: &str,
        previous_valid_until: i64,
        now: i64,
    ) -> Result<Binding, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        let binding = bindings::rotate(&mut tx, org_id, previous_valid_until, now).await?;
        self.core.commit_binding(tx, binding).await
    }

    async fn delete_binding(&self, org_id: &str, _now: i64) -> Result<Binding, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        let binding = bindings::delete(&mut tx, org_id).await?;
        self.core.commit_binding(tx, binding).await
    }

    async fn load_credential(
        &self,
        binding_id: &str,
        now: i64,
    ) -> Result<Option<BindingCredential>, StoreError> {
        let mut conn = self.core.pool.acquire().await?;
        bindings::load_credential(&mut conn, &self.core.master_key, binding_id, now).await
    }

    async fn insert_token(&self, token: NewToken) -> Result<TokenRecord, StoreError> {
        // Not announced: a new token changes nothing a cache holds.
        tokens::insert(&mut *self.core.pool.acquire().await?, token).await
    }

    async fn revoke_token(&self, jti: &str, now: i64) -> Result<TokenRecord, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        let (record, changed) = tokens::revoke(&mut tx, jti, now).await?;
        let change = changed.then(|| Change::Binding {
            binding_id: record.binding_id.clone(),
        });
        self.core.commit(tx, change).await?;
        Ok(record)
    }

    async fn insert_signing_key(
        &self,
        key: NewSigningKey,
        now: i64,
    ) -> Result<SigningKey, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        let key = signing_keys::insert(&mut tx, &self.core.master_key, key, now).await?;
        self.core.commit(tx, Some(Change::SigningKeys)).await?;
        Ok(key)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        signing_keys::list(&mut *self.core.pool.acquire().await?).await
    }

    async fn active_signing_key(&self) -> Result<Option<SigningKeyMaterial>, StoreError> {
        let mut conn = self.core.pool.acquire().await?;
        signing_keys::active(&mut conn, &self.core.master_key).await
    }

    async fn retire_signing_key(&self, kid: &str, now: i64) -> Result<SigningKey, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        let (key, changed) = signing_keys::retire(&mut tx, kid, now).await?;
        self.core
            .commit(tx, changed.then_some(Change::SigningKeys))
            .await?;
        Ok(key)
    }

    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        audit::append(&mut *self.core.pool.acquire().await?, event).await
    }

    async fn list_audit(&self, filter: AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        audit::list(&mut *self.core.pool.acquire().await?, filter).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.core.changes.subscribe()
    }
}
