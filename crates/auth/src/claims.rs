//! Token claims and the settings every token is issued and checked against.

use serde::{Deserialize, Serialize};

use crate::AuthError;

/// What tokens must say and how long they live. One value shared by issuer and verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Clock-skew allowance for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Lifetime of a token minted without `ttl_secs`.
    pub default_ttl_secs: u64,
    /// Longest lifetime a token may be minted with.
    pub max_ttl_secs: u64,
}

impl TokenSettings {
    /// The leeway as a signed number of seconds (saturating).
    pub(crate) fn leeway(&self) -> i64 {
        i64::try_from(self.leeway_secs).unwrap_or(i64::MAX)
    }
}

/// The claims of a binding token. Times are unix seconds.
///
/// Unknown claims are ignored; every field without `Option` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer; must equal [`TokenSettings::issuer`].
    pub iss: String,
    /// Audience; must equal [`TokenSettings::audience`] (a single string, not an array).
    pub aud: String,
    /// Organization id; must equal the binding's.
    pub sub: String,
    /// Binding id.
    pub bid: String,
    /// Binding generation at mint time (`gen` on the wire; `gen` is a keyword in Rust 2024).
    #[serde(rename = "gen")]
    pub generation: i64,
    /// Function the token was minted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid: Option<String>,
    /// Scopes narrowing the binding's scopes; `None` means all of the binding's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<Vec<String>>,
    /// Token id, the handle for revocation.
    pub jti: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
}

impl Claims {
    /// Checks `exp`, `nbf` and `iat` against `now` with `leeway` seconds of skew allowed.
    ///
    /// Expired when `now >= exp + leeway` (a token is valid strictly before its `exp`, as in
    /// RFC 7519 §4.1.4); not yet valid when `now + leeway < nbf`; claims invalid when
    /// `iat > now + leeway`: this service never issues a token in the future, so one claiming
    /// to be was forged or minted by a broken clock, and a revocation list ordered by issue
    /// time must not be dodged by a future `iat`.
    pub fn check_time(&self, now: i64, leeway: i64) -> Result<(), AuthError> {
        if now >= self.exp.saturating_add(leeway) {
            return Err(AuthError::TokenExpired);
        }
        if now.saturating_add(leeway) < self.nbf {
            return Err(AuthError::TokenNotYetValid);
        }
        if self.iat > now.saturating_add(leeway) {
            return Err(AuthError::TokenClaimsInvalid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "org".into(),
            bid: "b".into(),
            generation: 1,
            fid: None,
            scp: None,
            jti: "j".into(),
            iat: 100,
            nbf: 100,
            exp: 200,
        }
    }

    #[test]
    fn none_fields_are_skipped_and_gen_is_named_gen() {
        let json = serde_json::to_value(claims()).expect("serializes");
        let obj = json.as_object().expect("object");
        assert_eq!(obj.get("gen"), Some(&serde_json::json!(1)));
        assert!(!obj.contains_key("fid"));
        assert!(!obj.contains_key("scp"));
        assert!(!obj.contains_key("generation"));
    }

    #[test]
    fn time_edges_with_and_without_leeway() {
        let c = claims();
        assert!(c.check_time(199, 0).is_ok());
        assert!(matches!(c.check_time(200, 0), Err(AuthError::TokenExpired)));
        assert!(c.check_time(229, 30).is_ok());
        assert!(matches!(
            c.check_time(230, 30),
            Err(AuthError::TokenExpired)
        ));
        assert!(c.check_time(100, 0).is_ok());
        assert!(matches!(
            c.check_time(99, 0),
            Err(AuthError::TokenNotYetValid)
        ));
        assert!(c.check_time(70, 30).is_ok());
        assert!(matches!(
            c.check_time(69, 30),
            Err(AuthError::TokenNotYetValid)
        ));
        assert!(matches!(
            c.check_time(i64::MAX, i64::MAX),
            Err(AuthError::TokenExpired)
        ));
    }

    #[test]
    fn issued_in_the_future_beyond_the_leeway_is_invalid() {
        let c = Claims {
            iat: 150,
            nbf: 100,
            ..claims()
        };
        assert!(c.check_time(120, 30).is_ok());
        assert!(matches!(
            c.check_time(119, 30),
            Err(AuthError::TokenClaimsInvalid)
        ));
        assert!(matches!(
            c.check_time(149, 0),
            Err(AuthError::TokenClaimsInvalid)
        ));
        assert!(c.check_time(150, 0).is_ok());
    }
}
