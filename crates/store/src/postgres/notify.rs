//! The cross-process change notification: its channel name, payload format and lag reading.
//!
//! Payload: `<kind>:<origin>:<sent_at_unix_millis>[:<binding_id>]`, where kind is `b` (a
//! binding, whose id follows), `k` (the signing keys) or `e` (everything). `origin` names the
//! store instance that sent it, so a store skips its own echo: it has already told its
//! subscribers when it committed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};

use crate::Change;

/// The channel of a store whose tables live in the `public` schema.
pub(super) const CHANNEL: &str = "binding_proxy_changes";

/// PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1); a channel name is one.
const MAX_CHANNEL_LEN: usize = 63;

/// The channel for a store whose tables live in `schema`.
///
/// Channels are per database, not per schema: stores on two schemas of one database (two
/// deployments, two tests) must not hear each other, so any schema but `public` gets its own
/// channel, `binding_proxy_changes:<schema>`, or `binding_proxy_changes:<hash>` when that is too
/// long for PostgreSQL.
pub(super) fn channel(schema: Option<&str>) -> String {
    match schema {
        None | Some("public") => CHANNEL.to_owned(),
        Some(schema) if CHANNEL.len() + 1 + schema.len() <= MAX_CHANNEL_LEN => {
            format!("{CHANNEL}:{schema}")
        }
        Some(schema) => {
            let hash = hex::encode(digest(&SHA256, schema.as_bytes()));
            format!("{CHANNEL}:{}", &hash[..32])
        }
    }
}

/// The payload announcing `change`, sent by `origin` at `sent_at_millis`.
pub(super) fn encode(change: &Change, origin: &str, sent_at_millis: u64) -> String {
    match change {
        Change::Binding { binding_id } => format!("b:{origin}:{sent_at_millis}:{binding_id}"),
        Change::SigningKeys => format!("k:{origin}:{sent_at_millis}"),
        Change::Everything => format!("e:{origin}:{sent_at_millis}"),
    }
}

/// A payload read back.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Notice<'a> {
    pub(super) change: Change,
    pub(super) origin: &'a str,
    pub(super) sent_at_millis: u64,
}

/// Reads a payload; `None` when it is not one [`encode`] writes.
pub(super) fn decode(payload: &str) -> Option<Notice<'_>> {
    let mut parts = payload.splitn(4, ':');
    let (kind, origin, sent_at) = (parts.next()?, parts.next()?, parts.next()?);
    let sent_at_millis = sent_at.parse().ok()?;
    let change = match (kind, parts.next()) {
        ("b", Some(binding_id)) if !binding_id.is_empty() => Change::Binding {
            binding_id: binding_id.to_owned(),
        },
        ("k", None) => Change::SigningKeys,
        ("e", None) => Change::Everything,
        _ => return None,
    };
    Some(Notice {
        change,
        origin,
        sent_at_millis,
    })
}

/// Milliseconds since the unix epoch by the system clock (0 if the clock is before 1970).
pub(super) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The lag of the last notification received from another process, shared with the listener.
#[derive(Debug)]
pub(super) struct LastLag(AtomicU64);

impl LastLag {
    const NONE: u64 = u64::MAX;

    pub(super) fn new() -> Self {
        Self(AtomicU64::new(Self::NONE))
    }

    /// Records a notification sent at `sent_at_millis` and received at `received_at_millis`.
    /// Clocks of two hosts may disagree; a negative lag counts as none.
    pub(super) fn record(&self, sent_at_millis: u64, received_at_millis: u64) {
        let lag = received_at_millis.saturating_sub(sent_at_millis);
        self.0.store(lag.min(Self::NONE - 1), Ordering::Relaxed);
    }

    /// Seconds, or `None` before the first notification from another process.
    pub(super) fn seconds(&self) -> Option<f64> {
        match self.0.load(Ordering::Relaxed) {
            Self::NONE => None,
            // Millisecond lags are far below 2^53: the conversion is exact.
            millis => Some(millis as f64 / 1000.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_round_trips_through_its_payload() {
        for change in [
            Change::Binding {
                binding_id: "6f1c:with:colons".to_owned(),
            },
            Change::SigningKeys,
            Change::Everything,
        ] {
            let payload = encode(&change, "origin1", 1_750_000_000_123);
            assert_eq!(
                decode(&payload),
                Some(Notice {
                    change,
                    origin: "origin1",
                    sent_at_millis: 1_750_000_000_123,
                })
            );
        }
    }

    #[test]
    fn foreign_payloads_are_not_read() {
        for payload in [
            "",
            "b",
            "b:o:1",
            "b:o:1:",
            "k:o:not-a-number",
            "k:o:1:extra",
            "x:o:1",
        ] {
            assert_eq!(decode(payload), None, "{payload}");
        }
    }

    #[test]
    fn each_schema_but_public_has_its_own_channel_within_the_length_limit() {
        assert_eq!(channel(None), "binding_proxy_changes");
        assert_eq!(channel(Some("public")), "binding_proxy_changes");
        assert_eq!(channel(Some("tenant_a")), "binding_proxy_changes:tenant_a");
        let long_a = channel(Some(&"a".repeat(63)));
        let long_b = channel(Some(&"b".repeat(63)));
        assert_ne!(long_a, long_b);
        assert!(long_a.len() <= MAX_CHANNEL_LEN, "{long_a}");
    }

    #[test]
    fn lag_is_none_until_recorded_and_never_negative() {
        let lag = LastLag::new();
        assert_eq!(lag.seconds(), None);
        lag.record(1_000, 3_500);
        assert_eq!(lag.seconds(), Some(2.5));
        lag.record(5_000, 4_000);
        assert_eq!(lag.seconds(), Some(0.0));
    }
}
