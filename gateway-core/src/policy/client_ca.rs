//! The gateway's custom CA bundles for client certificates (`[tls] client_ca`), which the TLS
//! listener names to clients and the `mutualTls` policy verifies chains against, and the PEM
//! certificate files both read.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
use rustls::{DistinguishedName, RootCertStore};

/// The CA certificates client certificates are checked against (`[tls] client_ca` in
/// `gateway.toml`). OCI checks client certificates against these custom bundles only, never
/// against the public roots, so none are ever added implicitly.
#[derive(Debug, Clone)]
pub struct ClientCaBundles {
    pub(super) roots: RootCertStore,
}

/// Why a PEM certificate file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PemCertsError {
    /// The file could not be read, or holds malformed PEM.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong reading or decoding it.
        source: pem::Error,
    },
    /// The file holds no PEM certificate.
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Every certificate of the PEM file at `path`, in order; a file without any is an error.
/// Also what the TLS listener reads its own chain with.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemCertsError> {
    let read = |source| PemCertsError::Read {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(PemCertsError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Why a CA bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// A file could not be read, or holds no certificate.
    #[error("CA bundle: {0}")]
    File(#[from] PemCertsError),
    /// A certificate of a file cannot anchor a chain.
    #[error("the CA bundle {path}: certificate {index} cannot be a trust anchor: {reason}")]
    Anchor {
        /// The file.
        path: PathBuf,
        /// The certificate's position in the file, from 0.
        index: usize,
        /// Why it cannot be a trust anchor.
        reason: rustls::Error,
    },
}

impl Default for ClientCaBundles {
    fn default() -> Self {
        Self {
            roots: RootCertStore::empty(),
        }
    }
}

impl ClientCaBundles {
    /// Reads every certificate of the PEM files at `paths`; a file that cannot be read, holds
    /// no certificate or holds one that cannot anchor a chain is an error naming it.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CaBundleError> {
        let mut bundles = Self::default();
        for path in paths {
            bundles.add_file(path)?;
        }
        Ok(bundles)
    }

    fn add_file(&mut self, path: &Path) -> Result<(), CaBundleError> {
        for (index, cert) in read_pem_certs(path)?.into_iter().enumerate() {
            self.add(cert).map_err(|reason| CaBundleError::Anchor {
                path: path.to_owned(),
                index,
                reason,
            })?;
        }
        Ok(())
    }

    /// Adds one CA certificate (DER).
    pub fn add(&mut self, cert: CertificateDer<'_>) -> Result<(), rustls::Error> {
        self.roots.add(cert)
    }

    /// Whether there is no CA, so that no client certificate can be verified.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The CAs' subjects, which a TLS server sends as hints for the client to pick a
    /// certificate.
    pub fn subjects(&self) -> Vec<DistinguishedName> {
        self.roots.subjects()
    }
}
