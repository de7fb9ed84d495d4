//! WebSocket session metrics: sessions open, sessions ended by outcome, bytes each way.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// Metric names as registered (see [`super::names`]).
pub(crate) mod names {
    pub(crate) const SESSIONS: &str = "websocket_sessions";
    // Not `websocket_sessions` again: in OpenMetrics a counter's family name has no `_total`,
    // so it would clash with the gauge.
    pub(crate) const SESSIONS_ENDED: &str = "websocket_sessions_ended";
    pub(crate) const SESSION_BYTES: &str = "websocket";
}

/// How a session ended; the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The client ended its stream first (after its Close frame, or without one).
    ClientClosed,
    /// The upstream ended its stream first.
    UpstreamClosed,
    /// No byte either way for `websocket.idle_timeout_secs`.
    IdleTimeout,
    /// `websocket.max_lifetime_secs` after the handshake.
    MaxLifetime,
    /// The token was revoked or superseded, or its binding deleted.
    Revoked,
    /// The token expired (`websocket.allow_past_expiry = false`).
    Expired,
    /// The proxy is shutting down: closed with `1001`.
    Drained,
    /// Still open when the drain's grace ran out.
    Cut,
    /// A connection failed (reset, I/O error) or the upgrade never completed.
    Error,
}

impl Outcome {
    /// Every outcome, in label order.
    pub(crate) const ALL: [Outcome; 9] = [
        Self::ClientClosed,
        Self::UpstreamClosed,
        Self::IdleTimeout,
        Self::MaxLifetime,
        Self::Revoked,
        Self::Expired,
        Self::Drained,
        Self::Cut,
        Self::Error,
    ];

    /// The label value, also the access log's `ended_by`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ClientClosed => "client_closed",
            Self::UpstreamClosed => "upstream_closed",
            Self::IdleTimeout => "idle_timeout",
            Self::MaxLifetime => "max_lifetime",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Drained => "drained",
            Self::Cut => "cut",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    /// `client_to_upstream` or `upstream_to_client`.
    direction: &'static str,
}

/// The session metric families; part of [`super::DataplaneMetrics`].
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionMetrics {
    open: Gauge,
    ended: Family<OutcomeLabels, Counter>,
    bytes: Family<DirectionLabels, Counter>,
}

impl SessionMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            names::SESSIONS,
            "WebSocket sessions open",
            self.open.clone(),
        );
        registry.register(
            names::SESSIONS_ENDED,
            "WebSocket sessions ended, by outcome",
            self.ended.clone(),
        );
        registry.register_with_unit(
            names::SESSION_BYTES,
            "WebSocket session bytes carried, by direction",
            Unit::Bytes,
            self.bytes.clone(),
        );
    }

    /// The counters one proxy uses, every label exported from the start (at 0).
    pub(crate) fn resolve(&self) -> SessionSeries {
        // One label at a time: a family's read guard, held to the end of a statement, would
        // block the next label's insertion.
        let bytes = |direction| {
            let counter = self.bytes.get_or_create(&DirectionLabels { direction });
            counter.clone()
        };
        let up = bytes("client_to_upstream");
        let down = bytes("upstream_to_client");
        let ended = Outcome::ALL.map(|outcome| {
            let counter = self.ended.get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            });
            counter.clone()
        });
        SessionSeries {
            open: self.open.clone(),
            ended,
            up,
            down,
        }
    }
}

/// [`SessionMetrics`] resolved: no lookup per session.
#[derive(Debug, Clone)]
pub(crate) struct SessionSeries {
    pub(crate) open: Gauge,
    ended: [Counter; 9],
    /// Bytes from clients to the upstream.
    pub(crate) up: Counter,
    /// Bytes from the upstream to clients.
    pub(crate) down: Counter,
}

impl SessionSeries {
    /// A session ended with `outcome`.
    pub(crate) fn ended(&self, outcome: Outcome) {
        if let Some(index) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.ended[index].inc();
        }
    }
}
