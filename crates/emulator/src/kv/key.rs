//! KV keys and list cursors: raw request text becomes a checked value here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::percent::{self, Plus};
use crate::problem::Problem;

/// The longest key accepted, in bytes after percent-decoding.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// A valid KV key: 1 to [`MAX_KEY_BYTES`] bytes of `a-z A-Z 0-9 - _ / = .`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvKey(String);

impl KvKey {
    /// Decodes the raw path text after `/keys/`, so `user%2F123` and `user/123` are the same
    /// key.
    ///
    /// # Errors
    /// [`Problem::InvalidKey`] for an empty key, a bad escape, a disallowed character (such as
    /// a space, `:` or anything non-ASCII), or a key longer than [`MAX_KEY_BYTES`].
    pub(crate) fn from_raw_path(raw: &str) -> Result<Self, Problem> {
        let decoded = percent::decode(raw, Plus::Literal).ok_or(Problem::InvalidKey)?;
        Self::from_bytes(decoded).ok_or(Problem::InvalidKey)
    }

    fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        if bytes.is_empty() || bytes.len() > MAX_KEY_BYTES || !bytes.iter().all(is_key_byte) {
            return None;
        }
        // Every allowed byte is ASCII, so this cannot fail.
        String::from_utf8(bytes).ok().map(Self)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// A prefix filter for key listings: empty, or the characters a key may hold.
///
/// # Errors
/// [`Problem::InvalidParameter`] when the prefix holds a character no key can hold.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), Problem> {
    if prefix.len() <= MAX_KEY_BYTES && prefix.bytes().all(|byte| is_key_byte(&byte)) {
        Ok(())
    } else {
        Err(Problem::InvalidParameter {
            parameter: "prefix",
            reason: "may contain only a-z, A-Z, 0-9 and - _ / = .",
        })
    }
}

fn is_key_byte(byte: &u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'/' | b'=' | b'.')
}

/// The cursor handed out in `meta.cursor`: the last key of the page, base64url without
/// padding. Opaque to clients.
pub(crate) fn encode_cursor(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key)
}

/// The key a cursor points after.
///
/// # Errors
/// [`Problem::InvalidParameter`] when the cursor was not issued by [`encode_cursor`].
pub(crate) fn decode_cursor(cursor: &str) -> Result<KvKey, Problem> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(KvKey::from_bytes)
        .ok_or(Problem::InvalidParameter {
            parameter: "cursor",
            reason: "is not a cursor this API issued",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_and_literal_slashes_are_the_same_key() {
        let escaped = KvKey::from_raw_path("user%2F123").unwrap();
        let literal = KvKey::from_raw_path("user/123").unwrap();
        assert_eq!(escaped, literal);
        assert_eq!(literal.as_str(), "user/123");
    }

    #[test]
    fn every_allowed_character_is_accepted() {
        let key = KvKey::from_raw_path("aZ09-_/=.").unwrap();
        assert_eq!(key.as_str(), "aZ09-_/=.");
    }

    #[test]
    fn disallowed_empty_or_badly_escaped_keys_are_refused() {
        for raw in [
            "",
            "a:b",
            "a%3Ab",
            "a%20b",
            "a b",
            "caf%C3%A9",
            "a%2",
            "a%zz",
            "a+b",
            "a%00",
        ] {
            assert_eq!(
                KvKey::from_raw_path(raw),
                Err(Problem::InvalidKey),
                "{raw:?}"
            );
        }
        let long = "a".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(KvKey::from_raw_path(&long), Err(Problem::InvalidKey));
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = encode_cursor("user/123");
        assert_eq!(decode_cursor(&cursor).unwrap().as_str(), "user/123");
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("a b")).is_err());
    }

    #[test]
    fn prefixes_follow_the_key_alphabet() {
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("user/").is_ok());
        assert!(check_prefix("user:").is_err());
    }
}
