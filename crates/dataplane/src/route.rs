//! From the received request target to the upstream path: pure, no decoding, no re-encoding.
//!
//! Two forms reach the same upstream path:
//! `{prefix}/v2/{rest}` (what the docs tell users to call) and `{prefix}/{rest}` (what the
//! official SDKs send, as they append paths to `TELNYX_BASE_URL` without `/v2`). Both become
//! `/v2/{rest}`, and the query follows byte-for-byte. Hostile targets are refused before routing,
//! so a path that could mean something else upstream never leaves the proxy.

use http::uri::PathAndQuery;

/// Why a request target was refused as malformed (400 `bad_request_target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    /// A `.` or `..` segment, raw or percent-encoded in any case.
    #[error("path contains a dot segment")]
    DotSegment,
    /// A raw or percent-encoded control character (`%00`-`%1F`, `%7F`).
    #[error("path contains a control character")]
    ControlCharacter,
    /// A raw or percent-encoded backslash.
    #[error("path contains a backslash")]
    Backslash,
    /// A `%` not followed by two hex digits.
    #[error("path contains an invalid percent escape")]
    InvalidPercentEscape,
    /// Two slashes in a row.
    #[error("path contains an empty segment")]
    EmptySegment,
    /// Absolute-form or authority-form target, or no path at all.
    #[error("request target is not in origin form")]
    NotOriginForm,
}

/// Why a request target did not route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// Well-formed, but not an API path under the prefix (404 `route_not_found`).
    NotFound,
    /// Malformed or hostile (400 `bad_request_target`).
    BadTarget(TargetProblem),
}

/// A routed request: the upstream path and query, exactly as received after the prefix.
#[derive(Debug, Clone)]
pub struct Route {
    upstream: PathAndQuery,
}

/// The `/v2/` every upstream path starts with.
const UPSTREAM_ROOT: &str = "/v2/";

impl Route {
    /// Maps the received path-and-query under `prefix` (validated: empty or `/…` without a
    /// trailing slash) to the upstream path-and-query.
    ///
    /// # Errors
    /// [`RouteError::BadTarget`] for a hostile target (checked first, over the whole path),
    /// [`RouteError::NotFound`] when the path is not an API path under `prefix`.
    pub fn parse(prefix: &str, path_and_query: &str) -> Result<Self, RouteError> {
        let (path, query) = match path_and_query.bytes().position(|b| b == b'?') {
            Some(at) => path_and_query.split_at(at),
            None => (path_and_query, ""),
        };
        check_path(path).map_err(RouteError::BadTarget)?;
        check_query(query).map_err(RouteError::BadTarget)?;

        let rest = path
            .strip_prefix(prefix)
            .and_then(|after| after.strip_prefix('/'))
            .ok_or(RouteError::NotFound)?;
        let rest = match rest.strip_prefix("v2") {
            Some("" | "/") => return Err(RouteError::NotFound),
            Some(inner) => inner.strip_prefix('/').unwrap_or(rest),
            None => rest,
        };
        if rest.is_empty() {
            return Err(RouteError::NotFound);
        }

        let mut upstream = String::with_capacity(UPSTREAM_ROOT.len() + rest.len() + query.len());
        upstream.push_str(UPSTREAM_ROOT);
        upstream.push_str(rest);
        upstream.push_str(query);
        // The bytes came from a parsed target and were checked above; a failure here means the
        // `http` crate disagrees with us, which is a refusal, not a panic.
        let upstream = PathAndQuery::try_from(upstream)
            .map_err(|_| RouteError::BadTarget(TargetProblem::NotOriginForm))?;
        Ok(Self { upstream })
    }

    /// The upstream path and query (`/v2/{rest}?{query}`).
    pub(crate) fn into_path_and_query(self) -> PathAndQuery {
        self.upstream
    }

    /// The raw upstream path after `/v2/`, without the query: what the deny-list and the
    /// scope table match.
    pub(crate) fn api_path(&self) -> &str {
        self.upstream
            .path()
            .get(UPSTREAM_ROOT.len()..)
            .unwrap_or("")
    }

    /// The API group: the first segment after `/v2/` (`messages`, `storage`), for logs.
    pub(crate) fn api_group(&self) -> &str {
        let after = self
            .upstream
            .path()
            .get(UPSTREAM_ROOT.len()..)
            .unwrap_or("");
        after
            .bytes()
            .position(|b| b == b'/')
            .and_then(|end| after.get(..end))
            .unwrap_or(after)
    }
}

/// Refuses paths that upstream servers or intermediaries could read differently than we do.
///
/// A plain path ([`is_plain`]) is accepted at once; any other gets one escape-aware pass over
/// the bytes. An invalid escape, a control character or a backslash is refused
/// at once, at the first one; otherwise two slashes in a row win over a dot segment (the order
/// the checks are documented and tested in).
fn check_path(path: &str) -> Result<(), TargetProblem> {
    if !path.starts_with('/') {
        return Err(TargetProblem::NotOriginForm);
    }
    let bytes = path.as_bytes();
    if is_plain(bytes) {
        return Ok(());
    }
    let mut at = 0;
    let mut previous_raw_slash = false;
    let mut empty_segment = false;
    let mut dot_segment = false;
    // Dots in the current segment (raw or `%2e`), or `None` once it holds anything else.
    let mut dots: Option<u8> = Some(0);
    while let Some(&byte) = bytes.get(at) {
        let decoded = if byte == b'%' {
            let value = decode_escape(bytes, at).ok_or(TargetProblem::InvalidPercentEscape)?;
            at += 3;
            value
        } else {
            at += 1;
            byte
        };
        // Encoded control bytes stop header/log injection and NUL truncation upstream; a
        // backslash is a separator on some servers, so `..\` could climb out of `/v2/`.
        if decoded < 0x20 || decoded == 0x7f {
            return Err(TargetProblem::ControlCharacter);
        }
        if decoded == b'\\' {
            return Err(TargetProblem::Backslash);
        }
        let raw_slash = byte == b'/';
        empty_segment |= raw_slash && previous_raw_slash;
        previous_raw_slash = raw_slash;
        // Path traversal: a dot segment, raw or encoded, lets an upstream that normalises
        // paths reach something outside the route. Encoded slashes end a segment too, because
        // an upstream that decodes `%2F` before normalising would see `..%2F` as `../`.
        if decoded == b'/' {
            dot_segment |= matches!(dots, Some(1 | 2));
            dots = Some(0);
        } else if decoded == b'.' {
            dots = dots.map(|n| n.saturating_add(1));
        } else {
            dots = None;
        }
    }
    dot_segment |= matches!(dots, Some(1 | 2));
    if empty_segment {
        return Err(TargetProblem::EmptySegment);
    }
    if dot_segment {
        return Err(TargetProblem::DotSegment);
    }
    Ok(())
}

/// Whether no byte of `path` can start a problem [`check_path`] refuses: no `%`, `.`, `\` or
/// control byte, and no two slashes in a row. Most API paths are plain; this answers for them
/// in two branch-free passes (which the compiler can vectorise) instead of the byte-by-byte
/// walk.
fn is_plain(bytes: &[u8]) -> bool {
    let mut special = false;
    for &byte in bytes {
        special |=
            (byte == b'%') | (byte == b'.') | (byte == b'\\') | (byte < 0x20) | (byte == 0x7f);
    }
    let mut double_slash = false;
    for (&first, &second) in bytes.iter().zip(bytes.iter().skip(1)) {
        double_slash |= (first == b'/') & (second == b'/');
    }
    !special && !double_slash
}

/// The query (with its leading `?`) goes upstream as received; only raw control bytes are
/// refused (the `http` parser already rejects most of them).
fn check_query(query: &str) -> Result<(), TargetProblem> {
    if query.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(TargetProblem::ControlCharacter);
    }
    Ok(())
}

/// The byte a `%XX` escape at `at` stands for, if it is a valid escape.
fn decode_escape(bytes: &[u8], at: usize) -> Option<u8> {
    let high = hex_value(*bytes.get(at + 1)?)?;
    let low = hex_value(*bytes.get(at + 2)?)?;
    Some(high << 4 | low)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    /// The multi-pass check `check_path` replaced, kept as its reference.
    fn check_path_reference(path: &str) -> Result<(), TargetProblem> {
        if !path.starts_with('/') {
            return Err(TargetProblem::NotOriginForm);
        }
        let bytes = path.as_bytes();
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            let decoded = if byte == b'%' {
                let value = decode_escape(bytes, at).ok_or(TargetProblem::InvalidPercentEscape)?;
                at += 3;
                value
            } else {
                at += 1;
                byte
            };
            // Encoded control bytes stop header/log injection and NUL truncation upstream; a
            // backslash is a separator on some servers, so `..\` could climb out of `/v2/`.
            if decoded < 0x20 || decoded == 0x7f {
                return Err(TargetProblem::ControlCharacter);
            }
            if decoded == b'\\' {
                return Err(TargetProblem::Backslash);
            }
        }
        if path.contains("//") {
            return Err(TargetProblem::EmptySegment);
        }
        // Path traversal: a dot segment, raw or encoded, lets an upstream that normalises paths
        // reach something outside the route. Encoded slashes are split on too, because an upstream
        // that decodes `%2F` before normalising would see `..%2F` as `../`.
        if segments(path).any(is_dot_segment) {
            return Err(TargetProblem::DotSegment);
        }
        Ok(())
    }

    /// Segments split on `/` and on `%2F`/`%2f`.
    fn segments(path: &str) -> impl Iterator<Item = &str> {
        path.split('/').flat_map(|segment| SplitEncodedSlash {
            rest: Some(segment),
        })
    }

    /// Splits a segment on `%2F` in either case without allocating.
    struct SplitEncodedSlash<'a> {
        rest: Option<&'a str>,
    }

    impl<'a> Iterator for SplitEncodedSlash<'a> {
        type Item = &'a str;

        fn next(&mut self) -> Option<&'a str> {
            let rest = self.rest?;
            let bytes = rest.as_bytes();
            let found = (0..bytes.len()).find(|&i| {
                bytes
                    .get(i..i + 3)
                    .is_some_and(|w| w[0] == b'%' && w[1] == b'2' && w[2] | 0x20 == b'f')
            });
            match found {
                Some(i) => {
                    self.rest = rest.get(i + 3..);
                    rest.get(..i)
                }
                None => {
                    self.rest = None;
                    Some(rest)
                }
            }
        }
    }

    /// `.` or `..`, each dot raw or `%2e`/`%2E`.
    fn is_dot_segment(segment: &str) -> bool {
        let mut rest = segment.as_bytes();
        let mut dots = 0;
        while !rest.is_empty() {
            rest = match rest {
                [b'.', tail @ ..] => tail,
                [b'%', b'2', e, tail @ ..] if e | 0x20 == b'e' => tail,
                _ => return false,
            };
            dots += 1;
        }
        (1..=2).contains(&dots)
    }

    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// The one-pass check refuses exactly what the multi-pass one did, with the same
        /// problem, over paths built from the pieces that matter (raw and encoded slashes,
        /// dots, backslashes and control bytes, broken escapes).
        #[test]
        fn one_pass_check_path_matches_the_reference(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "\\",
                    "%00", "%1f", "%7f", "%7F", "\u{7f}", "\t", "%", "%2", "%zz", "%41", "%25",
                    "a", "v2", "kv", "-", "~", "?", "é",
                ]),
                0..12,
            ),
            leading_slash in proptest::bool::ANY,
        ) {
            let mut path = String::from(if leading_slash { "/" } else { "" });
            for piece in pieces {
                path.push_str(piece);
            }
            proptest::prop_assert_eq!(check_path(&path), check_path_reference(&path), "{:?}", path);
        }
    }

    const PREFIX: &str = "/v2/compute/internal/binding-proxy";

    fn upstream(target: &str) -> String {
        Route::parse(PREFIX, target)
            .map(|r| r.into_path_and_query().as_str().to_owned())
            .unwrap_or_else(|e| panic!("{target} did not route: {e:?}"))
    }

    fn refused(target: &str) -> RouteError {
        match Route::parse(PREFIX, target) {
            Ok(route) => panic!("{target} routed to {:?}", route.into_path_and_query()),
            Err(err) => err,
        }
    }

    #[test]
    fn documented_form_keeps_the_inner_v2() {
        assert_eq!(upstream(&format!("{PREFIX}/v2/messages")), "/v2/messages");
    }

    #[test]
    fn sdk_form_gains_v2() {
        assert_eq!(upstream(&format!("{PREFIX}/messages")), "/v2/messages");
        assert_eq!(upstream(&format!("{PREFIX}/v2x/y")), "/v2/v2x/y");
    }

    #[test]
    fn query_is_kept_byte_for_byte() {
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/messages?page[size]=1&filter=a%20b&x")),
            "/v2/messages?page[size]=1&filter=a%20b&x"
        );
        assert_eq!(upstream(&format!("{PREFIX}/balance?")), "/v2/balance?");
        assert_eq!(
            upstream(&format!("{PREFIX}/balance?a=..%2F..")),
            "/v2/balance?a=..%2F.."
        );
    }

    #[test]
    fn encoded_keys_are_not_decoded() {
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/storage/kv/ns/keys/user%2F123")),
            "/v2/storage/kv/ns/keys/user%2F123"
        );
        assert_eq!(
            upstream(&format!("{PREFIX}/storage/kv/ns/keys/greeting%2Fa%20b")),
            "/v2/storage/kv/ns/keys/greeting%2Fa%20b"
        );
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/a/.well/..x/...")),
            "/v2/a/.well/..x/..."
        );
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert_eq!(upstream(&format!("{PREFIX}/v2/messages/")), "/v2/messages/");
    }

    #[test]
    fn api_group_is_first_segment_after_v2() {
        let route = Route::parse(PREFIX, &format!("{PREFIX}/storage/kv/x?y=1")).unwrap();
        assert_eq!(route.api_group(), "storage");
        let route = Route::parse(PREFIX, &format!("{PREFIX}/v2/balance?y=1")).unwrap();
        assert_eq!(route.api_group(), "balance");
    }

    #[test]
    fn api_path_is_the_raw_path_after_v2_without_query() {
        let route = Route::parse(PREFIX, &format!("{PREFIX}/storage/kvs/a%2Fb?y=1")).unwrap();
        assert_eq!(route.api_path(), "storage/kvs/a%2Fb");
        let route = Route::parse(PREFIX, &format!("{PREFIX}/v2/mess%61ges")).unwrap();
        assert_eq!(route.api_path(), "mess%61ges");
    }

    #[test]
    fn prefix_alone_or_empty_v2_is_not_found() {
        for tail in ["", "/", "/v2", "/v2/", "?x=1", "/?x=1", "/v2?x", "/v2/?x"] {
            assert_eq!(
                refused(&format!("{PREFIX}{tail}")),
                RouteError::NotFound,
                "{tail}"
            );
        }
    }

    #[test]
    fn paths_outside_the_prefix_are_not_found() {
        for target in [
            "/",
            "/v2/messages",
            "/v2/compute/internal/binding-proxyx/messages",
            "*",
        ] {
            let err = refused(target);
            assert!(
                matches!(err, RouteError::NotFound | RouteError::BadTarget(_)),
                "{target}"
            );
        }
        assert_eq!(refused("/v2/messages"), RouteError::NotFound);
        assert_eq!(
            refused("/v2/compute/internal/binding-proxyx/messages"),
            RouteError::NotFound
        );
    }

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for segment in [
            ".", "..", "%2e", "%2E", "%2e%2e", "%2E%2e", ".%2e", "%2e.", ".%2E", "%2E.",
        ] {
            for target in [
                format!("{PREFIX}/v2/{segment}/balance"),
                format!("{PREFIX}/v2/messages/{segment}"),
                format!("{PREFIX}/{segment}/x?y"),
                format!("{PREFIX}/v2/kv/a%2F{segment}%2Fb"),
                format!("{PREFIX}/v2/kv/a%2f{segment}"),
                format!("/v2/{segment}/compute/internal/binding-proxy/messages"),
            ] {
                assert_eq!(
                    refused(&target),
                    RouteError::BadTarget(TargetProblem::DotSegment),
                    "{target}"
                );
            }
        }
    }

    #[test]
    fn control_characters_are_refused() {
        for esc in [
            "%00", "%0a", "%0D", "%1f", "%1F", "%7f", "%7F", "\u{1}", "\u{7f}",
        ] {
            let target = format!("{PREFIX}/v2/messages{esc}x");
            assert_eq!(
                refused(&target),
                RouteError::BadTarget(TargetProblem::ControlCharacter),
                "{target:?}"
            );
        }
        assert_eq!(
            refused(&format!("{PREFIX}/v2/messages?a=\u{0}")),
            RouteError::BadTarget(TargetProblem::ControlCharacter)
        );
    }

    #[test]
    fn backslashes_are_refused() {
        for esc in ["\\", "%5c", "%5C"] {
            assert_eq!(
                refused(&format!("{PREFIX}/v2/a{esc}..{esc}b")),
                RouteError::BadTarget(TargetProblem::Backslash)
            );
        }
    }

    #[test]
    fn invalid_escapes_are_refused() {
        for esc in ["%", "%2", "%zz", "%g0", "%%41"] {
            assert_eq!(
                refused(&format!("{PREFIX}/v2/a{esc}")),
                RouteError::BadTarget(TargetProblem::InvalidPercentEscape),
                "{esc}"
            );
        }
    }

    #[test]
    fn empty_segments_are_refused() {
        for target in [
            format!("{PREFIX}//messages"),
            format!("{PREFIX}/v2//messages"),
            format!("{PREFIX}/v2/messages//x"),
            "//v2/compute".to_owned(),
        ] {
            assert_eq!(
                refused(&target),
                RouteError::BadTarget(TargetProblem::EmptySegment),
                "{target}"
            );
        }
    }

    #[test]
    fn non_origin_form_is_refused() {
        assert_eq!(
            refused("http://evil.example/v2/messages"),
            RouteError::BadTarget(TargetProblem::NotOriginForm)
        );
    }

    #[test]
    fn empty_prefix_routes_from_the_root() {
        let pq = Route::parse("", "/messages?x=1")
            .unwrap()
            .into_path_and_query();
        assert_eq!(pq.as_str(), "/v2/messages?x=1");
        assert_eq!(Route::parse("", "/v2").unwrap_err(), RouteError::NotFound);
    }
}
