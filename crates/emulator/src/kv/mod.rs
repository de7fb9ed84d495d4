//! The KV REST API: namespaces under `/v2/storage/kvs` and their keys.
//!
//! Emulator choices where the reference is silent:
//! - A namespace is created `pending` (201) and becomes `provision_ok` on the first
//!   `GET /v2/storage/kvs/{id}` after creation; listings show the status unchanged. Key
//!   operations work on a `pending` namespace too.
//! - `DELETE /v2/storage/kvs/{id}` answers 200 with the record in status `deleting`; the
//!   namespace and its keys are gone at once, so every later call on it is 404.
//! - `DELETE .../keys/{key}` answers 204 with no body, 404 when the key is missing.
//! - Values are at most 25 MiB (413 past that); keys at most 1024 bytes.
//! - The namespace listing is one page holding every namespace.

pub(crate) mod key;
mod store;

use http::{Response, StatusCode};
use serde_json::json;

use crate::problem::Problem;
use crate::query::Query;
use crate::reply::{self, ResponseBody};
use crate::request_body::RequestBody;
use key::KvKey;
pub(crate) use store::KvStore;
use store::{KvError, NamespaceRecord, Written};

/// The largest value a key may hold.
const MAX_VALUE_BYTES: u64 = 25 * 1024 * 1024;
/// The largest namespace-creation body read.
const MAX_CREATE_BODY_BYTES: u64 = 64 * 1024;
/// The longest namespace name.
const MAX_NAME_CHARS: usize = 63;
/// Key listing page size bounds and default.
const LIST_LIMIT_MAX: u64 = 1000;

type Answer = Result<Response<ResponseBody>, Problem>;

impl From<KvError> for Problem {
    fn from(err: KvError) -> Self {
        match err {
            KvError::NamespaceNotFound => Self::NamespaceNotFound,
            KvError::KeyNotFound => Self::KeyNotFound,
            KvError::NameTaken => Self::NamespaceExists,
        }
    }
}

/// `POST /v2/storage/kvs` with `{"name": "..."}`.
pub(crate) async fn create_namespace(kv: &KvStore, body: &mut RequestBody) -> Answer {
    let bytes = body.read_to_end(MAX_CREATE_BODY_BYTES).await?;
    let request: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| Problem::MalformedJson)?;
    let name = request
        .get("name")
        .and_then(serde_json::Value::as_str)
        .filter(|name| is_namespace_name(name))
        .ok_or(Problem::InvalidNamespaceName)?;
    let record = kv.create(name)?;
    Ok(reply::json(
        StatusCode::CREATED,
        &json!({ "data": namespace_json(&record) }),
    ))
}

/// `GET /v2/storage/kvs`.
pub(crate) fn list_namespaces(kv: &KvStore) -> Answer {
    let records = kv.list();
    let data: Vec<_> = records.iter().map(namespace_json).collect();
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "data": data,
            "meta": {
                "page_number": 1,
                "page_size": records.len(),
                "total_pages": 1,
                "total_results": records.len(),
            },
        }),
    ))
}

/// `GET /v2/storage/kvs/{id}`: a poll, which completes provisioning.
pub(crate) fn get_namespace(kv: &KvStore, id: &str) -> Answer {
    let record = kv.poll(id)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({ "data": namespace_json(&record) }),
    ))
}

/// `DELETE /v2/storage/kvs/{id}`.
pub(crate) fn delete_namespace(kv: &KvStore, id: &str) -> Answer {
    let record = kv.delete(id)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({ "data": namespace_json(&record) }),
    ))
}

/// `PUT /v2/storage/kvs/{id}/keys/{key}`: the body is the value, stored verbatim.
pub(crate) async fn put_key(kv: &KvStore, id: &str, key: KvKey, body: &mut RequestBody) -> Answer {
    let value = body.read_to_end(MAX_VALUE_BYTES).await?;
    let status = match kv.put(id, key, value)? {
        Written::Created => StatusCode::CREATED,
        Written::Updated => StatusCode::OK,
    };
    Ok(reply::empty(status))
}

/// `GET /v2/storage/kvs/{id}/keys/{key}`: the raw value.
pub(crate) fn get_key(kv: &KvStore, id: &str, key: &KvKey) -> Answer {
    Ok(reply::octets(kv.get(id, key)?))
}

/// `DELETE /v2/storage/kvs/{id}/keys/{key}`.
pub(crate) fn delete_key(kv: &KvStore, id: &str, key: &KvKey) -> Answer {
    kv.remove(id, key)?;
    Ok(reply::empty(StatusCode::NO_CONTENT))
}

/// `GET /v2/storage/kvs/{id}/keys?prefix=&cursor=&limit=`.
pub(crate) fn list_keys(kv: &KvStore, id: &str, query: Query<'_>) -> Answer {
    let limit = query.get_u64("limit", 1..=LIST_LIMIT_MAX, Some(LIST_LIMIT_MAX))?;
    let prefix = query.get("prefix")?.unwrap_or_default();
    key::check_prefix(&prefix)?;
    let after = match query.get("cursor")? {
        Some(cursor) if !cursor.is_empty() => Some(key::decode_cursor(&cursor)?),
        Some(_) | None => None,
    };
    // `limit` is at most LIST_LIMIT_MAX, so it fits any usize.
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let page = kv.list_keys(id, &prefix, after.as_ref(), limit)?;
    let data: Vec<_> = page
        .keys
        .iter()
        .map(|info| {
            json!({
                "key": info.key,
                "size_bytes": info.size_bytes,
                "updated_at": info.updated_at,
            })
        })
        .collect();
    let mut meta = json!({ "has_more": page.has_more });
    if let (true, Some(last)) = (page.has_more, page.keys.last()) {
        meta["cursor"] = json!(key::encode_cursor(&last.key));
    }
    Ok(reply::json(
        StatusCode::OK,
        &json!({ "record_type": "storage_kv_key", "data": data, "meta": meta }),
    ))
}

fn is_namespace_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

fn namespace_json(record: &NamespaceRecord) -> serde_json::Value {
    json!({
        "record_type": "storage_kv",
        "id": record.id,
        "name": record.name,
        "status": record.status.as_str(),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_lowercase_digits_and_hyphens() {
        assert!(is_namespace_name("my-cache-2"));
        assert!(is_namespace_name(&"a".repeat(63)));
        for bad in ["", "My-Cache", "my_cache", "my cache", "café"] {
            assert!(!is_namespace_name(bad), "{bad:?}");
        }
        assert!(!is_namespace_name(&"a".repeat(64)));
    }
}
