//! The target check and the scope match read a path alike.
//!
//! A path's meaning is generated first: segments of characters, dot segments among them,
//! `;` and other reserved characters kept raw, and escapes of reserved characters (`%2F`,
//! `%3B`, `%25`, …) and of non-ASCII bytes (overlong `%c0%ae`) kept as escapes; among the
//! segments, those servers resolve to `.` or `..` after normalising (`..;`, `..;x=1`, `.;`,
//! `..%3B`, `%252e%252e`, `%c0%ae%c0%ae`, `%e0%80%ae`). Two spellings of that meaning then write each unreserved
//! character raw or percent-encoded, with either hex case in each digit. Both readers decode
//! escapes with `auth::percent`, so they must agree:
//!
//! - the target check (`Route::parse`) gives both spellings the same answer;
//! - when it routes them, the scope match (prefixes, the service a path needs, whether a
//!   binding and a token open it) gives both the same answer too;
//! - a segment the scope match reads as `.` or `..`, or one a server reads so after cutting
//!   `;…` path parameters, decoding twice or reading overlong UTF-8 as ASCII, never gets past
//!   the target check;
//! - a raw `/` spelled `%2F` is no separator to the scope match: it can close a path the raw
//!   spelling opens, never open one it keeps closed.

use auth::scope::{ScopeTable, strip_path_prefix};
use binding_proxy_dataplane::__private::Route;
use binding_proxy_dataplane::DEFAULT_PATH_PREFIX;
use proptest::prelude::*;
use proptest::sample::select;

use crate::readings::a_server_reads_a_dot_segment;
use crate::{NAMESPACES, all_prefixes, reachable, scopes, split_query, upstream_of};

/// One character of a path's meaning.
#[derive(Debug, Clone)]
enum Piece {
    /// An unreserved character: each spelling writes it raw or as `%XX`.
    Unreserved(u8),
    /// A reserved character both spellings write raw.
    Raw(&'static str),
    /// An escape written as it is in both spellings: of a reserved character, of `%`, or of
    /// one byte of a non-ASCII sequence.
    Escape(&'static str),
}

/// Unreserved characters segments are made of (no `v`, so no segment is `v2`: the route's
/// form is matched on raw bytes, a respelled `v2` is an API path segment to both readers).
const UNRESERVED: &[u8] = b"abkz09-._~";

/// Reserved characters a path may hold raw, `;` first (the target check refuses any `;`:
/// `..;` is a segment servlet containers read as `..`).
const RAW: [&str; 13] = [
    ";", ":", "@", "!", "$", "&", "'", "(", ")", "*", "+", ",", "=",
];

/// Escapes of reserved characters (and of `%`), in both cases.
const ESCAPES: [&str; 14] = [
    "%2F", "%2f", "%3B", "%3b", "%3F", "%3f", "%23", "%25", "%40", "%2C", "%2c", "%3A", "%3D",
    "%5B",
];

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        8 => select(UNRESERVED.to_vec()).prop_map(Piece::Unreserved),
        1 => select(RAW.to_vec()).prop_map(Piece::Raw),
        1 => select(ESCAPES.to_vec()).prop_map(Piece::Escape),
    ]
}

fn segment() -> BoxedStrategy<Vec<Piece>> {
    let dots = |n: usize| vec![Piece::Unreserved(b'.'); n];
    prop_oneof![
        6 => prop::collection::vec(piece(), 1..6),
        2 => select(NAMESPACES.to_vec()).prop_map(characters),
        1 => Just(dots(1)),
        1 => Just(dots(2)),
        1 => Just([dots(2), vec![Piece::Raw(";")]].concat()),
        1 => select(ESCAPES.to_vec())
            .prop_map(move |escape| [vec![Piece::Unreserved(b'a'), Piece::Escape(escape)], dots(2)].concat()),
        2 => select(normalised_dot_segments()),
    ]
    .boxed()
}

/// Segments servers resolve to `.` or `..` after normalising, as meanings: `;…` path
/// parameters (raw, or `%3B` decoded first), dots encoded twice, overlong UTF-8 dots.
fn normalised_dot_segments() -> Vec<Vec<Piece>> {
    let dots = |n: usize| vec![Piece::Unreserved(b'.'); n];
    let parameter = vec![
        Piece::Raw(";"),
        Piece::Unreserved(b'k'),
        Piece::Raw("="),
        Piece::Unreserved(b'0'),
    ];
    // `%25` then `2e` or `2E`, the hex digits spelled raw or encoded: `%252e`, `%25%32%65`.
    let twice = |low: u8| {
        vec![
            Piece::Escape("%25"),
            Piece::Unreserved(b'2'),
            Piece::Unreserved(low),
        ]
    };
    let escapes = |list: &[&'static str]| list.iter().copied().map(Piece::Escape).collect();
    vec![
        [dots(2), vec![Piece::Raw(";")]].concat(),
        [dots(1), vec![Piece::Raw(";")]].concat(),
        [dots(2), parameter].concat(),
        [dots(2), vec![Piece::Escape("%3B")]].concat(),
        [dots(1), vec![Piece::Escape("%3b")]].concat(),
        [twice(b'e'), twice(b'E')].concat(),
        [twice(b'E'), dots(1)].concat(),
        escapes(&["%c0", "%ae", "%C0", "%AE"]),
        [escapes(&["%c0", "%ae"]), dots(1)].concat(),
        escapes(&["%e0", "%80", "%ae"]),
        escapes(&["%f0", "%80", "%80", "%ae", "%f0", "%80", "%80", "%ae"]),
    ]
}

/// A segment of unreserved characters, as pieces.
fn characters(segment: &str) -> Vec<Piece> {
    segment.bytes().map(Piece::Unreserved).collect()
}

/// A scope prefix as pieces, `/` between its segments.
fn prefix_segments(prefix: &str) -> Vec<Vec<Piece>> {
    prefix.split('/').map(characters).collect()
}

/// The meaning of an API path (after `/v2/`): usually a scope prefix, then 0–3 segments.
fn meaning() -> impl Strategy<Value = Vec<Vec<Piece>>> {
    let head = prop_oneof![
        3 => select(all_prefixes()).prop_map(|prefix| prefix_segments(&prefix)),
        // Under the `kv` prefix a namespace id follows, which `kv:<id>` scopes match.
        1 => select(NAMESPACES.to_vec()).prop_map(|namespace| {
            [prefix_segments("storage/kvs"), vec![characters(namespace)]].concat()
        }),
        1 => segment().prop_map(|segment| vec![segment]),
    ];
    (head, prop::collection::vec(segment(), 0..4)).prop_map(|(mut path, tail)| {
        path.extend(tail);
        path
    })
}

/// Writes `meaning`, taking from `choices` whether and how to escape each unreserved
/// character: a third of them escaped, each hex digit's case picked on its own.
fn spell(meaning: &[Vec<Piece>], choices: &[u8]) -> String {
    let mut choices = choices.iter().copied().cycle();
    let segments: Vec<String> = meaning
        .iter()
        .map(|segment| {
            let mut text = String::new();
            for piece in segment {
                match piece {
                    Piece::Unreserved(byte) => {
                        let choice = choices.next().unwrap_or(0);
                        if choice % 3 == 0 {
                            text.push('%');
                            for (at, digit) in format!("{byte:02X}").chars().enumerate() {
                                text.push(if choice & (4 << at) == 0 {
                                    digit
                                } else {
                                    digit.to_ascii_lowercase()
                                });
                            }
                        } else {
                            text.push(char::from(*byte));
                        }
                    }
                    Piece::Raw(raw) | Piece::Escape(raw) => text.push_str(raw),
                }
            }
            text
        })
        .collect();
    segments.join("/")
}

/// Two spellings of one meaning, and the form (`/v2/` or `/`) both use.
#[derive(Debug, Clone)]
struct Spellings {
    form: &'static str,
    first: String,
    second: String,
}

fn spellings() -> impl Strategy<Value = Spellings> {
    (
        meaning(),
        prop::collection::vec(any::<u8>(), 1..48),
        prop::collection::vec(any::<u8>(), 1..48),
        select(vec!["/v2/", "/"]),
    )
        .prop_map(|(meaning, first, second, form)| Spellings {
            form,
            first: spell(&meaning, &first),
            second: spell(&meaning, &second),
        })
}

fn target(form: &str, api: &str) -> String {
    format!("{DEFAULT_PATH_PREFIX}{form}{api}")
}

/// The API path (after `/v2/`) the upstream gets for `target`, if it routes.
fn routed_api_path(target: &str) -> Option<String> {
    let route = Route::parse(DEFAULT_PATH_PREFIX, target).ok()?;
    let upstream = upstream_of(&route);
    Some(split_query(&upstream).0["/v2/".len()..].to_owned())
}

/// Whether the scope match reads `segment` as all of `want`.
fn scope_reads_as(segment: &str, want: &str) -> bool {
    strip_path_prefix(segment, want) == Some("")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Two spellings of one meaning: the same answer from the target check, and from the
    /// scope match (prefixes, service, binding and token) when they route.
    #[test]
    fn the_target_check_and_the_scope_match_read_a_path_alike(
        s in spellings(),
        binding in scopes(),
        token in prop::option::of(scopes()),
    ) {
        let first = target(s.form, &s.first);
        let second = target(s.form, &s.second);
        prop_assert!(reachable(&first) && reachable(&second), "{} / {}", first, second);
        prop_assert_eq!(
            Route::parse(DEFAULT_PATH_PREFIX, &first).map(drop),
            Route::parse(DEFAULT_PATH_PREFIX, &second).map(drop),
            "{} / {}", first, second
        );
        let (Some(a), Some(b)) = (routed_api_path(&first), routed_api_path(&second)) else {
            return Ok(());
        };
        let table = ScopeTable::defaults();
        for prefix in all_prefixes() {
            prop_assert_eq!(
                strip_path_prefix(&a, &prefix).is_some(),
                strip_path_prefix(&b, &prefix).is_some(),
                "{} / {} under {}", a, b, prefix
            );
        }
        prop_assert_eq!(table.service_for(&a), table.service_for(&b), "{} / {}", a, b);
        prop_assert_eq!(
            table.allows_scopes(&binding, token.as_deref(), &a),
            table.allows_scopes(&binding, token.as_deref(), &b),
            "{} / {} binding {:?} token {:?}", a, b, binding, token
        );
    }

    /// No segment the scope match reads as `.` or `..`, in any spelling, gets past the
    /// target check, nor one a servlet container or another normalising server reads so
    /// (after cutting `;…`, decoding twice, or reading overlong UTF-8): neither the scope
    /// match nor any upstream has to reason about a path that climbs.
    #[test]
    fn a_segment_the_scope_match_or_a_server_reads_as_a_dot_never_routes(s in spellings()) {
        let target = target(s.form, &s.first);
        let climbs = s
            .first
            .split('/')
            .any(|segment| scope_reads_as(segment, ".") || scope_reads_as(segment, ".."))
            || a_server_reads_a_dot_segment(&s.first);
        if climbs {
            prop_assert!(
                Route::parse(DEFAULT_PATH_PREFIX, &target).is_err(),
                "dot segment routed: {}", target
            );
        }
    }

    /// `%2F` is not a `/` to the scope match: spelling one raw slash of a routed path as
    /// `%2F` can close what the raw path opens, never open what it keeps closed.
    #[test]
    fn an_encoded_slash_never_opens_what_a_raw_one_keeps_closed(
        s in spellings(),
        which in any::<prop::sample::Index>(),
        lower in any::<bool>(),
        binding in scopes(),
        token in prop::option::of(scopes()),
    ) {
        let slashes: Vec<usize> = s.first.match_indices('/').map(|(at, _)| at).collect();
        prop_assume!(!slashes.is_empty());
        let at = slashes[which.index(slashes.len())];
        let encoded = format!(
            "{}{}{}",
            &s.first[..at],
            if lower { "%2f" } else { "%2F" },
            &s.first[at + 1..]
        );
        let (Some(raw), Some(encoded)) = (
            routed_api_path(&target(s.form, &s.first)),
            routed_api_path(&target(s.form, &encoded)),
        ) else {
            return Ok(());
        };
        let table = ScopeTable::defaults();
        if table.allows_scopes(&binding, token.as_deref(), &encoded) {
            prop_assert!(
                table.allows_scopes(&binding, token.as_deref(), &raw),
                "{} opens, {} does not; binding {:?} token {:?}", encoded, raw, binding, token
            );
        }
    }
}

/// The generator must reach escaped and raw spellings, dot segments, and paths that route
/// and are in scope, or the properties above check little.
#[test]
fn spellings_reach_escapes_dots_and_routed_paths_in_scope() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut differ, mut dotted, mut normalised_dotted, mut routed, mut in_scope) = (0, 0, 0, 0, 0);
    let table = ScopeTable::defaults();
    let everything: Vec<String> = auth::scope::SERVICES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for _ in 0..1024 {
        let s = match spellings().new_tree(&mut runner) {
            Ok(tree) => tree.current(),
            Err(reason) => panic!("generator failed: {reason}"),
        };
        if s.first != s.second {
            differ += 1;
        }
        if s.first
            .split('/')
            .any(|segment| scope_reads_as(segment, ".."))
        {
            dotted += 1;
        } else if a_server_reads_a_dot_segment(&s.first) {
            normalised_dotted += 1;
        }
        if let Some(api) = routed_api_path(&target(s.form, &s.first)) {
            routed += 1;
            if table.allows_scopes(&everything, None, &api) {
                in_scope += 1;
            }
        }
    }
    assert!(differ > 500, "only {differ} of 1024 spelling pairs differ");
    assert!(
        dotted > 100,
        "only {dotted} of 1024 paths have a `..` segment"
    );
    assert!(
        normalised_dotted > 100,
        "only {normalised_dotted} of 1024 paths have a dot segment only a normalising server sees"
    );
    assert!(routed > 400, "only {routed} of 1024 paths routed");
    assert!(
        in_scope > 100,
        "only {in_scope} of 1024 paths were in scope"
    );
}
