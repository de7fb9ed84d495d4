//! One set-up for every test: a SQLite store in memory, an active signing key, one binding,
//! and helpers to hand-build tokens with arbitrary headers and claims.

use std::sync::Arc;
use std::time::Duration;

use auth::{
    AuthError, Authenticated, Authenticator, CredentialCache, IssueRequest, IssuedToken, Issuer,
    Keyring, TokenSettings, Verifier,
};
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use store::{Binding, MasterKey, NewBinding, Secret, SqliteStore, StoreHandle};

pub(crate) const NOW: i64 = 1_700_000_000;
pub(crate) const ISSUER: &str = "binding-proxy-test";
pub(crate) const AUDIENCE: &str = "telnyx-api";
pub(crate) const LEEWAY: i64 = 30;
pub(crate) const ORG: &str = "org-1";
pub(crate) const API_KEY: &str = "KEYsuper-secret-upstream-0123456789";

pub(crate) fn settings() -> TokenSettings {
    TokenSettings {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        leeway_secs: LEEWAY as u64,
        default_ttl_secs: 900,
        max_ttl_secs: 86_400,
    }
}

pub(crate) struct Harness {
    pub(crate) sqlite: Arc<SqliteStore>,
    pub(crate) store: StoreHandle,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) credentials: Arc<CredentialCache>,
    pub(crate) authenticator: Authenticator,
    pub(crate) issuer: Issuer,
    pub(crate) binding: Binding,
}

impl Harness {
    pub(crate) async fn new() -> Self {
        let sqlite = Arc::new(
            SqliteStore::connect("sqlite::memory:", MasterKey::generate())
                .await
                .unwrap(),
        );
        let store: StoreHandle = sqlite.clone();
        let keyring = Keyring::load(&store).await.unwrap();
        let issuer = Issuer::new(store.clone(), keyring.clone(), settings());
        assert!(issuer.ensure_signing_key(NOW).await.unwrap().is_some());
        assert!(issuer.ensure_signing_key(NOW).await.unwrap().is_none());
        let binding = store
            .create_binding(
                NewBinding {
                    org_id: ORG.to_owned(),
                    api_key: Secret::from(API_KEY.to_owned()),
                    scopes: vec!["kv".to_owned(), "messaging".to_owned()],
                    rate_limit: None,
                },
                NOW,
            )
            .await
            .unwrap();
        let verifier = Arc::new(Verifier::new(keyring.clone(), settings(), 1_000));
        let credentials = Arc::new(CredentialCache::new(
            store.clone(),
            Duration::from_secs(60),
            1_000,
        ));
        let authenticator = Authenticator::new(verifier.clone(), credentials.clone());
        Self {
            sqlite,
            store,
            keyring,
            verifier,
            credentials,
            authenticator,
            issuer,
            binding,
        }
    }

    /// A token minted the real way, with default settings.
    pub(crate) async fn issue(&self) -> IssuedToken {
        self.issue_with(IssueRequest::default()).await
    }

    pub(crate) async fn issue_with(&self, req: IssueRequest) -> IssuedToken {
        self.issuer.issue(&self.binding, req, NOW).await.unwrap()
    }

    pub(crate) async fn auth(&self, token: &str, now: i64) -> Result<Authenticated, AuthError> {
        self.authenticator.authenticate(&bearer(token), now).await
    }

    /// The active key's `kid` and key pair, fetched from the store.
    pub(crate) async fn active_key(&self) -> (String, Ed25519KeyPair) {
        let material = self.store.active_signing_key().await.unwrap().unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(material.private_key_pkcs8.expose_secret()).unwrap();
        (material.key.kid, pair)
    }

    /// Valid claims for the harness binding at `NOW`, living 300 s.
    pub(crate) fn claims(&self) -> Value {
        json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": ORG,
            "bid": self.binding.id,
            "gen": self.binding.generation,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 300,
        })
    }

    /// The standard header of the active key.
    pub(crate) async fn header(&self) -> Value {
        let (kid, _) = self.active_key().await;
        json!({"alg": "EdDSA", "typ": "JWT", "kid": kid})
    }

    /// A token with exactly this header and claims, signed by the active key (so only what
    /// the test changed is wrong).
    pub(crate) async fn forge(&self, header: &Value, claims: &Value) -> String {
        let (_, pair) = self.active_key().await;
        let message = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature = pair.sign(message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

pub(crate) fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

pub(crate) fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

/// The `kid` in a token's header.
pub(crate) fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Asserts the result is exactly this refusal.
#[track_caller]
pub(crate) fn assert_refused<T: std::fmt::Debug>(result: Result<T, AuthError>, expected: &str) {
    match result {
        Ok(value) => panic!("expected {expected}, got Ok({value:?})"),
        Err(err) => assert_eq!(err.code().as_str(), expected, "got {err:?}"),
    }
}
