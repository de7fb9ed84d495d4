//! What every admin handler shares: the store, the auth components, settings, clock and the
//! readiness flag.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use auth::{CredentialCache, Issuer, Keyring, Verifier};
use prometheus_client::registry::Registry;
use store::StoreHandle;

use crate::admin_token::AdminTokens;
use crate::probe::{Probe, ProbeSetupError};
use crate::settings::{AdminLinks, AdminSettings};

/// Reads the current time as unix seconds. The binary passes the system clock; tests pass
/// their own.
pub type Clock = fn() -> i64;

/// Whether `/health/readiness` answers 200. The binary shares one flag between both
/// listeners and clears it (or calls [`Readiness::mark_not_ready`]) when shutdown begins, so
/// load balancers stop sending traffic before the listener closes. Clones share one flag.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A flag of its own that starts ready.
    pub fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    /// Reads `flag`: `true` is ready. Whoever holds the `Arc` can flip it.
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        Self(flag)
    }

    /// Readiness answers 200 again.
    pub fn mark_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Readiness answers 503 `shutting_down` from now on.
    pub fn mark_not_ready(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// The current state.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl From<Arc<AtomicBool>> for Readiness {
    fn from(flag: Arc<AtomicBool>) -> Self {
        Self::from_flag(flag)
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// Shared state of the admin API; cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
    /// Served on `/metrics` when set (see [`AdminState::with_metrics`]).
    metrics: Option<Arc<Registry>>,
}

struct Inner {
    store: StoreHandle,
    issuer: Arc<Issuer>,
    keyring: Arc<Keyring>,
    verifier: Arc<Verifier>,
    credentials: Arc<CredentialCache>,
    links: AdminLinks,
    tokens: AdminTokens,
    probe: Probe,
    clock: Clock,
    readiness: Readiness,
}

/// Why [`AdminState::new`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The probe client or URL could not be built.
    #[error("validation probe: {0}")]
    Probe(#[from] ProbeSetupError),
}

impl AdminState {
    /// Builds the state. The caches and keyring must be the same `Arc`s the data plane uses,
    /// so admin changes invalidate what it serves from.
    ///
    /// `readiness` is what `/health/readiness` reports (an [`Arc<AtomicBool>`] converts).
    ///
    /// `settings` is the checked `[admin]` section (its `listen` and `tls` are the binary's to
    /// bind); `links` the URLs owned by other sections.
    ///
    /// Errors: [`SetupError::Probe`] when `upstream_base_url` plus `probe_path` is not a URL or
    /// the TLS client cannot be built.
    // Each shared component is passed explicitly so the wiring shows which `Arc`s the data
    // plane and the admin API share; a builder would hide that.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: StoreHandle,
        issuer: Arc<Issuer>,
        keyring: Arc<Keyring>,
        verifier: Arc<Verifier>,
        credentials: Arc<CredentialCache>,
        settings: AdminSettings,
        links: AdminLinks,
        clock: Clock,
        readiness: impl Into<Readiness>,
    ) -> Result<Self, SetupError> {
        let probe = Probe::new(
            &links.upstream_base_url,
            &settings.probe_path,
            settings.probe_timeout,
        )?;
        let tokens = AdminTokens::new(settings.token_sha256);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                issuer,
                keyring,
                verifier,
                credentials,
                links,
                tokens,
                probe,
                clock,
                readiness: readiness.into(),
            }),
            metrics: None,
        })
    }

    /// Serves `registry` on `GET /metrics` (no admin token). Without it `/metrics` is 404.
    #[must_use]
    pub fn with_metrics(mut self, registry: Arc<Registry>) -> Self {
        self.metrics = Some(registry);
        self
    }

    pub(crate) fn metrics(&self) -> Option<&Registry> {
        self.metrics.as_deref()
    }

    /// The readiness flag `/health/readiness` reports (the one passed to [`AdminState::new`]).
    pub fn readiness(&self) -> Readiness {
        self.inner.readiness.clone()
    }

    pub(crate) fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    pub(crate) fn store(&self) -> &StoreHandle {
        &self.inner.store
    }

    pub(crate) fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    pub(crate) fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    pub(crate) fn credentials(&self) -> &CredentialCache {
        &self.inner.credentials
    }

    pub(crate) fn links(&self) -> &AdminLinks {
        &self.inner.links
    }

    pub(crate) fn admin_tokens(&self) -> &AdminTokens {
        &self.inner.tokens
    }

    pub(crate) fn probe(&self) -> &Probe {
        &self.inner.probe
    }
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("AdminState")
            .field("store", &inner.store)
            .field("keyring", &inner.keyring)
            .field("links", &inner.links)
            .field("tokens", &inner.tokens)
            .field("probe", &inner.probe)
            .field("readiness", &inner.readiness)
            .finish_non_exhaustive()
    }
}
