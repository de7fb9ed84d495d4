//! Configuration: defaults → TOML file (`--config`) → environment (`BINDING_PROXY__SECTION__KEY`).
//!
//! Each crate owns its sections: a raw serde type with its defaults (unknown keys refused) and a
//! `TryFrom` into checked settings that reports every problem with its key. This module only
//! composes them: it layers file and environment, reads each section, and names every problem's
//! key and environment variable. `[log]`, `[shutdown]` and `[runtime]` belong to the binary.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use store::SettingsError;

/// Environment variable prefix; `BINDING_PROXY__DATAPLANE__LISTEN` sets `dataplane.listen`.
pub(crate) const ENV_PREFIX: &str = "BINDING_PROXY";

/// Every section, in the order problems are reported; a key outside these is refused.
const SECTIONS: [&str; 13] = [
    "dataplane",
    "upstream",
    "admin",
    "store",
    "crypto",
    "tokens",
    "cache",
    "log",
    "shutdown",
    "rate_limit",
    "runtime",
    "scopes",
    "websocket",
];

/// `[log]` as read; the format is an enum from the start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: LogFormat,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// `[shutdown]` as read.
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

/// `[runtime]` as read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRuntime {
    /// `None`: one worker per CPU (Tokio's default).
    worker_threads: Option<usize>,
}

/// Log output format (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The `base_url` handed out with tokens when `dataplane.public_base_url` is not set: the bound
/// data-plane address (loopback when bound to every interface) plus the path prefix, `https`
/// when the listener serves TLS.
pub(crate) fn default_public_base_url(bound: SocketAddr, path_prefix: &str, tls: bool) -> String {
    let host = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!(
        "{scheme}://{}{path_prefix}",
        SocketAddr::new(host, bound.port())
    )
}

/// The checked configuration: one typed value per crate's sections.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `[dataplane]`, `[upstream]`, `[rate_limit]`, `[scopes]` and `[websocket]`.
    pub(crate) dataplane: dataplane::DataplaneSettings,
    /// `[admin]`.
    pub(crate) admin: admin::AdminSettings,
    /// `[store]`.
    pub(crate) store: store::StoreSettings,
    /// `[crypto]`.
    pub(crate) crypto: store::CryptoSettings,
    /// `[tokens]`.
    pub(crate) tokens: auth::TokenSettings,
    /// `[cache]`.
    pub(crate) cache: auth::CacheSettings,
    pub(crate) log_format: LogFormat,
    pub(crate) log_level: String,
    /// `shutdown.grace_secs`.
    pub(crate) shutdown_grace: Duration,
    /// Tokio worker threads; `None`: one per CPU.
    pub(crate) worker_threads: Option<usize>,
}

/// Every problem found in a configuration, each naming its key and environment variable.
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

impl From<SettingsError> for ConfigError {
    fn from(err: SettingsError) -> Self {
        let problems = err
            .problems()
            .iter()
            .map(|p| format!("{} ({}): {}", p.key, env_name(&p.key), p.problem))
            .collect();
        Self { problems }
    }
}

/// Where settings come from besides the defaults.
#[derive(Debug, Default)]
pub(crate) struct Sources<'a> {
    /// A TOML file (`--config`).
    pub(crate) file: Option<&'a Path>,
    /// Environment variables; the binary passes the process environment, tests pass a map.
    pub(crate) env: HashMap<String, String>,
}

impl Config {
    /// Loads defaults → file → environment and checks every section.
    pub(crate) fn load(sources: Sources<'_>) -> Result<Config, ConfigError> {
        let layered = layer(sources)?;
        let mut problems = SettingsError::new();
        let mut unknown = Vec::new();
        if let Ok(top) = layered
            .clone()
            .try_deserialize::<BTreeMap<String, config::Value>>()
        {
            for key in top.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
                unknown.push(format!(
                    "unknown section `{key}` ({}); see docs/configuration.md",
                    env_name(key)
                ));
            }
        }
        let mut reader = SectionReader {
            layered: &layered,
            problems: &mut problems,
        };
        // In the order of SECTIONS, so problems are listed as the reference lists the keys.
        let listener = reader.checked::<dataplane::RawListenerSettings, _>("dataplane");
        let upstream = reader.checked::<dataplane::RawUpstreamSettings, _>("upstream");
        let admin = reader.checked::<admin::RawAdminSettings, _>("admin");
        let store = reader.checked::<store::RawStoreSettings, _>("store");
        let crypto = reader.checked::<store::RawCryptoSettings, _>("crypto");
        let tokens = reader.checked::<auth::RawTokenSettings, _>("tokens");
        let cache = reader.checked::<auth::RawCacheSettings, _>("cache");
        let log = reader.read::<RawLog>("log");
        if let Some(log) = &log
            && tracing_subscriber::EnvFilter::try_new(&log.level).is_err()
        {
            reader.problems.push(
                "log.level",
                "is not a level or filter such as info or debug",
            );
        }
        let shutdown = reader.read::<RawShutdown>("shutdown");
        let rate_limit = reader.checked::<dataplane::RawRateLimitSettings, _>("rate_limit");
        let runtime = reader.read::<RawRuntime>("runtime");
        if let Some(RawRuntime {
            worker_threads: Some(0),
        }) = runtime
        {
            reader.problems.push(
                "runtime.worker_threads",
                "must be at least 1 (omit it for one per CPU)",
            );
        }
        let scopes = reader.checked::<auth::RawScopes, _>("scopes");
        let websocket = reader.checked::<dataplane::RawWebSocketSettings, _>("websocket");

        let mut error = ConfigError::from(problems);
        error.problems.splice(0..0, unknown);
        let (
            Some(listener),
            Some(upstream),
            Some(admin),
            Some(store),
            Some(crypto),
            Some(tokens),
            Some(cache),
            Some(rate_limit),
            Some(scopes),
            Some(log),
            Some(shutdown),
            Some(runtime),
            Some(websocket),
        ) = (
            listener, upstream, admin, store, crypto, tokens, cache, rate_limit, scopes, log,
            shutdown, runtime, websocket,
        )
        else {
            return Err(error);
        };
        if !error.problems.is_empty() {
            return Err(error);
        }
        Ok(Config {
            dataplane: dataplane::DataplaneSettings {
                listener,
                upstream,
                rate_limit,
                scopes,
                websocket,
            },
            admin,
            store,
            crypto,
            tokens,
            cache,
            log_format: log.format,
            log_level: log.level,
            shutdown_grace: Duration::from_secs(shutdown.grace_secs),
            worker_threads: runtime.worker_threads,
        })
    }
}

/// The file (when given) over the defaults, the environment over both.
fn layer(sources: Sources<'_>) -> Result<config::Config, ConfigError> {
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
    let prefix = format!("{ENV_PREFIX}__");
    let env: HashMap<String, String> = sources
        .env
        .into_iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect();
    let mut environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .list_separator(",")
        .try_parsing(true)
        .source(Some(env));
    for key in list_keys() {
        environment = environment.with_list_parse_key(&key);
    }
    builder
        .add_source(environment)
        .build()
        .map_err(|err| ConfigError::single(format!("{err}; see docs/configuration.md")))
}

/// The keys whose environment variables are comma-separated lists, named by their sections.
fn list_keys() -> impl Iterator<Item = String> {
    let admin = admin::RawAdminSettings::LIST_KEYS
        .iter()
        .map(|k| format!("admin.{k}"));
    let dataplane = dataplane::RawListenerSettings::LIST_KEYS
        .iter()
        .map(|k| format!("dataplane.{k}"));
    let scopes = auth::RawScopes::list_keys().map(|k| format!("scopes.{k}"));
    admin.chain(dataplane).chain(scopes)
}

/// Reads sections, recording a section that does not deserialize (an unknown key, a value of
/// the wrong type) or does not pass its checks as problems of that section.
struct SectionReader<'a> {
    layered: &'a config::Config,
    problems: &'a mut SettingsError,
}

impl SectionReader<'_> {
    /// The section as read, or its default when absent.
    fn read<R: DeserializeOwned + Default>(&mut self, section: &str) -> Option<R> {
        match self.layered.get::<R>(section) {
            Ok(raw) => Some(raw),
            Err(config::ConfigError::NotFound(_)) => Some(R::default()),
            Err(err) => {
                self.problems
                    .push(section, format_args!("{err}; see docs/configuration.md"));
                None
            }
        }
    }

    /// The section as read and checked by its owner, its problems keyed `section.key`.
    fn checked<R, T>(&mut self, section: &str) -> Option<T>
    where
        R: DeserializeOwned + Default,
        T: TryFrom<R, Error = SettingsError>,
    {
        match T::try_from(self.read::<R>(section)?) {
            Ok(settings) => Some(settings),
            Err(found) => {
                self.problems.extend_section(section, found);
                None
            }
        }
    }
}

fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}__{}", key.replace('.', "__").to_uppercase())
}

#[cfg(test)]
mod tests;
