//! Token parsing past the base64url and JSON gates: tokens assembled from a structured input
//! (header parameters, claims, signature), so the fuzzer reaches the header checks, the key
//! lookup by `kid`, jsonwebtoken's decoding and the claims checks.
//!
//! Checks: no panic; no token verifies unless it is byte-for-byte the genuine one (a forged
//! header or payload under a real signature, `alg: none`, HMAC, injected keys all fail);
//! refusals are token refusals, never store or internal errors.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fuzz_support::{NOW, assert_token_refused, stack};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[derive(Arbitrary, Debug)]
enum Alg {
    EdDsa,
    None,
    Hs256,
    Rs256,
    Other(String),
    Missing,
    NotAString(i64),
}

#[derive(Arbitrary, Debug)]
enum Kid {
    Active,
    Other(String),
    Missing,
    NotAString(i64),
}

#[derive(Arbitrary, Debug)]
enum Param {
    Jku,
    X5u,
    Jwk,
    X5c,
    Crit,
    Typ,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Signature {
    /// The genuine token's signature, over some other message.
    Genuine,
    Bytes(Vec<u8>),
    /// Not base64url at all.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Payload {
    /// The genuine token's claims with one field replaced.
    Tweaked {
        field: String,
        value: i64,
    },
    /// The genuine token's claims with one field removed.
    Without(String),
    Claims {
        iss: Option<String>,
        aud: Option<String>,
        sub: Option<String>,
        bid: Option<String>,
        generation: Option<i64>,
        jti: Option<String>,
        nbf: Option<i64>,
        exp: Option<i64>,
        scp: Option<Vec<String>>,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    alg: Alg,
    kid: Kid,
    params: Vec<(Param, String)>,
    /// Use the genuine token's header segment instead of building one.
    genuine_header: bool,
    payload: Payload,
    signature: Signature,
    now_offset: i32,
}

fuzz_target!(|input: Input| {
    let stack = stack();
    let mut genuine = stack.genuine.split('.');
    let (Some(genuine_header), Some(genuine_payload), Some(genuine_signature)) =
        (genuine.next(), genuine.next(), genuine.next())
    else {
        panic!("genuine token has three segments");
    };

    let header = if input.genuine_header {
        genuine_header.to_owned()
    } else {
        URL_SAFE_NO_PAD.encode(header_json(&input, &stack.kid).to_string())
    };
    let payload = match &input.payload {
        Payload::Raw(bytes) => URL_SAFE_NO_PAD.encode(bytes),
        other => URL_SAFE_NO_PAD.encode(payload_json(other, genuine_payload).to_string()),
    };
    let signature = match &input.signature {
        Signature::Genuine => genuine_signature.to_owned(),
        Signature::Bytes(bytes) => URL_SAFE_NO_PAD.encode(bytes),
        Signature::Raw(text) => text.clone(),
    };
    let token = format!("{header}.{payload}.{signature}");
    // The only way to verify is to reproduce the genuine token exactly; that is not a finding.
    if token == stack.genuine {
        return;
    }
    let now = NOW + i64::from(input.now_offset);
    assert_token_refused(&stack.verifier.verify(&token, now), &token);
});

fn header_json(input: &Input, active_kid: &str) -> Value {
    let mut header = Map::new();
    let alg = match &input.alg {
        Alg::EdDsa => Some(json!("EdDSA")),
        Alg::None => Some(json!("none")),
        Alg::Hs256 => Some(json!("HS256")),
        Alg::Rs256 => Some(json!("RS256")),
        Alg::Other(alg) => Some(json!(alg)),
        Alg::Missing => None,
        Alg::NotAString(n) => Some(json!(n)),
    };
    let kid = match &input.kid {
        Kid::Active => Some(json!(active_kid)),
        Kid::Other(kid) => Some(json!(kid)),
        Kid::Missing => None,
        Kid::NotAString(n) => Some(json!(n)),
    };
    for (name, value) in [("alg", alg), ("kid", kid)] {
        if let Some(value) = value {
            header.insert(name.to_owned(), value);
        }
    }
    for (param, value) in &input.params {
        let name = match param {
            Param::Jku => "jku",
            Param::X5u => "x5u",
            Param::Jwk => "jwk",
            Param::X5c => "x5c",
            Param::Crit => "crit",
            Param::Typ => "typ",
            Param::Other(name) => name.as_str(),
        };
        header.insert(name.to_owned(), json!(value));
    }
    Value::Object(header)
}

fn payload_json(payload: &Payload, genuine_payload: &str) -> Value {
    let genuine: Value = URL_SAFE_NO_PAD
        .decode(genuine_payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .expect("genuine payload is base64url JSON");
    match payload {
        Payload::Tweaked { field, value } => {
            let mut claims = genuine;
            claims[field.as_str()] = json!(value);
            claims
        }
        Payload::Without(field) => {
            let mut claims = genuine;
            if let Value::Object(map) = &mut claims {
                map.remove(field);
            }
            claims
        }
        Payload::Claims {
            iss,
            aud,
            sub,
            bid,
            generation,
            jti,
            nbf,
            exp,
            scp,
        } => {
            let mut claims = Map::new();
            let fields = [
                ("iss", iss.as_ref().map(|v| json!(v))),
                ("aud", aud.as_ref().map(|v| json!(v))),
                ("sub", sub.as_ref().map(|v| json!(v))),
                ("bid", bid.as_ref().map(|v| json!(v))),
                ("gen", generation.map(|v| json!(v))),
                ("jti", jti.as_ref().map(|v| json!(v))),
                ("iat", Some(json!(NOW))),
                ("nbf", nbf.map(|v| json!(v))),
                ("exp", exp.map(|v| json!(v))),
                ("scp", scp.as_ref().map(|v| json!(v))),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    claims.insert(name.to_owned(), value);
                }
            }
            Value::Object(claims)
        }
        Payload::Raw(_) => Value::Null,
    }
}
