//! Minting: ttl and scope rules, what a token carries, what the store records.

use auth::{IssueError, IssueRequest, Issuer, Keyring};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::harness::{Harness, NOW, settings};

#[tokio::test]
async fn issued_tokens_carry_the_contract_claims_and_are_recorded() {
    let h = Harness::new().await;
    let issued = h
        .issue_with(IssueRequest {
            function_id: Some("fn-42".to_owned()),
            ttl_secs: Some(120),
            scopes: Some(vec!["messaging".to_owned()]),
        })
        .await;
    assert_eq!(issued.expires_at, NOW + 120);
    assert_eq!(issued.generation, 1);
    assert!(uuid::Uuid::parse_str(&issued.jti).is_ok());

    let mut parts = issued.token.split('.');
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], issued.kid.as_str());
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    assert_eq!(claims["sub"], "org-1");
    assert_eq!(claims["bid"], h.binding.id.as_str());
    assert_eq!(claims["gen"], 1);
    assert_eq!(claims["fid"], "fn-42");
    assert_eq!(claims["scp"], serde_json::json!(["messaging"]));
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["nbf"], NOW);
    assert_eq!(claims["exp"], NOW + 120);

    // Recorded: revoking by jti works and reaches the credential.
    h.store.revoke_token(&issued.jti, NOW).await.unwrap();
    let record = h
        .store
        .load_credential(&h.binding.id, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(record.revoked_jtis.contains(&issued.jti));
}

#[tokio::test]
async fn tokens_without_optional_fields_omit_fid_and_scp() {
    let h = Harness::new().await;
    let issued = h.issue().await;
    let payload = issued.token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert!(claims.get("fid").is_none());
    assert!(claims.get("scp").is_none());
    assert_eq!(issued.expires_at, NOW + 900);
}

#[tokio::test]
async fn a_ttl_of_zero_or_above_the_maximum_is_refused() {
    let h = Harness::new().await;
    for ttl in [0, 86_401, u64::MAX] {
        let err = h
            .issuer
            .issue(
                &h.binding,
                IssueRequest {
                    ttl_secs: Some(ttl),
                    ..IssueRequest::default()
                },
                NOW,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                IssueError::InvalidTtl {
                    max_ttl_secs: 86_400
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.code().as_str(), "invalid_request");
    }
    h.issue_with(IssueRequest {
        ttl_secs: Some(86_400),
        ..IssueRequest::default()
    })
    .await;
}

#[tokio::test]
async fn scopes_wider_than_the_binding_are_refused() {
    let h = Harness::new().await;
    for (scopes, expected) in [
        (vec!["voice".to_owned()], "scope_not_granted"),
        (
            vec!["kv".to_owned(), "numbers".to_owned()],
            "scope_not_granted",
        ),
        (vec![], "invalid_request"),
        (vec!["KV".to_owned()], "invalid_request"),
    ] {
        let err = h
            .issuer
            .issue(
                &h.binding,
                IssueRequest {
                    scopes: Some(scopes),
                    ..IssueRequest::default()
                },
                NOW,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code().as_str(), expected, "{err:?}");
    }
}

#[tokio::test]
async fn function_ids_must_be_short_visible_ascii() {
    let h = Harness::new().await;
    for function_id in ["", "has space", "ünïcode", &"f".repeat(129)] {
        let err = h
            .issuer
            .issue(
                &h.binding,
                IssueRequest {
                    function_id: Some(function_id.to_owned()),
                    ..IssueRequest::default()
                },
                NOW,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, IssueError::InvalidFunctionId), "{err:?}");
    }
}

#[tokio::test]
async fn issuing_without_an_active_key_is_no_active_key() {
    let h = Harness::new().await;
    let empty = store::SqliteStore::connect("sqlite::memory:", store::MasterKey::generate())
        .await
        .unwrap();
    let empty: store::StoreHandle = std::sync::Arc::new(empty);
    let keyring = Keyring::load(&empty).await.unwrap();
    assert!(keyring.active_kid().is_none());
    let issuer = Issuer::new(empty, keyring, settings());
    let err = issuer
        .issue(&h.binding, IssueRequest::default(), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, IssueError::NoActiveKey));
    assert_eq!(err.code().as_str(), "internal_error");
}

#[tokio::test]
async fn issuing_for_a_deleted_binding_is_not_found() {
    let h = Harness::new().await;
    h.store.delete_binding("org-1", NOW).await.unwrap();
    let err = h
        .issuer
        .issue(&h.binding, IssueRequest::default(), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "not_found", "{err:?}");
}
