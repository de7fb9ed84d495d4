use std::collections::BTreeSet;

use serde::de::{self, Deserializer, Visitor};

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load(Sources {
        file: None,
        env: env(pairs),
    })
}

#[test]
fn defaults_are_valid() {
    let config = Config::load(Sources::default()).expect("defaults load");
    assert_eq!(
        config.dataplane.listener.path_prefix.as_str(),
        dataplane::DEFAULT_PATH_PREFIX
    );
    assert_eq!(config.admin.listen.to_string(), "127.0.0.1:9090");
    assert_eq!(config.dataplane.listener.public_base_url, None);
    assert_eq!(config.tokens.leeway_secs, 30);
    assert_eq!(
        config.dataplane.upstream.connect_timeout,
        Duration::from_secs(2)
    );
    assert_eq!(config.log_format, LogFormat::Pretty);
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
            ("BINDING_PROXY__DATAPLANE__DENY_PREFIXES", "api_keys,users"),
            ("BINDING_PROXY__SCOPES__KV", "storage/kvs,storage/other"),
            ("UNRELATED", "x"),
        ]),
    })
    .expect("loads");
    assert_eq!(
        config.dataplane.listener.listen.to_string(),
        "127.0.0.1:7000"
    );
    assert_eq!(config.tokens.issuer, "from-env");
    assert_eq!(config.admin.token_sha256.len(), 2);
    assert_eq!(
        config.dataplane.listener.deny_prefixes,
        ["api_keys", "users"]
    );
}

#[test]
fn every_service_scope_takes_a_list_from_the_environment() {
    for service in auth::scope::SERVICES {
        let var = format!("BINDING_PROXY__SCOPES__{}", service.to_uppercase());
        load_env(&[(var.as_str(), "a,b/c")]).unwrap_or_else(|err| panic!("{service}: {err}"));
    }
}

#[test]
fn log_format_is_read_as_an_enum() {
    let config = load_env(&[("BINDING_PROXY__LOG__FORMAT", "json")]).expect("loads");
    assert_eq!(config.log_format, LogFormat::Json);
    let err = load_env(&[("BINDING_PROXY__LOG__FORMAT", "xml")]).expect_err("xml");
    let text = err.to_string();
    assert!(text.contains("log (BINDING_PROXY__LOG)"), "{text}");
    assert!(text.contains("xml"), "{text}");
}

#[test]
fn worker_threads_default_to_one_per_cpu_and_zero_is_refused() {
    let default = Config::load(Sources::default()).expect("defaults");
    assert_eq!(default.worker_threads, None);
    let one = load_env(&[("BINDING_PROXY__RUNTIME__WORKER_THREADS", "1")]).expect("loads");
    assert_eq!(one.worker_threads, Some(1));
    let err =
        load_env(&[("BINDING_PROXY__RUNTIME__WORKER_THREADS", "0")]).expect_err("zero workers");
    assert!(
        err.to_string()
            .contains("runtime.worker_threads (BINDING_PROXY__RUNTIME__WORKER_THREADS)")
    );
}

#[test]
fn default_public_base_url_uses_the_bound_port_and_loopback_for_any_address() {
    let any: SocketAddr = "0.0.0.0:41234".parse().expect("addr");
    assert_eq!(
        default_public_base_url(any, dataplane::DEFAULT_PATH_PREFIX, false),
        "http://127.0.0.1:41234/v2/compute/internal/binding-proxy"
    );
    let v6: SocketAddr = "[::]:8080".parse().expect("addr");
    assert_eq!(
        default_public_base_url(v6, "/p", false),
        "http://[::1]:8080/p"
    );
    let tls: SocketAddr = "10.0.0.7:8443".parse().expect("addr");
    assert_eq!(
        default_public_base_url(tls, "/p", true),
        "https://10.0.0.7:8443/p"
    );
}

#[test]
fn database_passwords_never_reach_debug_output_or_messages() {
    let config = load_env(&[(
        "BINDING_PROXY__STORE__URL",
        "postgres://bp:s3cret@db:5432/bp",
    )])
    .expect("loads");
    assert!(!format!("{config:?}").contains("s3cret"));
    assert_eq!(
        config.store.url.to_string(),
        "postgres://bp:[redacted]@db:5432/bp"
    );
}

#[test]
fn unknown_keys_and_sections_are_refused_by_name() {
    let err =
        load_env(&[("BINDING_PROXY__DATAPLANE__LISTN", "127.0.0.1:1")]).expect_err("unknown key");
    let text = err.to_string();
    assert!(text.contains("listn"), "{text}");
    assert!(
        text.contains("dataplane (BINDING_PROXY__DATAPLANE)"),
        "{text}"
    );
    let err = load_env(&[("BINDING_PROXY__DATAPLAN__LISTEN", "127.0.0.1:1")])
        .expect_err("unknown section");
    assert!(
        err.to_string().contains("unknown section `dataplan`"),
        "{err}"
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_env_var() {
    let err = load_env(&[
        ("BINDING_PROXY__DATAPLANE__LISTEN", "nowhere"),
        ("BINDING_PROXY__DATAPLANE__PATH_PREFIX", ""),
        ("BINDING_PROXY__UPSTREAM__BASE_URL", "ftp://x/y"),
        ("BINDING_PROXY__UPSTREAM__CONNECT_TIMEOUT_MS", "0"),
        ("BINDING_PROXY__ADMIN__TOKEN_SHA256", "zz"),
        ("BINDING_PROXY__STORE__URL", "mysql://x"),
        ("BINDING_PROXY__TOKENS__ISSUER", ""),
        ("BINDING_PROXY__CACHE__TOKEN_CAPACITY", "0"),
        ("BINDING_PROXY__RATE_LIMIT__DEFAULT_BURST", "5"),
        ("BINDING_PROXY__SCOPES__TELEPATHY", "minds"),
        ("BINDING_PROXY__LOG__LEVEL", "[["),
        ("BINDING_PROXY__SHUTDOWN__GRACE_SECS", "soon"),
    ])
    .expect_err("invalid");
    let text = err.to_string();
    for key in [
        "dataplane.listen (BINDING_PROXY__DATAPLANE__LISTEN)",
        "dataplane.path_prefix (BINDING_PROXY__DATAPLANE__PATH_PREFIX)",
        "upstream.base_url (BINDING_PROXY__UPSTREAM__BASE_URL)",
        "upstream.connect_timeout_ms (BINDING_PROXY__UPSTREAM__CONNECT_TIMEOUT_MS)",
        "admin.token_sha256 (BINDING_PROXY__ADMIN__TOKEN_SHA256)",
        "store.url (BINDING_PROXY__STORE__URL)",
        "tokens.issuer (BINDING_PROXY__TOKENS__ISSUER)",
        "cache.token_capacity (BINDING_PROXY__CACHE__TOKEN_CAPACITY)",
        "rate_limit.default_requests_per_second",
        "scopes.telepathy (BINDING_PROXY__SCOPES__TELEPATHY)",
        "log.level (BINDING_PROXY__LOG__LEVEL)",
        "shutdown (BINDING_PROXY__SHUTDOWN)",
    ] {
        assert!(text.contains(key), "{key} missing in: {text}");
    }
}

/// The field names of a raw settings type, as serde sees them: a deserializer that records
/// what `deserialize_struct` is asked for and stops.
fn fields_of<T: DeserializeOwned>() -> Vec<&'static str> {
    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    struct Fields<'a>(&'a mut Vec<&'static str>);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0.extend_from_slice(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields = Vec::new();
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// `section → keys` of the tables in docs/configuration.md.
fn documented_keys() -> BTreeMap<String, BTreeSet<String>> {
    let doc = include_str!("../../../../docs/configuration.md");
    let mut sections: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in doc.lines() {
        if let Some(rest) = line.strip_prefix("## `[") {
            current = rest.split(']').next().map(str::to_owned);
            continue;
        }
        if line.starts_with("## ") {
            current = None;
        }
        if let (Some(section), Some(row)) = (&current, line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap_or_default();
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.to_owned());
        }
    }
    sections
}

#[test]
fn every_setting_is_documented_and_every_documented_setting_exists() {
    let code: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("dataplane", fields_of::<dataplane::RawListenerSettings>()),
        ("upstream", fields_of::<dataplane::RawUpstreamSettings>()),
        ("admin", fields_of::<admin::RawAdminSettings>()),
        ("store", fields_of::<store::RawStoreSettings>()),
        ("crypto", fields_of::<store::RawCryptoSettings>()),
        ("tokens", fields_of::<auth::RawTokenSettings>()),
        ("cache", fields_of::<auth::RawCacheSettings>()),
        ("log", fields_of::<RawLog>()),
        ("shutdown", fields_of::<RawShutdown>()),
        ("rate_limit", fields_of::<dataplane::RawRateLimitSettings>()),
        ("runtime", fields_of::<RawRuntime>()),
        ("websocket", fields_of::<dataplane::RawWebSocketSettings>()),
    ]);
    let docs = documented_keys();
    for (section, fields) in &code {
        assert!(
            !fields.is_empty(),
            "[{section}] has no fields as serde sees it"
        );
        let in_code: BTreeSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        let in_docs = docs.get(*section).cloned().unwrap_or_default();
        assert_eq!(
            in_code, in_docs,
            "[{section}]: settings in code vs the table in docs/configuration.md"
        );
    }
    let sections_in_docs: BTreeSet<&str> = docs.keys().map(String::as_str).collect();
    let tabled: BTreeSet<&str> = code.keys().copied().collect();
    assert_eq!(
        sections_in_docs, tabled,
        "sections with a table in the docs"
    );
    let mut all: BTreeSet<&str> = tabled;
    all.insert("scopes");
    assert_eq!(
        all,
        SECTIONS.into_iter().collect(),
        "SECTIONS vs documented"
    );

    let doc = include_str!("../../../../docs/configuration.md");
    let scopes = doc
        .split("## `[scopes]`")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/configuration.md has a [scopes] section");
    for service in auth::scope::SERVICES {
        assert!(
            scopes.contains(&format!("`{service}`")),
            "scope {service} is not named in the [scopes] section of docs/configuration.md"
        );
    }
}
