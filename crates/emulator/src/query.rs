//! Query-string parameters, decoded only when asked for.

use crate::percent::{self, Plus};
use crate::problem::Problem;

/// The raw query string of a request; `?a=1&b=2` without the `?`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    raw: &'a str,
}

impl<'a> Query<'a> {
    pub(crate) fn new(raw: Option<&'a str>) -> Self {
        Self {
            raw: raw.unwrap_or_default(),
        }
    }

    /// The first value of `name`, percent-decoded (`+` is a space).
    ///
    /// # Errors
    /// [`Problem::InvalidParameter`] when the value is not valid percent-encoded UTF-8.
    pub(crate) fn get(&self, name: &'static str) -> Result<Option<String>, Problem> {
        let Some(raw_value) = self
            .raw
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find_map(|(key, value)| (key == name).then_some(value))
        else {
            return Ok(None);
        };
        percent::decode(raw_value, Plus::Space)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(Some)
            .ok_or(Problem::InvalidParameter {
                parameter: name,
                reason: "is not valid percent-encoded UTF-8",
            })
    }

    /// The first value of `name` as an integer in `range`, or `default` when absent.
    ///
    /// # Errors
    /// [`Problem::InvalidParameter`] when the value is not a decimal integer in `range`.
    pub(crate) fn get_u64(
        &self,
        name: &'static str,
        range: std::ops::RangeInclusive<u64>,
        default: Option<u64>,
    ) -> Result<u64, Problem> {
        let invalid = Problem::InvalidParameter {
            parameter: name,
            reason: "must be an integer in the allowed range",
        };
        match self.get(name)? {
            None => default.ok_or(Problem::InvalidParameter {
                parameter: name,
                reason: "is required",
            }),
            Some(text) => {
                let value: u64 = text.parse().map_err(|_| invalid.clone())?;
                if range.contains(&value) {
                    Ok(value)
                } else {
                    Err(invalid)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_value_and_decodes_it() {
        let query = Query::new(Some("prefix=user%2F&limit=5&prefix=other"));
        assert_eq!(query.get("prefix").unwrap().as_deref(), Some("user/"));
        assert_eq!(query.get_u64("limit", 1..=10, Some(1)).unwrap(), 5);
        assert_eq!(query.get("cursor").unwrap(), None);
    }

    #[test]
    fn out_of_range_empty_or_non_numbers_are_refused() {
        for raw in ["limit=0", "limit=11", "limit=", "limit=x", "limit=-1"] {
            let query = Query::new(Some(raw));
            assert!(query.get_u64("limit", 1..=10, Some(10)).is_err(), "{raw}");
        }
        assert_eq!(
            Query::new(None).get_u64("limit", 1..=10, Some(10)).unwrap(),
            10
        );
        assert!(Query::new(None).get_u64("bytes", 0..=10, None).is_err());
    }
}
