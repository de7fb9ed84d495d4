//! Signs tokens with the proxy's own active key, for tests that need a token no admin call
//! would mint (expired, wrong audience, future `nbf`, odd headers, ...).

use std::path::Path;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
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

    /// The raw Ed25519 public key (what JWKS publishes as `x`).
    pub fn public_key(&self) -> Vec<u8> {
        self.key_pair().public_key().as_ref().to_vec()
    }

    fn key_pair(&self) -> Ed25519KeyPair {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(self.pkcs8.expose_secret())
            .expect("a valid Ed25519 PKCS#8 key")
    }

    /// Signs `claims` with EdDSA under the active kid.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({ "alg": "EdDSA", "typ": "JWT", "kid": self.kid }),
            claims,
        )
    }

    /// Signs `claims` with the active key under an arbitrary `header`.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_with_raw_header(&serde_json::to_string(header).expect("header json"), claims)
    }

    /// Signs `claims` with the active key under `header_json` exactly as given: for headers a
    /// `Value` cannot hold, such as a parameter given twice.
    pub fn sign_with_raw_header(&self, header_json: &str, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims json"))
        );
        let signature = self.key_pair().sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

/// The claims of a token (its payload, unverified).
pub fn claims_of(token: &str) -> Value {
    segment_json(token, 1)
}

/// The header of a token (unverified).
pub fn jwt_header_of(token: &str) -> Value {
    segment_json(token, 0)
}

fn segment_json(token: &str, index: usize) -> Value {
    let segment = token
        .split('.')
        .nth(index)
        .expect("a JWT has three segments");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url segment"))
        .expect("JSON segment")
}
