//! An identity provider's OpenID discovery document (`REMOTE_DISCOVERY`): fetched on first
//! use and kept for `maxCacheDurationInHours`; after a failed fetch, requests get 500 at once
//! for [`JwksOptions::failure_backoff`], then the provider is tried again, so a provider that
//! comes back is used without a reload. One fetch at a time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fetch::{fetch_document, http_client, FetchError, JwksOptions};

/// What a discovery document says about the provider, as far as the gateway uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// `issuer`.
    pub issuer: Option<String>,
    /// `introspection_endpoint`.
    pub introspection_endpoint: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `authorization_endpoint`: where a browser logs in.
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`: where the login's code is exchanged for tokens.
    pub token_endpoint: Option<String>,
    /// `end_session_endpoint` (RP-initiated logout): where a logout sends the browser.
    pub end_session_endpoint: Option<String>,
}

/// An identity provider's discovery document, fetched on first use and cached.
#[derive(Debug)]
pub struct Provider {
    uri: String,
    client: reqwest::Client,
    max_age: Duration,
    options: JwksOptions,
    state: Mutex<ProviderState>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct ProviderState {
    metadata: Option<(Arc<ProviderMetadata>, Instant)>,
    failure: Option<(FetchError, Instant)>,
}

impl Provider {
    /// The provider whose discovery document is at `uri`.
    pub fn new(
        uri: &str,
        max_age: Duration,
        verify_tls: bool,
        options: JwksOptions,
    ) -> Result<Self, String> {
        Ok(Self {
            uri: uri.to_owned(),
            client: http_client(&options, verify_tls)?,
            max_age,
            options,
            state: Mutex::new(ProviderState::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Where the discovery document is.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The HTTP client for this provider.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Largest answer accepted from this provider.
    pub(crate) fn max_document_bytes(&self) -> usize {
        self.options.max_document_bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProviderState> {
        // Every update replaces whole fields; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached document, or a fresh one; one fetch at a time.
    pub async fn metadata(&self) -> Result<Arc<ProviderMetadata>, FetchError> {
        if let Some(found) = self.cached()? {
            return Ok(found);
        }
        let _fetching = self.fetching.lock().await;
        if let Some(found) = self.cached()? {
            return Ok(found);
        }
        let request = self
            .client
            .get(&self.uri)
            .header(http::header::ACCEPT, "application/json");
        let result = fetch_document(request, &self.uri, self.options.max_document_bytes)
            .await
            .and_then(|body| self.parse(&body));
        let mut state = self.lock();
        match result {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                state.metadata = Some((metadata.clone(), Instant::now()));
                state.failure = None;
                Ok(metadata)
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot fetch the discovery document");
                state.failure = Some((error.clone(), Instant::now()));
                Err(error)
            }
        }
    }

    /// A fresh cached document, a recent failure to repeat, or `None`: fetch.
    fn cached(&self) -> Result<Option<Arc<ProviderMetadata>>, FetchError> {
        let state = self.lock();
        if let Some((metadata, at)) = &state.metadata {
            if at.elapsed() < self.max_age {
                return Ok(Some(metadata.clone()));
            }
        }
        match &state.failure {
            Some((error, at)) if at.elapsed() < self.options.failure_backoff => Err(error.clone()),
            _ => Ok(None),
        }
    }

    fn parse(&self, body: &[u8]) -> Result<ProviderMetadata, FetchError> {
        let fail = |reason: String| FetchError {
            uri: self.uri.clone(),
            reason,
            status: None,
        };
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| fail(format!("discovery document is not JSON: {e}")))?;
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let url = |name: &str| match text(name) {
            Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                Err(fail(format!("{name} is not an http(s) URL")))
            }
            other => Ok(other),
        };
        Ok(ProviderMetadata {
            issuer: text("issuer"),
            introspection_endpoint: url("introspection_endpoint")?,
            jwks_uri: url("jwks_uri")?,
            authorization_endpoint: url("authorization_endpoint")?,
            token_endpoint: url("token_endpoint")?,
            end_session_endpoint: url("end_session_endpoint")?,
        })
    }
}
