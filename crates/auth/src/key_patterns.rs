//! The upstream key as an upstream could send it back in a response: its own bytes, and the
//! key inside a JSON string. Each form gets a `memmem::Finder`, built once per credential load:
//! building one costs ≈ 350 ns and searching a small body with it ≈ 10 ns, so the data plane
//! scans every response without building anything per request.

use std::fmt;

use memchr::memmem::Finder;
use zeroize::Zeroizing;

/// The forms of one upstream key a response is scanned for, longest first, none twice:
///
/// - the key's bytes;
/// - the key in a JSON string, as serde_json, Go's `encoding/json` or Python's `json` write
///   it: `"` → `\"`, `\` → `\\`, control bytes as `\n`, `\t`, … or `\u00XX`;
/// - the same with `/` → `\/`, as PHP's `json_encode` and some Java encoders write it.
///
/// A key the admin API accepts (visible ASCII) has more than one form only when it contains
/// `"`, `\` or `/`. An empty key has no form: it cannot be reflected.
pub struct KeyPatterns {
    finders: Vec<Finder<'static>>,
    /// Whether some form holds a CR or an LF (see [`KeyPatterns::has_line_break`]).
    line_break: bool,
}

impl KeyPatterns {
    /// The forms of `key`. Each finder owns a copy of its form (`memchr` does not zeroize it):
    /// like the upstream `Authorization` value, it lives as long as the cached credential.
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut forms: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(3);
        if !key.is_empty() {
            forms.push(Zeroizing::new(key.to_vec()));
            for slash in [Slash::AsIs, Slash::Escaped] {
                let escaped = json_escaped(key, slash);
                if !forms.contains(&escaped) {
                    forms.push(escaped);
                }
            }
        }
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        let line_break = forms
            .iter()
            .any(|form| memchr::memchr2(b'\n', b'\r', form).is_some());
        Self {
            line_break,
            finders: forms
                .iter()
                .map(|form| Finder::new(form.as_slice()).into_owned())
                .collect(),
        }
    }

    /// One finder per form, longest first. [`Finder::needle`] is the form's bytes: a secret,
    /// never to be logged.
    pub fn finders(&self) -> &[Finder<'static>] {
        &self.finders
    }

    /// The longest form's length; 0 when there is no form.
    pub fn longest(&self) -> usize {
        self.finders
            .first()
            .map_or(0, |finder| finder.needle().len())
    }

    /// Whether some form holds a CR or an LF. None does for a key that is a header value, as
    /// every cached credential's is (the JSON forms escape both): then no occurrence of a form
    /// spans a line break, and a streamed scan need not hold back a line's end.
    pub fn has_line_break(&self) -> bool {
        self.line_break
    }

    /// The shortest form's length (the key's own); 0 when there is no form.
    pub fn shortest(&self) -> usize {
        self.finders
            .last()
            .map_or(0, |finder| finder.needle().len())
    }
}

impl fmt::Debug for KeyPatterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPatterns")
            .field("forms", &self.finders.len())
            .finish_non_exhaustive()
    }
}

/// Whether a JSON form writes `/` as is or as `\/` (both are valid JSON).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slash {
    AsIs,
    Escaped,
}

/// `key` as it appears between the quotes of a JSON string. Bytes of 0x80 and above stay as
/// they are (a JSON encoder writes valid UTF-8 as is; a key the admin API accepts has none).
fn json_escaped(key: &[u8], slash: Slash) -> Zeroizing<Vec<u8>> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Zeroizing::new(Vec::with_capacity(key.len() + 8));
    for &byte in key {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' if slash == Slash::Escaped => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x00..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]),
            _ => out.push(byte),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(key: &[u8]) -> Vec<Vec<u8>> {
        KeyPatterns::new(key)
            .finders()
            .iter()
            .map(|finder| finder.needle().to_vec())
            .collect()
    }

    #[test]
    fn a_plain_key_has_one_form() {
        assert_eq!(forms(b"KEY0123_abc-XYZ"), [b"KEY0123_abc-XYZ".to_vec()]);
    }

    #[test]
    fn quotes_and_backslashes_get_their_json_form_longest_first() {
        assert_eq!(
            forms(br#"a"b\c"#),
            [br#"a\"b\\c"#.to_vec(), br#"a"b\c"#.to_vec()]
        );
    }

    #[test]
    fn a_slash_gets_the_escaped_form_beside_the_plain_one() {
        let patterns = KeyPatterns::new(b"ab/c");
        assert_eq!(forms(b"ab/c"), [br"ab\/c".to_vec(), b"ab/c".to_vec()]);
        assert_eq!((patterns.longest(), patterns.shortest()), (5, 4));
    }

    #[test]
    fn control_bytes_are_escaped_as_serde_json_writes_them() {
        let key = b"k\te\x01y";
        let escaped = serde_json::to_string(std::str::from_utf8(key).unwrap()).unwrap();
        let inner = escaped.trim_matches('"').as_bytes().to_vec();
        assert_eq!(forms(key), [inner, key.to_vec()]);
    }

    #[test]
    fn only_a_key_with_a_cr_or_an_lf_has_a_form_with_a_line_break() {
        for key in [&b"KEY0123_abc-XYZ"[..], b"k\te\x01y", br#"a"b\c/d"#, b""] {
            assert!(!KeyPatterns::new(key).has_line_break(), "{key:?}");
        }
        for key in [&b"a\nb"[..], b"a\rb", b"\r\n"] {
            assert!(KeyPatterns::new(key).has_line_break(), "{key:?}");
        }
    }

    #[test]
    fn an_empty_key_has_no_form() {
        let patterns = KeyPatterns::new(b"");
        assert!(patterns.finders().is_empty());
        assert_eq!((patterns.longest(), patterns.shortest()), (0, 0));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let text = format!("{:?}", KeyPatterns::new(b"KEY_secret/42"));
        assert!(!text.contains("secret"), "{text}");
    }
}
