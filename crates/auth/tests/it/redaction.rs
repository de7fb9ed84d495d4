//! Secrets never show in `Debug`, `Display` or error text.

use std::sync::Arc;

use auth::AuthError;
use store::StoreError;

use crate::harness::{API_KEY, Harness, NOW};

#[tokio::test]
async fn debug_output_never_contains_the_api_key_or_the_token() {
    let h = Harness::new().await;
    let issued = h.issue().await;
    let ok = h.auth(&issued.token, NOW).await.unwrap();
    let signature = issued.token.rsplit('.').next().unwrap().to_owned();

    let outputs = [
        format!("{:?}", ok.credential),
        format!("{:#?}", ok.credential),
        format!("{ok:?}"),
        format!("{issued:?}"),
        format!("{:?}", h.credentials),
        format!("{:?}", h.verifier),
        format!("{:?}", h.keyring),
        format!("{:?}", h.issuer),
        format!("{:?}", h.authenticator),
    ];
    for output in &outputs {
        assert!(!output.contains(API_KEY), "api key leaked: {output}");
        assert!(!output.contains(&issued.token), "token leaked: {output}");
        assert!(
            !output.contains(&signature),
            "token signature leaked: {output}"
        );
    }
    assert!(outputs[3].contains("[redacted]"));
    assert!(outputs[0].contains("[redacted]"));
}

#[test]
fn no_auth_error_text_contains_a_secret() {
    let errors = [
        AuthError::TokenMissing,
        AuthError::TokenMalformed,
        AuthError::TokenAlgorithmRejected,
        AuthError::TokenHeaderRejected,
        AuthError::TokenTooLarge,
        AuthError::TokenKeyUnknown,
        AuthError::TokenSignatureInvalid,
        AuthError::TokenClaimsInvalid,
        AuthError::TokenExpired,
        AuthError::TokenNotYetValid,
        AuthError::TokenRevoked,
        AuthError::TokenSuperseded,
        AuthError::BindingNotFound,
        AuthError::StoreUnavailable(Arc::new(StoreError::BindingNotFound)),
        AuthError::Internal { reason: "x" },
    ];
    for err in &errors {
        let text = format!("{err} {err:?}");
        assert!(!text.contains(API_KEY));
        assert!(!text.contains("eyJ"), "{text}");
        assert_eq!(
            err.to_string(),
            err.to_string().to_lowercase(),
            "messages are lowercase"
        );
    }
}

#[tokio::test]
async fn refusals_of_real_tokens_never_echo_them() {
    let h = Harness::new().await;
    let issued = h.issue().await;
    for now in [NOW, NOW + 100_000] {
        let result = h.auth(&format!("{}x", issued.token), now).await;
        let err = result.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(&issued.token));
    }
}
