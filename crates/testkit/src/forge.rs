//! Signs tokens with the proxy's own active key, for tests that need a token no admin call
//! would mint (expired, wrong audience, future `nbf`, ...).

use std::path::Path;

use serde_json::Value;
use store::{MasterKey, SqliteStore, Store};

/// Holds the active signing key read from a proxy's store.
#[derive(Debug)]
pub struct Forger {
    kid: String,
    pkcs8: store::Secret,
}

impl Forger {
    /// Opens the store file with the master key and takes the active signing key.
    pub async fn from_store(store_file: &Path, master_key_file: &Path) -> Self {
        let (master, _) = MasterKey::load_or_create(master_key_file).expect("master key");
        let store = SqliteStore::connect(&format!("sqlite://{}", store_file.display()), master)
            .await
            .expect("open the proxy's store");
        let material = store
            .active_signing_key()
            .await
            .expect("read signing key")
            .expect("an active signing key");
        Self {
            kid: material.key.kid,
            pkcs8: material.private_key_pkcs8,
        }
    }

    /// The active key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` with EdDSA under the active kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_ed_der(self.pkcs8.expose_secret());
        jsonwebtoken::encode(&header, claims, &key).expect("sign the token")
    }
}
