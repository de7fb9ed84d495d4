//! Request bodies and queries as received, and their checks: raw JSON becomes a checked value
//! (`store::NewBinding`, `store::BindingUpdate`, ...) before any handler logic sees it.

use serde::{Deserialize, Deserializer};
use store::{BindingUpdate, NewBinding, RateLimit, Secret};

use crate::error::InvalidInput;

/// Services a binding may grant (the data plane's scope table knows each); also the default
/// scopes of a new binding, `account` included so `GET /v2/balance` works.
pub(crate) const SERVICES: [&str; 8] = auth::scope::SERVICES;

const MAX_ORG_ID_LEN: usize = 128;
const MAX_API_KEY_LEN: usize = 512;
const MAX_NAMESPACE_LEN: usize = 64;
/// Longest rotation grace window: seven days.
pub(crate) const MAX_GRACE_PERIOD_SECS: u64 = 7 * 24 * 60 * 60;

/// An upstream API key from a request body, moved into a [`Secret`] as it is decoded.
#[derive(Debug)]
pub(crate) struct ApiKey(Secret);

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Self(Secret::from(text)))
    }
}

impl ApiKey {
    /// The key once it is 1..=512 visible ASCII bytes: it becomes an HTTP header value
    /// upstream, so control characters or spaces would be header injection or a broken request.
    fn checked(self) -> Result<Secret, InvalidInput> {
        let bytes = self.0.expose_secret();
        let ok = !bytes.is_empty()
            && bytes.len() <= MAX_API_KEY_LEN
            && bytes.iter().all(u8::is_ascii_graphic);
        if ok {
            Ok(self.0)
        } else {
            Err(InvalidInput::ApiKey)
        }
    }
}

/// `POST /v1/bindings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBinding {
    org_id: String,
    api_key: ApiKey,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
}

impl CreateBinding {
    pub(crate) fn checked(self) -> Result<NewBinding, InvalidInput> {
        check_org_id(&self.org_id)?;
        let api_key = self.api_key.checked()?;
        let scopes = match self.scopes {
            Some(scopes) => check_binding_scopes(scopes)?,
            None => SERVICES.iter().map(|s| (*s).to_owned()).collect(),
        };
        if let Some(limit) = &self.rate_limit {
            check_rate_limit(limit)?;
        }
        Ok(NewBinding {
            org_id: self.org_id,
            api_key,
            scopes,
            rate_limit: self.rate_limit,
        })
    }
}

/// `PATCH /v1/bindings/{org_id}`. `rate_limit: null` clears the override.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBinding {
    #[serde(default)]
    api_key: Option<ApiKey>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    rate_limit: Option<Option<RateLimit>>,
}

impl UpdateBinding {
    pub(crate) fn checked(self) -> Result<BindingUpdate, InvalidInput> {
        if self.api_key.is_none() && self.scopes.is_none() && self.rate_limit.is_none() {
            return Err(InvalidInput::EmptyUpdate);
        }
        let api_key = self.api_key.map(ApiKey::checked).transpose()?;
        let scopes = self.scopes.map(check_binding_scopes).transpose()?;
        if let Some(Some(limit)) = &self.rate_limit {
            check_rate_limit(limit)?;
        }
        Ok(BindingUpdate {
            api_key,
            scopes,
            rate_limit: self.rate_limit,
        })
    }

    /// Names of the fields this update changes, for the audit record.
    pub(crate) fn changed_fields(update: &BindingUpdate) -> Vec<&'static str> {
        let mut fields = Vec::with_capacity(3);
        if update.api_key.is_some() {
            fields.push("api_key");
        }
        if update.scopes.is_some() {
            fields.push("scopes");
        }
        if update.rate_limit.is_some() {
            fields.push("rate_limit");
        }
        fields
    }
}

/// `POST /v1/bindings/{org_id}/rotate`; the body may be empty.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateBinding {
    #[serde(default)]
    grace_period_secs: Option<u64>,
}

impl RotateBinding {
    /// The grace window in seconds, 0 when absent.
    pub(crate) fn grace_period_secs(&self) -> Result<u64, InvalidInput> {
        let grace = self.grace_period_secs.unwrap_or(0);
        if grace > MAX_GRACE_PERIOD_SECS {
            return Err(InvalidInput::GracePeriod);
        }
        Ok(grace)
    }
}

/// `POST /v1/bindings/{org_id}/tokens`; the body may be empty. TTL, function id and the
/// scope grant are checked by `auth::Issuer`; scope names are checked here against the
/// known services first.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueToken {
    #[serde(default)]
    function_id: Option<String>,
    #[serde(default)]
    ttl_secs: Option<u64>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

impl IssueToken {
    pub(crate) fn checked(self) -> Result<auth::IssueRequest, InvalidInput> {
        if let Some(scopes) = &self.scopes {
            for (index, scope) in scopes.iter().enumerate() {
                if !is_known_scope(scope) {
                    return Err(InvalidInput::Scope { index });
                }
            }
        }
        Ok(auth::IssueRequest {
            function_id: self.function_id,
            ttl_secs: self.ttl_secs,
            scopes: self.scopes,
        })
    }
}

/// `?limit=&cursor=` of the binding list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    #[serde(default)]
    pub(crate) limit: Option<u32>,
    #[serde(default)]
    pub(crate) cursor: Option<String>,
}

/// `?org_id=&limit=&cursor=` of the audit list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    pub(crate) org_id: Option<String>,
    #[serde(default)]
    pub(crate) limit: Option<u32>,
    #[serde(default)]
    pub(crate) cursor: Option<String>,
}

/// Checks an organization id: 1..=128 of `[A-Za-z0-9._:-]`.
pub(crate) fn check_org_id(org_id: &str) -> Result<(), InvalidInput> {
    let ok = !org_id.is_empty()
        && org_id.len() <= MAX_ORG_ID_LEN
        && org_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok { Ok(()) } else { Err(InvalidInput::OrgId) }
}

/// Checks binding scopes: non-empty, each known; duplicates dropped, order kept.
fn check_binding_scopes(scopes: Vec<String>) -> Result<Vec<String>, InvalidInput> {
    if scopes.is_empty() {
        return Err(InvalidInput::ScopesEmpty);
    }
    let mut unique: Vec<String> = Vec::with_capacity(scopes.len());
    for (index, scope) in scopes.into_iter().enumerate() {
        if !is_known_scope(&scope) {
            return Err(InvalidInput::Scope { index });
        }
        if !unique.contains(&scope) {
            unique.push(scope);
        }
    }
    Ok(unique)
}

/// A service of [`SERVICES`] or `kv:<namespace-id>` with 1..=64 of `[A-Za-z0-9-]`.
fn is_known_scope(scope: &str) -> bool {
    match scope.strip_prefix("kv:") {
        Some(namespace) => {
            !namespace.is_empty()
                && namespace.len() <= MAX_NAMESPACE_LEN
                && namespace
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => SERVICES.contains(&scope),
    }
}

fn check_rate_limit(limit: &RateLimit) -> Result<(), InvalidInput> {
    if limit.requests_per_second < 1 {
        return Err(InvalidInput::RequestsPerSecond);
    }
    if limit.burst < 1 {
        return Err(InvalidInput::Burst);
    }
    Ok(())
}

/// Deserializes a present field (even `null`) as `Some(..)`, so absent and `null` differ.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: &str) -> Result<NewBinding, InvalidInput> {
        serde_json::from_str::<CreateBinding>(json)
            .unwrap()
            .checked()
    }

    #[test]
    fn new_bindings_default_to_every_service() {
        let new = create(r#"{"org_id":"acme","api_key":"KEY_1"}"#).unwrap();
        assert_eq!(new.scopes, SERVICES);
        assert!(new.scopes.iter().any(|s| s == "account"));
        assert_eq!(new.api_key.expose_str(), Some("KEY_1"));
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(
            create(r#"{"org_id":"","api_key":"K"}"#).err(),
            Some(InvalidInput::OrgId)
        );
        assert_eq!(
            create(r#"{"org_id":"a/b","api_key":"K"}"#).err(),
            Some(InvalidInput::OrgId)
        );
        assert_eq!(
            create(r#"{"org_id":"a","api_key":"K Y"}"#).err(),
            Some(InvalidInput::ApiKey)
        );
        assert_eq!(
            create(r#"{"org_id":"a","api_key":"K","scopes":["kv","sms"]}"#).err(),
            Some(InvalidInput::Scope { index: 1 })
        );
        assert_eq!(
            create(r#"{"org_id":"a","api_key":"K","scopes":["account:x"]}"#).err(),
            Some(InvalidInput::Scope { index: 0 })
        );
        assert!(create(r#"{"org_id":"a","api_key":"K","scopes":["account"]}"#).is_ok());
        assert_eq!(
            create(r#"{"org_id":"a","api_key":"K","scopes":["kv:bad_ns"]}"#).err(),
            Some(InvalidInput::Scope { index: 0 })
        );
        assert_eq!(
            create(
                r#"{"org_id":"a","api_key":"K","rate_limit":{"requests_per_second":0,"burst":1}}"#
            )
            .err(),
            Some(InvalidInput::RequestsPerSecond)
        );
    }

    #[test]
    fn null_rate_limit_clears_and_absent_keeps() {
        let clear: UpdateBinding = serde_json::from_str(r#"{"rate_limit":null}"#).unwrap();
        assert_eq!(clear.checked().unwrap().rate_limit, Some(None));
        let keep: UpdateBinding = serde_json::from_str(r#"{"scopes":["kv"]}"#).unwrap();
        assert_eq!(keep.checked().unwrap().rate_limit, None);
        let empty: UpdateBinding = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.checked().err(), Some(InvalidInput::EmptyUpdate));
    }

    #[test]
    fn debug_of_a_request_never_shows_the_key() {
        let body: CreateBinding =
            serde_json::from_str(r#"{"org_id":"acme","api_key":"KEY_SECRET_42"}"#).unwrap();
        assert!(!format!("{body:?}").contains("KEY_SECRET_42"));
    }
}
