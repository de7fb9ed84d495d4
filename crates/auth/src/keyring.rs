//! The signing keys this process trusts, loaded from the store and swapped whole on reload.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, ParsedPublicKey};
use jsonwebtoken::EncodingKey;
use store::{KeyStatus, SigningKeyMaterial, StoreHandle};

use crate::AuthError;
use crate::jose_header::{SUPPORTED_ALGORITHM, checked_header_kid, minted_header_segment};

const ED25519_PUBLIC_KEY_LEN: usize = 32;

/// Decoding keys by `kid` (active and verify-only keys; never retired ones) and the active
/// key for signing.
///
/// Readers clone an `Arc` of the current state under a short read lock (never held across an
/// await); [`Keyring::reload`] builds a complete new state and swaps it in, so a reader sees
/// either the old key set or the new one, never a mix.
pub struct Keyring {
    state: RwLock<Arc<KeyringState>>,
    /// Bumped after every swap; lets the verified-token cache drop entries verified under an
    /// older key set without a lock on its hot path.
    version: AtomicU64,
}

/// One consistent key set.
pub(crate) struct KeyringState {
    verify_keys: HashMap<String, Arc<VerifyKey>>,
    /// Each verify key under the exact base64url header segment this service mints for its
    /// `kid` (see [`crate::jose_header::minted_header`]): a token whose first segment is
    /// byte-identical to one of these has that header, so its decoding can be skipped. Any
    /// other header is decoded.
    minted_headers: HashMap<Box<str>, Arc<VerifyKey>>,
    active: Option<ActiveKey>,
}

/// A key tokens may be verified with: an Ed25519 public key (the only algorithm keys are
/// pinned to today; a stored key of another algorithm never gets here). Parsed once at load:
/// an `UnparsedPublicKey` would build (and free) aws-lc's key object on every verification.
pub(crate) struct VerifyKey {
    public: ParsedPublicKey,
}

impl VerifyKey {
    /// Whether `signature` is this key's Ed25519 signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public.verify_sig(message, signature).is_ok()
    }
}

/// The key new tokens are signed with.
pub(crate) struct ActiveKey {
    pub(crate) kid: String,
    pub(crate) encoding: EncodingKey,
}

impl Keyring {
    /// Loads the non-retired keys and the active key from the store.
    ///
    /// Errors: [`AuthError::StoreUnavailable`] when the store cannot be read;
    /// [`AuthError::Internal`] when the active key's private half is unusable.
    pub async fn load(store: &StoreHandle) -> Result<Arc<Keyring>, AuthError> {
        let state = load_state(store).await?;
        Ok(Arc::new(Keyring {
            state: RwLock::new(Arc::new(state)),
            version: AtomicU64::new(0),
        }))
    }

    /// Reloads from the store and swaps the new key set in. On error the old set stays.
    pub async fn reload(&self, store: &StoreHandle) -> Result<(), AuthError> {
        let state = Arc::new(load_state(store).await?);
        {
            let mut guard = self
                .state
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *guard = state;
        }
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The `kid`s that currently verify, sorted.
    pub fn kids(&self) -> Vec<String> {
        let state = self.current();
        let mut kids: Vec<String> = state.verify_keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// The active key's `kid`, if there is an active key.
    pub fn active_kid(&self) -> Option<String> {
        self.current().active.as_ref().map(|key| key.kid.clone())
    }

    /// The current key set.
    pub(crate) fn current(&self) -> Arc<KeyringState> {
        // A poisoned lock still holds a complete state: the writer only assigns an Arc.
        let guard = self
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&guard)
    }

    /// Changes on every reload; read it before [`Keyring::current`].
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

impl KeyringState {
    pub(crate) fn verify_key(&self, kid: &str) -> Option<&Arc<VerifyKey>> {
        self.verify_keys.get(kid)
    }

    /// The key whose minted header segment is exactly `segment`, if any.
    pub(crate) fn key_for_minted_header(&self, segment: &str) -> Option<&Arc<VerifyKey>> {
        self.minted_headers.get(segment)
    }

    pub(crate) fn active(&self) -> Option<&ActiveKey> {
        self.active.as_ref()
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.current();
        f.debug_struct("Keyring")
            .field("verify_kids", &self.kids())
            .field(
                "active_kid",
                &state.active.as_ref().map(|key| key.kid.as_str()),
            )
            .field("version", &self.version())
            .finish()
    }
}

async fn load_state(store: &StoreHandle) -> Result<KeyringState, AuthError> {
    let keys = store.signing_keys().await.map_err(AuthError::store)?;
    let active = store.active_signing_key().await.map_err(AuthError::store)?;

    let mut verify_keys = HashMap::with_capacity(keys.len());
    let mut minted_headers = HashMap::with_capacity(keys.len());
    for key in keys {
        match key.status {
            KeyStatus::Active | KeyStatus::VerifyOnly => {}
            KeyStatus::Retired => continue,
        }
        if key.algorithm != SUPPORTED_ALGORITHM {
            tracing::warn!(kid = %key.kid, algorithm = %key.algorithm, "skipping signing key with unsupported algorithm");
            continue;
        }
        // Raw 32-byte keys only: `ParsedPublicKey::new` would also take an X.509 encoding.
        let public = Some(&key.public_key)
            .filter(|bytes| bytes.len() == ED25519_PUBLIC_KEY_LEN)
            .and_then(|bytes| ParsedPublicKey::new(&ED25519, bytes).ok());
        let Some(public) = public else {
            tracing::warn!(kid = %key.kid, "skipping signing key with a malformed public key");
            continue;
        };
        let verify_key = Arc::new(VerifyKey { public });
        // Only a header that would pass every check, and name this key, may skip them.
        let segment = minted_header_segment(&key.kid)?;
        if checked_header_kid(&segment).is_ok_and(|kid| kid == key.kid) {
            minted_headers.insert(segment.into_boxed_str(), Arc::clone(&verify_key));
        } else {
            tracing::warn!(kid = %key.kid, "minted header fails the header checks; its tokens are decoded in full");
        }
        verify_keys.insert(key.kid, verify_key);
    }

    let active = active.map(active_key).transpose()?;
    Ok(KeyringState {
        verify_keys,
        minted_headers,
        active,
    })
}

/// Checks the active key's private half parses and matches its public half, so a bad key is
/// found at load rather than when the first token is minted.
fn active_key(material: SigningKeyMaterial) -> Result<ActiveKey, AuthError> {
    if material.key.algorithm != SUPPORTED_ALGORITHM {
        return Err(AuthError::Internal {
            reason: "active signing key has an unsupported algorithm",
        });
    }
    let pkcs8 = material.private_key_pkcs8.expose_secret();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| AuthError::Internal {
        reason: "active signing key does not parse as ed25519 pkcs#8",
    })?;
    if pair.public_key().as_ref() != material.key.public_key.as_slice() {
        return Err(AuthError::Internal {
            reason: "active signing key's private and public halves do not match",
        });
    }
    Ok(ActiveKey {
        kid: material.key.kid,
        encoding: EncodingKey::from_ed_der(pkcs8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn memory_store() -> StoreHandle {
        Arc::new(
            store::SqliteStore::connect("sqlite::memory:", store::MasterKey::generate())
                .await
                .expect("store"),
        )
    }

    /// Stores a fresh Ed25519 key under `kid` (the store makes it the active one, the previous
    /// active key verify-only) and reloads `keyring`.
    async fn rotate_in(store: &StoreHandle, keyring: &Keyring, kid: &str, now: i64) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse");
        store
            .insert_signing_key(
                store::NewSigningKey {
                    kid: kid.to_owned(),
                    algorithm: SUPPORTED_ALGORITHM.to_owned(),
                    public_key: pair.public_key().as_ref().to_vec(),
                    private_key_pkcs8: store::Secret::new(pkcs8.as_ref().to_vec()),
                },
                now,
            )
            .await
            .expect("insert");
        keyring.reload(store).await.expect("reload");
    }

    #[tokio::test]
    async fn a_stored_key_with_a_malformed_public_key_is_skipped_at_load() {
        let store = memory_store().await;
        let keyring = Keyring::load(&store).await.expect("empty keyring");
        // 31 bytes: not an Ed25519 public key. It becomes verify-only when the next key is
        // rotated in, so only the verify path has to cope with it.
        store
            .insert_signing_key(
                store::NewSigningKey {
                    kid: "bp-short".to_owned(),
                    algorithm: SUPPORTED_ALGORITHM.to_owned(),
                    public_key: vec![7; ED25519_PUBLIC_KEY_LEN - 1],
                    private_key_pkcs8: store::Secret::new(vec![1; 48]),
                },
                1_000,
            )
            .await
            .expect("insert");
        rotate_in(&store, &keyring, "bp-good", 1_001).await;

        let state = keyring.current();
        assert!(state.verify_key("bp-short").is_none());
        assert!(state.verify_key("bp-good").is_some());
        assert_eq!(state.minted_headers.len(), 1);
    }
}
