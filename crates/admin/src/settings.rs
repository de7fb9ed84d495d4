//! The `[admin]` settings: the raw type as read (defaults here, unknown keys refused) and its
//! checked form, every problem reported with its key.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use auth::SettingsError;
use serde::Deserialize;

use crate::tls::AdminTls;

/// `[admin]` as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdminSettings {
    /// Address of the admin API.
    pub listen: String,
    /// SHA-256 hex digests of the accepted admin bearer tokens.
    pub token_sha256: Vec<String>,
    /// The upstream request `bindings validate` makes with the real key.
    pub probe_path: String,
    /// Timeout of that probe.
    pub probe_timeout_ms: u64,
    /// PEM certificate chain: serve over TLS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates every client certificate must chain to (mTLS).
    pub tls_client_ca_file: Option<PathBuf>,
}

impl RawAdminSettings {
    /// The keys that hold lists (environment variables split on commas).
    pub const LIST_KEYS: &'static [&'static str] = &["token_sha256"];
}

impl Default for RawAdminSettings {
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

/// `[admin]`, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Where the admin API listens; never the data-plane port.
    pub listen: SocketAddr,
    /// SHA-256 digests of the accepted admin bearer tokens. Empty: every `/v1` call is refused.
    pub token_sha256: Vec<[u8; 32]>,
    /// Path of the validation probe, e.g. `/v2/balance`; starts with `/v2/`.
    pub probe_path: String,
    /// How long the validation probe may take, connection included.
    pub probe_timeout: Duration,
    /// TLS (and with a client CA, mTLS) on the admin listener; `None`: plain HTTP.
    pub tls: Option<AdminTls>,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self::try_from(RawAdminSettings::default())
            .expect("the default [admin] settings are valid (a unit test checks it)")
    }
}

impl fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminSettings")
            .field("listen", &self.listen)
            .field(
                "token_sha256",
                &format_args!("[{} digests]", self.token_sha256.len()),
            )
            .field("probe_path", &self.probe_path)
            .field("probe_timeout", &self.probe_timeout)
            .field("tls", &self.tls)
            .finish()
    }
}

impl TryFrom<RawAdminSettings> for AdminSettings {
    type Error = SettingsError;

    fn try_from(raw: RawAdminSettings) -> Result<Self, SettingsError> {
        let mut problems = SettingsError::new();
        let listen = raw.listen.parse().unwrap_or_else(|_| {
            problems.push(
                "listen",
                format_args!("`{}` is not an address such as 127.0.0.1:9090", raw.listen),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let mut token_sha256 = Vec::with_capacity(raw.token_sha256.len());
        for (i, digest) in raw.token_sha256.iter().enumerate() {
            let mut bytes = [0u8; 32];
            match hex::decode_to_slice(digest.trim(), &mut bytes) {
                Ok(()) => token_sha256.push(bytes),
                Err(_) => problems.push(
                    "token_sha256",
                    format_args!("entry {i} is not a SHA-256 digest (64 hex characters)"),
                ),
            }
        }
        if !raw.probe_path.starts_with("/v2/") {
            problems.push("probe_path", "must start with /v2/");
        }
        let probe_timeout = problems.positive_millis("probe_timeout_ms", raw.probe_timeout_ms);
        let tls = match (raw.tls_cert_file, raw.tls_key_file) {
            (Some(cert_chain_pem), Some(private_key_pem)) => Some(AdminTls {
                cert_chain_pem,
                private_key_pem,
                client_ca_pem: raw.tls_client_ca_file,
            }),
            (None, None) => {
                if raw.tls_client_ca_file.is_some() {
                    problems.push(
                        "tls_client_ca_file",
                        "needs admin.tls_cert_file and admin.tls_key_file (mTLS runs over TLS)",
                    );
                }
                None
            }
            (Some(_), None) | (None, Some(_)) => {
                problems.push(
                    "tls_cert_file",
                    "admin.tls_cert_file and admin.tls_key_file go together",
                );
                None
            }
        };
        problems.finish(AdminSettings {
            listen,
            token_sha256,
            probe_path: raw.probe_path,
            probe_timeout,
            tls,
        })
    }
}

/// Where the admin API points callers and probes: values owned by other sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminLinks {
    /// The data plane's public base URL handed out with tokens (what a deploy puts into
    /// `TELNYX_BASE_URL`), e.g. `http://127.0.0.1:8080/v2/compute/internal/binding-proxy`.
    pub public_base_url: String,
    /// Origin of the upstream API (`https://api.telnyx.com`), probed by `validate`.
    pub upstream_base_url: http::Uri,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let settings = AdminSettings::default();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:9090");
        assert!(settings.token_sha256.is_empty());
        assert_eq!(settings.tls, None);
    }

    #[test]
    fn every_mistake_is_reported_with_its_key() {
        let err = AdminSettings::try_from(RawAdminSettings {
            listen: "nowhere".into(),
            token_sha256: vec!["a".repeat(64), "zz".into()],
            probe_path: "/balance".into(),
            probe_timeout_ms: 0,
            tls_cert_file: Some("cert.pem".into()),
            tls_key_file: None,
            tls_client_ca_file: None,
        })
        .unwrap_err();
        assert_eq!(
            err.keys(),
            [
                "listen",
                "token_sha256",
                "probe_path",
                "probe_timeout_ms",
                "tls_cert_file"
            ]
        );
        assert!(err.problems()[1].problem.contains("entry 1"), "{err}");
        let err = AdminSettings::try_from(RawAdminSettings {
            tls_client_ca_file: Some("ca.pem".into()),
            ..RawAdminSettings::default()
        })
        .unwrap_err();
        assert_eq!(err.problems()[0].key, "tls_client_ca_file");
    }

    #[test]
    fn token_digests_are_not_shown_by_debug() {
        let settings = AdminSettings::try_from(RawAdminSettings {
            token_sha256: vec!["ab".repeat(32)],
            ..RawAdminSettings::default()
        })
        .unwrap();
        assert!(!format!("{settings:?}").contains("abab"));
    }
}
