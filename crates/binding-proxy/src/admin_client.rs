//! A small client for the admin API, used by the operator commands.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Talks JSON to the admin API with a bearer admin token.
pub(crate) struct AdminClient {
    base: String,
    token: Option<String>,
    client: Client<Https, Full<Bytes>>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A successful answer: status and JSON body (`Value::Null` when empty).
pub(crate) struct Answer {
    pub(crate) body: Value,
}

impl AdminClient {
    pub(crate) fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        base.parse::<http::Uri>()
            .ok()
            .filter(|u| u.scheme().is_some() && u.authority().is_some())
            .ok_or_else(|| anyhow!("admin URL `{base}` is not an absolute http(s) URL"))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self {
            base,
            token,
            client,
        })
    }

    /// Sends a request; a non-2xx answer becomes an error carrying the API's detail.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut builder = Request::builder().method(method.clone()).uri(&url);
        if let Some(token) = &self.token {
            let mut value =
                header::HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    anyhow!("the admin token contains characters not allowed in a header")
                })?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        let payload = match body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&json).context("encoding the request body")?)
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(payload))
            .with_context(|| format!("building {method} {url}"))?;
        let response = tokio::time::timeout(Duration::from_secs(60), self.client.request(request))
            .await
            .map_err(|_| anyhow!("{method} {url}: no answer within 60 s"))?
            .with_context(|| format!("{method} {url}: cannot reach the admin API"))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{method} {url}: reading the answer"))?
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{method} {url}: answer is not JSON ({status})"))?
        };
        if !status.is_success() {
            bail!("{}", describe_error(status, &body));
        }
        Ok(Answer { body })
    }
}

/// One line from an error document: `404 not_found: no binding for organization acme`.
fn describe_error(status: StatusCode, body: &Value) -> String {
    let first = &body["errors"][0];
    match (first["code"].as_str(), first["detail"].as_str()) {
        (Some(code), Some(detail)) => format!("{} {code}: {detail}", status.as_u16()),
        (Some(code), None) => format!("{} {code}", status.as_u16()),
        _ => format!("admin API answered {status}"),
    }
}
