//! Bindings as the data plane needs them, cached by binding id.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::HeaderValue;
use store::{BindingCredential, RateLimit, StoreError, StoreHandle};
use tokio::sync::broadcast;
use zeroize::Zeroizing;

use crate::AuthError;
use crate::key_patterns::KeyPatterns;
use crate::metrics::AuthMetrics;

/// How many times a load is repeated when an invalidation raced with it.
const MAX_LOAD_ATTEMPTS: usize = 3;

/// Invalidations a slow receiver may fall behind by before it is told it lagged (and should
/// treat that as [`Invalidation::All`]).
const INVALIDATIONS_BUFFERED: usize = 256;

/// What [`CredentialCache::invalidations`] reports: which cached credentials were dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// The binding with this id.
    Binding(Arc<str>),
    /// Every binding.
    All,
    /// The signing keys changed (one retired, say): every token must be verified again.
    SigningKeys,
}

/// A binding resolved for forwarding: who it belongs to, which generations and scopes it
/// accepts, the upstream `Authorization` value and the key's search patterns, built once per
/// load.
pub struct Credential {
    /// Binding id (`bid`).
    pub binding_id: String,
    /// Organization id; a token's `sub` must equal it.
    pub org_id: String,
    /// Current generation.
    pub generation: i64,
    /// Generation before the last rotation, while its grace window lasts.
    pub previous_generation: Option<i64>,
    /// Instant (unix seconds) the previous generation stops being accepted.
    pub previous_valid_until: Option<i64>,
    /// Scopes the binding grants.
    pub scopes: Vec<String>,
    /// Rate limit override.
    pub rate_limit: Option<RateLimit>,
    upstream_authorization: HeaderValue,
    key_patterns: KeyPatterns,
    revoked_jtis: HashSet<String>,
}

impl Credential {
    /// Builds the credential from a store record. The upstream key becomes
    /// `Bearer <key>`, marked sensitive so hyper's HPACK never indexes it.
    ///
    /// Errors: [`AuthError::Internal`] when the key cannot be a header value.
    pub fn from_store(record: BindingCredential) -> Result<Self, AuthError> {
        Self::build(record).map_err(|reason| AuthError::Internal { reason })
    }

    fn build(record: BindingCredential) -> Result<Self, &'static str> {
        let BindingCredential {
            binding,
            api_key,
            revoked_jtis,
        } = record;
        let key = api_key.expose_secret();
        // The temporary copy is zeroed on drop; the header value lives as long as the credential.
        let mut value = Zeroizing::new(Vec::with_capacity(7 + key.len()));
        value.extend_from_slice(b"Bearer ");
        value.extend_from_slice(key);
        let mut upstream_authorization = HeaderValue::from_bytes(&value)
            .map_err(|_| "stored upstream api key is not a valid header value")?;
        upstream_authorization.set_sensitive(true);
        let key_patterns = KeyPatterns::new(key);
        Ok(Self {
            binding_id: binding.id,
            org_id: binding.org_id,
            generation: binding.generation,
            previous_generation: binding.previous_generation,
            previous_valid_until: binding.previous_generation_expires_at,
            scopes: binding.scopes,
            rate_limit: binding.rate_limit,
            upstream_authorization,
            key_patterns,
            revoked_jtis: revoked_jtis.into_iter().collect(),
        })
    }

    /// The upstream `Authorization` value (`Bearer <key>`), marked sensitive. Never log it.
    pub fn upstream_authorization(&self) -> &HeaderValue {
        &self.upstream_authorization
    }

    /// The forms of the upstream key a response is scanned for before it reaches the function
    /// (an upstream that reflects the request's `Authorization` would otherwise hand it over).
    pub fn key_patterns(&self) -> &KeyPatterns {
        &self.key_patterns
    }

    /// Whether the token with this `jti` was revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked_jtis.contains(jti)
    }

    /// Whether a token of `generation` is accepted at `now`: the current generation, or the
    /// previous one strictly before its grace window ends.
    pub fn accepts_generation(&self, generation: i64, now: i64) -> bool {
        if generation == self.generation {
            return true;
        }
        match (self.previous_generation, self.previous_valid_until) {
            (Some(previous), Some(until)) => generation == previous && now < until,
            (Some(_), None) | (None, Some(_)) | (None, None) => false,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("binding_id", &self.binding_id)
            .field("org_id", &self.org_id)
            .field("generation", &self.generation)
            .field("previous_generation", &self.previous_generation)
            .field("previous_valid_until", &self.previous_valid_until)
            .field("scopes", &self.scopes)
            .field("rate_limit", &self.rate_limit)
            .field("upstream_authorization", &"[redacted]")
            .field("key_patterns", &self.key_patterns)
            .field("revoked_jtis", &self.revoked_jtis.len())
            .finish()
    }
}

/// Credentials by binding id, loaded from the store on a miss (one load per id at a time),
/// fresh for a TTL and dropped at once by [`CredentialCache::invalidate`].
///
/// A deleted or unknown binding is cached as absent: binding ids are fresh UUIDs, so an id
/// that is absent once never comes back.
///
/// Store outages: past its TTL an entry is refreshed by one caller while the others keep using
/// it; when the refresh fails because the store is unavailable, the entry keeps serving until
/// it is `max_staleness` past its TTL (refresh attempts at most once a second meanwhile).
/// Requests for bindings that are not cached get [`AuthError::StoreUnavailable`].
/// Invalidation always wins: an invalidated entry is gone, stale or not.
pub struct CredentialCache {
    store: StoreHandle,
    cache: moka::future::Cache<String, Arc<Entry>>,
    ttl: Duration,
    /// Bumped by every invalidation. A load that saw it change while reading the store may
    /// hold data from before the change, so it reads again instead of caching stale data.
    epoch: AtomicU64,
    /// Times a stale entry was served because the store could not be read.
    stale_served: AtomicU64,
    metrics: AuthMetrics,
    /// Told of every invalidation, after it happened.
    invalidated: broadcast::Sender<Invalidation>,
}

/// A cached load: the credential (or its absence) and when it was read.
struct Entry {
    value: Option<Arc<Credential>>,
    loaded_at: Instant,
    /// Set while one caller refreshes this stale entry.
    refreshing: AtomicBool,
    /// No refresh is attempted before this many milliseconds after `loaded_at`.
    retry_at_ms: AtomicU64,
}

impl Entry {
    fn new(value: Option<Arc<Credential>>) -> Arc<Self> {
        Arc::new(Self {
            value,
            loaded_at: Instant::now(),
            refreshing: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
        })
    }

    fn credential(&self) -> Result<Arc<Credential>, AuthError> {
        self.value.clone().ok_or(AuthError::BindingNotFound)
    }
}

/// Pause between refresh attempts of a stale entry while the store fails.
const STALE_RETRY: Duration = Duration::from_secs(1);

/// Why a load failed; shared by every caller waiting on it.
#[derive(Clone)]
enum LoadError {
    Store(Arc<StoreError>),
    Credential(&'static str),
}

impl LoadError {
    fn into_auth(self) -> AuthError {
        match self {
            Self::Store(err) => AuthError::StoreUnavailable(err),
            Self::Credential(reason) => AuthError::Internal { reason },
        }
    }
}

impl CredentialCache {
    /// A cache of at most `capacity` bindings, each fresh for `ttl`, never served stale.
    pub fn new(store: StoreHandle, ttl: Duration, capacity: u64) -> Self {
        Self::with_max_staleness(store, ttl, Duration::ZERO, capacity)
    }

    /// Like [`CredentialCache::new`], and while the store is unavailable an entry keeps
    /// serving until it is `max_staleness` past its TTL.
    pub fn with_max_staleness(
        store: StoreHandle,
        ttl: Duration,
        max_staleness: Duration,
        capacity: u64,
    ) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl.saturating_add(max_staleness))
            .build();
        Self {
            store,
            cache,
            ttl,
            epoch: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            metrics: AuthMetrics::default(),
            invalidated: broadcast::channel(INVALIDATIONS_BUFFERED).0,
        }
    }

    /// Counts hits, misses and stale serves in `metrics` (registered by the caller).
    #[must_use]
    pub fn with_metrics(mut self, metrics: AuthMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The credential of `binding_id`; a fresh hit makes no store call.
    ///
    /// Errors: [`AuthError::BindingNotFound`] (deleted or unknown, cached),
    /// [`AuthError::StoreUnavailable`] (not cached, or stale beyond the limit),
    /// [`AuthError::Internal`] (bad stored key).
    pub async fn get(&self, binding_id: &str, now: i64) -> Result<Arc<Credential>, AuthError> {
        // The miss and the refresh are boxed: their futures (moka's loader, the store read)
        // would otherwise be part of every caller's future, hits included.
        let Some(entry) = self.cache.get(binding_id).await else {
            self.metrics.credential_miss.inc();
            return Box::pin(self.load_missing(binding_id, now)).await;
        };
        let age = entry.loaded_at.elapsed();
        if age < self.ttl {
            self.metrics.credential_hit.inc();
            return entry.credential();
        }
        // Stale. One caller refreshes; the others use the entry meanwhile.
        let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        if age_ms < entry.retry_at_ms.load(Ordering::Acquire)
            || entry
                .refreshing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            self.metrics.credential_stale.inc();
            return entry.credential();
        }
        self.metrics.credential_miss.inc();
        Box::pin(self.refresh(&entry, age, binding_id, now)).await
    }

    /// Not cached: loads it once for every caller waiting on the same binding.
    async fn load_missing(&self, binding_id: &str, now: i64) -> Result<Arc<Credential>, AuthError> {
        self.cache
            .try_get_with_by_ref(binding_id, async {
                self.load(binding_id, now).await.map(Entry::new)
            })
            .await
            .map_err(|err| LoadError::clone(&err).into_auth())?
            .credential()
    }

    /// Stale, and this caller won the refresh: reads the store; on a store failure serves the
    /// stale entry and retries after [`STALE_RETRY`].
    async fn refresh(
        &self,
        entry: &Entry,
        age: Duration,
        binding_id: &str,
        now: i64,
    ) -> Result<Arc<Credential>, AuthError> {
        match self.load(binding_id, now).await {
            Ok(value) => {
                let fresh = Entry::new(value);
                self.cache
                    .insert(binding_id.to_owned(), Arc::clone(&fresh))
                    .await;
                fresh.credential()
            }
            Err(LoadError::Store(err)) => {
                let retry = age.saturating_add(STALE_RETRY);
                entry.retry_at_ms.store(
                    u64::try_from(retry.as_millis()).unwrap_or(u64::MAX),
                    Ordering::Release,
                );
                entry.refreshing.store(false, Ordering::Release);
                self.stale_served.fetch_add(1, Ordering::Relaxed);
                self.metrics.credential_stale.inc();
                tracing::warn!(
                    error = %err,
                    stale_for_ms = u64::try_from(age.saturating_sub(self.ttl).as_millis()).unwrap_or(u64::MAX),
                    "store unavailable; serving a cached binding past its TTL"
                );
                entry.credential()
            }
            Err(err @ LoadError::Credential(_)) => {
                entry.refreshing.store(false, Ordering::Release);
                Err(err.into_auth())
            }
        }
    }

    /// How many times a stale entry was served because the store could not be read.
    pub fn stale_served(&self) -> u64 {
        self.stale_served.load(Ordering::Relaxed)
    }

    /// Drops the cached credential of `binding_id`; the next `get` reads the store.
    pub async fn invalidate(&self, binding_id: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(binding_id).await;
        // No receiver is not an error: nothing holds a session open.
        let _ = self
            .invalidated
            .send(Invalidation::Binding(Arc::from(binding_id)));
    }

    /// Drops every cached credential.
    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
        let _ = self.invalidated.send(Invalidation::All);
    }

    /// Tells the receivers of [`CredentialCache::invalidations`] that the signing keys changed
    /// (the keyring was reloaded): whatever holds a verified token verifies it again. Drops
    /// nothing from this cache.
    pub fn signing_keys_changed(&self) {
        let _ = self.invalidated.send(Invalidation::SigningKeys);
    }

    /// Every later invalidation, sent once the entry is gone (so a `get` on receipt reads the
    /// store). A receiver that falls more than 256 behind gets `Lagged`: it missed some and
    /// should act as on [`Invalidation::All`].
    pub fn invalidations(&self) -> broadcast::Receiver<Invalidation> {
        self.invalidated.subscribe()
    }

    async fn load(&self, binding_id: &str, now: i64) -> Result<Option<Arc<Credential>>, LoadError> {
        let mut attempt = 1;
        loop {
            let epoch = self.epoch.load(Ordering::Acquire);
            let record = self
                .store
                .load_credential(binding_id, now)
                .await
                .map_err(|err| {
                    self.metrics.store_error();
                    LoadError::Store(Arc::new(err))
                })?;
            if self.epoch.load(Ordering::Acquire) == epoch || attempt >= MAX_LOAD_ATTEMPTS {
                return match record {
                    Some(record) => Credential::build(record)
                        .map(|credential| Some(Arc::new(credential)))
                        .map_err(LoadError::Credential),
                    None => Ok(None),
                };
            }
            attempt += 1;
        }
    }
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}
