//! Cursor pagination shared by the list routes: page size checks and opaque cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::InvalidInput;

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// The page size: 1..=100, 20 when absent.
pub(crate) fn limit(requested: Option<u32>) -> Result<u32, InvalidInput> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(InvalidInput::Limit),
    }
}

/// An opaque cursor: base64url of the last item's sort key. Opaque so clients do not build
/// their own and the key format can change.
pub(crate) fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The sort key inside a cursor.
pub(crate) fn decode_cursor(cursor: &str) -> Result<String, InvalidInput> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| InvalidInput::Cursor)?;
    String::from_utf8(bytes).map_err(|_| InvalidInput::Cursor)
}

/// Splits a fetch of `limit + 1` rows into the page and whether more follow.
pub(crate) fn split_page<T>(mut rows: Vec<T>, limit: u32) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    (rows, has_more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit(None), Ok(20));
        assert_eq!(limit(Some(100)), Ok(100));
        assert_eq!(limit(Some(0)), Err(InvalidInput::Limit));
        assert_eq!(limit(Some(101)), Err(InvalidInput::Limit));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(
            decode_cursor(&encode_cursor("org:1")),
            Ok("org:1".to_owned())
        );
        assert_eq!(decode_cursor("%%%"), Err(InvalidInput::Cursor));
    }

    #[test]
    fn an_extra_row_means_more() {
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
    }
}
