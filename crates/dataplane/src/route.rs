//! From the received request target to the upstream path: pure, no decoding, no re-encoding.
//!
//! Two forms reach the same upstream path:
//! `{prefix}/v2/{rest}` (what the docs tell users to call) and `{prefix}/{rest}` (what the
//! official SDKs send, as they append paths to `TELNYX_BASE_URL` without `/v2`). Both become
//! `/v2/{rest}`, and the query follows byte-for-byte. Hostile targets are refused first, by the
//! target check ([`crate::target`]), so a path that could mean something else upstream never
//! leaves the proxy.

use http::uri::PathAndQuery;

use crate::target::{TargetProblem, check_path, check_query};

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn semicolons_are_refused_in_the_path_but_not_the_query() {
        // `..;` is `..` to servlet containers, which cut `;…` off before resolving dots.
        for segment in [
            "..;", "..;x=1", ".;", ";", "a;b", "..%3b", "..%3B", "%2e%2e;", "ns-1;",
        ] {
            for target in [
                format!("{PREFIX}/v2/messages/{segment}/api_keys"),
                format!("{PREFIX}/messages/{segment}/api_keys"),
                format!("{PREFIX}/v2/storage/kvs/ns-1/{segment}/ns-2/keys/x"),
                format!("{PREFIX}/v2/messages/{segment}"),
            ] {
                assert_eq!(
                    refused(&target),
                    RouteError::BadTarget(TargetProblem::Semicolon),
                    "{target}"
                );
            }
        }
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/messages?a=..;&b=;x=1&c=..%3b/..")),
            "/v2/messages?a=..;&b=;x=1&c=..%3b/.."
        );
    }

    #[test]
    fn double_encoded_escapes_are_refused() {
        // An upstream that decodes twice reads each of these as `..` or `/`.
        for segment in [
            "%252e%252e",
            "%252E.",
            ".%252e",
            "%25%32%65%25%32%65",
            "%25252e%25252e",
            "a%252F..",
            "%2561",
            "x%25ff",
        ] {
            for target in [
                format!("{PREFIX}/v2/messages/{segment}/api_keys"),
                format!("{PREFIX}/storage/kvs/ns-1/{segment}/ns-2/keys/x"),
            ] {
                assert_eq!(
                    refused(&target),
                    RouteError::BadTarget(TargetProblem::DoubleEncoding),
                    "{target}"
                );
            }
        }
        // A `%` encoded once and not followed by two hex digits is a literal `%` everywhere.
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/a/%25/%25z/%252")),
            "/v2/a/%25/%25z/%252"
        );
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/messages?q=%252e%252e")),
            "/v2/messages?q=%252e%252e"
        );
    }

    #[test]
    fn escapes_that_are_not_utf8_are_refused() {
        // Overlong dots, slashes and backslashes, which lenient decoders read as ASCII; a
        // surrogate, a stray continuation byte, a truncated sequence, bytes UTF-8 never uses.
        for segment in [
            "%c0%ae%c0%ae",
            "%C0%AE.",
            "%e0%80%ae%e0%80%ae",
            "%f0%80%80%ae",
            "%f8%80%80%80%ae",
            "..%c0%af..",
            "%c1%9c",
            "%ed%a0%80",
            "%ae",
            "%c3",
            "%e2%82",
            "%ff",
        ] {
            for target in [
                format!("{PREFIX}/v2/messages/{segment}/api_keys"),
                format!("{PREFIX}/storage/kvs/ns-1/{segment}/ns-2/keys/x"),
                format!("{PREFIX}/v2/messages/{segment}"),
            ] {
                assert_eq!(
                    refused(&target),
                    RouteError::BadTarget(TargetProblem::InvalidUtf8),
                    "{target}"
                );
            }
        }
        // UTF-8, raw or encoded, goes through as it came.
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/a/%C3%A9/%e2%82%ac/é")),
            "/v2/a/%C3%A9/%e2%82%ac/é"
        );
        assert_eq!(
            upstream(&format!("{PREFIX}/v2/messages?q=%c0%ae%c0%ae")),
            "/v2/messages?q=%c0%ae%c0%ae"
        );
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
