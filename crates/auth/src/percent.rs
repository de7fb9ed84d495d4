//! Percent-escapes (`%XX`, RFC 3986 §2.1) in request paths, read one way by the whole proxy.
//!
//! The data plane's target check and the scope match (and the deny-list, which matches like
//! it) decode with these functions, so they never disagree on the byte an escape stands for.
//! They read a path at two depths:
//!
//! - [`decode_escape`]: every valid escape, whatever it encodes. The target check reads paths
//!   this way, to refuse what an upstream that decodes before it normalises would see: dot
//!   segments (`%2e`), slashes around them (`%2F`), control bytes, backslashes.
//! - [`normalized_byte`]: only an escape of an unreserved character (`ALPHA DIGIT - . _ ~`)
//!   counts as that character (RFC 3986 §6.2.2.2: `mess%61ges` is `messages`); any other
//!   escape is the three bytes it is. Prefixes are matched this way, so a reserved escape such
//!   as `%2F` never joins or splits a segment, and never matches a prefix's `/`.
//!
//! Where the two depths differ, the refusal reads more and the grant reads less, which is the
//! safe way round: a segment the scope match reads as `.` or `..` is one the target check
//! refused, and an escape the scope match leaves alone can only make a prefix not match.
//!
//! Two more readings serve the target check, which refuses what they find. [`Utf8Check`] says
//! whether the bytes escapes decode to are UTF-8 (RFC 3629): lenient decoders read overlong
//! forms as ASCII (`%c0%ae` and `%e0%80%ae` as `.`, `%c0%af` as `/`), which neither depth above
//! does. [`hex_pair_follows`] says whether an escaped `%` (`%25`) starts an escape that a
//! second decoding would read (`%252e`).

/// The byte the escape at `path[at..]` stands for: `%` and two hex digits, in either case.
/// `None` when there is no `%` at `at` or it is not followed by two hex digits.
#[inline]
pub fn decode_escape(path: &[u8], at: usize) -> Option<u8> {
    if *path.get(at)? != b'%' {
        return None;
    }
    let high = hex_value(*path.get(at + 1)?)?;
    let low = hex_value(*path.get(at + 2)?)?;
    Some(high << 4 | low)
}

/// Whether `path[at..]` starts with two hex digits, each raw or itself an escape (`2e`,
/// `%32%65`). Right after an escaped `%` (`%25`), that is an escape a second decoding would
/// read: `%252e` and `%25%32%65` are `.` to an upstream that decodes twice.
#[inline]
pub fn hex_pair_follows(path: &[u8], at: usize) -> bool {
    let mut at = at;
    for _ in 0..2 {
        let (byte, len) = match path.get(at) {
            Some(b'%') => match decode_escape(path, at) {
                Some(decoded) => (decoded, 3),
                None => return false,
            },
            Some(&byte) => (byte, 1),
            None => return false,
        };
        if hex_value(byte).is_none() {
            return false;
        }
        at += len;
    }
    true
}

/// The byte at `at` as prefixes are compared: an escape of an unreserved character decoded,
/// any other byte (a `%` starting any other escape included) as it is; and how many raw bytes
/// it took (3 or 1). `None` past the end of `path`.
#[inline]
pub fn normalized_byte(path: &[u8], at: usize) -> Option<(u8, usize)> {
    let byte = *path.get(at)?;
    if byte == b'%'
        && let Some(decoded) = decode_escape(path, at).filter(|decoded| is_unreserved(*decoded))
    {
        return Some((decoded, 3));
    }
    Some((byte, 1))
}

/// RFC 3986 unreserved: `ALPHA DIGIT - . _ ~`, the characters whose escapes mean themselves.
#[inline]
pub fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Checks, one decoded byte at a time, that a byte sequence is UTF-8 as RFC 3629 defines it:
/// no overlong form (`C0 AE`, `E0 80 AE`, `F0 80 80 AE` for `.`), no surrogate, nothing above
/// U+10FFFF, no stray or missing continuation byte.
#[derive(Debug, Clone, Copy)]
pub struct Utf8Check {
    /// Continuation bytes the current character still needs.
    needed: u8,
    /// Range the next continuation byte must fall in (narrower than `80..=BF` right after
    /// `E0`, `ED`, `F0` and `F4`, which is what rules out overlong forms and surrogates).
    lower: u8,
    upper: u8,
}

impl Default for Utf8Check {
    fn default() -> Self {
        Self {
            needed: 0,
            lower: 0x80,
            upper: 0xBF,
        }
    }
}

impl Utf8Check {
    /// Takes the next byte; `false` when it cannot continue UTF-8 (the check then starts over,
    /// so a caller that goes on gets an answer for the bytes after it).
    #[inline]
    pub fn push(&mut self, byte: u8) -> bool {
        if self.needed > 0 {
            if !(self.lower..=self.upper).contains(&byte) {
                *self = Self::default();
                return false;
            }
            *self = Self {
                needed: self.needed - 1,
                ..Self::default()
            };
            return true;
        }
        let (needed, lower, upper) = match byte {
            0x00..=0x7F => return true,
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            // A continuation byte with no lead, `C0`/`C1` (only ever overlong), `F5`-`FF`.
            0x80..=0xC1 | 0xF5..=0xFF => return false,
        };
        *self = Self {
            needed,
            lower,
            upper,
        };
        true
    }

    /// Whether the bytes taken so far end between characters (no sequence left open).
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.needed == 0
    }
}

#[inline]
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
    use super::*;

    #[test]
    fn escapes_decode_in_either_case() {
        assert_eq!(decode_escape(b"%2e", 0), Some(b'.'));
        assert_eq!(decode_escape(b"%2E", 0), Some(b'.'));
        assert_eq!(decode_escape(b"a%aB", 1), Some(0xab));
        assert_eq!(decode_escape(b"%00", 0), Some(0));
        assert_eq!(decode_escape(b"%ff", 0), Some(0xff));
    }

    #[test]
    fn broken_escapes_decode_to_nothing() {
        for (path, at) in [
            (&b"%"[..], 0),
            (b"%2", 0),
            (b"%zz", 0),
            (b"%g0", 0),
            (b"%%41", 0),
            (b"a2e", 0),
            (b"%2e", 3),
        ] {
            assert_eq!(decode_escape(path, at), None, "{path:?} at {at}");
        }
    }

    #[test]
    fn only_unreserved_escapes_normalise() {
        assert_eq!(normalized_byte(b"%61", 0), Some((b'a', 3)));
        assert_eq!(normalized_byte(b"%7E", 0), Some((b'~', 3)));
        assert_eq!(normalized_byte(b"%2e", 0), Some((b'.', 3)));
        // Reserved, other and broken escapes stay what they are, byte by byte.
        for raw in [&b"%2F"[..], b"%2f", b"%3B", b"%25", b"%20", b"%zz", b"%"] {
            assert_eq!(normalized_byte(raw, 0), Some((b'%', 1)), "{raw:?}");
        }
        assert_eq!(normalized_byte(b";", 0), Some((b';', 1)));
        assert_eq!(normalized_byte(b"", 0), None);
    }

    #[test]
    fn hex_pairs_are_read_raw_or_encoded() {
        for (path, at) in [
            (&b"2e"[..], 0),
            (b"%252e", 3),
            (b"%25%32%65", 3),
            (b"%252%45", 3),
            (b"%25FFx", 3),
        ] {
            assert!(hex_pair_follows(path, at), "{path:?} at {at}");
        }
        for (path, at) in [
            (&b"%25"[..], 3),
            (b"%252", 3),
            (b"%25zz", 3),
            (b"%252z", 3),
            (b"%25%3", 3),
            (b"%25%2F2", 3),
        ] {
            assert!(!hex_pair_follows(path, at), "{path:?} at {at}");
        }
    }

    fn is_utf8(bytes: &[u8]) -> bool {
        let mut check = Utf8Check::default();
        bytes.iter().all(|byte| check.push(*byte)) && check.is_complete()
    }

    #[test]
    fn overlong_forms_of_dots_and_slashes_are_not_utf8() {
        for overlong in [
            &[0xC0, 0xAE][..],
            &[0xC1, 0x9C],
            &[0xC0, 0xAF],
            &[0xE0, 0x80, 0xAE],
            &[0xE0, 0x9F, 0xBF],
            &[0xF0, 0x80, 0x80, 0xAE],
            &[0xF0, 0x8F, 0xBF, 0xBF],
            &[0xF8, 0x80, 0x80, 0x80, 0xAE],
            &[0xFC, 0x80, 0x80, 0x80, 0x80, 0xAE],
        ] {
            assert!(!is_utf8(overlong), "{overlong:02x?}");
        }
    }

    #[test]
    fn utf8_check_agrees_with_std_on_every_short_sequence() {
        // Every 1- and 2-byte sequence, and 3- and 4-byte ones around each boundary.
        let edges = [
            0x00, 0x2E, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
            0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ];
        for a in 0..=255u8 {
            assert_eq!(is_utf8(&[a]), std::str::from_utf8(&[a]).is_ok(), "{a:02x}");
            for b in 0..=255u8 {
                let pair = [a, b];
                assert_eq!(
                    is_utf8(&pair),
                    std::str::from_utf8(&pair).is_ok(),
                    "{pair:02x?}"
                );
            }
        }
        for &a in &edges {
            for &b in &edges {
                for &c in &edges {
                    let three = [a, b, c];
                    assert_eq!(is_utf8(&three), std::str::from_utf8(&three).is_ok());
                    for &d in &edges {
                        let four = [a, b, c, d];
                        assert_eq!(is_utf8(&four), std::str::from_utf8(&four).is_ok());
                    }
                }
            }
        }
        assert!(is_utf8("é/ü/€/𝄞".as_bytes()));
        assert!(!is_utf8(&[0xE2, 0x82]));
    }
}
