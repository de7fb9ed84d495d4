//! `[websocket]`: WebSocket sessions (`docs/websockets.md`).

use std::time::Duration;

use auth::SettingsError;
use serde::Deserialize;

/// `[websocket]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebSocketSettings {
    /// A session with no byte either way for this long is closed.
    pub idle_timeout_secs: u64,
    /// A session is closed this long after its handshake, busy or not.
    pub max_lifetime_secs: u64,
    /// Whether a session outlives its token's `exp`.
    pub allow_past_expiry: bool,
    /// Sessions one organization may hold open on this replica.
    pub max_sessions_per_org: usize,
    /// Sessions this replica holds open at most.
    pub max_sessions: usize,
}

impl Default for RawWebSocketSettings {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 300,
            max_lifetime_secs: 3600,
            allow_past_expiry: false,
            max_sessions_per_org: 100,
            max_sessions: 10_000,
        }
    }
}

/// `[websocket]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketSettings {
    /// A session with no byte either way (pings included) for this long is closed.
    pub idle_timeout: Duration,
    /// A session is closed this long after its handshake.
    pub max_lifetime: Duration,
    /// `false`: a session ends when its token expires, as a request with it would be refused.
    pub allow_past_expiry: bool,
    /// Sessions one organization may hold open on this replica (429 `too_many_sessions` over).
    pub max_sessions_per_org: usize,
    /// Sessions this replica holds open at most (429 `too_many_sessions` over).
    pub max_sessions: usize,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        Self::try_from(RawWebSocketSettings::default())
            .expect("the default [websocket] settings are valid (a unit test checks it)")
    }
}

/// The longest idle timeout or lifetime accepted: 30 days. "Unlimited" written as a huge
/// number would overflow the session's clock arithmetic.
const MAX_SECS: u64 = 30 * 24 * 3600;

impl TryFrom<RawWebSocketSettings> for WebSocketSettings {
    type Error = SettingsError;

    fn try_from(raw: RawWebSocketSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        for (key, value) in [
            ("idle_timeout_secs", raw.idle_timeout_secs),
            ("max_lifetime_secs", raw.max_lifetime_secs),
        ] {
            if value > MAX_SECS {
                problems.push(key, format!("must be at most {MAX_SECS} (30 days)"));
            }
        }
        let idle_timeout = problems.positive_secs("idle_timeout_secs", raw.idle_timeout_secs);
        let max_lifetime = problems.positive_secs("max_lifetime_secs", raw.max_lifetime_secs);
        if raw.max_sessions_per_org == 0 {
            problems.push("max_sessions_per_org", "must be at least 1");
        }
        if raw.max_sessions == 0 {
            problems.push("max_sessions", "must be at least 1");
        }
        problems.finish(WebSocketSettings {
            idle_timeout,
            max_lifetime,
            allow_past_expiry: raw.allow_past_expiry,
            max_sessions_per_org: raw.max_sessions_per_org,
            max_sessions: raw.max_sessions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let settings = WebSocketSettings::default();
        assert_eq!(settings.idle_timeout, Duration::from_secs(300));
        assert_eq!(settings.max_lifetime, Duration::from_secs(3600));
        assert!(!settings.allow_past_expiry);
    }

    #[test]
    fn a_huge_timeout_is_refused_rather_than_overflowing() {
        let err = WebSocketSettings::try_from(RawWebSocketSettings {
            idle_timeout_secs: u64::MAX,
            max_lifetime_secs: MAX_SECS + 1,
            ..RawWebSocketSettings::default()
        })
        .expect_err("refused");
        assert_eq!(err.keys(), ["idle_timeout_secs", "max_lifetime_secs"]);
        assert!(
            WebSocketSettings::try_from(RawWebSocketSettings {
                max_lifetime_secs: MAX_SECS,
                ..RawWebSocketSettings::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = WebSocketSettings::try_from(RawWebSocketSettings {
            idle_timeout_secs: 0,
            max_lifetime_secs: 0,
            allow_past_expiry: true,
            max_sessions_per_org: 0,
            max_sessions: 0,
        })
        .expect_err("refused");
        assert_eq!(
            err.keys(),
            [
                "idle_timeout_secs",
                "max_lifetime_secs",
                "max_sessions_per_org",
                "max_sessions"
            ]
        );
    }
}
