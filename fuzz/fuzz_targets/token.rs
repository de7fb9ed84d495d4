//! Token parsing: `auth::Verifier::verify` on arbitrary strings, and the `Authorization`
//! header step in front of it (`Authenticator::authenticate`).
//!
//! Input: one selector byte, then the bytes. Selector `% 4`: 0 the raw bytes as the token;
//! 1 as an `Authorization` header value; 2 as `Bearer <bytes>`; 3 as two `Authorization`
//! headers split at the middle. Checks: no panic, never `Ok`, and always a token refusal
//! (never a store or internal error).

#![no_main]

use fuzz_support::{NOW, assert_token_refused, stack};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stack = stack();
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            let token = String::from_utf8_lossy(bytes);
            for now in [NOW, 0, i64::MAX, i64::MIN] {
                assert_token_refused(&stack.verifier.verify(&token, now), &token);
            }
        }
        1 | 2 => {
            let mut value = Vec::with_capacity(bytes.len() + 7);
            if selector % 4 == 2 {
                value.extend_from_slice(b"Bearer ");
            }
            value.extend_from_slice(bytes);
            let Ok(value) = HeaderValue::from_bytes(&value) else {
                return;
            };
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value);
            authenticate(stack, &headers, bytes);
        }
        _ => {
            let (first, second) = bytes.split_at(bytes.len() / 2);
            let mut headers = HeaderMap::new();
            for half in [first, second] {
                let Ok(value) = HeaderValue::from_bytes(half) else {
                    return;
                };
                headers.append(AUTHORIZATION, value);
            }
            authenticate(stack, &headers, bytes);
        }
    }
});

fn authenticate(stack: &fuzz_support::Stack, headers: &HeaderMap, bytes: &[u8]) {
    let result = stack
        .runtime
        .block_on(stack.authenticator.authenticate(headers, NOW));
    assert_token_refused(&result, &String::from_utf8_lossy(bytes));
}
