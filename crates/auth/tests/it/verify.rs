//! Token refusals decided by the verifier, and its cache.

use std::sync::Arc;

use auth::{MAX_TOKEN_BYTES, Verifier};
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::harness::{Harness, LEEWAY, NOW, assert_refused, b64_json, settings};

#[tokio::test]
async fn a_minted_token_authenticates_with_its_claims() {
    let h = Harness::new().await;
    let issued = h.issue().await;
    let ok = h.auth(&issued.token, NOW).await.unwrap();
    assert_eq!(ok.claims.bid, h.binding.id);
    assert_eq!(ok.claims.jti, issued.jti);
    assert_eq!(ok.credential.org_id, "org-1");
    assert_eq!(ok.claims.exp, NOW + 900);
}

#[tokio::test]
async fn a_header_encoded_otherwise_than_minted_verifies_the_same() {
    // Minted tokens' header segment is recognised byte for byte without decoding; the same
    // header with its members in another order (or with spaces) is decoded and checked.
    let h = Harness::new().await;
    let (kid, _) = h.active_key().await;
    let minted = h.issue().await.token;
    let minted_header = minted.split('.').next().unwrap();
    for header in [
        json!({"kid": kid, "alg": "EdDSA"}),
        json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
    ] {
        let token = h.forge(&header, &h.claims()).await;
        assert_ne!(token.split('.').next().unwrap(), minted_header);
        let ok = h.auth(&token, NOW).await.unwrap();
        assert_eq!(ok.claims.bid, h.binding.id);
    }
    let (_, pair) = h.active_key().await;
    let spaced = URL_SAFE_NO_PAD.encode(format!(r#"{{ "alg": "EdDSA", "kid": "{kid}" }}"#));
    let message = format!("{spaced}.{}", b64_json(&h.claims()));
    let signature = URL_SAFE_NO_PAD.encode(pair.sign(message.as_bytes()).as_ref());
    let ok = h
        .auth(&format!("{message}.{signature}"), NOW)
        .await
        .unwrap();
    assert_eq!(ok.claims.sub, "org-1");
}

#[tokio::test]
async fn a_minted_header_with_a_foreign_signature_is_rejected() {
    // The fast path picks the key from the header bytes; the signature is still checked.
    let h = Harness::new().await;
    let minted = h.issue().await.token;
    let header = minted.split('.').next().unwrap();
    let foreign = Ed25519KeyPair::generate().unwrap();
    let message = format!("{header}.{}", b64_json(&h.claims()));
    let signature = URL_SAFE_NO_PAD.encode(foreign.sign(message.as_bytes()).as_ref());
    assert_refused(
        h.auth(&format!("{message}.{signature}"), NOW).await,
        "token_signature_invalid",
    );
}

#[tokio::test]
async fn tokens_without_three_base64url_json_segments_are_malformed() {
    let h = Harness::new().await;
    let good = h.issue().await.token;
    let parts: Vec<&str> = good.split('.').collect();
    let two_segments = format!("{}.{}", parts[0], parts[1]);
    let four_segments = format!("{good}.{}", parts[2]);
    let bad_base64 = format!("{}!.{}.{}", parts[0], parts[1], parts[2]);
    let bad_json = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode("{not json"),
        parts[1],
        parts[2]
    );
    let payload_not_base64 = format!("{}.%%%.{}", parts[0], parts[2]);
    for token in [
        two_segments.as_str(),
        four_segments.as_str(),
        bad_base64.as_str(),
        bad_json.as_str(),
        payload_not_base64.as_str(),
        "..",
        "abc",
    ] {
        assert_refused(h.auth(token, NOW).await, "token_malformed");
    }
}

#[tokio::test]
async fn payload_that_is_not_json_is_malformed_even_when_signed() {
    let h = Harness::new().await;
    let (_, pair) = h.active_key().await;
    let message = format!(
        "{}.{}",
        b64_json(&h.header().await),
        URL_SAFE_NO_PAD.encode("not json")
    );
    let signature = URL_SAFE_NO_PAD.encode(pair.sign(message.as_bytes()).as_ref());
    assert_refused(
        h.auth(&format!("{message}.{signature}"), NOW).await,
        "token_malformed",
    );
}

#[tokio::test]
async fn header_without_alg_or_kid_is_malformed() {
    let h = Harness::new().await;
    let claims = h.claims();
    let (kid, _) = h.active_key().await;
    let no_kid = h.forge(&json!({"alg": "EdDSA"}), &claims).await;
    assert_refused(h.auth(&no_kid, NOW).await, "token_malformed");
    let no_alg = h.forge(&json!({"kid": kid}), &claims).await;
    assert_refused(h.auth(&no_alg, NOW).await, "token_malformed");
}

#[tokio::test]
async fn alg_none_with_an_empty_signature_is_rejected() {
    let h = Harness::new().await;
    let (kid, _) = h.active_key().await;
    let token = format!(
        "{}.{}.",
        b64_json(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64_json(&h.claims())
    );
    assert!(token.starts_with("eyJ"));
    assert_refused(h.auth(&token, NOW).await, "token_algorithm_rejected");
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_as_hmac_secret_is_rejected() {
    let h = Harness::new().await;
    let (kid, _) = h.active_key().await;
    let public = h.store.signing_keys().await.unwrap()[0].public_key.clone();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid);
    let token =
        jsonwebtoken::encode(&header, &h.claims(), &EncodingKey::from_secret(&public)).unwrap();
    assert_refused(h.auth(&token, NOW).await, "token_algorithm_rejected");
}

#[tokio::test]
async fn es256_and_other_algorithms_are_rejected() {
    let h = Harness::new().await;
    let (kid, _) = h.active_key().await;
    for alg in ["ES256", "RS256", "HS512", "EDDSA", "Ed25519"] {
        let token = h.forge(&json!({"alg": alg, "kid": kid}), &h.claims()).await;
        assert_refused(h.auth(&token, NOW).await, "token_algorithm_rejected");
    }
}

#[tokio::test]
async fn unknown_kid_is_rejected() {
    let h = Harness::new().await;
    let token = h
        .forge(
            &json!({"alg": "EdDSA", "kid": "bp-0000000000000000"}),
            &h.claims(),
        )
        .await;
    assert_refused(h.auth(&token, NOW).await, "token_key_unknown");
}

#[tokio::test]
async fn a_flipped_signature_byte_is_rejected() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    let (message, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[10] ^= 0x01;
    let tampered = format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature));
    assert_refused(h.auth(&tampered, NOW).await, "token_signature_invalid");

    // A claims change under the original signature is a bad signature too.
    let mut claims = h.claims();
    claims["sub"] = json!("org-1");
    let (_, original_sig) = token.rsplit_once('.').unwrap();
    let header = token.split('.').next().unwrap();
    let spliced = format!("{header}.{}.{original_sig}", b64_json(&claims));
    assert_refused(h.auth(&spliced, NOW).await, "token_signature_invalid");
}

#[tokio::test]
async fn key_source_and_crit_header_params_are_rejected_even_when_signed() {
    let h = Harness::new().await;
    let (kid, _) = h.active_key().await;
    let params = [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
    ];
    for (name, value) in params {
        let mut header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
        header[name] = value;
        let token = h.forge(&header, &h.claims()).await;
        assert_refused(h.auth(&token, NOW).await, "token_header_rejected");
    }
    // The same header without the parameter passes: only the parameter was wrong.
    let token = h.forge(&h.header().await, &h.claims()).await;
    h.auth(&token, NOW).await.unwrap();
}

#[tokio::test]
async fn wrong_iss_aud_or_missing_claims_are_rejected() {
    let h = Harness::new().await;
    let header = h.header().await;
    let mut cases = Vec::new();
    let mut wrong_iss = h.claims();
    wrong_iss["iss"] = json!("someone-else");
    cases.push(wrong_iss);
    let mut wrong_aud = h.claims();
    wrong_aud["aud"] = json!("other-api");
    cases.push(wrong_aud);
    let mut aud_array = h.claims();
    aud_array["aud"] = json!(["telnyx-api", "other-api"]);
    cases.push(aud_array);
    for claim in [
        "jti", "bid", "gen", "iat", "nbf", "exp", "iss", "aud", "sub",
    ] {
        let mut missing = h.claims();
        missing.as_object_mut().unwrap().remove(claim);
        cases.push(missing);
    }
    let mut gen_string = h.claims();
    gen_string["gen"] = json!("1");
    cases.push(gen_string);
    for claims in cases {
        let token = h.forge(&header, &claims).await;
        assert_refused(h.auth(&token, NOW).await, "token_claims_invalid");
    }
}

#[tokio::test]
async fn expiry_honours_the_leeway_at_its_edges() {
    let h = Harness::new().await;
    let mut claims = h.claims();
    claims["exp"] = json!(NOW + 100);
    let token = h.forge(&h.header().await, &claims).await;
    // Uncached: first seen after expiry.
    assert_refused(h.auth(&token, NOW + 100 + LEEWAY).await, "token_expired");
    // Last valid second, then the cached entry expires by `now` too.
    h.auth(&token, NOW + 100 + LEEWAY - 1).await.unwrap();
    assert_refused(h.auth(&token, NOW + 100 + LEEWAY).await, "token_expired");
    assert_refused(h.auth(&token, NOW + 10_000).await, "token_expired");
}

#[tokio::test]
async fn not_yet_valid_honours_the_leeway() {
    let h = Harness::new().await;
    let mut claims = h.claims();
    claims["nbf"] = json!(NOW + 100);
    claims["exp"] = json!(NOW + 1_000);
    let token = h.forge(&h.header().await, &claims).await;
    assert_refused(
        h.auth(&token, NOW + 100 - LEEWAY - 1).await,
        "token_not_yet_valid",
    );
    h.auth(&token, NOW + 100 - LEEWAY).await.unwrap();
    // Cached now; an earlier clock is still refused.
    assert_refused(h.auth(&token, NOW).await, "token_not_yet_valid");
}

#[tokio::test]
async fn tokens_over_8_kib_are_rejected_before_parsing() {
    let h = Harness::new().await;
    let mut claims = h.claims();
    claims["pad"] = json!("x".repeat(MAX_TOKEN_BYTES));
    let token = h.forge(&h.header().await, &claims).await;
    assert!(token.len() > MAX_TOKEN_BYTES);
    assert_refused(h.auth(&token, NOW).await, "token_too_large");
    let junk = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_refused(h.verifier.verify(&junk, NOW), "token_too_large");
    // Exactly at the limit is parsed (and refused for what it is).
    let at_limit = "a".repeat(MAX_TOKEN_BYTES);
    assert_refused(h.verifier.verify(&at_limit, NOW), "token_malformed");
}

#[tokio::test]
async fn a_cache_hit_returns_the_same_claims_without_verifying_again() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    let first = h.verifier.verify(&token, NOW).unwrap();
    let second = h.verifier.verify(&token, NOW + 1).unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "second call must be a cache hit"
    );

    h.verifier.invalidate_all();
    let third = h.verifier.verify(&token, NOW + 2).unwrap();
    assert!(
        !Arc::ptr_eq(&first, &third),
        "invalidate_all must force a verification"
    );
    assert_eq!(first, third);
}

#[tokio::test]
async fn failed_verifications_are_not_cached() {
    let h = Harness::new().await;
    let mut claims = h.claims();
    claims["nbf"] = json!(NOW + 100);
    let token = h.forge(&h.header().await, &claims).await;
    assert_refused(h.verifier.verify(&token, NOW), "token_not_yet_valid");
    assert_eq!(h.verifier.cached_tokens(), 0);
    let ok = h.verifier.verify(&token, NOW + 100).unwrap();
    let again = h.verifier.verify(&token, NOW + 100).unwrap();
    assert!(Arc::ptr_eq(&ok, &again));
}

#[tokio::test]
async fn a_verifier_with_other_settings_refuses_the_token() {
    let h = Harness::new().await;
    let token = h.issue().await.token;
    let mut other = settings();
    other.audience = "another-audience".to_owned();
    let verifier = Verifier::new(h.keyring.clone(), other, 10);
    assert_refused(verifier.verify(&token, NOW), "token_claims_invalid");
}
