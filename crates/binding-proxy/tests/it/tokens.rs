//! Every token rejection through the real binary: 401, the documented code,
//! `WWW-Authenticate`, and nothing reaches the upstream.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Forger, Reply, claims_of};

use crate::Stack;

const KEY: &str = "KEY03TOKENS_real_upstream_key";

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("fits")
}

fn assert_refused(reply: &Reply, code: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{code}: {reply:?}");
    assert_eq!(reply.error_code().as_deref(), Some(code), "{reply:?}");
    let challenge = reply
        .header("www-authenticate")
        .expect("WWW-Authenticate on 401");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

async fn call(stack: &Stack, token: &str) -> Reply {
    stack
        .http
        .get_with_token(&stack.url("/v2/balance"), token)
        .await
}

async fn forger(stack: &Stack) -> Forger {
    Forger::from_store(&stack.proxy.store_file(), &stack.proxy.master_key_file()).await
}

#[tokio::test]
async fn missing_and_malformed_tokens_get_401_and_upstream_sees_nothing() {
    let (stack, _token) = Stack::with_binding("org-tok-1", KEY).await;
    let none = stack
        .http
        .send(Method::GET, &stack.url("/v2/balance"), &[], Bytes::new())
        .await;
    assert_refused(&none, "token_missing");
    for bad in [
        "Bearer abc",
        "Bearer a.b",
        "Bearer a.b.c",
        "Basic Zm9vOmJhcg==",
        "Bearer ",
    ] {
        let reply = stack
            .http
            .send(
                Method::GET,
                &stack.url("/v2/balance"),
                &[("authorization", bad)],
                Bytes::new(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(reply.header("www-authenticate").is_some());
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn forged_algorithms_and_keys_get_401_and_upstream_sees_nothing() {
    let (stack, token) = Stack::with_binding("org-tok-2", KEY).await;
    let forger = forger(&stack).await;
    let claims = claims_of(&token);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));

    // alg: none with an empty signature.
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, forger.kid()));
    assert_refused(
        &call(&stack, &format!("{header}.{payload}.")).await,
        "token_algorithm_rejected",
    );

    // HS256 signed with the public key as the HMAC secret (key-confusion attack).
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(forger.kid().to_owned());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&forger.public_key()),
    )
    .expect("sign");
    assert_refused(&call(&stack, &confused).await, "token_algorithm_rejected");

    // Unknown kid, signed by the real key.
    let unknown = forger.sign_with_header(&json!({"alg": "EdDSA", "kid": "no-such-key"}), &claims);
    assert_refused(&call(&stack, &unknown).await, "token_key_unknown");

    // Bad signature: flip the signature's first character.
    let (rest, sig) = token.rsplit_once('.').expect("three parts");
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{rest}.{flipped}{}", &sig[1..]);
    assert_refused(&call(&stack, &tampered).await, "token_signature_invalid");

    // Payload swapped under a valid signature (another org's claims).
    let mut other = claims.clone();
    other["sub"] = json!("someone-else");
    let swapped = format!(
        "{}.{}.{sig}",
        token.split('.').next().expect("header"),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).expect("json"))
    );
    assert_refused(&call(&stack, &swapped).await, "token_signature_invalid");

    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn wrong_claims_and_times_get_401_and_upstream_sees_nothing() {
    let (stack, token) = Stack::with_binding("org-tok-3", KEY).await;
    let forger = forger(&stack).await;
    let base = claims_of(&token);
    let with = |field: &str, value: Value| {
        let mut claims = base.clone();
        claims[field] = value;
        forger.sign(&claims)
    };
    // Sanity: the forger signs tokens the proxy accepts.
    let fresh = with("jti", json!("forged-but-valid"));
    assert_eq!(call(&stack, &fresh).await.status, StatusCode::OK);
    stack.emulator.journal().clear();

    assert_refused(
        &call(&stack, &with("iss", json!("evil"))).await,
        "token_claims_invalid",
    );
    assert_refused(
        &call(&stack, &with("aud", json!("other-api"))).await,
        "token_claims_invalid",
    );
    assert_refused(
        &call(&stack, &with("exp", json!(now() - 3600))).await,
        "token_expired",
    );
    assert_refused(
        &call(&stack, &with("nbf", json!(now() + 3600))).await,
        "token_not_yet_valid",
    );
    assert_refused(
        &call(&stack, &with("sub", json!("org-other"))).await,
        "token_claims_invalid",
    );
    // Issued an hour from now: this service never mints such a token (issue #16).
    assert_refused(
        &call(&stack, &with("iat", json!(now() + 3600))).await,
        "token_claims_invalid",
    );
    // Within the default 30 s leeway an expired token still passes; beyond it, not.
    assert_eq!(
        call(&stack, &with("exp", json!(now() - 5))).await.status,
        StatusCode::OK
    );
    stack.emulator.journal().clear();
    assert_refused(
        &call(&stack, &with("exp", json!(now() - 120))).await,
        "token_expired",
    );
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn rotation_revocation_and_deletion_win_over_warm_caches() {
    let (stack, token) = Stack::with_binding("org-tok-4", KEY).await;
    let revocable = stack
        .proxy
        .mint("org-tok-4", json!({"function_id": "f-1"}))
        .await;
    let revocable_token = revocable["token"].as_str().expect("token").to_owned();
    // Warm both caches.
    assert_eq!(call(&stack, &token).await.status, StatusCode::OK);
    assert_eq!(call(&stack, &revocable_token).await.status, StatusCode::OK);
    stack.emulator.journal().clear();

    // Revoke one token: it stops at once, the other keeps working.
    let jti = revocable["jti"].as_str().expect("jti");
    let revoked = stack
        .proxy
        .admin_call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_refused(&call(&stack, &revocable_token).await, "token_revoked");
    assert!(stack.emulator.journal().is_empty());
    assert_eq!(call(&stack, &token).await.status, StatusCode::OK);
    stack.emulator.journal().clear();

    // Rotate without grace: the old generation stops at once; a new token works.
    let rotated = stack
        .proxy
        .admin_call(
            Method::POST,
            "/v1/bindings/org-tok-4/rotate",
            Some(json!({"grace_period_secs": 0})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    assert_eq!(rotated.json()["data"]["generation"], 2);
    assert_refused(&call(&stack, &token).await, "token_superseded");
    assert!(stack.emulator.journal().is_empty());
    let new_token = stack.proxy.token("org-tok-4").await;
    assert_eq!(claims_of(&new_token)["gen"], 2);
    assert_eq!(call(&stack, &new_token).await.status, StatusCode::OK);
    stack.emulator.journal().clear();

    // Delete the binding: every token stops at once.
    let deleted = stack
        .proxy
        .admin_call(Method::DELETE, "/v1/bindings/org-tok-4", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_refused(&call(&stack, &new_token).await, "binding_not_found");
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_previous_generation_working() {
    let (stack, token) = Stack::with_binding("org-tok-5", KEY).await;
    let rotated = stack
        .proxy
        .admin_call(
            Method::POST,
            "/v1/bindings/org-tok-5/rotate",
            Some(json!({"grace_period_secs": 3600})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.json()["data"]["previous_generation"], 1);
    assert_eq!(call(&stack, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_duplicated_and_query_string_tokens_get_401() {
    let (stack, token) = Stack::with_binding("org-tok-6", KEY).await;
    let forger = forger(&stack).await;

    let mut big = claims_of(&token);
    big["pad"] = json!("x".repeat(9 * 1024));
    assert_refused(&call(&stack, &forger.sign(&big)).await, "token_too_large");

    // Two Authorization headers, even when both hold the valid token.
    let auth = format!("Bearer {token}");
    let twice = stack
        .http
        .send(
            Method::GET,
            &stack.url("/v2/balance"),
            &[("authorization", &auth), ("authorization", &auth)],
            Bytes::new(),
        )
        .await;
    assert_refused(&twice, "token_header_rejected");

    // A token in the query string is ignored: no header means no token.
    for param in ["access_token", "token", "api_key"] {
        let reply = stack
            .http
            .send(
                Method::GET,
                &stack.url(&format!("/v2/balance?{param}={token}")),
                &[],
                Bytes::new(),
            )
            .await;
        assert_refused(&reply, "token_missing");
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn key_carrying_and_critical_headers_get_401() {
    let (stack, token) = Stack::with_binding("org-tok-7", KEY).await;
    let forger = forger(&stack).await;
    let claims = claims_of(&token);
    let kid = forger.kid().to_owned();
    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
    ] {
        let mut header = json!({"alg": "EdDSA", "kid": kid});
        header[name] = value;
        let forged = forger.sign_with_header(&header, &claims);
        assert_refused(&call(&stack, &forged).await, "token_header_rejected");
    }
    // Present counts, whatever the value.
    let forged =
        forger.sign_with_header(&json!({"alg": "EdDSA", "kid": kid, "jku": null}), &claims);
    assert_refused(&call(&stack, &forged).await, "token_header_rejected");
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn a_header_that_repeats_alg_or_kid_gets_401() {
    let (stack, token) = Stack::with_binding("org-tok-8", KEY).await;
    let forger = forger(&stack).await;
    let claims = claims_of(&token);
    let kid = forger.kid();
    // Signed with the real key: only the ambiguity refuses them. A reader that kept the first
    // `alg` would accept the first; one that kept the last would see `none`.
    for header in [
        format!(r#"{{"alg":"EdDSA","kid":"{kid}","alg":"none"}}"#),
        format!(r#"{{"alg":"EdDSA","kid":"{kid}","kid":"other"}}"#),
    ] {
        let forged = forger.sign_with_raw_header(&header, &claims);
        assert_refused(&call(&stack, &forged).await, "token_malformed");
    }
    assert!(stack.emulator.journal().is_empty());
    // The same header without the repetition verifies: the refusal above is the repetition's.
    let genuine =
        forger.sign_with_raw_header(&format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#), &claims);
    assert_eq!(call(&stack, &genuine).await.status, StatusCode::OK);
}

#[tokio::test]
async fn leeway_is_configurable() {
    let stack = Stack::start_with(KEY, |o| o.set("tokens.leeway_secs", "0")).await;
    stack.proxy.create_binding("org-tok-8", KEY).await;
    let token = stack.proxy.token("org-tok-8").await;
    let forger = forger(&stack).await;
    let mut claims = claims_of(&token);
    claims["exp"] = json!(now() - 5);
    assert_refused(&call(&stack, &forger.sign(&claims)).await, "token_expired");
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn unreachable_upstream_gives_502_that_is_safe_to_retry() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let stack = Stack::start_with(KEY, |o| {
        o.set("upstream.base_url", format!("http://127.0.0.1:{port}"))
    })
    .await;
    stack.proxy.create_binding("org-tok-9", KEY).await;
    let token = stack.proxy.token("org-tok-9").await;
    let reply = call(&stack, &token).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.error_code().as_deref(), Some("upstream_unavailable"));
    assert_eq!(
        reply.header("x-should-retry"),
        None,
        "nothing was sent: retry is safe"
    );
}
