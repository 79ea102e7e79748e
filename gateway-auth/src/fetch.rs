//! Documents fetched from identity providers (JWKS, discovery documents, introspection
//! answers): one way to build the HTTP client and one bounded reader for all of them.

use std::time::Duration;

use gateway_core::causes::chain;

/// Tuning for fetches from identity providers (key sets, discovery documents, introspection);
/// the defaults suit production.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// Timeout of one HTTP fetch, connection included.
    pub fetch_timeout: Duration,
    /// Least time between two refetches triggered by unknown `kid`s.
    pub min_refresh_interval: Duration,
    /// Least time between a failed fetch and the next attempt.
    pub failure_backoff: Duration,
    /// Largest JWKS, discovery document or introspection answer accepted.
    pub max_document_bytes: usize,
    /// CAs trusted beside the system's roots (`[gateway] ca_bundles`): for identity providers
    /// on a private PKI.
    pub ca_roots: Vec<reqwest::Certificate>,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(10),
            min_refresh_interval: Duration::from_secs(30),
            failure_backoff: Duration::from_secs(5),
            max_document_bytes: 1024 * 1024,
            ca_roots: Vec::new(),
        }
    }
}

impl JwksOptions {
    /// Trusts the CA certificate `der` beside the system's roots.
    pub fn trust_der(&mut self, der: &[u8]) -> Result<(), String> {
        let certificate = reqwest::Certificate::from_der(der)
            .map_err(|e| format!("not a DER certificate: {e}"))?;
        self.ca_roots.push(certificate);
        Ok(())
    }
}

/// Why a document (keys, a discovery document, an introspection answer) could not be had:
/// the request gets 500.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{uri}: {reason}")]
pub struct FetchError {
    /// The address fetched (JWKS URI, discovery URL or introspection endpoint).
    pub uri: String,
    /// What went wrong, for logs: the request failed, the provider answered an error, or the
    /// document was too large or not what was expected.
    pub reason: String,
    /// The provider's status, when it answered with an error.
    pub status: Option<u16>,
}

/// The HTTP client for an identity provider: no system proxy (a fetch goes where the spec
/// says), timeouts, at most three redirects, the configured CAs; `verify_tls: false` is the
/// spec's `isSslVerifyDisabled`.
pub(crate) fn http_client(
    options: &JwksOptions,
    verify_tls: bool,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(options.fetch_timeout)
        .connect_timeout(options.fetch_timeout)
        .tls_danger_accept_invalid_certs(!verify_tls)
        .redirect(reqwest::redirect::Policy::limited(3));
    for ca in &options.ca_roots {
        builder = builder.add_root_certificate(ca.clone());
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Sends `request`; the body of a 2xx answer, read up to `limit` bytes.
pub(crate) async fn fetch_document(
    request: reqwest::RequestBuilder,
    uri: &str,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let fail = |reason: String| FetchError {
        uri: uri.to_owned(),
        reason,
        status: None,
    };
    let mut response = request
        .send()
        .await
        .map_err(|e| fail(format!("request failed: {}", chain(&e))))?;
    if !response.status().is_success() {
        return Err(FetchError {
            status: Some(response.status().as_u16()),
            ..fail(format!("answered {}", response.status()))
        });
    }
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(fail(format!("document larger than {limit} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(format!("reading the body failed: {e}")))?
    {
        if body.len() + chunk.len() > limit {
            return Err(fail(format!("document larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
