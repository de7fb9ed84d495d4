//! From request to response: journal, authenticate, route, answer, drain.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;

use crate::kv::key::KvKey;
use crate::problem::Problem;
use crate::query::Query;
use crate::reply::ResponseBody;
use crate::request_body::RequestBody;
use crate::sessions::Sessions;
use crate::shared::Shared;
use crate::{balance, kv, messages, speech, test_routes};

/// A `/v2` route, parsed from the raw path (without the leading `/v2/`).
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Balance,
    Messages,
    Transcription,
    Namespaces,
    Namespace { id: &'a str },
    Keys { id: &'a str },
    Key { id: &'a str, raw_key: &'a str },
    Sink,
    Source,
    Delay,
    EchoAuth,
    Status { code: &'a str },
}

impl<'a> Route<'a> {
    fn parse(rest: &'a str) -> Option<Self> {
        Some(match rest {
            "balance" => Self::Balance,
            "messages" => Self::Messages,
            "speech-to-text/transcription" => Self::Transcription,
            "storage/kvs" => Self::Namespaces,
            "_emulator/sink" => Self::Sink,
            "_emulator/source" => Self::Source,
            "_emulator/delay" => Self::Delay,
            "_emulator/echo_auth" => Self::EchoAuth,
            _ => {
                if let Some(code) = rest.strip_prefix("_emulator/status/") {
                    return Some(Self::Status { code });
                }
                let after = rest.strip_prefix("storage/kvs/")?;
                match after.split_once('/') {
                    None if !after.is_empty() => Self::Namespace { id: after },
                    None => return None,
                    Some((id, tail)) if !id.is_empty() => match tail.strip_prefix("keys/") {
                        Some(raw_key) => Self::Key { id, raw_key },
                        None if tail == "keys" => Self::Keys { id },
                        None => return None,
                    },
                    Some(_) => return None,
                }
            }
        })
    }
}

/// Answers one request. Every request is journaled first; every body is read to its end
/// before the response is returned, so its journal entry holds the full body length. A
/// WebSocket session the request opens runs on in `sessions`.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    sessions: Sessions,
    request: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Response<ResponseBody> {
    let (mut parts, body) = request.into_parts();
    let recorded = shared.journal.record(&parts, peer);
    let mut body = RequestBody::new(body, recorded);
    let response = answer(&shared, &sessions, &mut parts, &mut body)
        .await
        .unwrap_or_else(Problem::into_response);
    if let Err(problem) = body.drain().await {
        tracing::debug!(?problem, "request body ended early");
    }
    response
}

async fn answer(
    shared: &Shared,
    sessions: &Sessions,
    parts: &mut http::request::Parts,
    body: &mut RequestBody,
) -> Result<Response<ResponseBody>, Problem> {
    let rest = parts
        .uri
        .path()
        .strip_prefix("/v2/")
        .ok_or(Problem::RouteNotFound)?;
    authenticate(&shared.config.api_keys, &parts.headers)?;
    let route = Route::parse(rest).ok_or(Problem::RouteNotFound)?;
    let query = Query::new(parts.uri.query());
    let kv = &shared.kv;
    let method = &parts.method;
    match route {
        Route::Transcription => {
            only(method, &Method::GET, "GET")?;
            speech::transcription(parts, sessions)
        }
        Route::Balance => {
            only(method, &Method::GET, "GET")?;
            Ok(balance::get(&shared.config))
        }
        Route::Messages => {
            only(method, &Method::POST, "POST")?;
            messages::send(body).await
        }
        Route::Namespaces => match *method {
            Method::GET => kv::list_namespaces(kv),
            Method::POST => kv::create_namespace(kv, body).await,
            _ => Err(Problem::MethodNotAllowed { allow: "GET, POST" }),
        },
        Route::Namespace { id } => match *method {
            Method::GET => kv::get_namespace(kv, id),
            Method::DELETE => kv::delete_namespace(kv, id),
            _ => Err(Problem::MethodNotAllowed {
                allow: "GET, DELETE",
            }),
        },
        Route::Keys { id } => {
            only(method, &Method::GET, "GET")?;
            kv::list_keys(kv, id, query)
        }
        Route::Key { id, raw_key } => {
            let key = KvKey::from_raw_path(raw_key)?;
            match *method {
                Method::GET => kv::get_key(kv, id, &key),
                Method::PUT => kv::put_key(kv, id, key, body).await,
                Method::DELETE => kv::delete_key(kv, id, &key),
                _ => Err(Problem::MethodNotAllowed {
                    allow: "GET, PUT, DELETE",
                }),
            }
        }
        Route::Sink => match *method {
            Method::PUT | Method::POST => test_routes::sink(body).await,
            _ => Err(Problem::MethodNotAllowed { allow: "PUT, POST" }),
        },
        Route::Source => {
            only(method, &Method::GET, "GET")?;
            test_routes::source(query)
        }
        Route::Delay => test_routes::delay(query).await,
        Route::EchoAuth => test_routes::echo_auth(&parts.headers, query),
        Route::Status { code } => test_routes::status(code, query),
    }
}

fn only(method: &Method, allowed: &Method, allow: &'static str) -> Result<(), Problem> {
    if method == allowed {
        Ok(())
    } else {
        Err(Problem::MethodNotAllowed { allow })
    }
}

/// Exactly one `Authorization: Bearer <key>` naming a configured key. A binding JWT sent here
/// directly is refused like any unknown key, as the real API refuses it.
fn authenticate(api_keys: &[String], headers: &HeaderMap) -> Result<(), Problem> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(Problem::Unauthenticated);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(Problem::Unauthenticated)?;
    if !token.is_empty() && api_keys.iter().any(|key| key == token) {
        Ok(())
    } else {
        Err(Problem::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn routes_parse_from_the_raw_path() {
        assert_eq!(Route::parse("balance"), Some(Route::Balance));
        assert_eq!(
            Route::parse("speech-to-text/transcription"),
            Some(Route::Transcription)
        );
        assert_eq!(
            Route::parse("storage/kvs/abc"),
            Some(Route::Namespace { id: "abc" })
        );
        assert_eq!(
            Route::parse("storage/kvs/abc/keys"),
            Some(Route::Keys { id: "abc" })
        );
        assert_eq!(
            Route::parse("storage/kvs/abc/keys/user%2F1/x"),
            Some(Route::Key {
                id: "abc",
                raw_key: "user%2F1/x"
            })
        );
        assert_eq!(
            Route::parse("storage/kvs/abc/keys/"),
            Some(Route::Key {
                id: "abc",
                raw_key: ""
            })
        );
        for unknown in [
            "",
            "storage/kvs/",
            "storage/kvs//keys",
            "storage/kvs/a/b",
            "nope",
        ] {
            assert_eq!(Route::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn only_one_bearer_header_with_a_known_key_passes() {
        let keys = vec!["KEY1".to_owned()];
        let mut headers = HeaderMap::new();
        assert!(authenticate(&keys, &headers).is_err());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer KEY1"));
        assert!(authenticate(&keys, &headers).is_ok());
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer KEY1"));
        assert!(authenticate(&keys, &headers).is_err());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic KEY1"));
        assert!(authenticate(&keys, &headers).is_err());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer KEY2"));
        assert!(authenticate(&keys, &headers).is_err());
    }
}
