//! The validation probe: one `GET {upstream}{probe_path}` with a binding's real key, to learn
//! whether the upstream accepts it.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long an idle probe connection stays pooled.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// Why the probe could not be built at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    /// `upstream_base_url` has no scheme or host, or `probe_path` does not form a URL with it.
    #[error("upstream_base_url plus probe_path is not an absolute URL")]
    Url(#[source] http::Error),
    /// `upstream_base_url` has no scheme or host.
    #[error("upstream_base_url must be an absolute http(s) URL")]
    NotAbsolute,
    /// The TLS client configuration could not be built.
    #[error("tls client configuration")]
    Tls(#[source] rustls::Error),
}

/// What the upstream did with the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// It answered with this status.
    Answered(StatusCode),
    /// No connection, or the request failed before a status arrived.
    Unreachable,
    /// No status within the probe timeout.
    TimedOut,
}

/// The probe client and its target, built once.
pub(crate) struct Probe {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    url: Uri,
    path: String,
    timeout: Duration,
}

impl Probe {
    /// A probe of `base` (`upstream_base_url`) plus `probe_path` that may take `timeout`,
    /// connection included. Takes the values, not the admin settings, so it stays below `state`.
    pub(crate) fn new(
        base: &Uri,
        probe_path: &str,
        timeout: Duration,
    ) -> Result<Self, ProbeSetupError> {
        let (Some(scheme), Some(authority)) = (base.scheme(), base.authority()) else {
            return Err(ProbeSetupError::NotAbsolute);
        };
        let prefix = base.path().trim_end_matches('/');
        let url = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query(format!("{prefix}{probe_path}"))
            .build()
            .map_err(ProbeSetupError::Url)?;

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(ProbeSetupError::Tls)?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        Ok(Self {
            client,
            url,
            path: probe_path.to_owned(),
            timeout,
        })
    }

    /// `GET /v2/balance`-style description of the probe, for check details.
    pub(crate) fn describe(&self) -> String {
        format!("GET {}", self.path)
    }

    /// The probe timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends the probe with `authorization` (`Bearer <real key>`, marked sensitive).
    pub(crate) async fn run(&self, authorization: &HeaderValue) -> ProbeOutcome {
        let mut authorization = authorization.clone();
        authorization.set_sensitive(true);
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.url.clone())
            .header(header::AUTHORIZATION, authorization)
            .header(header::ACCEPT, HeaderValue::from_static("application/json"))
            .body(Empty::new());
        let request = match request {
            Ok(request) => request,
            // Unreachable in practice: the URL was checked at start-up.
            Err(_) => return ProbeOutcome::Unreachable,
        };
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => ProbeOutcome::Answered(response.status()),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, url = %self.url, "validation probe failed");
                ProbeOutcome::Unreachable
            }
            Err(_) => ProbeOutcome::TimedOut,
        }
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
