//! The response's head (headers, the reason phrase) and trailers: what must never be sent
//! back, and whether the body can be scanned at all.

use auth::KeyPatterns;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, PROXY_AUTHORIZATION, TRANSFER_ENCODING};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue};
use hyper::ext::ReasonPhrase;

use super::stream::fill_marker;

/// What replaces the key in a header value (no length to keep there).
const MARKER: &[u8] = b"[redacted]";

/// Takes the key out of a response head: its headers ([`redact_headers`]) and the reason
/// phrase. hyper keeps an upstream's non-canonical reason phrase (`401 Bad key KEY…`) in the
/// response's extensions and writes it back on the client's HTTP/1.1 status line, one more
/// place an upstream can reflect the key; it becomes `[redacted]` there too. Returns how many
/// occurrences were taken out.
pub(crate) fn redact_head(head: &mut http::response::Parts, patterns: &KeyPatterns) -> u64 {
    redact_headers(&mut head.headers, patterns) + redact_reason(&mut head.extensions, patterns)
}

/// Drops `Authorization` and `Proxy-Authorization` (a response has no use for either, and an
/// upstream that sends one back most likely echoes the key) and replaces each form of the key
/// in every other value with `[redacted]` (`Bearer <key>` becomes `Bearer [redacted]`).
/// Returns how many occurrences of the key were removed, the dropped headers' included.
///
/// One pass over the headers; a value shorter than the key is not searched (with a key of the
/// upstream's 60 characters, none of nginx's five response headers is), and nothing is
/// allocated unless the key is found.
pub fn redact_headers(headers: &mut HeaderMap, patterns: &KeyPatterns) -> u64 {
    let shortest = patterns.shortest();
    let mut found = 0;
    let mut dropped = [false; 2];
    for (name, value) in headers.iter_mut() {
        if let Some(index) = [AUTHORIZATION, PROXY_AUTHORIZATION]
            .iter()
            .position(|never| never == name)
        {
            dropped[index] = true;
            if shortest > 0 && value.len() >= shortest {
                found += count(patterns, value.as_bytes());
            }
            continue;
        }
        if shortest == 0 || value.len() < shortest {
            continue;
        }
        if let Some((redacted, count)) = replaced(patterns, value.as_bytes()) {
            // Header bytes with visible ASCII put in place of others: always a valid value.
            // Should it not be, the whole value goes.
            let mut redacted = HeaderValue::from_maybe_shared(Bytes::from(redacted))
                .unwrap_or(HeaderValue::from_static("[redacted]"));
            redacted.set_sensitive(value.is_sensitive());
            *value = redacted;
            found += count;
        }
    }
    for (name, dropped) in [AUTHORIZATION, PROXY_AUTHORIZATION]
        .into_iter()
        .zip(dropped)
    {
        if dropped {
            headers.remove(name);
        }
    }
    found
}

/// The reason phrase with the key replaced; dropped (the client gets the canonical one) should
/// the result not be a valid reason phrase.
fn redact_reason(extensions: &mut Extensions, patterns: &KeyPatterns) -> u64 {
    let Some(reason) = extensions.get::<ReasonPhrase>() else {
        return 0;
    };
    if patterns.shortest() == 0 || reason.as_bytes().len() < patterns.shortest() {
        return 0;
    }
    let Some((redacted, count)) = replaced(patterns, reason.as_bytes()) else {
        return 0;
    };
    match ReasonPhrase::try_from(redacted) {
        Ok(reason) => {
            extensions.insert(reason);
        }
        Err(_) => {
            extensions.remove::<ReasonPhrase>();
        }
    }
    count
}

/// Whether the body is sent under a coding that hides its bytes from the scan: a
/// `Content-Encoding` other than `identity`, or a `Transfer-Encoding` other than `chunked`.
pub(crate) fn is_encoded(headers: &HeaderMap) -> bool {
    codings_other_than(headers, CONTENT_ENCODING, b"identity")
        || codings_other_than(headers, TRANSFER_ENCODING, b"chunked")
}

fn codings_other_than(headers: &HeaderMap, name: HeaderName, allowed: &[u8]) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&byte| byte == b',')
            .map(<[u8]>::trim_ascii)
            .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(allowed))
    })
}

/// Occurrences of every form in `value`, longest form first, each in what the others left.
fn count(patterns: &KeyPatterns, value: &[u8]) -> u64 {
    replaced(patterns, value).map_or(0, |(_, count)| count)
}

/// `value` with each form of the key replaced, and how many were; `None` when none occurs.
fn replaced(patterns: &KeyPatterns, value: &[u8]) -> Option<(Vec<u8>, u64)> {
    let mut current: Option<Vec<u8>> = None;
    let mut count = 0;
    for finder in patterns.finders() {
        let form = finder.needle();
        let haystack: &[u8] = current.as_deref().unwrap_or(value);
        if finder.find(haystack).is_none() {
            continue;
        }
        let marker = header_marker(form);
        let mut out = Vec::with_capacity(haystack.len() + MARKER.len());
        let mut rest = 0;
        for at in finder.find_iter(haystack) {
            out.extend_from_slice(&haystack[rest..at]);
            out.extend_from_slice(&marker);
            rest = at + form.len();
            count += 1;
        }
        out.extend_from_slice(&haystack[rest..]);
        current = Some(out);
    }
    current.map(|redacted| (redacted, count))
}

/// `[redacted]`, unless the form occurs in it (a key such as `red`): then a same-length marker,
/// which cannot contain the form without being it.
fn header_marker(form: &[u8]) -> Vec<u8> {
    if memchr::memmem::find(MARKER, form).is_none() {
        return MARKER.to_vec();
    }
    let mut marker = vec![0; form.len()];
    fill_marker(&mut marker, form);
    marker
}

#[cfg(test)]
mod tests {
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER, WWW_AUTHENTICATE};

    use super::*;
    use crate::redact::testing::credential;

    const KEY: &str = "KEY0123456789abcdef_real";

    fn map(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::try_from(value.as_str()).unwrap(),
            );
        }
        headers
    }

    fn redact(key: &str, headers: &mut HeaderMap) -> u64 {
        redact_headers(headers, credential(key).key_patterns())
    }

    #[test]
    fn authorization_headers_are_dropped_and_the_key_elsewhere_replaced() {
        let bearer = format!("Bearer {KEY}");
        let mut headers = map(&[
            ("authorization", bearer.clone()),
            ("proxy-authorization", "Basic Zm9v".to_owned()),
            ("x-echo-auth", bearer.clone()),
            (
                "www-authenticate",
                format!(r#"Bearer error="invalid_token", error_description="rejected {bearer}""#),
            ),
            ("x-twice", format!("{KEY},{KEY}")),
            ("content-type", "application/json".to_owned()),
        ]);
        assert_eq!(redact(KEY, &mut headers), 5);
        assert!(!headers.contains_key(AUTHORIZATION));
        assert!(!headers.contains_key(PROXY_AUTHORIZATION));
        assert_eq!(headers["x-echo-auth"], "Bearer [redacted]");
        assert_eq!(
            headers[WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token", error_description="rejected Bearer [redacted]""#
        );
        assert_eq!(headers["x-twice"], "[redacted],[redacted]");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn headers_without_the_key_are_untouched() {
        let mut headers = map(&[
            ("server", "nginx/1.22.1".to_owned()),
            ("date", "Mon, 23 Nov 2026 11:57:45 GMT".to_owned()),
            ("content-type", "application/json".to_owned()),
            ("content-length", "46".to_owned()),
            ("link", format!("<https://api.example/v2/x?{}>", &KEY[1..])),
            ("x-multi", "a".to_owned()),
            ("x-multi", "b".to_owned()),
        ]);
        let before = headers.clone();
        assert_eq!(redact(KEY, &mut headers), 0);
        assert_eq!(headers, before);
        assert!(headers.contains_key(SERVER) && headers.contains_key(DATE));
        assert_eq!(headers[CONTENT_LENGTH], "46");
    }

    #[test]
    fn the_json_escaped_key_in_a_header_is_replaced_too() {
        let key = r#"K"e\y"#;
        let mut headers = map(&[("x-error", r#"{"detail":"bad K\"e\\y"}"#.to_owned())]);
        assert_eq!(redact(key, &mut headers), 1);
        assert_eq!(headers["x-error"], r#"{"detail":"bad [redacted]"}"#);
    }

    #[test]
    fn a_key_inside_the_marker_gets_a_marker_without_it() {
        let mut headers = map(&[("x-echo-auth", "Bearer red".to_owned())]);
        assert_eq!(redact("red", &mut headers), 1);
        let value = headers["x-echo-auth"].to_str().unwrap();
        assert!(!value.contains("red"), "{value}");
    }

    #[test]
    fn an_authorization_without_the_key_is_dropped_but_not_counted() {
        let mut headers = map(&[("authorization", "Bearer something-else".to_owned())]);
        assert_eq!(redact(KEY, &mut headers), 0);
        assert!(headers.is_empty());
    }

    #[test]
    fn a_key_in_the_reason_phrase_becomes_redacted() {
        let credential = credential(KEY);
        let reason = format!("Invalid key Bearer {KEY}");
        let (mut head, ()) = http::Response::new(()).into_parts();
        head.extensions
            .insert(ReasonPhrase::try_from(reason.as_bytes()).unwrap());
        assert_eq!(redact_head(&mut head, credential.key_patterns()), 1);
        let reason = head.extensions.get::<ReasonPhrase>().unwrap();
        assert_eq!(reason.as_bytes(), b"Invalid key Bearer [redacted]");
        let (mut plain, ()) = http::Response::new(()).into_parts();
        plain
            .extensions
            .insert(ReasonPhrase::from_static(b"Quite Unusual"));
        assert_eq!(redact_head(&mut plain, credential.key_patterns()), 0);
        assert_eq!(
            plain.extensions.get::<ReasonPhrase>().unwrap().as_bytes(),
            b"Quite Unusual"
        );
    }

    #[test]
    fn identity_and_chunked_are_scannable_other_codings_are_not() {
        for (name, value, encoded) in [
            ("content-encoding", "identity", false),
            ("content-encoding", "gzip", true),
            ("content-encoding", "identity, br", true),
            ("content-encoding", "IDENTITY", false),
            ("transfer-encoding", "chunked", false),
            ("transfer-encoding", "gzip, chunked", true),
            ("content-type", "application/gzip", false),
        ] {
            let headers = map(&[(name, value.to_owned())]);
            assert_eq!(is_encoded(&headers), encoded, "{name}: {value}");
        }
        assert!(!is_encoded(&HeaderMap::new()));
    }
}
