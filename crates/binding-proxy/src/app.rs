//! Wiring: builds the store-backed auth stack, binds the two listeners and runs the data plane,
//! the admin API and the change follower until shutdown, then drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use auth::{AuthMetrics, Authenticator, CredentialCache, Issuer, Keyring, Verifier};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use store::StoreHandle;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::Config;
use crate::shutdown::Shutdown;

/// Unix seconds now. The only place the binary reads the clock.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The auth components, shared by the data plane and the admin API.
#[derive(Debug, Clone)]
pub(crate) struct Stack {
    pub(crate) store: StoreHandle,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) credentials: Arc<CredentialCache>,
    pub(crate) issuer: Arc<Issuer>,
    /// Cache and store counters, shared by the verifier and the credential cache.
    pub(crate) auth_metrics: AuthMetrics,
    /// The PostgreSQL store, when that is the backend: its change-notification lag is exported.
    pub(crate) postgres: Option<Arc<store::PostgresStore>>,
}

impl Stack {
    /// Loads the signing keys (creating the first one on a new store) and sets up the caches.
    pub(crate) async fn build(
        config: &Config,
        store: StoreHandle,
        postgres: Option<Arc<store::PostgresStore>>,
    ) -> anyhow::Result<Stack> {
        let keyring = Keyring::load(&store)
            .await
            .context("loading signing keys from the store")?;
        let issuer = Arc::new(Issuer::new(
            store.clone(),
            keyring.clone(),
            config.tokens.clone(),
        ));
        issuer
            .ensure_signing_key(now())
            .await
            .context("creating the first signing key")?;
        let auth_metrics = AuthMetrics::default();
        let verifier = Arc::new(
            Verifier::new(
                keyring.clone(),
                config.tokens.clone(),
                config.cache.token_capacity,
            )
            .with_metrics(auth_metrics.clone()),
        );
        let credentials = Arc::new(
            CredentialCache::with_max_staleness(
                store.clone(),
                config.cache.credential_ttl,
                config.cache.credential_max_staleness,
                config.cache.credential_capacity,
            )
            .with_metrics(auth_metrics.clone()),
        );
        Ok(Stack {
            store,
            keyring,
            verifier,
            credentials,
            issuer,
            auth_metrics,
            postgres,
        })
    }
}

/// The process's one registry (prefix `binding_proxy`), served on the admin `/metrics`.
fn metrics_registry(stack: &Stack, dataplane: &dataplane::DataplaneMetrics) -> Arc<Registry> {
    let mut registry = Registry::with_prefix("binding_proxy");
    registry.register(
        "build",
        "The running version; always 1",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    stack.auth_metrics.register(&mut registry);
    dataplane.register(&mut registry);
    if let Some(postgres) = &stack.postgres {
        registry.register_collector(Box::new(NotificationLag(Arc::clone(postgres))));
    }
    Arc::new(registry)
}

/// `binding_proxy_store_notification_lag_seconds`, read from the PostgreSQL store at scrape
/// time: how late the last change notification from another replica arrived.
#[derive(Debug)]
struct NotificationLag(Arc<store::PostgresStore>);

impl prometheus_client::collector::Collector for NotificationLag {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::TypedMetric;
        use prometheus_client::metrics::gauge::ConstGauge;
        // Until a notification from another replica arrived there is nothing to report.
        let Some(lag) = self.0.notification_lag_seconds() else {
            return Ok(());
        };
        let gauge = ConstGauge::new(lag);
        let metric = encoder.encode_descriptor(
            "store_notification_lag_seconds",
            "Delay between a change committed by another replica and its notification arriving here",
            None,
            ConstGauge::<f64>::TYPE,
        )?;
        gauge.encode(metric)
    }
}

/// The two bound listeners. Bound before anything is served, so a taken port fails start-up.
pub(crate) struct Listeners {
    pub(crate) dataplane: TcpListener,
    pub(crate) admin: TcpListener,
    /// TLS for the admin listener, loaded before the ports were bound.
    pub(crate) admin_tls: Option<admin::TlsAcceptor>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("dataplane", &self.dataplane)
            .field("admin", &self.admin)
            .field("admin_tls", &self.admin_tls.is_some())
            .finish()
    }
}

impl Listeners {
    /// Loads the TLS files of both listeners (when configured), then binds both ports.
    pub(crate) async fn bind(config: &Config) -> anyhow::Result<Self> {
        // Read here, before any port is bound, so bad files stop start-up early; the data
        // plane reads them again (and on every change) when it is built.
        if let Some(tls) = &config.dataplane.listener.tls {
            dataplane::check_listener_tls(tls).context("setting up data listener TLS")?;
        }
        let admin_tls = match &config.admin.tls {
            Some(tls) => Some(admin::tls_acceptor(tls).context("setting up admin TLS")?),
            None => None,
        };
        let (dataplane, admin) = (config.dataplane.listener.listen, config.admin.listen);
        let dataplane = TcpListener::bind(dataplane)
            .await
            .with_context(|| format!("binding the data-plane listener on {dataplane}"))?;
        let admin = TcpListener::bind(admin)
            .await
            .with_context(|| format!("binding the admin listener on {admin}"))?;
        Ok(Self {
            dataplane,
            admin,
            admin_tls,
        })
    }
}

/// `dataplane.public_base_url`, or the one derived from the bound data-plane address.
pub(crate) fn public_base_url(config: &Config, dataplane_addr: std::net::SocketAddr) -> String {
    let listener = &config.dataplane.listener;
    listener.public_base_url.clone().unwrap_or_else(|| {
        crate::config::default_public_base_url(
            dataplane_addr,
            listener.path_prefix.as_str(),
            listener.tls.is_some(),
        )
    })
}

/// Serves until `stop` resolves, then drains within the configured grace period.
pub(crate) async fn run(
    config: &Config,
    stack: Stack,
    listeners: Listeners,
    stop: impl Future<Output = &'static str>,
) -> anyhow::Result<()> {
    let dataplane_addr = listeners.dataplane.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    // One readiness per listener, flipped together at shutdown.
    let ready = Arc::new(AtomicBool::new(true));
    let readiness = dataplane::Readiness::new(true);

    let dataplane_metrics = dataplane::DataplaneMetrics::default();
    let registry = metrics_registry(&stack, &dataplane_metrics);
    let authenticator = Arc::new(Authenticator::new(
        stack.verifier.clone(),
        stack.credentials.clone(),
    ));
    let proxy = Arc::new(
        dataplane::Proxy::new(config.dataplane.clone(), authenticator, readiness.clone())
            .context("setting up the upstream client")?
            .with_metrics(dataplane_metrics),
    );
    let admin_state = admin::AdminState::new(
        stack.store.clone(),
        stack.issuer.clone(),
        stack.keyring.clone(),
        stack.verifier.clone(),
        stack.credentials.clone(),
        config.admin.clone(),
        admin::AdminLinks {
            public_base_url: public_base_url(config, dataplane_addr),
            upstream_base_url: config.dataplane.upstream.origin.to_uri(),
        },
        now,
        ready.clone(),
    )
    .context("setting up the admin API")?
    .with_metrics(registry);
    if config.admin.token_sha256.is_empty() {
        warn!(
            "admin.token_sha256 is empty: every admin request will be refused; create a token with `binding-proxy admin-token`"
        );
    }

    // Two stages: the data plane drains first while the admin listener keeps answering
    // (readiness 503), then the admin listener and background tasks stop.
    let dataplane_stop = Shutdown::new();
    let admin_stop = Shutdown::new();

    let follower = tokio::spawn(auth::follow_changes(
        stack.store.clone(),
        stack.credentials.clone(),
        stack.verifier.clone(),
        stack.keyring.clone(),
        admin_stop.wait(),
    ));
    let grace = config.shutdown_grace;
    let dataplane_task = tokio::spawn(dataplane::serve(
        listeners.dataplane,
        proxy,
        dataplane_stop.wait(),
        grace,
    ));
    let admin_router = admin::router(admin_state);
    let admin_task = match listeners.admin_tls {
        Some(acceptor) => tokio::spawn(admin::serve_tls(
            listeners.admin,
            admin_router,
            acceptor,
            admin_stop.wait(),
        )),
        None => tokio::spawn(admin::serve(
            listeners.admin,
            admin_router,
            admin_stop.wait(),
        )),
    };
    info!(listener = "dataplane", addr = %dataplane_addr, "listening");
    info!(listener = "admin", addr = %admin_addr, tls = config.admin.tls.is_some(), "listening");

    let signal = stop.await;
    info!(
        signal,
        grace_secs = grace.as_secs(),
        "shutting down: draining in-flight requests"
    );
    ready.store(false, Ordering::SeqCst);
    readiness.set_ready(false);
    dataplane_stop.trigger();
    match dataplane_task.await {
        Ok(Ok(report)) => info!(?report, "data plane drained"),
        Ok(Err(err)) => warn!(error = %err, "data plane stopped with an error"),
        Err(err) => warn!(error = %err, "data plane task failed"),
    }
    admin_stop.trigger();
    match tokio::time::timeout(grace.max(Duration::from_secs(1)), admin_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(err))) => warn!(error = %err, "admin listener stopped with an error"),
        Ok(Err(err)) => warn!(error = %err, "admin task failed"),
        Err(_) => warn!("admin listener did not stop within the grace period"),
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), follower).await;
    info!("stopped");
    Ok(())
}
