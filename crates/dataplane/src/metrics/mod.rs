//! The data plane's metrics: requests, durations, refusals, bytes, requests in flight, upstream
//! connections and the key taken out of responses.
//!
//! [`DataplaneMetrics`] is created by the binary and registered in its registry; the proxy
//! resolves it against its scope table into [`Series`]. Labels come from closed sets only:
//! method (standard methods, else `other`), API group (the first segments of the scope
//! table's prefixes, else `other`), status class and refusal `code`. Never an organization,
//! token, path or request id. Each (method, group, class) series is looked up once and cached
//! in a fixed array, so the hot path neither allocates nor takes a lock after the first hit.

use std::sync::OnceLock;
use std::time::Duration;

use auth::error_document::ErrorCode;
use auth::scope::{SERVICES, ScopeTable};
use http::{Method, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::redact::Redactions;

mod sessions;

use sessions::SessionMetrics;
pub(crate) use sessions::{Outcome, SessionSeries};

/// Metric names as registered (before the `binding_proxy_` prefix and the `_total`/unit
/// suffixes the encoder adds). `docs/metrics.md` lists the exported names.
pub(crate) mod names {
    pub(crate) const REQUESTS: &str = "requests";
    pub(crate) const REQUEST_DURATION: &str = "request_duration";
    pub(crate) const UPSTREAM_DURATION: &str = "upstream_duration";
    pub(crate) const REFUSALS: &str = "refusals";
    pub(crate) const RATE_LIMITED: &str = "rate_limited_requests";
    pub(crate) const IN_FLIGHT: &str = "in_flight_requests";
    pub(crate) const REQUEST_BODY: &str = "request_body";
    pub(crate) const RESPONSE_BODY: &str = "response_body";
    pub(crate) const UPSTREAM_CONNECTIONS: &str = "upstream_connections_opened";
    pub(crate) const CLIENT_CONNECTIONS_CLOSED: &str = "client_connections_closed";
    pub(crate) const KEY_REDACTIONS: &str = "upstream_key_redactions";
}

/// `method` label values; the last one stands for any other method.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "other",
];

/// `status_class` label values; the last one stands for codes of 600 and above.
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// The `api_group` of paths outside the scope table and of requests that were not routed.
const OTHER_GROUP: &str = "other";

/// Duration buckets in seconds: 1 ms … ~33 s, doubling.
fn duration_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16)
}

fn duration_histogram() -> Histogram {
    Histogram::new(duration_buckets())
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    api_group: String,
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    method: &'static str,
    api_group: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    protocol: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RedactionLabels {
    /// `header` (header values, trailers, dropped `Authorization` headers) or `body`.
    r#where: &'static str,
}

/// Upstream connections opened, by the protocol ALPN settled on (HTTP/1.1 without TLS).
#[derive(Debug, Clone)]
pub(crate) struct ConnectionCounters {
    http1: Counter,
    http2: Counter,
}

impl ConnectionCounters {
    fn new(family: &Family<ConnectionLabels, Counter>) -> Self {
        let counter = |protocol| family.get_or_create(&ConnectionLabels { protocol }).clone();
        Self {
            http1: counter("http1"),
            http2: counter("http2"),
        }
    }

    /// An upstream connection was opened (TCP, TLS and the HTTP handshake all done).
    pub(crate) fn opened(&self, http2: bool) {
        if http2 {
            self.http2.inc();
        } else {
            self.http1.inc();
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    reason: &'static str,
}

/// Client connections the listener closed on its own initiative, by reason. Closes for
/// idleness and hyper's own header timeouts are not counted.
#[derive(Debug, Clone)]
pub(crate) struct ClientConnectionCounters {
    first_request_timeout: Counter,
    evicted: Counter,
}

impl ClientConnectionCounters {
    fn new(family: &Family<ClosedLabels, Counter>) -> Self {
        let counter = |reason| family.get_or_create(&ClosedLabels { reason }).clone();
        Self {
            first_request_timeout: counter("first_request_timeout"),
            evicted: counter("evicted"),
        }
    }

    /// A connection sent no complete request head within the header read timeout of its
    /// accept and was closed.
    pub(crate) fn first_request_timeout(&self) {
        self.first_request_timeout.inc();
    }

    /// An idle connection was asked to close to make room for a new client at
    /// `max_connections`.
    pub(crate) fn evicted(&self) {
        self.evicted.inc();
    }
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// The data plane's metric families. Create one in the binary, [`register`](Self::register)
/// it, and hand it to [`crate::Proxy::with_metrics`]. Unregistered metrics count but are not
/// exported. Cheap to clone (shared counters).
#[derive(Debug, Clone)]
pub struct DataplaneMetrics {
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RequestLabels>,
    upstream_duration: HistogramFamily<UpstreamLabels>,
    refusals: Family<RefusalLabels, Counter>,
    rate_limited: Counter,
    in_flight: Gauge,
    request_body_bytes: Counter,
    response_body_bytes: Counter,
    upstream_connections: Family<ConnectionLabels, Counter>,
    client_connections_closed: Family<ClosedLabels, Counter>,
    key_redactions: Family<RedactionLabels, Counter>,
    sessions: SessionMetrics,
}

impl Default for DataplaneMetrics {
    fn default() -> Self {
        let refusals = Family::<RefusalLabels, Counter>::default();
        // Every code is exported from the start (at 0), so `rate()` sees the first refusal.
        for code in ErrorCode::ALL {
            drop(refusals.get_or_create(&RefusalLabels {
                code: code.as_str(),
            }));
        }
        Self {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(duration_histogram),
            upstream_duration: Family::new_with_constructor(duration_histogram),
            refusals,
            rate_limited: Counter::default(),
            in_flight: Gauge::default(),
            request_body_bytes: Counter::default(),
            response_body_bytes: Counter::default(),
            upstream_connections: Family::default(),
            client_connections_closed: Family::default(),
            key_redactions: Family::default(),
            sessions: SessionMetrics::default(),
        }
    }
}

impl DataplaneMetrics {
    /// Registers the metrics under `registry` (the binary gives it the `binding_proxy` prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            names::REQUESTS,
            "Data-plane requests answered, by method, API group and status class",
            self.requests.clone(),
        );
        registry.register_with_unit(
            names::REQUEST_DURATION,
            "Time from the request head to the end of the response body",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register_with_unit(
            names::UPSTREAM_DURATION,
            "Time from sending upstream to the upstream's response headers",
            Unit::Seconds,
            self.upstream_duration.clone(),
        );
        registry.register(
            names::REFUSALS,
            "Requests the proxy answered itself, by error code (auth failures, limits, upstream failures)",
            self.refusals.clone(),
        );
        registry.register(
            names::RATE_LIMITED,
            "Requests refused by the per-organization rate limit",
            self.rate_limited.clone(),
        );
        registry.register(
            names::IN_FLIGHT,
            "Data-plane requests whose response has not finished",
            self.in_flight.clone(),
        );
        registry.register_with_unit(
            names::REQUEST_BODY,
            "Request body bytes streamed upstream",
            Unit::Bytes,
            self.request_body_bytes.clone(),
        );
        registry.register_with_unit(
            names::RESPONSE_BODY,
            "Response body bytes streamed to clients",
            Unit::Bytes,
            self.response_body_bytes.clone(),
        );
        registry.register(
            names::UPSTREAM_CONNECTIONS,
            "Connections opened to the upstream, by protocol",
            self.upstream_connections.clone(),
        );
        registry.register(
            names::CLIENT_CONNECTIONS_CLOSED,
            "Client connections the data plane closed on its own initiative, by reason",
            self.client_connections_closed.clone(),
        );
        registry.register(
            names::KEY_REDACTIONS,
            "Occurrences of the organization's key taken out of upstream responses, by where",
            self.key_redactions.clone(),
        );
        self.sessions.register(registry);
    }

    /// The WebSocket session series.
    pub(crate) fn sessions(&self) -> SessionSeries {
        self.sessions.resolve()
    }
}

/// One resolved request series: its counter and duration histogram.
#[derive(Debug)]
struct RequestSeries {
    requests: Counter,
    duration: Histogram,
}

/// [`DataplaneMetrics`] resolved against one proxy's scope table.
#[derive(Debug)]
pub(crate) struct Series {
    metrics: DataplaneMetrics,
    /// Sorted, deduplicated API groups; index `groups.len()` is `other`.
    groups: Vec<String>,
    /// Indexed by `(group * METHODS + method) * CLASSES + class`.
    requests: Box<[OnceLock<RequestSeries>]>,
    /// Indexed by `group * METHODS + method`.
    upstream: Box<[OnceLock<Histogram>]>,
    /// In [`ErrorCode::ALL`] order.
    refusals: Vec<(ErrorCode, Counter)>,
    /// Both protocols exported from the start (at 0).
    connections: ConnectionCounters,
    /// Every reason exported from the start (at 0).
    client_connections: ClientConnectionCounters,
    /// Key redactions in headers and in bodies, both exported from the start (at 0).
    redactions: [Counter; 2],
    /// WebSocket sessions.
    sessions: SessionSeries,
}

/// Where a finished request goes in the metrics; computed once per request, no allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    group: usize,
    method: usize,
}

impl Series {
    pub(crate) fn new(metrics: DataplaneMetrics, scopes: &ScopeTable) -> Self {
        let mut groups: Vec<String> = SERVICES
            .iter()
            .filter_map(|service| scopes.prefixes(service))
            .flatten()
            .filter_map(|prefix| prefix.split('/').next())
            .filter(|group| !group.is_empty() && *group != OTHER_GROUP)
            .map(str::to_owned)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        let group_count = groups.len() + 1;
        let requests = (0..group_count * METHODS.len() * CLASSES.len())
            .map(|_| OnceLock::new())
            .collect();
        let upstream = (0..group_count * METHODS.len())
            .map(|_| OnceLock::new())
            .collect();
        let refusals = ErrorCode::ALL
            .iter()
            .map(|code| {
                let counter = metrics
                    .refusals
                    .get_or_create(&RefusalLabels {
                        code: code.as_str(),
                    })
                    .clone();
                (*code, counter)
            })
            .collect();
        let connections = ConnectionCounters::new(&metrics.upstream_connections);
        let client_connections = ClientConnectionCounters::new(&metrics.client_connections_closed);
        let redactions = ["header", "body"].map(|r#where| {
            metrics
                .key_redactions
                .get_or_create(&RedactionLabels { r#where })
                .clone()
        });
        let sessions = metrics.sessions();
        Self {
            metrics,
            groups,
            requests,
            upstream,
            refusals,
            connections,
            client_connections,
            redactions,
            sessions,
        }
    }

    /// The counters of upstream connections opened.
    pub(crate) fn connections(&self) -> &ConnectionCounters {
        &self.connections
    }

    /// The WebSocket session series.
    pub(crate) fn sessions(&self) -> &SessionSeries {
        &self.sessions
    }

    /// The counters of client connections the listener closed.
    pub(crate) fn client_connections(&self) -> &ClientConnectionCounters {
        &self.client_connections
    }

    /// The series key of a request; `api_group` is `None` when it was not routed.
    pub(crate) fn key(&self, method: &Method, api_group: Option<&str>) -> Key {
        let group = api_group
            .and_then(|group| {
                self.groups
                    .binary_search_by(|known| known.as_str().cmp(group))
                    .ok()
            })
            .unwrap_or(self.groups.len());
        let method = METHODS
            .iter()
            .position(|known| *known == method.as_str())
            .unwrap_or(METHODS.len() - 1);
        Key { group, method }
    }

    fn group_label(&self, key: Key) -> String {
        self.groups
            .get(key.group)
            .map_or(OTHER_GROUP, String::as_str)
            .to_owned()
    }

    /// A request started: counted in flight until [`Series::finished_flight`].
    pub(crate) fn started(&self) {
        self.metrics.in_flight.inc();
    }

    /// A request is no longer in flight (finished or abandoned).
    pub(crate) fn finished_flight(&self) {
        self.metrics.in_flight.dec();
    }

    /// A request finished (its response body ended or was dropped).
    pub(crate) fn finished(
        &self,
        key: Key,
        status: StatusCode,
        duration: Duration,
        upstream: Option<Duration>,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let class = usize::from(status.as_u16() / 100)
            .saturating_sub(1)
            .min(CLASSES.len() - 1);
        let index = (key.group * METHODS.len() + key.method) * CLASSES.len() + class;
        if let Some(cell) = self.requests.get(index) {
            let series = cell.get_or_init(|| {
                let labels = RequestLabels {
                    method: METHODS[key.method],
                    api_group: self.group_label(key),
                    status_class: CLASSES[class],
                };
                RequestSeries {
                    requests: self.metrics.requests.get_or_create(&labels).clone(),
                    duration: self.metrics.request_duration.get_or_create(&labels).clone(),
                }
            });
            series.requests.inc();
            series.duration.observe(duration.as_secs_f64());
        }
        if let Some(upstream) = upstream
            && let Some(cell) = self.upstream.get(key.group * METHODS.len() + key.method)
        {
            cell.get_or_init(|| {
                let labels = UpstreamLabels {
                    method: METHODS[key.method],
                    api_group: self.group_label(key),
                };
                self.metrics
                    .upstream_duration
                    .get_or_create(&labels)
                    .clone()
            })
            .observe(upstream.as_secs_f64());
        }
        self.metrics.request_body_bytes.inc_by(bytes_in);
        self.metrics.response_body_bytes.inc_by(bytes_out);
    }

    /// The key was taken out of a response's headers and body this many times.
    pub(crate) fn redacted(&self, redactions: Redactions) {
        let [headers, body] = &self.redactions;
        headers.inc_by(redactions.headers);
        body.inc_by(redactions.body);
    }

    /// The proxy answered with `code` instead of the upstream.
    pub(crate) fn refused(&self, code: ErrorCode) {
        if let Some((_, counter)) = self.refusals.iter().find(|(known, _)| *known == code) {
            counter.inc();
        }
        if code == ErrorCode::RateLimited {
            self.metrics.rate_limited.inc();
        }
    }
}

#[cfg(test)]
mod tests;
