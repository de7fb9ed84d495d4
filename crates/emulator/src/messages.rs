//! `POST /v2/messages`: accepts an outbound message and answers it `queued`. Nothing is sent.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use crate::problem::Problem;
use crate::reply::{self, ResponseBody};
use crate::request_body::RequestBody;
use crate::timestamp;

/// The largest message request body read.
const MAX_MESSAGE_BODY_BYTES: u64 = 1024 * 1024;

/// Answers a `{from, to, text, ...}` request with a `queued` message record.
///
/// # Errors
/// 422 [`Problem::MalformedMessage`] (code `10015`) when the body is not a JSON object;
/// 422 [`Problem::MissingParameter`] (code `10004`) when `from` or `to` is missing or not a
/// non-empty string; 413 past 1 MiB.
pub(crate) async fn send(body: &mut RequestBody) -> Result<Response<ResponseBody>, Problem> {
    let bytes = body.read_to_end(MAX_MESSAGE_BODY_BYTES).await?;
    let request: Value = serde_json::from_slice(&bytes).map_err(|_| Problem::MalformedMessage)?;
    if !request.is_object() {
        return Err(Problem::MalformedMessage);
    }
    let from = required_string(&request, "from")?;
    let to = required_string(&request, "to")?;
    let media = request
        .get("media_urls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let kind = if media.is_empty() { "SMS" } else { "MMS" };
    let now = timestamp::now_millis();
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "data": {
                "record_type": "message",
                "id": uuid::Uuid::new_v4().to_string(),
                "direction": "outbound",
                "type": kind,
                "messaging_profile_id": request.get("messaging_profile_id").cloned().unwrap_or(Value::Null),
                "from": { "phone_number": from },
                "to": [{ "phone_number": to, "status": "queued" }],
                "text": request.get("text").cloned().unwrap_or(Value::Null),
                "subject": request.get("subject").cloned().unwrap_or(Value::Null),
                "media": media.iter().map(|url| json!({ "url": url })).collect::<Vec<_>>(),
                "webhook_url": request.get("webhook_url").cloned().unwrap_or(Value::Null),
                "encoding": "GSM-7",
                "parts": 1,
                "errors": [],
                "created_at": now,
                "sent_at": Value::Null,
                "completed_at": Value::Null,
            }
        }),
    ))
}

fn required_string<'a>(request: &'a Value, field: &'static str) -> Result<&'a str, Problem> {
    request
        .get(field)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .ok_or(Problem::MissingParameter { parameter: field })
}
