//! The streaming matcher: one response body's bytes in, the same bytes out with every form of
//! the key masked, whatever the chunk boundaries.

use std::sync::Arc;

use auth::{Credential, KeyPatterns};
use bytes::{Bytes, BytesMut};

/// What a masked occurrence starts with; the rest of its length is `*`.
const MARKER: &[u8] = b"[redacted]";

/// The scan of one response body. Feed it each chunk with [`Scanner::push`] and call
/// [`Scanner::finish`] at the end of the body; what they return is what the client may see.
///
/// Each occurrence of a form of the key is replaced in place by a marker of the same length
/// (`[redacted]` cut or padded with `*`). The last `longest form - 1` bytes of each chunk are
/// held back until the next chunk or the end of the body, whatever they are, except for what
/// ends a line among them: no form holds a CR or an LF (a key that is a header value has
/// neither, and the JSON forms escape both), so none can run on past one, and only the bytes
/// after the last line break are held. A form cut across chunks is found once the rest
/// arrives, and how many bytes are held back depends on the chunk sizes and where lines end,
/// never on whether the bytes begin the key (that would tell a function, through the chunk
/// sizes it receives, how much of a guess it planted matched). A chunk that ends a line (an
/// event of an event stream, a line of NDJSON) goes out whole. Allocates only to join chunks
/// shorter than what is held back, and to copy a chunk in which the key was found.
pub struct Scanner {
    credential: Arc<Credential>,
    /// Bytes scanned already (with everything before them) but not yet handed out.
    held: Bytes,
    /// Occurrences masked so far.
    found: u64,
}

impl Scanner {
    /// A scan for the key of `credential` (its [`Credential::key_patterns`]).
    pub fn new(credential: Arc<Credential>) -> Self {
        Self {
            credential,
            held: Bytes::new(),
            found: 0,
        }
    }

    /// Scans `chunk`, the body's next bytes; `last`: nothing follows it. Returns what may be
    /// sent now, in this order; either part may be empty.
    pub fn push(&mut self, chunk: Bytes, last: bool) -> (Bytes, Bytes) {
        let patterns = self.credential.key_patterns();
        let keep = patterns.longest().saturating_sub(1);
        let mut held = std::mem::take(&mut self.held);
        let mut chunk = chunk;
        if !held.is_empty() && straddles(patterns, &held, &chunk) {
            // Rare: a form starts in the held-back bytes and ends in this chunk.
            chunk = joined(&held, &chunk);
            held = Bytes::new();
        }
        let (mut chunk, found) = masked(patterns, chunk);
        self.found += found;
        if last || keep == 0 {
            return (held, chunk);
        }
        // The last `keep` bytes of what was held and this chunk; when a line ends among those
        // in this chunk, only the bytes after it (no form runs on past a line break).
        let mut hold = keep.min(held.len() + chunk.len());
        if !patterns.has_line_break() {
            let window = hold.min(chunk.len());
            if let Some(at) = memchr::memrchr2(b'\n', b'\r', &chunk[chunk.len() - window..]) {
                hold = window - at - 1;
            }
        }
        if chunk.len() >= hold {
            self.held = chunk.split_off(chunk.len() - hold);
            return (held, chunk);
        }
        // More than this chunk is held back: keep the last `hold` bytes of both.
        let mut pending = if held.is_empty() {
            chunk
        } else {
            joined(&held, &chunk)
        };
        self.held = pending.split_off(pending.len() - hold);
        (pending, Bytes::new())
    }

    /// The bytes still held back, at the end of the body (they hold no complete form).
    pub fn finish(&mut self) -> Bytes {
        std::mem::take(&mut self.held)
    }

    /// The forms of the key this scan looks for.
    pub(super) fn patterns(&self) -> &KeyPatterns {
        self.credential.key_patterns()
    }

    /// How many bytes are held back now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// How many occurrences of the key were masked so far.
    pub fn found(&self) -> u64 {
        self.found
    }
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("held", &self.held.len())
            .field("found", &self.found)
            .finish_non_exhaustive()
    }
}

/// Whether some form starts in `held` and continues at the start of `chunk`.
fn straddles(patterns: &KeyPatterns, held: &[u8], chunk: &[u8]) -> bool {
    patterns.finders().iter().any(|finder| {
        let form = finder.needle();
        let Some(&first) = form.first() else {
            return false;
        };
        let from = held.len().saturating_sub(form.len() - 1);
        memchr::memchr_iter(first, &held[from..]).any(|offset| {
            let start = from + offset;
            let inside = held.len() - start;
            held[start..] == form[..inside] && chunk.starts_with(&form[inside..])
        })
    })
}

/// `chunk` with every form of the key masked, and how many were. Forms are searched longest
/// first, each in what the earlier ones left, so an occurrence is counted once.
fn masked(patterns: &KeyPatterns, chunk: Bytes) -> (Bytes, u64) {
    let mut copy: Option<BytesMut> = None;
    let mut found = 0;
    for finder in patterns.finders() {
        let len = finder.needle().len();
        let mut from = 0;
        loop {
            let haystack: &[u8] = copy.as_deref().unwrap_or(&chunk);
            let Some(at) = haystack.get(from..).and_then(|rest| finder.find(rest)) else {
                break;
            };
            let at = from + at;
            let copy = copy.get_or_insert_with(|| BytesMut::from(&chunk[..]));
            fill_marker(&mut copy[at..at + len], finder.needle());
            found += 1;
            from = at + len;
        }
    }
    (copy.map_or(chunk, BytesMut::freeze), found)
}

/// Overwrites `dst` (an occurrence of `form`) with the marker of its length. A key that is
/// itself such a marker gets `#`s instead, so the key never survives its own masking.
pub(super) fn fill_marker(dst: &mut [u8], form: &[u8]) {
    for (index, byte) in dst.iter_mut().enumerate() {
        *byte = MARKER.get(index).copied().unwrap_or(b'*');
    }
    if dst == form {
        dst.fill(b'#');
    }
}

fn joined(first: &[u8], second: &[u8]) -> Bytes {
    let mut joined = BytesMut::with_capacity(first.len() + second.len());
    joined.extend_from_slice(first);
    joined.extend_from_slice(second);
    joined.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::testing::credential;

    const KEY: &str = "KEY0123456789abcdef_real";

    /// Streams `chunks` through a scanner; returns what came out, as the client would see it.
    fn stream(key: &str, chunks: &[&[u8]]) -> (Vec<u8>, u64) {
        let mut scanner = Scanner::new(credential(key));
        let mut out = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            let last = index + 1 == chunks.len();
            let (first, second) = scanner.push(Bytes::copy_from_slice(chunk), last);
            out.extend_from_slice(&first);
            out.extend_from_slice(&second);
        }
        out.extend_from_slice(&scanner.finish());
        (out, scanner.found())
    }

    /// Every way of cutting `body` into 2 and 3 chunks, with the body's end signalled or not.
    fn every_split(key: &str, body: &[u8]) -> Vec<(Vec<u8>, u64)> {
        let mut results = Vec::new();
        for i in 0..=body.len() {
            for j in i..=body.len() {
                let (a, rest) = body.split_at(i);
                let (b, c) = rest.split_at(j - i);
                results.push(stream(key, &[a, b, c]));
                results.push(stream(key, &[a, b, c, b""]));
            }
            let (a, b) = body.split_at(i);
            results.push(stream(key, &[a, b]));
        }
        results
    }

    fn marker(len: usize) -> Vec<u8> {
        let mut marker = vec![0; len];
        fill_marker(&mut marker, b"");
        marker
    }

    #[test]
    fn a_key_cut_across_two_or_three_chunks_is_masked_in_every_split() {
        let body = format!(r#"{{"detail":"bad key Bearer {KEY} here"}}"#);
        let expected = body.replace(KEY, std::str::from_utf8(&marker(KEY.len())).unwrap());
        for (out, found) in every_split(KEY, body.as_bytes()) {
            assert_eq!(String::from_utf8(out).unwrap(), expected);
            assert_eq!(found, 1);
        }
    }

    #[test]
    fn the_marker_has_the_length_of_what_it_masks() {
        assert_eq!(marker(24), b"[redacted]**************");
        assert_eq!(marker(4), b"[red");
        let (out, _) = stream(KEY, &[KEY.as_bytes()]);
        assert_eq!(out.len(), KEY.len());
    }

    #[test]
    fn a_key_at_the_start_at_the_end_and_as_the_whole_body_is_masked() {
        let masked = marker(KEY.len());
        for (body, expected) in [
            (format!("{KEY} tail"), [&masked[..], b" tail"].concat()),
            (format!("head {KEY}"), [&b"head "[..], &masked].concat()),
            (KEY.to_owned(), masked.clone()),
            (format!("{KEY}{KEY}"), [&masked[..], &masked].concat()),
        ] {
            for (out, _) in every_split(KEY, body.as_bytes()) {
                assert_eq!(out, expected, "{body}");
            }
        }
    }

    #[test]
    fn overlapping_prefixes_do_not_hide_the_real_occurrence() {
        // The first "abab" starts a false match; the occurrence begins two bytes later.
        let key = "abab_c";
        let body = b"xxababab_cyy";
        for (out, found) in every_split(key, body) {
            assert_eq!(out, [&b"xxab"[..], &marker(6), b"yy"].concat());
            assert_eq!(found, 1);
        }
    }

    #[test]
    fn the_json_escaped_form_is_masked_too() {
        let key = r#"K"e\y/1"#;
        let json = serde_json::json!({ "detail": format!("bad {key}") }).to_string();
        assert!(json.contains(r#"K\"e\\y/1"#), "{json}");
        for (out, found) in every_split(key, json.as_bytes()) {
            let text = String::from_utf8(out).unwrap();
            assert!(
                !text.contains(r#"K\"e\\y/1"#) && !text.contains(key),
                "{text}"
            );
            assert_eq!(text.len(), json.len());
            assert_eq!(found, 1);
            // Still JSON: the marker holds no quote or backslash.
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(
                parsed["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("bad [redacted")
            );
        }
        let php = r#"{"detail":"bad K\"e\\y\/1"}"#;
        let (out, found) = stream(key, &[php.as_bytes()]);
        assert_eq!((out.len(), found), (php.len(), 1));
        assert!(!String::from_utf8(out).unwrap().contains(r#"K\"e\\y\/1"#));
    }

    #[test]
    fn empty_chunks_and_chunks_shorter_than_the_key_pass_the_rest_unchanged() {
        let body = format!("a{KEY}b");
        let bytes = body.as_bytes();
        let mut chunks: Vec<&[u8]> = bytes.chunks(3).collect();
        chunks.insert(2, b"");
        chunks.insert(0, b"");
        let (out, found) = stream(KEY, &chunks);
        assert_eq!(out, [&b"a"[..], &marker(KEY.len()), b"b"].concat());
        assert_eq!(found, 1);
        let one_byte_chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(stream(KEY, &one_byte_chunks).0, out);
    }

    #[test]
    fn a_body_without_the_key_comes_out_byte_for_byte() {
        let body: Vec<u8> = (0..100_000_u32).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<&[u8]> = body.chunks(4096).collect();
        let (out, found) = stream(KEY, &chunks);
        assert_eq!((out, found), (body.clone(), 0));
        let near_miss = format!("{} {}", &KEY[..KEY.len() - 1], &KEY[1..]);
        for (out, found) in every_split(KEY, near_miss.as_bytes()) {
            assert_eq!((out, found), (near_miss.as_bytes().to_vec(), 0));
        }
    }

    #[test]
    fn what_is_held_back_depends_on_chunk_sizes_and_line_ends_only() {
        // A function that plants a guess at a chunk's end learns nothing from the chunk sizes
        // it gets back: a correct prefix of the key and a wrong guess are held back alike,
        // after a line break as without one.
        let sizes = |head: &str, tail: &str| {
            let mut scanner = Scanner::new(credential(KEY));
            let chunk = Bytes::from(format!("{head}{tail}"));
            let (first, second) = scanner.push(chunk, false);
            (first.len(), second.len(), scanner.held())
        };
        let head = "x".repeat(100);
        assert_eq!(sizes(&head, &KEY[..10]), sizes(&head, "qqqqqqqqqq"));
        assert_eq!(sizes(&head, &KEY[..10]).2, KEY.len() - 1);
        let line = format!("{head}\n");
        assert_eq!(sizes(&line, &KEY[..10]), sizes(&line, "qqqqqqqqqq"));
        assert_eq!(sizes(&line, &KEY[..10]).2, 10);
    }

    #[test]
    fn a_chunk_that_ends_a_line_goes_out_whole() {
        for event in [
            &b"id: 1\nevent: call.answered\ndata: {\"n\":1}\n\n"[..],
            b"id: 2\r\ndata: {}\r\n\r\n",
            b"data: 3\r\r",
            b": keep-alive\n\n",
            b"\n",
        ] {
            let mut scanner = Scanner::new(credential(KEY));
            let (first, second) = scanner.push(Bytes::from_static(event), false);
            assert_eq!((&first[..], &second[..]), (&b""[..], event));
            assert_eq!(scanner.held(), 0);
        }
    }

    #[test]
    fn what_was_held_back_goes_out_with_the_chunk_that_ends_its_line() {
        let mut scanner = Scanner::new(credential(KEY));
        let (first, second) = scanner.push(Bytes::from_static(b"id: 1\ndata: {\"n\""), false);
        assert_eq!([first, second].concat(), b"id: 1\n");
        assert_eq!(scanner.held(), "data: {\"n\"".len());
        let (first, second) = scanner.push(Bytes::from_static(b":1}\n\nid: 2"), false);
        assert_eq!([first, second].concat(), b"data: {\"n\":1}\n\n");
        assert_eq!(scanner.held(), "id: 2".len());
        // A line break further back than the longest form changes nothing.
        let long = format!("\n{}", "y".repeat(KEY.len() + 5));
        let (first, second) = scanner.push(Bytes::from(long.clone()), false);
        assert_eq!(
            [first, second].concat(),
            format!("id: 2{}", &long[..long.len() - (KEY.len() - 1)]).as_bytes()
        );
        assert_eq!(scanner.held(), KEY.len() - 1);
    }

    #[test]
    fn a_key_among_line_breaks_is_masked_in_every_split() {
        let body = format!("data: {KEY}\n\nid: 2\r\ndata: x{KEY}\r\n\r\n{KEY}\n\n\r{KEY}");
        let expected = body.replace(KEY, std::str::from_utf8(&marker(KEY.len())).unwrap());
        for (out, found) in every_split(KEY, body.as_bytes()) {
            assert_eq!(String::from_utf8(out).unwrap(), expected);
            assert_eq!(found, 4);
        }
        let one_byte_chunks: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(stream(KEY, &one_byte_chunks), (expected.into_bytes(), 4));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Lines, events and keys cut anywhere: what comes out is the body with every key
        /// masked, and nothing is held back once a chunk ends a line.
        #[test]
        fn a_line_based_stream_cut_anywhere_comes_out_masked(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    KEY, &KEY[..7], &KEY[7..], &KEY[..KEY.len() - 1], "\n", "\r", "\r\n",
                    "\n\n", "data: ", "id: 7", ": ka", "{\"k\":1}", "K", "x",
                ]),
                0..24,
            ),
            cuts in proptest::collection::vec(0_usize..400, 0..8),
        ) {
            let body = pieces.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|at| at.min(body.len())).collect();
            cuts.sort_unstable();
            let mut scanner = Scanner::new(credential(KEY));
            let mut out = Vec::new();
            let mut from = 0;
            for at in cuts.into_iter().chain([body.len()]) {
                let chunk = &body.as_bytes()[from..at];
                let (first, second) =
                    scanner.push(Bytes::copy_from_slice(chunk), at == body.len());
                out.extend_from_slice(&first);
                out.extend_from_slice(&second);
                if chunk.last().is_some_and(|&byte| byte == b'\n' || byte == b'\r') {
                    proptest::prop_assert_eq!(scanner.held(), 0);
                }
                from = at;
            }
            out.extend_from_slice(&scanner.finish());
            let expected = body.replace(KEY, std::str::from_utf8(&marker(KEY.len())).unwrap());
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
            proptest::prop_assert_eq!(scanner.found() as usize, body.matches(KEY).count());
        }
    }

    #[test]
    fn a_key_that_looks_like_the_marker_is_still_masked() {
        for key in ["[redacted]", "[red", "[redacted]******"] {
            let (out, found) = stream(key, &[format!("<{key}>").as_bytes()]);
            assert_eq!(found, 1);
            assert!(!String::from_utf8(out).unwrap().contains(key), "{key}");
        }
    }

    #[test]
    fn the_last_chunk_is_not_held_back() {
        let mut scanner = Scanner::new(credential(KEY));
        let (first, second) = scanner.push(Bytes::from_static(b"{\"ok\":true}"), true);
        assert_eq!((first.len(), &second[..]), (0, &b"{\"ok\":true}"[..]));
        assert_eq!(scanner.held(), 0);
    }
}
