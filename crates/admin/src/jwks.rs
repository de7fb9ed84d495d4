//! `GET /.well-known/jwks.json`: the public keys that verify tokens (active and verify-only).

use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use store::KeyStatus;

use crate::error::AdminError;
use crate::state::AdminState;
use crate::views::Reply;

/// The only algorithm keys are minted with; other keys are not published.
const ED_DSA: &str = "EdDSA";

#[derive(Serialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// An Ed25519 public key as a JWK (RFC 8037).
#[derive(Serialize)]
struct Jwk {
    kty: &'static str,
    crv: &'static str,
    x: String,
    kid: String,
    alg: &'static str,
    #[serde(rename = "use")]
    usage: &'static str,
}

/// The key set; retired keys are left out.
pub(crate) async fn jwks(State(state): State<AdminState>) -> Result<Reply, AdminError> {
    let keys = state.store().signing_keys().await?;
    let keys = keys
        .into_iter()
        .filter(|key| match key.status {
            KeyStatus::Active | KeyStatus::VerifyOnly => key.algorithm == ED_DSA,
            KeyStatus::Retired => false,
        })
        .map(|key| Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: URL_SAFE_NO_PAD.encode(&key.public_key),
            kid: key.kid,
            alg: ED_DSA,
            usage: "sig",
        })
        .collect();
    Ok(Reply::raw(Jwks { keys }))
}
