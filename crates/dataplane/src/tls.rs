//! Optional TLS on the data listener (`dataplane.tls_cert_file`, `dataplane.tls_key_file`), so
//! the tokens functions send never cross the network in clear text.
//!
//! The certificate and key are read from PEM files at start-up and read again when either
//! file changes: cert-manager rotates them by swapping the files of a mounted Secret, and the
//! proxy must pick the new pair up without a restart and without dropping open connections (a
//! connection keeps the certificate it shook hands with; new handshakes get the new one). The
//! files are looked at, at most once a second, by the next handshake: no task of its own and no
//! work on the request path. A pair that does not load (a half-written file, a key that does
//! not match) is logged and the previous one kept until a later change loads.
//!
//! Errors name the file and never show its contents: a malformed PEM line may be key material.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::settings::ListenerTls;

/// How often, at most, a handshake looks whether the files changed.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Why the data listener's TLS identity could not be loaded. Every variant names the file; none
/// shows its contents.
#[derive(Debug, thiserror::Error)]
pub enum ListenerTlsError {
    /// A file could not be read (missing, unreadable).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{} is not valid PEM", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
    },
    /// The certificate file holds no certificate.
    #[error("no PEM certificate in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error("no PEM private key in {}", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The key's type is not one the crypto provider can sign with.
    #[error("private key in {} is not usable", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// The certificate and the key do not belong together.
    #[error("certificate {} and key {} do not match", cert.display(), key.display())]
    Mismatch {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// The crypto provider offers no safe protocol version (a build problem, not a file one).
    #[error("TLS crypto provider unusable")]
    Provider(#[source] rustls::Error),
}

/// Builds the data listener's TLS acceptor: aws-lc-rs, safe default protocol versions, ALPN
/// `h2` and `http/1.1`, the identity read from `files` now and again whenever they change.
///
/// # Errors
/// [`ListenerTlsError`], naming the file at fault, when the first load fails.
pub(crate) fn acceptor(files: &ListenerTls) -> Result<TlsAcceptor, ListenerTlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let identity = ReloadingIdentity::load(files.clone(), Arc::clone(&provider))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ListenerTlsError::Provider)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(identity));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Reads the files as start-up does, for `check-config`.
///
/// # Errors
/// [`ListenerTlsError`], naming the file at fault.
pub fn check_listener_tls(files: &ListenerTls) -> Result<(), ListenerTlsError> {
    acceptor(files).map(drop)
}

/// The certificate and key in use, and the files' state they were read in.
#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: Option<Stamp>,
}

/// What says a file changed: its inode, modification time and length, following symbolic
/// links as a mounted Secret's files are. The inode catches a file replaced within the
/// clock's granularity (kubelet and cert-manager replace files, they do not edit them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    cert: (u64, SystemTime, u64),
    key: (u64, SystemTime, u64),
}

impl Stamp {
    fn of(files: &ListenerTls) -> Option<Stamp> {
        let of = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.ino(), meta.modified().ok()?, meta.len()))
        };
        Some(Stamp {
            cert: of(&files.cert_chain_pem)?,
            key: of(&files.private_key_pem)?,
        })
    }
}

/// rustls's certificate source for every handshake: the loaded pair, reloaded on change.
#[derive(Debug)]
struct ReloadingIdentity {
    files: ListenerTls,
    provider: Arc<CryptoProvider>,
    /// Read by every handshake, written on a reload; never held across an await.
    current: RwLock<Loaded>,
    /// Milliseconds since `epoch` before which no handshake looks at the files.
    next_check_ms: AtomicU64,
    epoch: Instant,
}

impl ReloadingIdentity {
    fn load(files: ListenerTls, provider: Arc<CryptoProvider>) -> Result<Self, ListenerTlsError> {
        let stamp = Stamp::of(&files);
        let key = certified_key(&files, &provider)?;
        Ok(Self {
            files,
            provider,
            current: RwLock::new(Loaded {
                key: Arc::new(key),
                stamp,
            }),
            next_check_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Reads the files again if they changed since the last load, at most once per
    /// [`CHECK_EVERY`] whatever the handshake rate. A pair that does not load keeps the old
    /// one in use and is tried again on the next change.
    fn refresh(&self) {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let due = self.next_check_ms.load(Ordering::Relaxed);
        let next = now_ms.saturating_add(u64::try_from(CHECK_EVERY.as_millis()).unwrap_or(1000));
        // One handshake per period does the look; the others go on with what is loaded.
        if now_ms < due
            || self
                .next_check_ms
                .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let stamp = Stamp::of(&self.files);
        let unchanged = {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            stamp.is_none() || current.stamp == stamp
        };
        if unchanged {
            return;
        }
        match certified_key(&self.files, &self.provider) {
            Ok(key) => {
                let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                *current = Loaded {
                    key: Arc::new(key),
                    stamp,
                };
                tracing::info!(
                    cert = %self.files.cert_chain_pem.display(),
                    "data listener TLS certificate reloaded"
                );
            }
            Err(err) => {
                // Mid-rotation the two files may not match for a moment; keep serving with
                // the pair that works, and let the next change try again.
                let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                current.stamp = stamp;
                tracing::warn!(error = %err, "data listener TLS files changed but do not load; the previous certificate stays in use");
            }
        }
    }
}

impl ResolvesServerCert for ReloadingIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(&current.key))
    }
}

/// The chain and key in `files`, checked to belong together.
fn certified_key(
    files: &ListenerTls,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ListenerTlsError> {
    let chain = read_certificates(&files.cert_chain_pem)?;
    let key = read_private_key(&files.private_key_pem)?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| ListenerTlsError::Key {
            path: files.private_key_pem.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|source| ListenerTlsError::Mismatch {
            cert: files.cert_chain_pem.clone(),
            key: files.private_key_pem.clone(),
            source,
        })?;
    Ok(certified)
}

fn read(path: &Path) -> Result<Vec<u8>, ListenerTlsError> {
    std::fs::read(path).map_err(|source| ListenerTlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ListenerTlsError> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|_| ListenerTlsError::Pem {
            path: path.to_owned(),
        })?;
    if chain.is_empty() {
        return Err(ListenerTlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ListenerTlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => ListenerTlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        _ => ListenerTlsError::Pem {
            path: path.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair};

    use super::*;

    /// A self-signed certificate and its key, as PEM.
    fn pair(name: &str) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// Replaces `path` whole, as kubelet updates a mounted Secret.
    fn replace(path: &Path, contents: &str) {
        let aside = path.with_extension("incoming");
        std::fs::write(&aside, contents).expect("write");
        std::fs::rename(&aside, path).expect("rename");
    }

    fn write(files: &ListenerTls, (cert, key): &(String, String)) {
        replace(&files.cert_chain_pem, cert);
        replace(&files.private_key_pem, key);
    }

    fn files(dir: &tempfile::TempDir) -> ListenerTls {
        ListenerTls {
            cert_chain_pem: dir.path().join("tls.crt"),
            private_key_pem: dir.path().join("tls.key"),
        }
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn served(identity: &ReloadingIdentity) -> CertificateDer<'static> {
        let current = identity.current.read().expect("lock");
        current
            .key
            .end_entity_cert()
            .expect("a leaf")
            .clone()
            .into_owned()
    }

    /// Makes the next handshake look at the files, as a second later would.
    fn check_now(identity: &ReloadingIdentity) {
        identity.next_check_ms.store(0, Ordering::Relaxed);
        identity.refresh();
    }

    #[test]
    fn files_that_do_not_load_are_named_and_never_quoted() {
        let dir = tempfile::tempdir().expect("dir");
        let files = files(&dir);
        let err = check_listener_tls(&files).expect_err("missing");
        assert!(
            matches!(err, ListenerTlsError::Read { ref path, .. } if *path == files.cert_chain_pem)
        );

        let (cert, _) = pair("a");
        let (_, other_key) = pair("b");
        write(&files, &(cert, other_key.clone()));
        let err = check_listener_tls(&files).expect_err("mismatch");
        assert!(matches!(err, ListenerTlsError::Mismatch { .. }), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("tls.crt") && text.contains("tls.key"),
            "{text}"
        );
        assert!(!text.contains("PRIVATE KEY"), "{text}");

        std::fs::write(&files.cert_chain_pem, "no certificate here\n").expect("write");
        let err = check_listener_tls(&files).expect_err("no certificate");
        assert!(
            matches!(err, ListenerTlsError::NoCertificate { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_changed_pair_is_served_and_a_broken_one_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().expect("dir");
        let files = files(&dir);
        write(&files, &pair("first"));
        let identity = ReloadingIdentity::load(files.clone(), provider()).expect("loads");
        let first = served(&identity);

        // Mid-rotation: a new certificate next to the old key does not load; the old pair stays.
        let (second_cert, second_key) = pair("second");
        replace(&files.cert_chain_pem, &second_cert);
        check_now(&identity);
        assert_eq!(served(&identity), first);

        // The key follows: the new pair is served.
        replace(&files.private_key_pem, &second_key);
        check_now(&identity);
        let second = served(&identity);
        assert_ne!(second, first);

        // Unchanged files are not read again, and a check is skipped within the period.
        identity.refresh();
        assert_eq!(served(&identity), second);
    }
}
