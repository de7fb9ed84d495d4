//! Properties of routing and scope matching over generated request targets.
//!
//! Targets are built from scope-table prefixes (with unreserved characters randomly
//! percent-encoded), random segments, percent escapes (`%2F`, `%20`, `%5C`, …) and dot
//! segments in every spelling, in both the documented (`{prefix}/v2/…`) and the SDK
//! (`{prefix}/…`) form, and the spellings servers resolve to dot segments after normalising
//! (`..;`, `..%3b`, `%252e%252e`, `%c0%ae`). The router and `auth::scope` are checked against
//! reference implementations written here, segment by segment, independently of theirs;
//! `agreement` checks that the router's target check and the scope match read every path
//! alike.

use auth::scope::{SERVICES, ScopeTable, strip_path_prefix};
use binding_proxy_dataplane::__private::Route;
use binding_proxy_dataplane::DEFAULT_PATH_PREFIX;
use proptest::prelude::*;
use proptest::sample::select;

mod agreement;
mod readings;

use readings::{a_server_reads_a_dot_segment, has_dot_segment, percent_decode};

/// A generated request target and the parts it was built from. Only targets `http` parses as
/// a path-and-query are routed (see [`reachable`]): the data plane hands the router
/// `uri.path_and_query().as_str()`, so nothing else can reach it.
#[derive(Debug, Clone)]
struct Target {
    /// `{DEFAULT_PATH_PREFIX}{form}{api}{query}`.
    full: String,
    /// The query with its `?`, or empty.
    query: String,
}

/// Dot segments, raw and percent-encoded in any case.
const DOT_SEGMENTS: [&str; 10] = [
    ".", "..", "%2e", "%2E", "%2e%2e", "%2E%2e", ".%2e", "%2e.", ".%2E", "%2E.",
];

/// Segments that are `.` or `..` only to a server that normalises first (see
/// [`a_server_reads_a_dot_segment`]): `;…` path parameters cut off, `%3B` decoded, escapes
/// decoded twice, overlong UTF-8 read as ASCII.
const NORMALISED_DOT_SEGMENTS: [&str; 16] = [
    "..;",
    ".;",
    "..;x=1",
    "%2e%2e;a",
    "..%3b",
    "..%3B",
    ".%3Bjsessionid=1",
    "%252e%252e",
    "%252E.",
    "%25%32%65",
    "%25252e%25252e",
    "%c0%ae%c0%ae",
    "%C0%AE.",
    "%e0%80%ae",
    "%f0%80%80%ae%f0%80%80%ae",
    "a%c0%af..",
];

/// Escapes and near-misses: encoded slashes, backslashes and controls, unreserved characters
/// encoded, an encoded `%` (alone, before hex digits, before others), UTF-8, reserved
/// characters, dots that are not dot segments.
const TRICKY_SEGMENTS: [&str; 24] = [
    "%2F", "%2f", "a%2Fb", "%20", "%5C", "%5c", "%00", "%0A", "%7F", "%61", "%5F", "%2525", "%25",
    "%25z", "%C3%A9", "é", "a;b", "=", "...", ".well", "..x", "a.", "v2", "~",
];

/// Namespace ids that `kv:<id>` scopes and path segments share, so they collide often.
const NAMESPACES: [&str; 3] = ["ns1", "a.b", "ns-2"];

/// One character of a prefix: as is, or percent-encoded with either hex case.
fn maybe_escaped(c: char) -> BoxedStrategy<String> {
    let upper = format!("%{:02X}", u32::from(c));
    let lower = upper.to_ascii_lowercase();
    prop_oneof![
        6 => Just(c.to_string()),
        1 => Just(upper),
        1 => Just(lower),
    ]
    .boxed()
}

/// `text` with each unreserved character independently kept or percent-encoded.
fn respelled(text: String) -> BoxedStrategy<String> {
    text.chars()
        .map(maybe_escaped)
        .collect::<Vec<_>>()
        .prop_map(|parts| parts.concat())
        .boxed()
}

/// Every prefix the default table knows.
fn all_prefixes() -> Vec<String> {
    let table = ScopeTable::defaults();
    SERVICES
        .iter()
        .flat_map(|service| table.prefixes(service).unwrap_or_default().to_vec())
        .collect()
}

fn segment() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Z0-9._~-]{1,8}",
        2 => select(DOT_SEGMENTS.to_vec()).prop_map(str::to_owned),
        1 => select(NORMALISED_DOT_SEGMENTS.to_vec()).prop_map(str::to_owned),
        2 => select(TRICKY_SEGMENTS.to_vec()).prop_map(str::to_owned),
        2 => select(NAMESPACES.to_vec()).prop_flat_map(|ns| respelled(ns.to_owned())),
        1 => (select(DOT_SEGMENTS.to_vec()), select(vec!["%2F", "%2f"]))
            .prop_map(|(dot, slash)| format!("a{slash}{dot}")),
        1 => "%[0-9a-fA-F]{2}",
        // Visible ASCII `http` keeps in a path (`?` would end it).
        1 => "[!-~]{1,4}".prop_map(|s| s.replace(['?', '#', '<', '>', '`', '"'], "q")),
    ]
    .boxed()
}

/// The API path (after `/v2/`): usually a scope prefix, respelled, then 0–4 segments.
fn api_path() -> BoxedStrategy<String> {
    let head = prop_oneof![
        4 => select(all_prefixes()).prop_flat_map(respelled),
        1 => segment(),
    ];
    (head, prop::collection::vec(segment(), 0..4), any::<bool>())
        .prop_map(|(head, tail, trailing_slash)| {
            let mut path = head;
            for segment in tail {
                path.push('/');
                path.push_str(&segment);
            }
            if trailing_slash {
                path.push('/');
            }
            path
        })
        .boxed()
}

fn target() -> impl Strategy<Value = Target> {
    let query = prop_oneof![
        2 => Just(String::new()),
        3 => "[!-~]{0,16}".prop_map(|q| format!("?{}", q.replace(['#', '<', '>', '"'], "h"))),
        1 => Just("?a=..%2F..&b=%2e%2E/./x".to_owned()),
    ];
    (any::<bool>(), api_path(), query).prop_map(|(documented, api, query)| {
        let form = if documented { "/v2/" } else { "/" };
        Target {
            full: format!("{DEFAULT_PATH_PREFIX}{form}{api}{query}"),
            query,
        }
    })
}

/// Scope lists: bare services and `kv:<id>` narrowings.
fn scopes() -> impl Strategy<Value = Vec<String>> {
    let scope = prop_oneof![
        3 => select(SERVICES.to_vec()).prop_map(str::to_owned),
        1 => select(NAMESPACES.to_vec()).prop_map(|ns| format!("kv:{ns}")),
    ];
    prop::collection::vec(scope, 0..4)
}

/// The upstream path-and-query of an accepted route.
///
/// `Route` keeps its accessors crate-private; its `Debug` is `Route { upstream: <pq> }` with
/// `PathAndQuery`'s `Display` (the raw string). A changed shape fails the test loudly.
fn upstream_of(route: &Route) -> String {
    let debug = format!("{route:?}");
    match debug
        .strip_prefix("Route { upstream: ")
        .and_then(|rest| rest.strip_suffix(" }"))
    {
        Some(upstream) => upstream.to_owned(),
        None => panic!("unexpected Route Debug shape: {debug}"),
    }
}

/// Whether the data plane could see `target`: hyper parses the request target with `http`,
/// which refuses spaces, controls and non-ASCII and would drop a `#` fragment.
fn reachable(target: &str) -> bool {
    http::uri::PathAndQuery::try_from(target).is_ok_and(|pq| pq.as_str() == target)
}

fn split_query(target: &str) -> (&str, &str) {
    match target.find('?') {
        Some(at) => target.split_at(at),
        None => (target, ""),
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// A raw segment with escapes of unreserved characters decoded and every other byte kept:
/// RFC 3986 §6.2.2.2 normalisation, the one equivalence scope matching honours.
fn normalise_segment(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let unreserved = bytes
            .get(i + 1..i + 3)
            .filter(|hex| byte == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|decoded| is_unreserved(*decoded));
        match unreserved {
            Some(decoded) => {
                out.push(char::from(decoded));
                i += 3;
            }
            None => {
                out.push(char::from(byte));
                i += 1;
            }
        }
    }
    out
}

/// Reference prefix match: the path's `/`-segments, normalised, start with the prefix's.
/// Returns the normalised segments after the prefix.
fn reference_under(api_path: &str, prefix: &str) -> Option<Vec<String>> {
    let mut segments = api_path.split('/').map(normalise_segment);
    for want in prefix.split('/') {
        if segments.next()? != want {
            return None;
        }
    }
    Some(segments.collect())
}

/// Reference scope decision: some service granted by the binding and (when present) by the
/// token has a prefix the path is under; under `kv`, `kv:<id>` grants the namespace `<id>`.
fn reference_allows(
    table: &ScopeTable,
    binding: &[String],
    token: Option<&[String]>,
    api_path: &str,
) -> bool {
    SERVICES.iter().any(|service| {
        table
            .prefixes(service)
            .unwrap_or_default()
            .iter()
            .any(|prefix| {
                let Some(rest) = reference_under(api_path, prefix) else {
                    return false;
                };
                let namespace = rest
                    .first()
                    .filter(|segment| *service == "kv" && !segment.is_empty());
                let grants = |scopes: &[String]| {
                    scopes.iter().any(|scope| {
                        scope == service
                            || namespace.is_some_and(|ns| *scope == format!("{service}:{ns}"))
                    })
                };
                grants(binding) && token.is_none_or(grants)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Accepted targets go upstream under `/v2/`, without dot segments, `;` or control
    /// bytes, with the rest of the path and the query byte for byte; any target with a dot
    /// segment in any spelling, or one a server reads as a dot segment once it has cut path
    /// parameters, decoded twice or read overlong UTF-8, is refused.
    #[test]
    fn accepted_paths_go_under_v2_without_dot_segments_and_keep_the_query(t in target()) {
        prop_assume!(reachable(&t.full));
        let (received_path, _) = split_query(&t.full);
        let parsed = Route::parse(DEFAULT_PATH_PREFIX, &t.full);
        if has_dot_segment(received_path) || a_server_reads_a_dot_segment(received_path) {
            prop_assert!(parsed.is_err(), "dot segment routed: {}", t.full);
        }
        let Ok(route) = parsed else {
            return Ok(());
        };
        let upstream = upstream_of(&route);
        let (path, query) = split_query(&upstream);
        prop_assert!(path.starts_with("/v2/"), "{} -> {}", t.full, upstream);
        prop_assert_eq!(query, t.query.as_str());
        prop_assert!(!has_dot_segment(path), "{} -> {}", t.full, upstream);
        prop_assert!(!a_server_reads_a_dot_segment(path), "{} -> {}", t.full, upstream);
        prop_assert!(!percent_decode(path).contains(&b';'), "`;` in path: {}", t.full);
        // The path has no control byte, raw or encoded; the query none raw (its escapes are
        // the client's business and go upstream as sent).
        prop_assert!(
            !percent_decode(path).iter().any(|b| *b < 0x20 || *b == 0x7f),
            "control byte in path: {} -> {}", t.full, upstream
        );
        prop_assert!(
            !query.bytes().any(|b| b < 0x20 || b == 0x7f),
            "raw control byte in query: {} -> {}", t.full, upstream
        );
        let after_prefix = &received_path[DEFAULT_PATH_PREFIX.len() + 1..];
        let api = &path["/v2/".len()..];
        prop_assert!(
            after_prefix == api || after_prefix.strip_prefix("v2/") == Some(api),
            "path not forwarded byte for byte: {} -> {}", t.full, upstream
        );
    }

    /// The prefix match scope checks use (`strip_path_prefix`, on the path the data plane
    /// passes: after `/v2/`, no query) agrees with the segment-wise reference on every
    /// accepted path and every prefix of the table.
    #[test]
    fn scope_prefix_match_agrees_with_reference(t in target()) {
        prop_assume!(reachable(&t.full));
        let Ok(route) = Route::parse(DEFAULT_PATH_PREFIX, &t.full) else {
            return Ok(());
        };
        let upstream = upstream_of(&route);
        let api_path = &split_query(&upstream).0["/v2/".len()..];
        for prefix in all_prefixes() {
            prop_assert_eq!(
                strip_path_prefix(api_path, &prefix).is_some(),
                reference_under(api_path, &prefix).is_some(),
                "path {} prefix {}", api_path, prefix
            );
        }
    }

    /// An accepted path is allowed exactly when the reference says it lies inside a scope
    /// both the binding and the token grant: never a path outside the scope it was checked
    /// against, never a refusal of one inside it.
    #[test]
    fn scope_decision_agrees_with_reference(
        t in target(),
        binding in scopes(),
        token in prop::option::of(scopes()),
    ) {
        prop_assume!(reachable(&t.full));
        let Ok(route) = Route::parse(DEFAULT_PATH_PREFIX, &t.full) else {
            return Ok(());
        };
        let upstream = upstream_of(&route);
        let api_path = &split_query(&upstream).0["/v2/".len()..];
        let table = ScopeTable::defaults();
        prop_assert_eq!(
            table.allows_scopes(&binding, token.as_deref(), api_path),
            reference_allows(&table, &binding, token.as_deref(), api_path),
            "path {} binding {:?} token {:?}", api_path, binding, token
        );
    }
}

/// The generators must reach both sides of every property, or the properties check little.
#[test]
fn generators_reach_accepted_refused_and_in_scope_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut accepted, mut dotted, mut normalised_dotted, mut in_scope) = (0, 0, 0, 0);
    let table = ScopeTable::defaults();
    let everything: Vec<String> = SERVICES.iter().map(|s| (*s).to_owned()).collect();
    for _ in 0..512 {
        let t = match target().new_tree(&mut runner) {
            Ok(tree) => tree.current(),
            Err(reason) => panic!("generator failed: {reason}"),
        };
        assert!(
            reachable(&t.full),
            "generated an unreachable target: {}",
            t.full
        );
        let path = split_query(&t.full).0;
        if has_dot_segment(path) {
            dotted += 1;
        } else if a_server_reads_a_dot_segment(path) {
            normalised_dotted += 1;
        }
        if let Ok(route) = Route::parse(DEFAULT_PATH_PREFIX, &t.full) {
            accepted += 1;
            let upstream = upstream_of(&route);
            let api_path = &split_query(&upstream).0["/v2/".len()..];
            if table.allows_scopes(&everything, None, api_path) {
                in_scope += 1;
            }
        }
    }
    assert!(accepted > 50, "only {accepted} of 512 targets routed");
    assert!(dotted > 50, "only {dotted} of 512 targets had dot segments");
    assert!(
        normalised_dotted > 25,
        "only {normalised_dotted} of 512 targets had dot segments only a normalising server sees"
    );
    assert!(
        in_scope > 25,
        "only {in_scope} of 512 targets were in scope"
    );
}
