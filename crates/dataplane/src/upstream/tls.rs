//! Whom the proxy trusts upstream: Mozilla's roots plus the certificates of
//! `upstream_ca_file`, in a rustls client configuration on aws-lc-rs.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::DataplaneError;

/// The TLS client configuration for the upstream: rustls on aws-lc-rs, its safe default
/// protocol versions and [`upstream_roots`]; ALPN is set by the connector builder.
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, DataplaneError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(DataplaneError::Tls)?
        .with_root_certificates(upstream_roots(ca_file)?)
        .with_no_client_auth())
}

/// Reads `upstream.ca_file` as start-up will (for `check-config`).
///
/// # Errors
/// [`DataplaneError::UpstreamCa`], naming the file and what is wrong with it.
pub fn check_upstream_ca_file(path: &Path) -> Result<(), DataplaneError> {
    upstream_roots(Some(path)).map(drop)
}

/// Mozilla's roots (as hyper-rustls's default) plus every certificate in `ca_file`. Each one
/// becomes a trust anchor as it is: rustls does not require it to be a CA or unexpired.
fn upstream_roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, DataplaneError> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let Some(path) = ca_file else {
        return Ok(roots);
    };
    let problem = |problem| DataplaneError::UpstreamCa {
        path: path.to_owned(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|err| {
        problem(match err.kind() {
            std::io::ErrorKind::NotFound => "does not exist",
            std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)",
            _ => "cannot be read",
        })
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| problem("is not valid PEM"))?;
    if certificates.is_empty() {
        return Err(problem("holds no PEM certificate"));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|_| problem("holds a certificate that does not parse"))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_adds_its_certificates_to_mozillas_roots() {
        let mozilla = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(upstream_roots(None).expect("roots").len(), mozilla);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        let pem: String = (0..2)
            .map(|_| {
                let key = rcgen::KeyPair::generate().expect("key");
                let mut params =
                    rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                params.self_signed(&key).expect("certificate").pem()
            })
            .collect();
        std::fs::write(&path, pem).expect("write");
        assert_eq!(
            upstream_roots(Some(&path)).expect("roots").len(),
            mozilla + 2
        );
    }

    #[test]
    fn a_certificate_that_does_not_parse_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        // Valid PEM around bytes that are not a certificate.
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let err = upstream_roots(Some(&path)).expect_err("refused");
        assert!(
            err.to_string()
                .contains("holds a certificate that does not parse"),
            "{err}"
        );
        let missing = dir.path().join("missing.pem");
        let err = upstream_roots(Some(&missing)).expect_err("refused");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
