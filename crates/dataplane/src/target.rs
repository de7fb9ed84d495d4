//! The request target check: refuses paths and queries that an upstream or an intermediary
//! could read differently than the proxy does, before anything is routed: dot segments, `;`
//! (servlet path parameters: `..;` is `..` there), escapes of escapes (`%252e`), escapes that
//! are not UTF-8 (overlong `%c0%ae`), backslashes, control bytes, empty segments.
//!
//! Escapes are read by `auth::percent`, as the scope match reads them, so the check and the
//! scope match agree on what a path means.

use auth::percent::{Utf8Check, decode_escape, hex_pair_follows};

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
    /// A raw or percent-encoded `;`. Servlet containers cut `;…` (path parameters) off each
    /// segment before they resolve dot segments, so `..;` climbs one level there; the API
    /// paths the proxy serves never hold a `;`.
    #[error("path contains a semicolon")]
    Semicolon,
    /// A `%` not followed by two hex digits.
    #[error("path contains an invalid percent escape")]
    InvalidPercentEscape,
    /// An escape that decodes to another escape: `%25` followed by two hex digits, each raw or
    /// encoded. An upstream (or a framework behind it) that decodes twice reads `%252e%252e`
    /// as `..`.
    #[error("path contains a double percent-encoded character")]
    DoubleEncoding,
    /// Escapes that decode to bytes that are not UTF-8: overlong forms, which lenient decoders
    /// read as ASCII (`%c0%ae` and `%e0%80%ae` as `.`, `%c0%af` as `/`), surrogates, stray or
    /// truncated sequences.
    #[error("path escapes do not decode to UTF-8")]
    InvalidUtf8,
    /// Two slashes in a row.
    #[error("path contains an empty segment")]
    EmptySegment,
    /// Absolute-form or authority-form target, or no path at all.
    #[error("request target is not in origin form")]
    NotOriginForm,
}

/// Refuses paths that upstream servers or intermediaries could read differently than we do.
///
/// A plain path ([`is_plain`]) is accepted at once; any other gets one escape-aware pass over
/// the bytes. An invalid escape, a control character, a backslash or a semicolon is refused
/// at once, at the first one; otherwise double encoding wins over bytes that are not UTF-8,
/// those over two slashes in a row, and those over a dot segment (the order the checks are
/// documented and tested in).
pub(crate) fn check_path(path: &str) -> Result<(), TargetProblem> {
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
    let mut double_encoding = false;
    let mut utf8 = Utf8Check::default();
    let mut invalid_utf8 = false;
    while let Some(&byte) = bytes.get(at) {
        let decoded = if byte == b'%' {
            let value = decode_escape(bytes, at).ok_or(TargetProblem::InvalidPercentEscape)?;
            at += 3;
            // Double encoding: decoded once, `%252e%252e` is `%2e%2e`, which an upstream that
            // decodes again reads as `..`; so are `%25%32%65` and deeper encodings. Refusing
            // every escape of an escape covers them all, whatever it stands for.
            double_encoding |= value == b'%' && hex_pair_follows(bytes, at);
            // Overlong UTF-8: a lenient decoder reads `%c0%ae%c0%ae` as `..`. Escapes must
            // decode to UTF-8 (an escaped ASCII byte between characters needs no look). Raw
            // bytes come from a `str` and are whole UTF-8 on their own, so a sequence an
            // escape opens must go on with escapes (`%c3/` and `%c3` at the end are broken).
            if value >= 0x80 || !utf8.is_complete() {
                invalid_utf8 |=
                    !utf8.push(value) || (!utf8.is_complete() && bytes.get(at) != Some(&b'%'));
            }
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
        // Path parameters: Tomcat and Jetty cut `;…` off a segment, then resolve dot
        // segments, so `/v2/messages/..;/api_keys` reaches `/v2/api_keys` there. Refusing
        // every `;` (and `%3B`, which other servers decode before cutting) spares the check
        // from guessing which servers cut where.
        if decoded == b';' {
            return Err(TargetProblem::Semicolon);
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
    if double_encoding {
        return Err(TargetProblem::DoubleEncoding);
    }
    if invalid_utf8 {
        return Err(TargetProblem::InvalidUtf8);
    }
    if empty_segment {
        return Err(TargetProblem::EmptySegment);
    }
    if dot_segment {
        return Err(TargetProblem::DotSegment);
    }
    Ok(())
}

/// Whether no byte of `path` can start a problem [`check_path`] refuses: no `%`, `.`, `;`,
/// `\` or control byte, and no two slashes in a row (raw bytes come from a `str`, so they are
/// UTF-8). Most API paths are plain; this answers for them in two branch-free passes (which
/// the compiler can vectorise) instead of the byte-by-byte walk.
fn is_plain(bytes: &[u8]) -> bool {
    let mut special = false;
    for &byte in bytes {
        special |= (byte == b'%')
            | (byte == b'.')
            | (byte == b';')
            | (byte == b'\\')
            | (byte < 0x20)
            | (byte == 0x7f);
    }
    let mut double_slash = false;
    for (&first, &second) in bytes.iter().zip(bytes.iter().skip(1)) {
        double_slash |= (first == b'/') & (second == b'/');
    }
    !special && !double_slash
}

/// The query (with its leading `?`) goes upstream as received; only raw control bytes are
/// refused (the `http` parser already rejects most of them).
pub(crate) fn check_query(query: &str) -> Result<(), TargetProblem> {
    if query.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(TargetProblem::ControlCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The multi-pass check `check_path` replaced, kept as its reference.
    fn check_path_reference(path: &str) -> Result<(), TargetProblem> {
        if !path.starts_with('/') {
            return Err(TargetProblem::NotOriginForm);
        }
        let bytes = path.as_bytes();
        let mut at = 0;
        let mut once = Vec::new();
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
            if decoded == b';' {
                return Err(TargetProblem::Semicolon);
            }
            once.push(decoded);
        }
        // Every `%` left after one decoding was `%25`; followed by two hex digits it is an
        // escape a second decoding would read.
        if once
            .windows(3)
            .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
        {
            return Err(TargetProblem::DoubleEncoding);
        }
        if std::str::from_utf8(&once).is_err() {
            return Err(TargetProblem::InvalidUtf8);
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
                    ";", "%3b", "%3B", "=", "%252e", "%252E", "%25%32", "2", "e", "%c0", "%C1",
                    "%ae", "%AF", "%e0", "%80", "%f0", "%c3", "%A9", "%ed", "%a0", "%ff", "a",
                    "v2", "kv", "-", "~", "?", "é",
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
}
