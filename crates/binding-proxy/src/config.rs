//! Configuration: defaults → TOML file (`--config`) → environment (`BINDING_PROXY__SECTION__KEY`).
//!
//! [`RawConfig`] is what serde reads (unknown keys refused); [`Config`] is the checked form the
//! rest of the binary uses. Every problem is reported at once, each with its key and env var.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Environment variable prefix; `BINDING_PROXY__DATAPLANE__LISTEN` sets `dataplane.listen`.
pub(crate) const ENV_PREFIX: &str = "BINDING_PROXY";
/// Default public path prefix (note the doubled `/v2/`, as the bindings documentation explains).
pub(crate) const DEFAULT_PATH_PREFIX: &str = "/v2/compute/internal/binding-proxy";

/// The configuration as read, before checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    dataplane: RawDataplane,
    #[serde(default)]
    upstream: RawUpstream,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    crypto: RawCrypto,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    shutdown: RawShutdown,
    #[serde(default)]
    rate_limit: RawRateLimit,
    #[serde(default)]
    runtime: RawRuntime,
    /// Service name → upstream path prefixes, replacing that scope's defaults.
    #[serde(default)]
    scopes: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDataplane {
    listen: String,
    path_prefix: String,
    public_base_url: Option<String>,
    header_read_timeout_ms: u64,
    max_header_bytes: usize,
    deny_prefixes: Option<Vec<String>>,
    max_body_bytes: Option<u64>,
    client_idle_timeout_secs: u64,
    max_connections: usize,
}

impl Default for RawDataplane {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            path_prefix: DEFAULT_PATH_PREFIX.into(),
            public_base_url: None,
            header_read_timeout_ms: 10_000,
            max_header_bytes: 64 * 1024,
            deny_prefixes: None,
            max_body_bytes: None,
            client_idle_timeout_secs: 60,
            max_connections: 10_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUpstream {
    base_url: String,
    connect_timeout_ms: u64,
    response_timeout_ms: u64,
    pool_idle_timeout_secs: u64,
    ca_file: Option<PathBuf>,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            base_url: "https://api.telnyx.com".into(),
            connect_timeout_ms: 2_000,
            response_timeout_ms: 30_000,
            pool_idle_timeout_secs: 90,
            ca_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAdmin {
    listen: String,
    token_sha256: Vec<String>,
    probe_path: String,
    probe_timeout_ms: u64,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    tls_client_ca_file: Option<PathBuf>,
}

impl Default for RawAdmin {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9090".into(),
            token_sha256: Vec::new(),
            probe_path: "/v2/balance".into(),
            probe_timeout_ms: 5_000,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    url: String,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: "sqlite://data/binding-proxy.db".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCrypto {
    master_key_file: PathBuf,
}

impl Default for RawCrypto {
    fn default() -> Self {
        Self {
            master_key_file: PathBuf::from("data/master.key"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTokens {
    issuer: String,
    audience: String,
    default_ttl_secs: u64,
    max_ttl_secs: u64,
    leeway_secs: u64,
}

impl Default for RawTokens {
    fn default() -> Self {
        Self {
            issuer: "binding-proxy".into(),
            audience: "binding-proxy".into(),
            default_ttl_secs: 24 * 3600,
            max_ttl_secs: 30 * 24 * 3600,
            leeway_secs: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCache {
    token_capacity: u64,
    credential_capacity: u64,
    credential_ttl_secs: u64,
    max_stale_secs: u64,
}

impl Default for RawCache {
    fn default() -> Self {
        Self {
            token_capacity: 100_000,
            credential_capacity: 100_000,
            credential_ttl_secs: 60,
            max_stale_secs: 300,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: String,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawShutdown {
    grace_secs: u64,
}

impl Default for RawShutdown {
    fn default() -> Self {
        Self { grace_secs: 30 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRateLimit {
    default_requests_per_second: Option<u32>,
    default_burst: Option<u32>,
    idle_secs: u64,
    max_tracked: u64,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        Self {
            default_requests_per_second: None,
            default_burst: None,
            idle_secs: 600,
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRuntime {
    /// `None`: one worker per CPU (Tokio's default).
    worker_threads: Option<usize>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The `base_url` handed out with tokens when `dataplane.public_base_url` is not set: the bound
/// data-plane address (loopback when bound to every interface) plus the path prefix.
pub(crate) fn default_public_base_url(bound: SocketAddr, path_prefix: &str) -> String {
    let host = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!(
        "http://{}{path_prefix}",
        SocketAddr::new(host, bound.port())
    )
}

/// `store.url`. It may carry a database password, so `Debug` shows it redacted; the full URL
/// is read only through [`StoreUrl::expose`], where the store is opened.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoreUrl(pub(crate) String);

impl StoreUrl {
    /// The URL as configured, password included.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `[redacted]`, for messages.
    pub(crate) fn redacted(&self) -> String {
        let url = &self.0;
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &url[scheme_end + 3..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..])
            }
            _ => url.clone(),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) dataplane_listen: SocketAddr,
    pub(crate) path_prefix: String,
    /// `None`: derived from the bound data-plane address at start-up.
    pub(crate) public_base_url: Option<String>,
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) deny_prefixes: Vec<String>,
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) client_idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) scopes: auth::scope::ScopeTable,
    pub(crate) rate_limit: dataplane::RateLimitSettings,
    pub(crate) upstream_base_url: http::Uri,
    pub(crate) upstream_connect_timeout: Duration,
    pub(crate) upstream_response_timeout: Duration,
    pub(crate) upstream_pool_idle_timeout: Duration,
    pub(crate) upstream_ca_file: Option<PathBuf>,
    pub(crate) admin_listen: SocketAddr,
    pub(crate) admin_token_sha256: Vec<[u8; 32]>,
    pub(crate) probe_path: String,
    pub(crate) probe_timeout: Duration,
    /// TLS (and with a client CA, mTLS) on the admin listener.
    pub(crate) admin_tls: Option<admin::AdminTls>,
    pub(crate) store_url: StoreUrl,
    pub(crate) master_key_file: PathBuf,
    pub(crate) tokens: auth::TokenSettings,
    pub(crate) token_cache_capacity: u64,
    pub(crate) credential_cache_capacity: u64,
    pub(crate) credential_ttl: Duration,
    /// While the store is unavailable, cached bindings serve this long past their TTL.
    pub(crate) credential_max_staleness: Duration,
    pub(crate) log_format: LogFormat,
    pub(crate) log_level: String,
    pub(crate) shutdown_grace: Duration,
    /// Tokio worker threads; `None`: one per CPU.
    pub(crate) worker_threads: Option<usize>,
}

/// Every problem found in a configuration, each naming its key.
#[derive(Debug)]
pub(crate) struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    fn single(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where settings come from besides the defaults.
#[derive(Debug, Default)]
pub(crate) struct Sources<'a> {
    /// A TOML file (`--config`).
    pub(crate) file: Option<&'a Path>,
    /// Environment variables; the binary passes the process environment, tests pass a map.
    pub(crate) env: HashMap<String, String>,
}

impl Config {
    /// Loads defaults → file → environment and checks the result.
    pub(crate) fn load(sources: Sources<'_>) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = sources.file {
            if !path.is_file() {
                return Err(ConfigError::single(format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let env: HashMap<String, String> = sources
            .env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("admin.token_sha256")
                .with_list_parse_key("dataplane.deny_prefixes")
                .with_list_parse_key("scopes.voice")
                .with_list_parse_key("scopes.messaging")
                .with_list_parse_key("scopes.numbers")
                .with_list_parse_key("scopes.fax")
                .with_list_parse_key("scopes.verify")
                .with_list_parse_key("scopes.kv")
                .with_list_parse_key("scopes.account")
                .try_parsing(true)
                .source(Some(env)),
        );
        let raw: RawConfig = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|err| ConfigError::single(describe_config_error(&err)))?;
        Config::try_from(raw)
    }
}

/// Names the key and its environment variable in a `config` crate error.
fn describe_config_error(err: &config::ConfigError) -> String {
    let text = err.to_string();
    match text.split_once("unknown field `") {
        Some((_, rest)) => {
            let field = rest.split('`').next().unwrap_or_default();
            format!("unknown setting `{field}` ({text}); see docs/configuration.md")
        }
        None => format!("{text}; see docs/configuration.md"),
    }
}

fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}__{}", key.replace('.', "__").to_uppercase())
}

struct Checker {
    problems: Vec<String>,
}

impl Checker {
    fn problem(&mut self, key: &str, message: impl fmt::Display) {
        self.problems
            .push(format!("{key} ({}): {message}", env_name(key)));
    }

    fn socket_addr(&mut self, key: &str, value: &str) -> SocketAddr {
        value.parse().unwrap_or_else(|_| {
            self.problem(
                key,
                format!("`{value}` is not an address such as 127.0.0.1:8080"),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        })
    }

    fn millis(&mut self, key: &str, value: u64) -> Duration {
        if value == 0 {
            self.problem(key, "must be greater than 0");
        }
        Duration::from_millis(value)
    }

    fn secs(&mut self, key: &str, value: u64) -> Duration {
        if value == 0 {
            self.problem(key, "must be greater than 0");
        }
        Duration::from_secs(value)
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, Self::Error> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        let dataplane_listen = c.socket_addr("dataplane.listen", &raw.dataplane.listen);
        let admin_listen = c.socket_addr("admin.listen", &raw.admin.listen);

        let path_prefix = raw.dataplane.path_prefix.trim_end_matches('/').to_owned();
        if !path_prefix.starts_with('/')
            || path_prefix.len() < 2
            || path_prefix.contains("//")
            || path_prefix.split('/').any(|s| s == "." || s == "..")
            || !path_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
        {
            c.problem(
                "dataplane.path_prefix",
                "must be an absolute path of plain segments such as /v2/compute/internal/binding-proxy",
            );
        }
        let public_base_url = raw.dataplane.public_base_url;
        if let Some(url) = &public_base_url {
            match url.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.authority().is_some() => {}
                _ => c.problem(
                    "dataplane.public_base_url",
                    "must be an absolute http(s) URL ending in the path prefix",
                ),
            }
        }

        let upstream_base_url = match raw.upstream.base_url.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some()
                    && matches!(uri.path(), "" | "/")
                    && uri.query().is_none() =>
            {
                uri
            }
            _ => {
                c.problem(
                    "upstream.base_url",
                    "must be an origin such as https://api.telnyx.com (scheme and host, no path)",
                );
                http::Uri::from_static("http://invalid")
            }
        };

        let mut admin_token_sha256 = Vec::new();
        for (i, digest) in raw.admin.token_sha256.iter().enumerate() {
            let mut bytes = [0u8; 32];
            match hex::decode_to_slice(digest.trim(), &mut bytes) {
                Ok(()) => admin_token_sha256.push(bytes),
                Err(_) => c.problem(
                    "admin.token_sha256",
                    format!("entry {i} is not a SHA-256 digest (64 hex characters)"),
                ),
            }
        }
        let admin_tls = match (raw.admin.tls_cert_file, raw.admin.tls_key_file) {
            (Some(cert_chain_pem), Some(private_key_pem)) => Some(admin::AdminTls {
                cert_chain_pem,
                private_key_pem,
                client_ca_pem: raw.admin.tls_client_ca_file,
            }),
            (None, None) => {
                if raw.admin.tls_client_ca_file.is_some() {
                    c.problem(
                        "admin.tls_client_ca_file",
                        "needs admin.tls_cert_file and admin.tls_key_file (mTLS runs over TLS)",
                    );
                }
                None
            }
            (Some(_), None) | (None, Some(_)) => {
                c.problem(
                    "admin.tls_cert_file",
                    "admin.tls_cert_file and admin.tls_key_file go together",
                );
                None
            }
        };
        if !raw.admin.probe_path.starts_with("/v2/") {
            c.problem("admin.probe_path", "must start with /v2/");
        }

        if !(raw.store.url.starts_with("sqlite://")
            || raw.store.url == "sqlite::memory:"
            || raw.store.url.starts_with("postgres://")
            || raw.store.url.starts_with("postgresql://"))
        {
            c.problem(
                "store.url",
                "must be sqlite://PATH, sqlite::memory: or postgres://USER@HOST:PORT/DATABASE",
            );
        }
        if raw.crypto.master_key_file.as_os_str().is_empty() {
            c.problem("crypto.master_key_file", "must not be empty");
        }

        if raw.tokens.issuer.is_empty() {
            c.problem("tokens.issuer", "must not be empty");
        }
        if raw.tokens.audience.is_empty() {
            c.problem("tokens.audience", "must not be empty");
        }
        if raw.tokens.default_ttl_secs == 0 || raw.tokens.default_ttl_secs > raw.tokens.max_ttl_secs
        {
            c.problem(
                "tokens.default_ttl_secs",
                "must be between 1 and tokens.max_ttl_secs",
            );
        }
        if raw.tokens.leeway_secs > 300 {
            c.problem("tokens.leeway_secs", "must be at most 300");
        }

        let log_format = match raw.log.format.as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                c.problem(
                    "log.format",
                    format!("`{other}` is not one of pretty, json"),
                );
                LogFormat::Pretty
            }
        };
        if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
            c.problem(
                "log.level",
                "is not a level or filter such as info or debug",
            );
        }

        let header_read_timeout = c.millis(
            "dataplane.header_read_timeout_ms",
            raw.dataplane.header_read_timeout_ms,
        );
        if raw.dataplane.max_header_bytes < 8 * 1024 {
            c.problem("dataplane.max_header_bytes", "must be at least 8192");
        }
        let upstream_connect_timeout = c.millis(
            "upstream.connect_timeout_ms",
            raw.upstream.connect_timeout_ms,
        );
        let upstream_response_timeout = c.millis(
            "upstream.response_timeout_ms",
            raw.upstream.response_timeout_ms,
        );
        let upstream_pool_idle_timeout = c.secs(
            "upstream.pool_idle_timeout_secs",
            raw.upstream.pool_idle_timeout_secs,
        );
        let probe_timeout = c.millis("admin.probe_timeout_ms", raw.admin.probe_timeout_ms);
        let credential_ttl = c.secs("cache.credential_ttl_secs", raw.cache.credential_ttl_secs);
        if raw.cache.token_capacity == 0 {
            c.problem("cache.token_capacity", "must be greater than 0");
        }
        if raw.cache.credential_capacity == 0 {
            c.problem("cache.credential_capacity", "must be greater than 0");
        }
        let shutdown_grace = Duration::from_secs(raw.shutdown.grace_secs);
        let scopes = match auth::scope::ScopeTable::from_map(raw.scopes) {
            Ok(table) => table,
            Err(problems) => {
                for problem in problems {
                    let key = match &problem {
                        auth::scope::ScopeTableError::UnknownScope { scope }
                        | auth::scope::ScopeTableError::InvalidPrefix { scope, .. } => {
                            format!("scopes.{scope}")
                        }
                    };
                    c.problem(&key, problem);
                }
                auth::scope::ScopeTable::defaults()
            }
        };
        let deny_prefixes = raw.dataplane.deny_prefixes.unwrap_or_else(|| {
            dataplane::DEFAULT_DENY_PREFIXES
                .iter()
                .map(|p| (*p).to_owned())
                .collect()
        });
        for (i, prefix) in deny_prefixes.iter().enumerate() {
            if !auth::scope::is_valid_prefix(prefix) {
                c.problem(
                    "dataplane.deny_prefixes",
                    format!("entry {i} is not a path prefix such as api_keys or storage/kvs"),
                );
            }
        }
        if raw.dataplane.max_body_bytes == Some(0) {
            c.problem(
                "dataplane.max_body_bytes",
                "must be at least 1 (omit it for no limit)",
            );
        }
        if raw.dataplane.max_connections == 0 {
            c.problem("dataplane.max_connections", "must be at least 1");
        }
        let default_limit = match (
            raw.rate_limit.default_requests_per_second,
            raw.rate_limit.default_burst,
        ) {
            (None, None) => None,
            (Some(rps), Some(burst)) if rps > 0 && burst > 0 => Some(store::RateLimit {
                requests_per_second: rps,
                burst,
            }),
            _ => {
                c.problem(
                    "rate_limit.default_requests_per_second",
                    "set both default_requests_per_second and default_burst (each at least 1), or neither",
                );
                None
            }
        };
        let rate_limit = dataplane::RateLimitSettings {
            default_limit,
            idle_ttl: c.secs("rate_limit.idle_secs", raw.rate_limit.idle_secs),
            max_tracked: raw.rate_limit.max_tracked.max(1),
        };
        let client_idle_timeout = c.secs(
            "dataplane.client_idle_timeout_secs",
            raw.dataplane.client_idle_timeout_secs,
        );

        if raw.runtime.worker_threads == Some(0) {
            c.problem(
                "runtime.worker_threads",
                "must be at least 1 (omit it for one per CPU)",
            );
        }

        if !c.problems.is_empty() {
            return Err(ConfigError {
                problems: c.problems,
            });
        }
        Ok(Config {
            dataplane_listen,
            path_prefix,
            public_base_url,
            header_read_timeout,
            max_header_bytes: raw.dataplane.max_header_bytes,
            deny_prefixes,
            max_body_bytes: raw.dataplane.max_body_bytes,
            client_idle_timeout,
            max_connections: raw.dataplane.max_connections,
            scopes,
            rate_limit,
            upstream_base_url,
            upstream_connect_timeout,
            upstream_response_timeout,
            upstream_pool_idle_timeout,
            upstream_ca_file: raw.upstream.ca_file,
            admin_listen,
            admin_token_sha256,
            probe_path: raw.admin.probe_path,
            probe_timeout,
            admin_tls,
            store_url: StoreUrl(raw.store.url),
            master_key_file: raw.crypto.master_key_file,
            tokens: auth::TokenSettings {
                issuer: raw.tokens.issuer,
                audience: raw.tokens.audience,
                leeway_secs: raw.tokens.leeway_secs,
                default_ttl_secs: raw.tokens.default_ttl_secs,
                max_ttl_secs: raw.tokens.max_ttl_secs,
            },
            token_cache_capacity: raw.cache.token_capacity,
            credential_cache_capacity: raw.cache.credential_capacity,
            credential_ttl,
            credential_max_staleness: Duration::from_secs(raw.cache.max_stale_secs),
            log_format,
            log_level: raw.log.level,
            shutdown_grace,
            worker_threads: raw.runtime.worker_threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::load(Sources::default()).expect("defaults load");
        assert_eq!(config.path_prefix, DEFAULT_PATH_PREFIX);
        assert_eq!(config.admin_listen.to_string(), "127.0.0.1:9090");
        assert_eq!(config.public_base_url, None);
        assert_eq!(config.tokens.leeway_secs, 30);
    }

    #[test]
    fn environment_overrides_file_and_lists_split_on_commas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[dataplane]\nlisten = \"127.0.0.1:7000\"\n[tokens]\nissuer = \"from-file\"\n",
        )
        .expect("write");
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let config = Config::load(Sources {
            file: Some(&file),
            env: env(&[
                ("BINDING_PROXY__TOKENS__ISSUER", "from-env"),
                ("BINDING_PROXY__ADMIN__TOKEN_SHA256", &format!("{a},{b}")),
                ("UNRELATED", "x"),
            ]),
        })
        .expect("loads");
        assert_eq!(config.dataplane_listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.tokens.issuer, "from-env");
        assert_eq!(config.admin_token_sha256.len(), 2);
    }

    #[test]
    fn worker_threads_default_to_one_per_cpu_and_zero_is_refused() {
        let default = Config::load(Sources::default()).expect("defaults");
        assert_eq!(default.worker_threads, None);
        let one = Config::load(Sources {
            file: None,
            env: env(&[("BINDING_PROXY__RUNTIME__WORKER_THREADS", "1")]),
        })
        .expect("loads");
        assert_eq!(one.worker_threads, Some(1));
        let err = Config::load(Sources {
            file: None,
            env: env(&[("BINDING_PROXY__RUNTIME__WORKER_THREADS", "0")]),
        })
        .expect_err("zero workers");
        assert!(
            err.to_string()
                .contains("runtime.worker_threads (BINDING_PROXY__RUNTIME__WORKER_THREADS)")
        );
    }

    #[test]
    fn default_public_base_url_uses_the_bound_port_and_loopback_for_any_address() {
        let any: SocketAddr = "0.0.0.0:41234".parse().expect("addr");
        assert_eq!(
            default_public_base_url(any, DEFAULT_PATH_PREFIX),
            "http://127.0.0.1:41234/v2/compute/internal/binding-proxy"
        );
        let v6: SocketAddr = "[::]:8080".parse().expect("addr");
        assert_eq!(default_public_base_url(v6, "/p"), "http://[::1]:8080/p");
    }

    #[test]
    fn database_passwords_never_reach_debug_output_or_messages() {
        let config = Config::load(Sources {
            file: None,
            env: env(&[(
                "BINDING_PROXY__STORE__URL",
                "postgres://bp:s3cret@db:5432/bp",
            )]),
        })
        .expect("loads");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(
            config.store_url.redacted(),
            "postgres://bp:[redacted]@db:5432/bp"
        );
        assert_eq!(config.store_url.expose(), "postgres://bp:s3cret@db:5432/bp");
        assert_eq!(
            StoreUrl("postgres://db/bp".into()).redacted(),
            "postgres://db/bp"
        );
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let err = Config::load(Sources {
            file: None,
            env: env(&[("BINDING_PROXY__DATAPLANE__LISTN", "127.0.0.1:1")]),
        })
        .expect_err("unknown key");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_env_var() {
        let err = Config::load(Sources {
            file: None,
            env: env(&[
                ("BINDING_PROXY__DATAPLANE__LISTEN", "nowhere"),
                ("BINDING_PROXY__UPSTREAM__BASE_URL", "ftp://x/y"),
                ("BINDING_PROXY__ADMIN__TOKEN_SHA256", "zz"),
            ]),
        })
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("BINDING_PROXY__DATAPLANE__LISTEN"), "{text}");
        assert!(text.contains("upstream.base_url"), "{text}");
        assert!(text.contains("admin.token_sha256"), "{text}");
    }
}
