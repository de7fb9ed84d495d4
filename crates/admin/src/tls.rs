//! Optional TLS for the admin listener, with optional client-certificate verification (mTLS).
//!
//! [`tls_acceptor`] turns PEM files into a rustls server configuration (aws-lc-rs provider,
//! safe default protocol versions, ALPN `h2` and `http/1.1`). [`TlsListener`] hands axum's
//! serving loop only connections whose handshake succeeded: handshakes run on tasks of their
//! own, so a slow or silent client never holds up `accept`, and dropping the listener at
//! shutdown aborts the ones still running. A failed handshake is logged at DEBUG and the
//! connection dropped; nothing is ever answered in plain text.
//!
//! Errors name the file and never show its contents: a malformed PEM line may be key material.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Where the admin listener's TLS material lives. All files are PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    /// The server certificate followed by any intermediates (`admin.tls_cert_file`).
    pub cert_chain_pem: PathBuf,
    /// The server's private key: PKCS#8, PKCS#1 or SEC1 (`admin.tls_key_file`).
    pub private_key_pem: PathBuf,
    /// When set, every client must present a certificate chaining to one of these CA
    /// certificates (`admin.tls_client_ca_file`); when `None`, TLS is server-side only.
    pub client_ca_pem: Option<PathBuf>,
}

/// Why the admin TLS configuration could not be built. Every variant names the file; none
/// shows its contents.
#[derive(Debug, thiserror::Error)]
pub enum AdminTlsError {
    /// A file could not be read (missing, unreadable).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A PEM section is broken (bad base64, no end line, oversized). Which line is withheld:
    /// it may be key material.
    #[error("{} is not valid PEM", path.display())]
    MalformedPem {
        /// The file.
        path: PathBuf,
    },
    /// A certificate file holds no `CERTIFICATE` section.
    #[error("no PEM certificate in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key section.
    #[error("no PEM private key in {}", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// A client CA certificate could not be used as a trust anchor.
    #[error("client CA certificate in {} rejected", path.display())]
    ClientCa {
        /// The client CA file.
        path: PathBuf,
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built from the client CA file.
    #[error("client certificate verifier from {} could not be built", path.display())]
    ClientVerifier {
        /// The client CA file.
        path: PathBuf,
        /// What rustls found wrong.
        #[source]
        source: VerifierBuilderError,
    },
    /// The certificate chain and private key do not form a usable server identity (key does
    /// not match, unsupported key type).
    #[error("certificate {} and key {} rejected", cert.display(), key.display())]
    Identity {
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

/// Accepts TCP connections and completes TLS handshakes off the accept path; implements
/// axum's `Listener` so the plain and TLS listeners share one serving loop.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    /// Handshakes in flight; aborted when the listener is dropped (shutdown).
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

/// How long a client may take to finish the TLS handshake. It runs before any
/// authentication, so it must not hold a task for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes allowed in flight at once; past it, accepting pauses until one ends.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Builds the TLS acceptor for the admin listener from PEM files.
///
/// With `client_ca_pem` set, a client without a certificate chaining to that CA fails the
/// handshake (rustls `WebPkiClientVerifier`); the admin token is still required on `/v1`.
///
/// # Errors
/// [`AdminTlsError`], naming the file at fault.
pub fn tls_acceptor(tls: &AdminTls) -> Result<TlsAcceptor, AdminTlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = read_certificates(&tls.cert_chain_pem)?;
    let key = read_private_key(&tls.private_key_pem)?;

    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(AdminTlsError::Provider)?;
    let builder = match &tls.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(path)? {
                roots
                    .add(certificate)
                    .map_err(|source| AdminTlsError::ClientCa {
                        path: path.clone(),
                        source,
                    })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|source| AdminTlsError::ClientVerifier {
                    path: path.clone(),
                    source,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config =
        builder
            .with_single_cert(chain, key)
            .map_err(|source| AdminTlsError::Identity {
                cert: tls.cert_chain_pem.clone(),
                key: tls.private_key_pem.clone(),
                source,
            })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self {
            tcp,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }

    /// Starts the handshake for one accepted connection on a task of its own.
    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        let handshake = self.acceptor.accept(stream);
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => Some((stream, peer)),
                Ok(Err(err)) => {
                    // Scanners, plain HTTP and refused client certificates: the client's
                    // problem, not ours.
                    tracing::debug!(error = %err, %peer, "admin TLS handshake failed");
                    None
                }
                Err(_elapsed) => {
                    tracing::debug!(%peer, "admin TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    /// Cancel-safe, as axum's loop needs: both `TcpListener::accept` and
    /// `JoinSet::join_next` lose nothing when dropped before completion.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_PENDING_HANDSHAKES => {
                    match accepted {
                        Ok((stream, peer)) => self.start_handshake(stream, peer),
                        Err(err) => {
                            tracing::warn!(error = %err, "admin accept failed");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                    }
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Every `CERTIFICATE` section of `path`, in order; at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, AdminTlsError> {
    let bytes = read(path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| malformed(path))?;
    if certificates.is_empty() {
        return Err(AdminTlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// The first private key section of `path`.
fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, AdminTlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => AdminTlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        _ => malformed(path),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, AdminTlsError> {
    std::fs::read(path).map_err(|source| AdminTlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Drops the PEM error's detail on purpose: its `Display` may quote a line of the file.
fn malformed(path: &Path) -> AdminTlsError {
    AdminTlsError::MalformedPem {
        path: path.to_owned(),
    }
}
