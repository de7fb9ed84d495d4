//! The JOSE header: the one this service mints, and the checks on one it receives.
//!
//! Both the keyring (which runs each minted header through the checks at load) and the
//! verifier (which runs them on every header it does not recognise) build on this module,
//! so the header rules live in one place below them.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::AuthError;

/// The one algorithm keys may be pinned to today. A stored key with another algorithm is
/// skipped (its tokens get `token_key_unknown`) rather than trusted with an unknown scheme.
pub(crate) const SUPPORTED_ALGORITHM: &str = "EdDSA";

/// [`SUPPORTED_ALGORITHM`] as `jsonwebtoken` names it, for minting.
const MINTED_ALGORITHM: Algorithm = Algorithm::EdDSA;

/// Header parameters that would let a token choose its own key or smuggle extensions. Keys
/// come only from the store; `crit` names extensions we do not implement.
const FORBIDDEN_HEADER_PARAMS: [&str; 5] = ["jku", "x5u", "jwk", "x5c", "crit"];

/// The JOSE header of every token this service mints under `kid`: `typ`, `alg` and `kid`.
pub(crate) fn minted_header(kid: &str) -> Header {
    let mut header = Header::new(MINTED_ALGORITHM);
    header.kid = Some(kid.to_owned());
    header
}

/// The first segment of a token minted under `kid`, encoded as `jsonwebtoken::encode` does
/// (base64url without padding of the header's JSON).
pub(crate) fn minted_header_segment(kid: &str) -> Result<String, AuthError> {
    let json = serde_json::to_vec(&minted_header(kid)).map_err(|_| AuthError::Internal {
        reason: "a token header does not serialize",
    })?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The `kid` of a header segment that passes every header check (decoding, no key-source or
/// `crit` parameter, the pinned `alg`, a `kid`). The keyring runs each minted header through
/// this at load, so a header that selects a key without decoding is one that would pass.
pub(crate) fn checked_header_kid(segment: &str) -> Result<String, AuthError> {
    let header = decode_header(segment)?;
    if header.forbidden_param {
        return Err(AuthError::TokenHeaderRejected);
    }
    let Some(alg) = header.alg else {
        return Err(AuthError::TokenMalformed);
    };
    // Refuse `none`, HMAC (a public key used as a shared secret) and anything else we do
    // not pin keys to before looking at the key.
    if alg != SUPPORTED_ALGORITHM {
        return Err(AuthError::TokenAlgorithmRejected);
    }
    header.kid.ok_or(AuthError::TokenMalformed)
}

/// What the verifier needs from a JOSE header: `alg`, `kid`, and whether any parameter that
/// would let the token pick its own key (or demand extensions) is present, even as `null`.
/// Other parameters (`typ`, ...) are ignored, as RFC 7515 §4 allows.
#[derive(Debug, Default)]
struct JoseHeader {
    alg: Option<String>,
    kid: Option<String>,
    forbidden_param: bool,
}

impl<'de> Deserialize<'de> for JoseHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;

        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = JoseHeader;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JOSE header object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JoseHeader, A::Error> {
                let mut header = JoseHeader::default();
                while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                    match name.as_ref() {
                        // A repeated parameter is ambiguous (RFC 7515 §4): refused.
                        "alg" if header.alg.is_some() => {
                            return Err(de::Error::duplicate_field("alg"));
                        }
                        "kid" if header.kid.is_some() => {
                            return Err(de::Error::duplicate_field("kid"));
                        }
                        "alg" => header.alg = Some(map.next_value()?),
                        "kid" => header.kid = Some(map.next_value()?),
                        other => {
                            if FORBIDDEN_HEADER_PARAMS.contains(&other) {
                                header.forbidden_param = true;
                            }
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(header)
            }
        }

        deserializer.deserialize_map(HeaderVisitor)
    }
}

fn decode_header(segment: &str) -> Result<JoseHeader, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::TokenMalformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::TokenMalformed)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn minted_algorithm_is_the_supported_one() {
        assert_eq!(
            Algorithm::from_str(SUPPORTED_ALGORITHM).ok(),
            Some(MINTED_ALGORITHM)
        );
    }

    #[test]
    fn minted_header_segment_decodes_to_the_minted_header() {
        let segment = minted_header_segment("bp-0123").expect("encodes");
        let json = URL_SAFE_NO_PAD.decode(segment).expect("base64url");
        let header: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            header,
            serde_json::json!({"typ": "JWT", "alg": "EdDSA", "kid": "bp-0123"})
        );
    }

    #[test]
    fn header_must_be_base64url_json_object() {
        assert!(matches!(
            decode_header("!!"),
            Err(AuthError::TokenMalformed)
        ));
        let not_object = URL_SAFE_NO_PAD.encode("[1]");
        assert!(matches!(
            decode_header(&not_object),
            Err(AuthError::TokenMalformed)
        ));
        let ok = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#);
        let header = decode_header(&ok).expect("a plain header decodes");
        assert_eq!(header.alg.as_deref(), Some("EdDSA"));
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert!(!header.forbidden_param);
    }

    #[test]
    fn forbidden_params_are_seen_even_when_null() {
        for param in FORBIDDEN_HEADER_PARAMS {
            let json = format!(r#"{{"alg":"EdDSA","kid":"k1","{param}":null}}"#);
            let header = decode_header(&URL_SAFE_NO_PAD.encode(json)).expect("decodes");
            assert!(header.forbidden_param, "{param} must be flagged");
        }
    }

    #[test]
    fn repeated_or_mistyped_alg_and_kid_are_malformed() {
        for json in [
            r#"{"alg":"EdDSA","alg":"none","kid":"k1"}"#,
            r#"{"alg":"EdDSA","kid":"k1","kid":"k2"}"#,
            r#"{"alg":5,"kid":"k1"}"#,
            r#"{"alg":"EdDSA","kid":null}"#,
        ] {
            assert!(
                matches!(
                    decode_header(&URL_SAFE_NO_PAD.encode(json)),
                    Err(AuthError::TokenMalformed)
                ),
                "{json}"
            );
        }
    }
}
