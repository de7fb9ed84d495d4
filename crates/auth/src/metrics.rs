//! Metrics of token verification and credential resolution. Counters are registered in a
//! registry the binary passes in; unregistered metrics count but are not exported.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// `result` label of the cache counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheResult {
    result: &'static str,
}

/// Counters of the verified-token cache, the credential cache and the store.
#[derive(Debug, Clone)]
pub struct AuthMetrics {
    token_cache: Family<CacheResult, Counter>,
    credential_cache: Family<CacheResult, Counter>,
    store_errors: Counter,
    pub(crate) token_hit: Counter,
    pub(crate) token_miss: Counter,
    pub(crate) credential_hit: Counter,
    pub(crate) credential_miss: Counter,
    pub(crate) credential_stale: Counter,
}

impl Default for AuthMetrics {
    fn default() -> Self {
        let token_cache = Family::<CacheResult, Counter>::default();
        let credential_cache = Family::<CacheResult, Counter>::default();
        let get = |family: &Family<CacheResult, Counter>, result| {
            family.get_or_create(&CacheResult { result }).clone()
        };
        Self {
            token_hit: get(&token_cache, "hit"),
            token_miss: get(&token_cache, "miss"),
            credential_hit: get(&credential_cache, "hit"),
            credential_miss: get(&credential_cache, "miss"),
            credential_stale: get(&credential_cache, "stale"),
            token_cache,
            credential_cache,
            store_errors: Counter::default(),
        }
    }
}

impl AuthMetrics {
    /// Registers the metrics under `registry` (the binary gives it the `binding_proxy` prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "token_cache_requests",
            "Verified-token cache lookups by result (hit: no signature check)",
            self.token_cache.clone(),
        );
        registry.register(
            "credential_cache_requests",
            "Credential cache lookups by result (stale: served past its TTL because the store was unavailable)",
            self.credential_cache.clone(),
        );
        registry.register(
            "store_errors",
            "Store reads that failed while resolving a credential",
            self.store_errors.clone(),
        );
    }

    pub(crate) fn store_error(&self) {
        self.store_errors.inc();
    }
}
