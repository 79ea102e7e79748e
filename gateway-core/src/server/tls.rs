//! The public listener's TLS: rustls with aws-lc-rs, ALPN `h2` and `http/1.1`, and client
//! certificates requested (never required) when `[tls] client_ca` is set.
//!
//! A client certificate is checked here only for possession of its key (the handshake
//! signature). Whether its chain is trusted is for each deployment's `mutualTls` policy to
//! decide: an untrusted certificate must get OCI's 401 from a deployment that requires one,
//! and be ignored by a deployment that does not, neither of which a TLS alert could do.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::context::ClientCertificate;
use crate::policy::client_ca::{read_pem_certs, ClientCaBundles, PemCertsError};

/// How long a client may take to complete the handshake, as long as it may take to send a
/// request head: a client that stalls is cut off.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain cannot be read.
    #[error("TLS certificate: {0}")]
    Cert(#[from] PemCertsError),
    /// The private key cannot be read.
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Certificate and key do not make a server configuration.
    #[error("the TLS certificate {cert} and key {key} cannot be used together: {source}")]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// Accepts TLS connections: rustls with aws-lc-rs, ALPN `h2` and `http/1.1`.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Reads the certificate chain (PEM, leaf first) at `cert` and the private key (PEM:
    /// PKCS#8, PKCS#1 or SEC1) at `key`; with CA bundles in `client_ca`, clients are asked for
    /// a certificate and shown those CAs as hints.
    pub fn from_pem_files(
        cert: &Path,
        key: &Path,
        client_ca: &ClientCaBundles,
    ) -> Result<Self, TlsError> {
        let certs = read_pem_certs(cert)?;
        let key_der = read_key(key)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ClientCertVerifier> = if client_ca.is_empty() {
            WebPkiClientVerifier::no_client_auth()
        } else {
            Arc::new(PossessionOnly {
                subjects: client_ca.subjects(),
                algorithms: provider.signature_verification_algorithms,
            })
        };
        let config_error = |source| TlsError::Config {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key_der)
            .map_err(config_error)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Completes the handshake on `stream` within [`HANDSHAKE_TIMEOUT`], returning the client's
    /// certificate chain when it sent one.
    pub(super) async fn accept(
        &self,
        stream: TcpStream,
    ) -> io::Result<(TlsStream<TcpStream>, Option<ClientCertificate>)> {
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.inner.accept(stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| ClientCertificate::new(chain.to_vec()));
        Ok((stream, cert))
    }
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.to_owned(),
        reason: match e {
            pem::Error::NoItemsFound => {
                "it holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned()
            }
            other => other.to_string(),
        },
    })
}

/// Asks for a client certificate without requiring one, and accepts any chain once the client
/// has proved it holds the leaf's key; trust is left to the `mutualTls` policy.
#[derive(Debug)]
struct PossessionOnly {
    subjects: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PossessionOnly {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
