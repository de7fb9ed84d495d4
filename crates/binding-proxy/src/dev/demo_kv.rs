//! The demo KV namespace: `dev` creates it in its emulator through the emulator's KV API with
//! the organization's emulated key, as an organization creates one upstream, so the KV lines
//! of the banner work on the first paste.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The demo namespace's name.
pub(super) const NAME: &str = "demo-kv";

/// The emulator is in this process; an answer slower than this means it is stuck.
const EMULATOR_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the demo namespace at `upstream` (the emulator's base URL) and polls it once, which
/// completes its provisioning as it does upstream; returns its id.
///
/// # Errors
/// When the emulator cannot be reached or answers anything but success with an id.
pub(super) async fn create(upstream: &str, api_key: &str) -> anyhow::Result<String> {
    let api = KvApi::new(upstream, api_key)?;
    let created = api
        .call(
            Method::POST,
            "/v2/storage/kvs",
            Some(json!({ "name": NAME })),
        )
        .await?;
    let id = created["data"]["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| anyhow!("the emulator created the namespace without an id"))?
        .to_owned();
    api.call(Method::GET, &format!("/v2/storage/kvs/{id}"), None)
        .await?;
    Ok(id)
}

/// The emulator's KV API with the organization's key; no `Debug`, it holds the key.
struct KvApi<'a> {
    upstream: &'a str,
    authorization: HeaderValue,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl<'a> KvApi<'a> {
    fn new(upstream: &'a str, api_key: &str) -> anyhow::Result<Self> {
        let mut authorization = HeaderValue::try_from(format!("Bearer {api_key}"))
            .map_err(|_| anyhow!("the emulated API key is not a valid header value"))?;
        authorization.set_sensitive(true);
        Ok(Self {
            upstream,
            authorization,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Sends one request; anything but a 2xx JSON answer is an error naming the URL.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.upstream);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(header::AUTHORIZATION, self.authorization.clone());
        let payload = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .with_context(|| format!("building {method} {url}"))?;
        let response = tokio::time::timeout(EMULATOR_TIMEOUT, self.client.request(request))
            .await
            .with_context(|| format!("{method} {url}: no answer in time"))?
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the answer to {method} {url}"))?
            .to_bytes();
        if !status.is_success() {
            bail!("{method} {url} answered {status}");
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("{method} {url} answered something other than JSON"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn namespace_is_created_then_polled_with_the_given_key() {
        let emulator = emulator::Emulator::spawn(emulator::EmulatorConfig {
            api_keys: vec!["KEY_TEST".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
        let id = create(&emulator.base_url(), "KEY_TEST").await.unwrap();
        let journal = emulator.journal().entries();
        let paths: Vec<_> = journal.iter().map(|e| e.path_and_query.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v2/storage/kvs".to_owned(),
                format!("/v2/storage/kvs/{id}")
            ]
        );
        for entry in &journal {
            assert_eq!(entry.headers["authorization"], "Bearer KEY_TEST");
        }
        // A second demo namespace of the same name is refused: the first one exists.
        let again = create(&emulator.base_url(), "KEY_TEST").await.unwrap_err();
        assert!(format!("{again:#}").contains("409"), "{again:#}");
    }

    #[tokio::test]
    async fn a_refused_key_is_an_error_that_does_not_show_the_key() {
        let emulator = emulator::Emulator::spawn(emulator::EmulatorConfig {
            api_keys: vec!["KEY_TEST".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
        let err = create(&emulator.base_url(), "KEY_WRONG").await.unwrap_err();
        let printed = format!("{err:#} {err:?}");
        assert!(printed.contains("401"), "{printed}");
        assert!(!printed.contains("KEY_WRONG"), "{printed}");
    }
}
