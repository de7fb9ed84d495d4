//! `[rate_limit]`: per-organization limits.

use std::time::Duration;

use auth::{RateLimit, SettingsError};
use serde::Deserialize;

/// `[rate_limit]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimitSettings {
    /// Sustained rate for bindings without their own limit.
    pub default_requests_per_second: Option<u32>,
    /// Burst for bindings without their own limit.
    pub default_burst: Option<u32>,
    /// An organization's limiter is forgotten after this long without a request.
    pub idle_secs: u64,
    /// Most organizations tracked at once.
    pub max_tracked: u64,
}

impl Default for RawRateLimitSettings {
    fn default() -> Self {
        Self {
            default_requests_per_second: None,
            default_burst: None,
            idle_secs: 600,
            max_tracked: 100_000,
        }
    }
}

/// `[rate_limit]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// The limit for bindings without their own; `None`: such bindings are not limited.
    pub default_limit: Option<RateLimit>,
    /// An organization's limiter is forgotten after this long without a request.
    pub idle_ttl: Duration,
    /// At most this many organizations are tracked at once (least recently used go first).
    pub max_tracked: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self::try_from(RawRateLimitSettings::default())
            .expect("the default [rate_limit] settings are valid (a unit test checks it)")
    }
}

impl TryFrom<RawRateLimitSettings> for RateLimitSettings {
    type Error = SettingsError;

    fn try_from(raw: RawRateLimitSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        let default_limit = match (raw.default_requests_per_second, raw.default_burst) {
            (None, None) => None,
            (Some(rps), Some(burst)) if rps > 0 && burst > 0 => Some(RateLimit {
                requests_per_second: rps,
                burst,
            }),
            _ => {
                problems.push(
                    "default_requests_per_second",
                    "set both default_requests_per_second and default_burst (each at least 1), or neither",
                );
                None
            }
        };
        let idle_ttl = problems.positive_secs("idle_secs", raw.idle_secs);
        // Zero would make the cache forget every organization at once; one is the smallest
        // meaningful bound (kept from the first release, which clamped rather than refused).
        let max_tracked = raw.max_tracked.max(1);
        problems.finish(RateLimitSettings {
            default_limit,
            idle_ttl,
            max_tracked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rate_limit_mistake_is_reported_with_its_key() {
        let err = RateLimitSettings::try_from(RawRateLimitSettings {
            default_requests_per_second: Some(5),
            default_burst: None,
            idle_secs: 0,
            max_tracked: 0,
        })
        .unwrap_err();
        assert_eq!(err.keys(), ["default_requests_per_second", "idle_secs"]);
        let clamped = RateLimitSettings::try_from(RawRateLimitSettings {
            max_tracked: 0,
            ..RawRateLimitSettings::default()
        })
        .unwrap();
        assert_eq!(clamped.max_tracked, 1);
    }
}
