//! The pooled client every HTTP backend of a gateway shares.
//!
//! One [`HttpClient`] per gateway, cloned into each route: connections to the same upstream
//! are reused across routes and requests. Inside are two pools, because the TLS verifier is a
//! property of the connection: one verifies certificates against Mozilla's roots (plus any
//! extra roots given), the other, used only by backends with `isSslVerifyDisabled: true`,
//! accepts any certificate. Both speak HTTP/1.1, and HTTP/2 where TLS negotiates `h2` by ALPN
//! (cleartext `http://` is always HTTP/1.1, as in OCI).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ConfigBuilder, DigitallySignedStruct, RootCertStore, SignatureScheme,
    WantsVerifier,
};

use super::pool::{Pool, Settings};

/// The connector's own connect timeout: OCI's maximum `connectTimeoutInSeconds`. Each request
/// enforces its backend's (shorter or equal) timeout itself; this one only bounds a connection
/// attempt that nobody waits for any more.
pub(crate) const CONNECT_BACKSTOP: Duration = Duration::from_secs(75);

/// How many idle connections to one upstream are kept by default: as many as the requests in
/// flight to it at once, up to Envoy's default connection limit per cluster. A smaller pool
/// closes, after each burst, the connections the next one opens again: with 32, fifty clients
/// through one route made the gateway open 550 upstream connections a second and serve 15 %
/// fewer requests than nginx's `proxy_pass` with `keepalive 64`.
const DEFAULT_MAX_IDLE_PER_UPSTREAM: usize = 1024;

/// A building failure of [`HttpClient`]: an extra root certificate that is not usable.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// A PEM text given to [`HttpClientBuilder::add_root_pem`] is malformed or holds no
    /// certificate.
    #[error("invalid PEM root certificate: {0}")]
    Pem(String),
    /// An extra root certificate is not a usable trust anchor.
    #[error("unusable root certificate: {0}")]
    Root(#[source] rustls::Error),
    /// The TLS client configuration could not be built from the crypto provider.
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
}

/// The client shared by every HTTP backend of a gateway. Cheap to clone.
///
/// Each pool, with its TLS configuration and trusted roots, is built the first time a backend
/// asks for it (when the backend is compiled), so a gateway without HTTP backends never builds
/// either and keeps neither in memory.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Pools>,
}

struct Pools {
    tls: ConfigBuilder<ClientConfig, WantsVerifier>,
    extra_roots: RootCertStore,
    webpki_roots: bool,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    verified: OnceLock<Pool>,
    unverified: OnceLock<Pool>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the default settings: Mozilla's roots, 90 s idle timeout, up to 1,024
    /// idle connections per upstream and thread.
    pub fn new() -> Self {
        // Building fails only for bad extra roots, and there are none here; the provider is
        // compiled in and supports the default protocol versions.
        HttpClientBuilder::default()
            .build()
            .expect("the default HTTP client configuration is valid")
    }

    /// A builder starting from the default settings of [`HttpClient::new`].
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// The pool for backends that verify certificates, or for those that do not.
    pub(crate) fn pool(&self, verify: bool) -> &Pool {
        let pools = &*self.inner;
        if verify {
            pools.verified.get_or_init(|| {
                let mut roots = pools.extra_roots.clone();
                if pools.webpki_roots {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                pools.pool_with(
                    pools
                        .tls
                        .clone()
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                )
            })
        } else {
            pools.unverified.get_or_init(|| {
                let verifier = AcceptAnyCertificate {
                    provider: pools.tls.crypto_provider().clone(),
                };
                pools.pool_with(
                    pools
                        .tls
                        .clone()
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(verifier))
                        .with_no_client_auth(),
                )
            })
        }
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// Settings of an [`HttpClient`].
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    extra_roots: Vec<CertificateDer<'static>>,
    webpki_roots: bool,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            extra_roots: Vec::new(),
            webpki_roots: true,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: DEFAULT_MAX_IDLE_PER_UPSTREAM,
        }
    }
}

impl HttpClientBuilder {
    /// Also trusts this root certificate (DER): a private CA in front of internal upstreams.
    pub fn add_root_certificate(mut self, der: CertificateDer<'static>) -> Self {
        self.extra_roots.push(der);
        self
    }

    /// Also trusts every certificate in this PEM text.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, HttpClientError> {
        let before = self.extra_roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            self.extra_roots
                .push(cert.map_err(|e| HttpClientError::Pem(e.to_string()))?);
        }
        if self.extra_roots.len() == before {
            return Err(HttpClientError::Pem("no CERTIFICATE block found".into()));
        }
        Ok(self)
    }

    /// Whether Mozilla's root certificates are trusted (default: yes). Turn off to trust only
    /// the roots added with [`Self::add_root_certificate`].
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s). A request never takes one
    /// idle longer; a sweep that runs once per this period closes them, so an unused
    /// connection is closed between one and two periods after its last exchange.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// How many idle connections are kept per upstream on each thread that serves requests
    /// (default 1,024). Set it at least as high as the number of requests one thread sends one
    /// upstream at once: below that, every request beyond it opens a connection that is closed
    /// when it ends.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Builds the client; fails if an extra root certificate is not usable or the TLS
    /// configuration cannot be built.
    pub fn build(self) -> Result<HttpClient, HttpClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut extra_roots = RootCertStore::empty();
        for der in self.extra_roots {
            extra_roots.add(der).map_err(HttpClientError::Root)?;
        }
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(HttpClientError::Tls)?;
        Ok(HttpClient {
            inner: Arc::new(Pools {
                tls,
                extra_roots,
                webpki_roots: self.webpki_roots,
                pool_idle_timeout: self.pool_idle_timeout,
                pool_max_idle_per_host: self.pool_max_idle_per_host,
                verified: OnceLock::new(),
                unverified: OnceLock::new(),
            }),
        })
    }
}

impl Pools {
    fn pool_with(&self, tls: ClientConfig) -> Pool {
        let mut http = HttpConnector::new();
        // The HTTPS connector decides the scheme; Nagle only delays small proxied writes.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_BACKSTOP));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Pool::new(
            connector,
            Settings {
                idle_timeout: self.pool_idle_timeout,
                max_idle: self.pool_max_idle_per_host,
            },
        )
    }
}

/// `isSslVerifyDisabled: true`: any certificate, for any name, is accepted. The handshake
/// signatures are still checked, so the peer proves it holds the key of the certificate it
/// presented; only the certificate's authority and name go unchecked.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
