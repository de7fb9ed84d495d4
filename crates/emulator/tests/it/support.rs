//! One client for every test: sends requests to a spawned emulator, collects replies.

use std::convert::Infallible;

use bytes::Bytes;
use emulator::{Emulator, EmulatorConfig, RunningEmulator};
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub(crate) type ClientBody = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) const KEY: &str = "KEY-emulator-test";

pub(crate) struct Api {
    pub(crate) running: RunningEmulator,
    pub(crate) client: Client<HttpConnector, ClientBody>,
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) version: Version,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", self.body))
    }

    /// The `code` of the first error in an error document.
    pub(crate) fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .expect("an error document")
            .to_owned()
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_default()
    }
}

pub(crate) fn config() -> EmulatorConfig {
    EmulatorConfig {
        api_keys: vec![KEY.to_owned()],
        ..EmulatorConfig::default()
    }
}

impl Api {
    pub(crate) async fn start() -> Self {
        Self::start_with(config()).await
    }

    pub(crate) async fn start_with(config: EmulatorConfig) -> Self {
        let running = Emulator::spawn(config).await.unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { running, client }
    }

    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.running.base_url(), path_and_query)
    }

    /// A request with the test key.
    pub(crate) fn request(&self, method: Method, path_and_query: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(self.url(path_and_query))
            .header("authorization", format!("Bearer {KEY}"))
    }

    pub(crate) async fn send(&self, request: Request<ClientBody>) -> Reply {
        let response = self.client.request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            version: parts.version,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// An authenticated request with a whole body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: impl Into<Bytes>,
    ) -> Reply {
        let request = self
            .request(method, path_and_query)
            .body(full(body))
            .unwrap();
        self.send(request).await
    }

    pub(crate) async fn get(&self, path_and_query: &str) -> Reply {
        self.call(Method::GET, path_and_query, Bytes::new()).await
    }

    /// Creates a namespace and polls it once, so it is `provision_ok`; returns its id.
    pub(crate) async fn namespace(&self, name: &str) -> String {
        let created = self
            .call(
                Method::POST,
                "/v2/storage/kvs",
                format!(r#"{{"name":"{name}"}}"#),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let id = created.json()["data"]["id"].as_str().unwrap().to_owned();
        let polled = self.get(&format!("/v2/storage/kvs/{id}")).await;
        assert_eq!(polled.json()["data"]["status"], "provision_ok");
        id
    }
}

pub(crate) fn full(body: impl Into<Bytes>) -> ClientBody {
    Full::new(body.into()).boxed_unsync()
}
