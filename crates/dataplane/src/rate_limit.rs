//! Per-organization rate limits (governor GCRA): one limiter per organization, in a bounded
//! moka cache that forgets organizations idle for longer than `idle_ttl`, so memory for idle
//! keys is reclaimed. Limits are per process (per replica).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use auth::RateLimit;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::settings::RateLimitSettings;

/// The longest wait the proxy ever asks a client for: the Node SDK sleeps for whatever it is
/// told, and an organization over its limit for a minute should hear back, not hang.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No limit applies.
    Unlimited,
    /// Allowed; `remaining` more requests fit in the burst right now.
    Allowed {
        /// Sustained requests per second.
        limit: u32,
        /// Remaining burst capacity after this request.
        remaining: u32,
    },
    /// Over the limit; retry after the delay (never more than [`MAX_RETRY_AFTER`]).
    Limited {
        /// Sustained requests per second.
        limit: u32,
        /// When a request would conform again.
        retry_after: Duration,
    },
}

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;

struct OrgLimiter<C: Clock> {
    limit: RateLimit,
    limiter: Limiter<C>,
}

/// Limiters keyed by organization id.
pub(crate) struct RateLimiters<C: Clock = DefaultClock> {
    settings: RateLimitSettings,
    clock: C,
    limiters: moka::sync::Cache<String, Arc<OrgLimiter<C>>>,
}

impl<C: Clock> std::fmt::Debug for RateLimiters<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiters")
            .field("settings", &self.settings)
            .field("tracked", &self.limiters.entry_count())
            .finish()
    }
}

impl RateLimiters<DefaultClock> {
    /// Limiters on the real clock.
    pub(crate) fn new(settings: RateLimitSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C> RateLimiters<C>
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    /// Limiters on `clock` (tests use a fake clock).
    pub(crate) fn with_clock(settings: RateLimitSettings, clock: C) -> Self {
        Self {
            settings,
            clock,
            limiters: moka::sync::Cache::builder()
                .max_capacity(settings.max_tracked)
                .time_to_idle(settings.idle_ttl)
                .build(),
        }
    }

    /// Counts one request of `org_id` against the binding's limit or the default.
    pub(crate) fn check(&self, org_id: &str, binding_limit: Option<RateLimit>) -> Decision {
        let Some(limit) = binding_limit.or(self.settings.default_limit) else {
            return Decision::Unlimited;
        };
        let Some(quota) = quota(limit) else {
            return Decision::Unlimited;
        };
        let org = match self.limiters.get(org_id) {
            // A binding whose limit changed starts a fresh limiter with the new quota.
            Some(existing) if existing.limit == limit => existing,
            _ => {
                let fresh = Arc::new(OrgLimiter {
                    limit,
                    limiter: RateLimiter::direct_with_clock(quota, self.clock.clone())
                        .with_middleware::<StateInformationMiddleware>(),
                });
                self.limiters.insert(org_id.to_owned(), Arc::clone(&fresh));
                fresh
            }
        };
        match org.limiter.check() {
            Ok(snapshot) => Decision::Allowed {
                limit: limit.requests_per_second,
                remaining: snapshot.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Limited {
                limit: limit.requests_per_second,
                retry_after: not_until
                    .wait_time_from(self.clock.now())
                    .min(MAX_RETRY_AFTER),
            },
        }
    }

    /// Organizations currently tracked (after pending evictions ran).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> u64 {
        self.limiters.run_pending_tasks();
        self.limiters.entry_count()
    }
}

/// A GCRA quota: `requests_per_second` sustained, `burst` at once. Zero values mean no limit
/// (the admin API refuses them; a hand-edited row must not stop traffic).
fn quota(limit: RateLimit) -> Option<Quota> {
    let rate = NonZeroU32::new(limit.requests_per_second)?;
    let burst = NonZeroU32::new(limit.burst)?;
    Some(Quota::per_second(rate).allow_burst(burst))
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.clamp(1, MAX_RETRY_AFTER.as_secs())
}

/// `retry-after-ms`, rounded up, at least 1.
pub(crate) fn retry_after_millis(wait: Duration) -> u64 {
    let millis = wait.as_millis() + u128::from(!wait.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(millis).unwrap_or(u64::MAX).clamp(
        1,
        u64::try_from(MAX_RETRY_AFTER.as_millis()).unwrap_or(u64::MAX),
    )
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limit(rps: u32, burst: u32) -> RateLimit {
        RateLimit {
            requests_per_second: rps,
            burst,
        }
    }

    fn limiters(
        default_limit: Option<RateLimit>,
    ) -> (RateLimiters<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let settings = RateLimitSettings {
            default_limit,
            ..RateLimitSettings::default()
        };
        (RateLimiters::with_clock(settings, clock.clone()), clock)
    }

    #[test]
    fn burst_is_allowed_then_limited_with_a_retry_after() {
        let (limiters, clock) = limiters(None);
        let l = Some(limit(2, 3));
        let remaining: Vec<_> = (0..3)
            .map(|_| match limiters.check("org-a", l) {
                Decision::Allowed { remaining, limit } => {
                    assert_eq!(limit, 2);
                    remaining
                }
                other => panic!("allowed expected, got {other:?}"),
            })
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let Decision::Limited { retry_after, limit } = limiters.check("org-a", l) else {
            panic!("the fourth request at once is over the burst");
        };
        assert_eq!(limit, 2);
        assert_eq!(retry_after, Duration::from_millis(500));
        clock.advance(Duration::from_millis(500));
        assert!(matches!(
            limiters.check("org-a", l),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn one_organization_never_limits_another() {
        let (limiters, _clock) = limiters(None);
        let l = Some(limit(1, 1));
        assert!(matches!(
            limiters.check("org-a", l),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limiters.check("org-a", l),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            limiters.check("org-b", l),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn default_applies_without_a_binding_limit_and_none_means_unlimited() {
        let (unlimited, _) = limiters(None);
        for _ in 0..100 {
            assert_eq!(unlimited.check("org-a", None), Decision::Unlimited);
        }
        let (limited, _) = limiters(Some(limit(1, 2)));
        assert!(matches!(
            limited.check("org-a", None),
            Decision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            limited.check("org-a", None),
            Decision::Allowed { remaining: 0, .. }
        ));
        assert!(matches!(
            limited.check("org-a", None),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn a_changed_binding_limit_takes_effect() {
        let (limiters, _clock) = limiters(None);
        assert!(matches!(
            limiters.check("org-a", Some(limit(1, 1))),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limiters.check("org-a", Some(limit(1, 1))),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            limiters.check("org-a", Some(limit(10, 10))),
            Decision::Allowed { remaining: 9, .. }
        ));
    }

    #[test]
    fn retry_after_never_exceeds_sixty_seconds() {
        let (limiters, _clock) = limiters(None);
        // One request per hour would ask for ~1 h; the answer is capped.
        let slow = Some(RateLimit {
            requests_per_second: 1,
            burst: 1,
        });
        let _ = limiters.check("org-a", slow);
        let Decision::Limited { retry_after, .. } = limiters.check("org-a", slow) else {
            panic!("limited");
        };
        assert!(retry_after <= MAX_RETRY_AFTER);
        assert_eq!(retry_after_secs(Duration::from_secs(3600)), 60);
        assert_eq!(retry_after_millis(Duration::from_secs(3600)), 60_000);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_millis(Duration::from_micros(1500)), 2);
    }

    #[test]
    fn idle_organizations_are_forgotten_and_the_count_is_bounded() {
        let clock = FakeRelativeClock::default();
        let settings = RateLimitSettings {
            default_limit: Some(limit(100, 100)),
            idle_ttl: Duration::from_secs(600),
            max_tracked: 50,
        };
        let limiters = RateLimiters::with_clock(settings, clock);
        for i in 0..500 {
            let _ = limiters.check(&format!("org-{i}"), None);
        }
        assert!(limiters.tracked() <= 50, "tracked {}", limiters.tracked());
    }
}
