//! The in-memory KV state: namespaces and their keys. Locks are never held across an await.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockWriteGuard};

use bytes::Bytes;

use super::key::KvKey;
use crate::timestamp;

/// A namespace's provisioning state, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamespaceStatus {
    Pending,
    ProvisionOk,
    Deleting,
}

impl NamespaceStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::ProvisionOk => "provision_ok",
            Self::Deleting => "deleting",
        }
    }
}

/// A namespace's public fields, copied out of the store.
#[derive(Debug, Clone)]
pub(crate) struct NamespaceRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: NamespaceStatus,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// One entry of a key listing.
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub(crate) key: String,
    pub(crate) size_bytes: u64,
    pub(crate) updated_at: String,
}

/// One page of a key listing.
#[derive(Debug)]
pub(crate) struct KeyPage {
    pub(crate) keys: Vec<KeyInfo>,
    pub(crate) has_more: bool,
}

/// Whether a write made a new key or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Created,
    Updated,
}

/// Why a KV operation found nothing to act on, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KvError {
    NamespaceNotFound,
    KeyNotFound,
    NameTaken,
}

#[derive(Debug)]
struct Namespace {
    record: NamespaceRecord,
    /// Creation order, for stable listings.
    sequence: u64,
    keys: BTreeMap<String, StoredValue>,
}

#[derive(Debug)]
struct StoredValue {
    value: Bytes,
    updated_at: String,
}

#[derive(Debug, Default)]
struct State {
    namespaces: HashMap<String, Namespace>,
    next_sequence: u64,
}

/// Every namespace and key the emulator holds.
#[derive(Debug, Default)]
pub(crate) struct KvStore {
    state: RwLock<State>,
}

impl KvStore {
    /// Creates a `pending` namespace.
    ///
    /// # Errors
    /// [`KvError::NameTaken`] when a namespace already has `name`.
    pub(crate) fn create(&self, name: &str) -> Result<NamespaceRecord, KvError> {
        let mut state = self.write();
        if state
            .namespaces
            .values()
            .any(|namespace| namespace.record.name == name)
        {
            return Err(KvError::NameTaken);
        }
        let now = timestamp::now_millis();
        let record = NamespaceRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            status: NamespaceStatus::Pending,
            created_at: now.clone(),
            updated_at: now,
        };
        let sequence = state.next_sequence;
        state.next_sequence += 1;
        state.namespaces.insert(
            record.id.clone(),
            Namespace {
                record: record.clone(),
                sequence,
                keys: BTreeMap::new(),
            },
        );
        Ok(record)
    }

    /// The namespace, moving it from `pending` to `provision_ok` first: provisioning
    /// completes on the first poll after creation.
    ///
    /// # Errors
    /// [`KvError::NamespaceNotFound`].
    pub(crate) fn poll(&self, id: &str) -> Result<NamespaceRecord, KvError> {
        let mut state = self.write();
        let namespace = state
            .namespaces
            .get_mut(id)
            .ok_or(KvError::NamespaceNotFound)?;
        if namespace.record.status == NamespaceStatus::Pending {
            namespace.record.status = NamespaceStatus::ProvisionOk;
            namespace.record.updated_at = timestamp::now_millis();
        }
        Ok(namespace.record.clone())
    }

    /// Every namespace in creation order, status unchanged.
    pub(crate) fn list(&self) -> Vec<NamespaceRecord> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut namespaces: Vec<&Namespace> = state.namespaces.values().collect();
        namespaces.sort_by_key(|namespace| namespace.sequence);
        namespaces
            .into_iter()
            .map(|namespace| namespace.record.clone())
            .collect()
    }

    /// Removes the namespace and its keys at once; the record returned says `deleting`.
    ///
    /// # Errors
    /// [`KvError::NamespaceNotFound`].
    pub(crate) fn delete(&self, id: &str) -> Result<NamespaceRecord, KvError> {
        let namespace = self
            .write()
            .namespaces
            .remove(id)
            .ok_or(KvError::NamespaceNotFound)?;
        let mut record = namespace.record;
        record.status = NamespaceStatus::Deleting;
        record.updated_at = timestamp::now_millis();
        Ok(record)
    }

    /// Stores `value` under `key`, verbatim.
    ///
    /// # Errors
    /// [`KvError::NamespaceNotFound`].
    pub(crate) fn put(&self, id: &str, key: KvKey, value: Bytes) -> Result<Written, KvError> {
        let mut state = self.write();
        let namespace = state
            .namespaces
            .get_mut(id)
            .ok_or(KvError::NamespaceNotFound)?;
        let stored = StoredValue {
            value,
            updated_at: timestamp::now_nanos(),
        };
        Ok(match namespace.keys.insert(key.into_string(), stored) {
            None => Written::Created,
            Some(_) => Written::Updated,
        })
    }

    /// The stored bytes.
    ///
    /// # Errors
    /// [`KvError::NamespaceNotFound`], [`KvError::KeyNotFound`].
    pub(crate) fn get(&self, id: &str, key: &KvKey) -> Result<Bytes, KvError> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let namespace = state.namespaces.get(id).ok_or(KvError::NamespaceNotFound)?;
        namespace
            .keys
            .get(key.as_str())
            .map(|stored| stored.value.clone())
            .ok_or(KvError::KeyNotFound)
    }

    /// Removes `key`.
    ///
    /// # Errors
    /// [`KvError::NamespaceNotFound`], [`KvError::KeyNotFound`].
    pub(crate) fn remove(&self, id: &str, key: &KvKey) -> Result<(), KvError> {
        let mut state = self.write();
        let namespace = state
            .namespaces
            .get_mut(id)
            .ok_or(KvError::NamespaceNotFound)?;
        namespace
            .keys
            .remove(key.as_str())
            .map(|_| ())
            .ok_or(KvError::KeyNotFound)
    }

    /// Up to `limit` keys starting with `prefix`, sorted, strictly after `after` when given.
    ///
    /// # Errors
    /// [`KvError::NamespaceNotFound`].
    pub(crate) fn list_keys(
        &self,
        id: &str,
        prefix: &str,
        after: Option<&KvKey>,
        limit: usize,
    ) -> Result<KeyPage, KvError> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let namespace = state.namespaces.get(id).ok_or(KvError::NamespaceNotFound)?;
        let start = match after {
            Some(after) if after.as_str() >= prefix => Bound::Excluded(after.as_str()),
            Some(_) | None => Bound::Included(prefix),
        };
        let mut matching = namespace
            .keys
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix));
        let keys = matching
            .by_ref()
            .take(limit)
            .map(|(key, stored)| KeyInfo {
                key: key.clone(),
                size_bytes: stored.value.len() as u64,
                updated_at: stored.updated_at.clone(),
            })
            .collect();
        let has_more = matching.next().is_some();
        Ok(KeyPage { keys, has_more })
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> KvKey {
        KvKey::from_raw_path(text).unwrap()
    }

    #[test]
    fn a_namespace_is_provisioned_on_its_first_poll() {
        let store = KvStore::default();
        let created = store.create("cache").unwrap();
        assert_eq!(created.status, NamespaceStatus::Pending);
        assert_eq!(store.list()[0].status, NamespaceStatus::Pending);
        assert_eq!(
            store.poll(&created.id).unwrap().status,
            NamespaceStatus::ProvisionOk
        );
        assert_eq!(store.create("cache").unwrap_err(), KvError::NameTaken);
    }

    #[test]
    fn listing_pages_through_a_prefix_in_order() {
        let store = KvStore::default();
        let id = store.create("ns").unwrap().id;
        for name in ["user/2", "a", "user/1", "user/3", "z"] {
            store.put(&id, key(name), Bytes::from_static(b"v")).unwrap();
        }
        let first = store.list_keys(&id, "user/", None, 2).unwrap();
        let names: Vec<_> = first.keys.iter().map(|info| info.key.as_str()).collect();
        assert_eq!(names, ["user/1", "user/2"]);
        assert!(first.has_more);
        let second = store
            .list_keys(&id, "user/", Some(&key("user/2")), 2)
            .unwrap();
        assert_eq!(second.keys.len(), 1);
        assert_eq!(second.keys[0].key, "user/3");
        assert!(!second.has_more);
    }

    #[test]
    fn deleting_a_namespace_drops_its_keys() {
        let store = KvStore::default();
        let id = store.create("ns").unwrap().id;
        assert_eq!(
            store.put(&id, key("k"), Bytes::new()).unwrap(),
            Written::Created
        );
        assert_eq!(
            store.put(&id, key("k"), Bytes::new()).unwrap(),
            Written::Updated
        );
        store.delete(&id).unwrap();
        assert_eq!(store.get(&id, &key("k")), Err(KvError::NamespaceNotFound));
        assert_eq!(store.poll(&id).unwrap_err(), KvError::NamespaceNotFound);
    }
}
