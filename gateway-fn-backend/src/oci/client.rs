//! The pooled HTTPS client for OCI invoke endpoints.
//!
//! hyper-util's legacy client (connection pool, keep-alive) over hyper-rustls, with rustls on
//! aws-lc-rs (the workspace's one crypto provider) and Mozilla's roots compiled in, so the
//! gateway does not depend on the host's CA bundle. Extra roots can be added for private
//! endpoints (and the tests' local CA).
//!
//! HTTP/1.1 only: the signature covers the `host` header, and HTTP/1.1 sends exactly the Host
//! header that was signed; with HTTP/2 it would become `:authority`, which OCI's documentation
//! does not discuss. One client can be shared by every OCI function of a gateway (clones share
//! the pool).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;

use super::OciError;

/// How long an idle pooled connection is kept (below the usual 60 s load-balancer idle
/// timeout, so the gateway closes first and does not reuse a connection being closed).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Idle connections kept per endpoint.
pub const POOL_MAX_IDLE_PER_HOST: usize = 32;
/// TCP connect timeout (the call's deadline bounds the whole exchange anyway).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A pooled HTTPS/1.1 client trusting Mozilla's roots plus any extra roots. Cheap to clone.
#[derive(Clone)]
pub struct OciHttpClient {
    pub(crate) client: HyperClient,
    extra_roots: usize,
}

impl OciHttpClient {
    /// A client trusting Mozilla's roots and `extra_roots` (DER certificates).
    pub fn new(extra_roots: &[CertificateDer<'static>]) -> Result<Self, OciError> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for (index, cert) in extra_roots.iter().enumerate() {
            roots
                .add(cert.clone())
                .map_err(|source| OciError::ExtraRoot { index, source })?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(OciError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        // hyper-rustls checks the scheme; the plain connector must accept https URIs.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(https);
        Ok(OciHttpClient {
            client,
            extra_roots: extra_roots.len(),
        })
    }
}

impl fmt::Debug for OciHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciHttpClient")
            .field("extra_roots", &self.extra_roots)
            .finish_non_exhaustive()
    }
}
