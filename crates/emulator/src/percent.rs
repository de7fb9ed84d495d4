//! Percent-decoding of raw request-target pieces (RFC 3986 `%XX` escapes).

/// What a `+` means in the text being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plus {
    /// A literal `+` (path segments).
    Literal,
    /// A space (`application/x-www-form-urlencoded` query values).
    Space,
}

/// Decodes `%XX` escapes. `None` when an escape is truncated or not hexadecimal.
pub(crate) fn decode(raw: &str, plus: Plus) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let high = hex_value(*bytes.get(i + 1)?)?;
                let low = hex_value(*bytes.get(i + 2)?)?;
                out.push(high << 4 | low);
                i += 3;
            }
            b'+' if plus == Plus::Space => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_in_either_case() {
        assert_eq!(decode("user%2f1%2F2", Plus::Literal).unwrap(), b"user/1/2");
        assert_eq!(decode("a%20b", Plus::Literal).unwrap(), b"a b");
    }

    #[test]
    fn plus_is_literal_in_paths_and_space_in_queries() {
        assert_eq!(decode("a+b", Plus::Literal).unwrap(), b"a+b");
        assert_eq!(decode("a+b", Plus::Space).unwrap(), b"a b");
    }

    #[test]
    fn rejects_truncated_or_non_hex_escapes() {
        assert_eq!(decode("a%2", Plus::Literal), None);
        assert_eq!(decode("a%", Plus::Literal), None);
        assert_eq!(decode("a%zz", Plus::Literal), None);
    }
}
