//! Refusals decided by the header rules and the binding's current state.

use std::sync::Arc;
use std::time::Duration;

use auth::{Credential, CredentialCache, IssueRequest};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use serde_json::json;
use store::{BindingCredential, NewBinding, Secret};

use crate::harness::{API_KEY, Harness, LEEWAY, NOW, ORG, assert_refused};

#[tokio::test]
async fn a_request_without_authorization_is_token_missing() {
    let h = Harness::new().await;
    assert_refused(
        h.authenticator.authenticate(&HeaderMap::new(), NOW).await,
        "token_missing",
    );
}

#[tokio::test]
async fn two_authorization_headers_are_rejected_even_if_both_are_valid() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let mut headers = HeaderMap::new();
    headers.append(AUTHORIZATION, value.clone());
    headers.append(AUTHORIZATION, value);
    assert_refused(
        h.authenticator.authenticate(&headers, NOW).await,
        "token_header_rejected",
    );
}

#[tokio::test]
async fn non_bearer_schemes_and_bad_spacing_are_malformed() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    for value in [
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("Bearer  {token}"),
        format!("Bearer {token} extra"),
        token.clone(),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        assert_refused(
            h.authenticator.authenticate(&headers, NOW).await,
            "token_malformed",
        );
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("bearer {token}")).unwrap(),
    );
    h.authenticator.authenticate(&headers, NOW).await.unwrap();
}

#[tokio::test]
async fn an_old_generation_is_superseded_after_a_rotation_without_grace() {
    let h = Harness::new().await;
    let old = h.issue().await;
    h.auth(&old.token, NOW).await.unwrap();
    let rotated = h.store.rotate_binding(ORG, NOW, NOW).await.unwrap();
    h.credentials.invalidate(&h.binding.id).await;
    assert_refused(h.auth(&old.token, NOW).await, "token_superseded");

    let new = h
        .issuer
        .issue(&rotated, IssueRequest::default(), NOW)
        .await
        .unwrap();
    assert_eq!(new.generation, old.generation + 1);
    h.auth(&new.token, NOW).await.unwrap();
}

#[tokio::test]
async fn the_previous_generation_works_inside_the_grace_window_only() {
    let h = Harness::new().await;
    let old = h.issue().await;
    h.store.rotate_binding(ORG, NOW + 60, NOW).await.unwrap();
    h.credentials.invalidate(&h.binding.id).await;
    h.auth(&old.token, NOW + 59).await.unwrap();
    assert_refused(h.auth(&old.token, NOW + 60).await, "token_superseded");

    // A second rotation ends the first generation's grace at once.
    h.store
        .rotate_binding(ORG, NOW + 60, NOW + 1)
        .await
        .unwrap();
    h.credentials.invalidate(&h.binding.id).await;
    assert_refused(h.auth(&old.token, NOW + 2).await, "token_superseded");
}

#[tokio::test]
async fn a_revoked_jti_is_refused_once_the_credential_is_invalidated() {
    let h = Harness::new().await;
    let revoked = h.issue().await;
    let other = h.issue().await;
    h.auth(&revoked.token, NOW).await.unwrap();
    h.store.revoke_token(&revoked.jti, NOW).await.unwrap();
    h.credentials.invalidate(&h.binding.id).await;
    assert_refused(h.auth(&revoked.token, NOW).await, "token_revoked");
    h.auth(&other.token, NOW).await.unwrap();
}

#[tokio::test]
async fn a_revoked_token_inside_its_expiry_leeway_stays_refused_after_a_reload() {
    let h = Harness::new().await;
    let revoked = h.issue().await;
    h.store.revoke_token(&revoked.jti, NOW).await.unwrap();
    // Past `exp` but inside the leeway the token still verifies; a credential loaded then
    // must still know it was revoked.
    let late = revoked.expires_at + LEEWAY - 1;
    h.credentials.invalidate(&h.binding.id).await;
    assert_refused(h.auth(&revoked.token, late).await, "token_revoked");
}

#[tokio::test]
async fn tokens_of_a_deleted_binding_are_refused() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    h.auth(&token, NOW).await.unwrap();
    h.store.delete_binding(ORG, NOW).await.unwrap();
    h.credentials.invalidate(&h.binding.id).await;
    assert_refused(h.auth(&token, NOW).await, "binding_not_found");
    // Absence is cached: still refused without a store round trip.
    assert_refused(h.auth(&token, NOW).await, "binding_not_found");
}

#[tokio::test]
async fn invalidate_all_drops_every_cached_credential() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    h.auth(&token, NOW).await.unwrap();
    h.store.delete_binding(ORG, NOW).await.unwrap();
    h.credentials.invalidate_all();
    assert_refused(h.auth(&token, NOW).await, "binding_not_found");
}

#[tokio::test]
async fn a_token_whose_sub_is_not_the_bindings_org_is_refused() {
    let h = Harness::new().await;
    let mut claims = h.claims();
    claims["sub"] = json!("org-2");
    let token = h.forge(&h.header().await, &claims).await;
    assert_refused(h.auth(&token, NOW).await, "token_claims_invalid");
}

#[tokio::test]
async fn an_unknown_binding_id_is_binding_not_found() {
    let h = Harness::new().await;
    let mut claims = h.claims();
    claims["bid"] = json!(uuid::Uuid::new_v4().to_string());
    let token = h.forge(&h.header().await, &claims).await;
    assert_refused(h.auth(&token, NOW).await, "binding_not_found");
}

#[tokio::test]
async fn an_unreachable_store_is_store_unavailable_for_uncached_bindings() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    h.sqlite.close().await;
    let err = h.auth(&token, NOW).await.unwrap_err();
    assert_eq!(err.code().as_str(), "store_unavailable");
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn cached_credentials_keep_serving_while_the_store_is_down() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    h.auth(&token, NOW).await.unwrap();
    h.sqlite.close().await;
    h.auth(&token, NOW + 1).await.unwrap();
}

#[tokio::test]
async fn the_upstream_authorization_is_built_once_and_sensitive() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    let ok = h.auth(&token, NOW).await.unwrap();
    let value = ok.credential.upstream_authorization();
    assert!(value.is_sensitive());
    assert_eq!(value.as_bytes(), format!("Bearer {API_KEY}").as_bytes());
    let again = h.auth(&token, NOW).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&ok.credential, &again.credential));
}

#[tokio::test]
async fn an_api_key_that_is_not_a_header_value_is_an_internal_error_not_a_panic() {
    let h = Harness::new().await;
    let mut record = h
        .store
        .load_credential(&h.binding.id, NOW)
        .await
        .unwrap()
        .unwrap();
    record.api_key = Secret::from("bad\nkey".to_owned());
    let err = Credential::from_store(BindingCredential { ..record }).unwrap_err();
    assert_eq!(err.code().as_str(), "internal_error");
    assert!(!format!("{err} {err:?}").contains("bad\nkey"));

    // Through the store and the cache too, when the store accepts such a key.
    let created = h
        .store
        .create_binding(
            NewBinding {
                org_id: "org-newline".to_owned(),
                api_key: Secret::from("bad\nkey".to_owned()),
                scopes: vec!["kv".to_owned()],
                rate_limit: None,
            },
            NOW,
        )
        .await;
    if let Ok(binding) = created {
        assert_refused(h.credentials.get(&binding.id, NOW).await, "internal_error");
    }
}

#[tokio::test]
async fn effective_scope_is_binding_scopes_narrowed_by_scp() {
    let h = Harness::new().await;
    let wide = h.issue().await;
    let ok = h.auth(&wide.token, NOW).await.unwrap();
    assert!(ok.allows("kv"));
    assert!(ok.allows("kv:ns-1"));
    assert!(ok.allows("messaging"));
    assert!(!ok.allows("voice"));

    let narrow = h
        .issue_with(IssueRequest {
            scopes: Some(vec!["kv:ns-1".to_owned()]),
            ..IssueRequest::default()
        })
        .await;
    let ok = h.auth(&narrow.token, NOW).await.unwrap();
    assert!(ok.allows("kv:ns-1"));
    assert!(!ok.allows("kv:ns-2"));
    assert!(!ok.allows("kv"));
    assert!(!ok.allows("messaging"));
}

#[tokio::test]
async fn stale_credentials_serve_within_max_staleness_while_the_store_is_down() {
    let h = Harness::new().await;
    // TTL zero: every hit is stale and tries a refresh first.
    let cache = CredentialCache::with_max_staleness(
        h.store.clone(),
        Duration::ZERO,
        Duration::from_secs(3600),
        100,
    );
    let first = cache.get(&h.binding.id, NOW).await.unwrap();
    // Store up: a stale hit refreshes from the store (a new load, a new Arc).
    let refreshed = cache.get(&h.binding.id, NOW).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &refreshed), "refreshed from the store");
    assert_eq!(cache.stale_served(), 0);

    h.sqlite.close().await;
    let stale = cache.get(&h.binding.id, NOW).await.unwrap();
    assert!(
        Arc::ptr_eq(&stale, &refreshed),
        "the cached value is served"
    );
    assert_eq!(cache.stale_served(), 1);
    // Within the retry pause the stale value is served without trying the store again.
    cache.get(&h.binding.id, NOW).await.unwrap();
    assert_eq!(cache.stale_served(), 1);
    // A binding that was never cached cannot be served.
    let err = cache.get("some-other-binding", NOW).await.unwrap_err();
    assert_eq!(err.code().as_str(), "store_unavailable");
}

#[tokio::test]
async fn without_max_staleness_an_expired_entry_needs_the_store() {
    let h = Harness::new().await;
    let cache = CredentialCache::new(h.store.clone(), Duration::ZERO, 100);
    cache.get(&h.binding.id, NOW).await.unwrap();
    h.sqlite.close().await;
    let err = cache.get(&h.binding.id, NOW).await.unwrap_err();
    assert_eq!(err.code().as_str(), "store_unavailable");
}

/// The store read and moka's loader are boxed behind a miss, so the future of a lookup, which
/// every request's future holds, stays small: 824 bytes in a test build, 1,784 unboxed. (In
/// release, with the upstream connect path boxed as well, a whole request's future went from
/// 32.6 KB to 3.7 KB: each HTTP/1.1 connection holds a slot of that size, and every HTTP/2
/// stream is a task of that size.) The bounds leave ≈ 50% headroom for dependency and compiler
/// upgrades; if one outgrows them, the failure prints the size to compare with an unboxed
/// build before moving the bound.
#[tokio::test]
async fn a_credential_lookup_future_stays_small() {
    let h = Harness::new().await;
    let cache = CredentialCache::new(h.store.clone(), Duration::from_secs(60), 100);
    let lookup = cache.get(&h.binding.id, NOW);
    let size = std::mem::size_of_val(&lookup);
    assert!(size <= 1200, "a credential lookup's future is {size} bytes");
    lookup.await.unwrap();
    let headers = HeaderMap::new();
    let authenticate = h.authenticator.authenticate(&headers, NOW);
    let size = std::mem::size_of_val(&authenticate);
    assert!(size <= 1400, "authenticate's future is {size} bytes");
}

#[tokio::test]
async fn a_recheck_sees_a_revocation_announced_by_an_invalidation() {
    let h = Harness::new().await;
    let issued = h.issue().await;
    let authenticated = h.auth(&issued.token, NOW).await.unwrap();
    let claims = authenticated.claims;
    let mut invalidations = h.authenticator.invalidations();
    h.authenticator.recheck(&claims, NOW).await.unwrap();

    h.store.revoke_token(&claims.jti, NOW).await.unwrap();
    h.credentials.invalidate(&h.binding.id).await;
    assert_eq!(
        invalidations.recv().await.unwrap(),
        auth::Invalidation::Binding(Arc::from(h.binding.id.as_str()))
    );
    assert_refused(
        h.authenticator.recheck(&claims, NOW).await.map(drop),
        "token_revoked",
    );

    h.credentials.invalidate_all();
    assert_eq!(invalidations.recv().await.unwrap(), auth::Invalidation::All);
    assert_eq!(
        h.authenticator.expires_at(&claims),
        claims.exp + LEEWAY,
        "expiry as the verifier checks it"
    );
}
