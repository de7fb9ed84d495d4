//! The signing keys this process trusts, loaded from the store and swapped whole on reload.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use jsonwebtoken::{Algorithm, EncodingKey};
use store::{KeyStatus, SigningKeyMaterial, StoreHandle};

use crate::AuthError;

/// The one algorithm keys may be pinned to today. A stored key with another algorithm is
/// skipped (its tokens get `token_key_unknown`) rather than trusted with an unknown scheme.
pub(crate) const SUPPORTED_ALGORITHM: &str = "EdDSA";

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
    active: Option<ActiveKey>,
}

/// A key tokens may be verified with: an Ed25519 public key (the only algorithm keys are
/// pinned to today; a stored key of another algorithm never gets here).
pub(crate) struct VerifyKey {
    public: UnparsedPublicKey<[u8; ED25519_PUBLIC_KEY_LEN]>,
}

impl VerifyKey {
    /// Whether `signature` is this key's Ed25519 signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public.verify(message, signature).is_ok()
    }
}

/// The key new tokens are signed with.
pub(crate) struct ActiveKey {
    pub(crate) kid: String,
    pub(crate) algorithm: Algorithm,
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
    for key in keys {
        match key.status {
            KeyStatus::Active | KeyStatus::VerifyOnly => {}
            KeyStatus::Retired => continue,
        }
        if supported_algorithm(&key.algorithm).is_none() {
            tracing::warn!(kid = %key.kid, algorithm = %key.algorithm, "skipping signing key with unsupported algorithm");
            continue;
        }
        let Ok(public) = <[u8; ED25519_PUBLIC_KEY_LEN]>::try_from(key.public_key.as_slice()) else {
            tracing::warn!(kid = %key.kid, "skipping signing key with a malformed public key");
            continue;
        };
        verify_keys.insert(
            key.kid,
            Arc::new(VerifyKey {
                public: UnparsedPublicKey::new(&ED25519, public),
            }),
        );
    }

    let active = active.map(active_key).transpose()?;
    Ok(KeyringState {
        verify_keys,
        active,
    })
}

/// Checks the active key's private half parses and matches its public half, so a bad key is
/// found at load rather than when the first token is minted.
fn active_key(material: SigningKeyMaterial) -> Result<ActiveKey, AuthError> {
    let algorithm = supported_algorithm(&material.key.algorithm).ok_or(AuthError::Internal {
        reason: "active signing key has an unsupported algorithm",
    })?;
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
        algorithm,
        encoding: EncodingKey::from_ed_der(pkcs8),
    })
}

fn supported_algorithm(name: &str) -> Option<Algorithm> {
    if name != SUPPORTED_ALGORITHM {
        return None;
    }
    Algorithm::from_str(name).ok()
}
