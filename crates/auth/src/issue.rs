//! Minting binding tokens and managing the signing keys they are signed with.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use store::{Binding, NewSigningKey, NewToken, Secret, SigningKey, StoreError, StoreHandle};

use crate::jose_header::{SUPPORTED_ALGORITHM, minted_header};
use crate::{AuthError, Claims, ErrorCode, Keyring, TokenSettings, scope};

/// Longest `function_id` accepted.
pub const MAX_FUNCTION_ID_LEN: usize = 128;

/// What to mint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueRequest {
    /// Function the token is for (`fid`): 1–128 visible ASCII characters.
    pub function_id: Option<String>,
    /// Lifetime; `None` means [`TokenSettings::default_ttl_secs`].
    pub ttl_secs: Option<u64>,
    /// Narrowed scopes (`scp`); each must be granted by the binding. `None`: all of them.
    pub scopes: Option<Vec<String>>,
}

/// A minted token. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The JWT, to be handed to the function as `TELNYX_API_KEY`.
    pub token: String,
    /// Token id, for revocation.
    pub jti: String,
    /// Binding generation the token belongs to.
    pub generation: i64,
    /// Expiry (unix seconds).
    pub expires_at: i64,
    /// Signing key id.
    pub kid: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("jti", &self.jti)
            .field("generation", &self.generation)
            .field("expires_at", &self.expires_at)
            .field("kid", &self.kid)
            .finish()
    }
}

/// Why a token or a signing key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// `ttl_secs` is 0 or above the configured maximum.
    #[error("ttl_secs must be between 1 and {max_ttl_secs}")]
    InvalidTtl {
        /// The configured maximum.
        max_ttl_secs: u64,
    },
    /// `scopes` was given but empty.
    #[error("scopes must not be empty when given")]
    EmptyScopes,
    /// A requested scope is not a well-formed scope name.
    #[error("scope is not a valid scope name")]
    InvalidScope,
    /// A requested scope is wider than the binding's scopes.
    #[error("scope {scope} is not granted by the binding")]
    ScopeNotGranted {
        /// The scope refused.
        scope: String,
    },
    /// `function_id` is empty, too long or not visible ASCII.
    #[error("function_id must be 1 to 128 visible ascii characters")]
    InvalidFunctionId,
    /// No active signing key is loaded.
    #[error("no active signing key")]
    NoActiveKey,
    /// Signing failed (a broken active key).
    #[error("token signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// Key generation or randomness failed.
    #[error("signing key generation failed")]
    KeyGeneration,
    /// The store refused or failed.
    #[error("store error")]
    Store(#[source] StoreError),
    /// The keyring could not be reloaded after a key change.
    #[error("keyring reload failed")]
    Keyring(#[source] AuthError),
}

impl IssueError {
    /// The error code the admin API answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidTtl { .. }
            | Self::EmptyScopes
            | Self::InvalidScope
            | Self::InvalidFunctionId => ErrorCode::InvalidRequest,
            Self::ScopeNotGranted { .. } => ErrorCode::ScopeNotGranted,
            Self::NoActiveKey | Self::Signing(_) | Self::KeyGeneration => ErrorCode::Internal,
            Self::Store(err) => store_error_code(err),
            Self::Keyring(err) => err.code(),
        }
    }
}

/// The admin-side code of a store error.
fn store_error_code(err: &StoreError) -> ErrorCode {
    match err {
        StoreError::BindingNotFound
        | StoreError::TokenNotFound
        | StoreError::SigningKeyNotFound => ErrorCode::NotFound,
        StoreError::BindingExists => ErrorCode::BindingExists,
        StoreError::SigningKeyActive => ErrorCode::SigningKeyActive,
        StoreError::Unavailable(_) => ErrorCode::StoreUnavailable,
        StoreError::Migration(_)
        | StoreError::Decrypt { .. }
        | StoreError::Corrupt { .. }
        | StoreError::UnsupportedUrl => ErrorCode::Internal,
    }
}

/// Mints tokens for bindings and rotates the signing key.
#[derive(Debug, Clone)]
pub struct Issuer {
    store: StoreHandle,
    keyring: Arc<Keyring>,
    settings: TokenSettings,
}

impl Issuer {
    /// An issuer signing with `keyring`'s active key and recording tokens in `store`.
    pub fn new(store: StoreHandle, keyring: Arc<Keyring>, settings: TokenSettings) -> Self {
        Self {
            store,
            keyring,
            settings,
        }
    }

    /// Mints a token for `binding` at `now`, records it in the store and returns it.
    ///
    /// Errors: `InvalidTtl`, `EmptyScopes`, `InvalidScope`, `ScopeNotGranted`,
    /// `InvalidFunctionId` (the request), `NoActiveKey`, `Signing`, `Store`.
    pub async fn issue(
        &self,
        binding: &Binding,
        req: IssueRequest,
        now: i64,
    ) -> Result<IssuedToken, IssueError> {
        let ttl = req.ttl_secs.unwrap_or(self.settings.default_ttl_secs);
        if ttl == 0 || ttl > self.settings.max_ttl_secs {
            return Err(IssueError::InvalidTtl {
                max_ttl_secs: self.settings.max_ttl_secs,
            });
        }
        let ttl = i64::try_from(ttl).map_err(|_| IssueError::InvalidTtl {
            max_ttl_secs: self.settings.max_ttl_secs,
        })?;
        if let Some(scopes) = &req.scopes {
            check_scopes(&binding.scopes, scopes)?;
        }
        if let Some(function_id) = &req.function_id {
            check_function_id(function_id)?;
        }

        let keys = self.keyring.current();
        let active = keys.active().ok_or(IssueError::NoActiveKey)?;
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: binding.org_id.clone(),
            bid: binding.id.clone(),
            generation: binding.generation,
            fid: req.function_id,
            scp: req.scopes,
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
        };
        let header = minted_header(&active.kid);
        let token = jsonwebtoken::encode(&header, &claims, &active.encoding)
            .map_err(IssueError::Signing)?;

        self.store
            .insert_token(NewToken {
                jti: claims.jti.clone(),
                binding_id: claims.bid.clone(),
                function_id: claims.fid.clone(),
                generation: claims.generation,
                scopes: claims.scp.clone(),
                kid: active.kid.clone(),
                issued_at: claims.iat,
                expires_at: claims.exp,
            })
            .await
            .map_err(IssueError::Store)?;

        Ok(IssuedToken {
            token,
            jti: claims.jti,
            generation: claims.generation,
            expires_at: claims.exp,
            kid: active.kid.clone(),
        })
    }

    /// Generates a new Ed25519 key, makes it the active one (the previous active key becomes
    /// verify-only, so its tokens keep working until it is retired), reloads the keyring and
    /// returns the new key's public part.
    pub async fn rotate_signing_key(&self, now: i64) -> Result<SigningKey, IssueError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| IssueError::KeyGeneration)?;
        let pair =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| IssueError::KeyGeneration)?;
        let mut kid_bytes = [0u8; 8];
        rng.fill(&mut kid_bytes)
            .map_err(|_| IssueError::KeyGeneration)?;
        let key = self
            .store
            .insert_signing_key(
                NewSigningKey {
                    kid: format!("bp-{}", hex::encode(kid_bytes)),
                    algorithm: SUPPORTED_ALGORITHM.to_owned(),
                    public_key: pair.public_key().as_ref().to_vec(),
                    private_key_pkcs8: Secret::new(pkcs8.as_ref().to_vec()),
                },
                now,
            )
            .await
            .map_err(IssueError::Store)?;
        self.keyring
            .reload(&self.store)
            .await
            .map_err(IssueError::Keyring)?;
        Ok(key)
    }

    /// Creates a signing key when the store has no active one; returns it if created.
    pub async fn ensure_signing_key(&self, now: i64) -> Result<Option<SigningKey>, IssueError> {
        let active = self
            .store
            .active_signing_key()
            .await
            .map_err(IssueError::Store)?;
        match active {
            Some(_) => {
                if self.keyring.active_kid().is_none() {
                    self.keyring
                        .reload(&self.store)
                        .await
                        .map_err(IssueError::Keyring)?;
                }
                Ok(None)
            }
            None => self.rotate_signing_key(now).await.map(Some),
        }
    }
}

fn check_scopes(granted: &[String], requested: &[String]) -> Result<(), IssueError> {
    if requested.is_empty() {
        return Err(IssueError::EmptyScopes);
    }
    for scope in requested {
        if !scope::is_valid_name(scope) {
            return Err(IssueError::InvalidScope);
        }
        if !scope::is_granted(granted, scope) {
            return Err(IssueError::ScopeNotGranted {
                scope: scope.clone(),
            });
        }
    }
    Ok(())
}

fn check_function_id(function_id: &str) -> Result<(), IssueError> {
    let ok = !function_id.is_empty()
        && function_id.len() <= MAX_FUNCTION_ID_LEN
        && function_id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(IssueError::InvalidFunctionId)
    }
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

    fn issuer(store: &StoreHandle, keyring: &Arc<Keyring>) -> Issuer {
        let settings = TokenSettings {
            issuer: "i".to_owned(),
            audience: "a".to_owned(),
            leeway_secs: 0,
            default_ttl_secs: 60,
            max_ttl_secs: 60,
        };
        Issuer::new(store.clone(), Arc::clone(keyring), settings)
    }

    #[tokio::test]
    async fn a_minted_tokens_header_segment_finds_its_key_without_decoding() {
        let store = memory_store().await;
        let keyring = Keyring::load(&store).await.expect("keyring");
        let issuer = issuer(&store, &keyring);
        issuer.ensure_signing_key(1_000).await.expect("key");
        let binding = store
            .create_binding(
                store::NewBinding {
                    org_id: "org".to_owned(),
                    api_key: store::Secret::from("KEYsecret".to_owned()),
                    scopes: vec![],
                    rate_limit: None,
                },
                1_000,
            )
            .await
            .expect("binding");
        let token = issuer
            .issue(&binding, IssueRequest::default(), 1_000)
            .await
            .expect("minted")
            .token;

        let state = keyring.current();
        let kid = keyring.active_kid().expect("active key");
        let header = token.split('.').next().expect("header segment");
        let by_segment = state.key_for_minted_header(header).expect("fast path hit");
        assert!(Arc::ptr_eq(
            by_segment,
            state.verify_key(&kid).expect("by kid")
        ));
        // A segment that differs by one byte is not found, and takes the decoding path.
        let other = format!("{header}A");
        assert!(state.key_for_minted_header(&other).is_none());
    }

    #[test]
    fn scopes_must_be_granted_and_non_empty() {
        let granted = vec!["kv".to_owned(), "messaging".to_owned()];
        assert!(check_scopes(&granted, &["kv:ns-1".to_owned()]).is_ok());
        assert!(check_scopes(&granted, &["messaging".to_owned()]).is_ok());
        assert!(matches!(
            check_scopes(&granted, &[]),
            Err(IssueError::EmptyScopes)
        ));
        assert!(matches!(
            check_scopes(&granted, &["voice".to_owned()]),
            Err(IssueError::ScopeNotGranted { scope }) if scope == "voice"
        ));
        let narrow = vec!["kv:ns-1".to_owned()];
        assert!(matches!(
            check_scopes(&narrow, &["kv".to_owned()]),
            Err(IssueError::ScopeNotGranted { .. })
        ));
    }

    #[test]
    fn function_ids_are_visible_ascii() {
        assert!(check_function_id("fn-123").is_ok());
        assert!(check_function_id("").is_err());
        assert!(check_function_id("a b").is_err());
        assert!(check_function_id("é").is_err());
        assert!(check_function_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn issue_errors_have_codes() {
        assert_eq!(
            IssueError::InvalidTtl { max_ttl_secs: 1 }.code(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            IssueError::ScopeNotGranted { scope: "x".into() }.code(),
            ErrorCode::ScopeNotGranted
        );
        assert_eq!(
            IssueError::Store(StoreError::BindingNotFound).code(),
            ErrorCode::NotFound
        );
    }
}
