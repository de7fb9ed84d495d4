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
}
