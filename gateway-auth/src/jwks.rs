//! Keys fetched over HTTP(S): a `REMOTE_JWKS` URI, or the `jwks_uri` of an OpenID discovery
//! document (`REMOTE_DISCOVERY`).
//!
//! * Fetched on first use and kept for `maxCacheDurationInHours`.
//! * A token whose `kid` is unknown triggers a refetch (key rotation), at most once per
//!   [`JwksOptions::min_refresh_interval`], so a flood of forged `kid`s cannot turn the gateway
//!   into a load generator against the identity provider.
//! * One fetch at a time: concurrent requests that need keys wait for the same fetch.
//! * Keys that cannot be fetched make the request fail with 500, as OCI documents; after a
//!   failure, new attempts wait [`JwksOptions::failure_backoff`], and requests in between get
//!   500 at once.
//! * Documents are bounded ([`JwksOptions::max_document_bytes`]) and fetched with a timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;

use crate::discovery::Provider;
use crate::fetch::{fetch_document, http_client};
pub use crate::fetch::{FetchError, JwksOptions};
use crate::keys::{KeyError, KeySet, VerifyKey};

/// Where the JWKS comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// The JWKS itself.
    Jwks(String),
    /// The provider whose discovery document's `jwks_uri` names the JWKS.
    Discovery(Arc<Provider>),
}

/// A remote key set with its cache.
#[derive(Debug)]
pub struct RemoteKeys {
    source: KeySource,
    client: reqwest::Client,
    max_age: Duration,
    options: JwksOptions,
    state: Mutex<State>,
    /// Held while fetching, so that one fetch serves every request waiting for keys.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<FetchError>,
}

impl RemoteKeys {
    /// A key set fetched from `source`, cached for `max_age`. `verify_tls: false` is the spec's
    /// `isSslVerifyDisabled`.
    pub fn new(
        source: KeySource,
        max_age: Duration,
        verify_tls: bool,
        options: JwksOptions,
    ) -> Result<Self, String> {
        let client = http_client(&options, verify_tls)?;
        Ok(Self {
            source,
            client,
            max_age,
            options,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update replaces whole fields; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key for a token header. `Ok(None)`: no such key, even after a refetch allowed by
    /// the rate limit (the token is refused). `Err`: no keys could be had at all (500).
    pub async fn find(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<Arc<VerifyKey>>, FetchError> {
        let asked_at = Instant::now();
        let (keys, fresh) = {
            let state = self.lock();
            let fresh = state.fetched_at.is_some_and(|t| t.elapsed() < self.max_age);
            (state.keys.clone(), fresh)
        };
        match keys {
            Some(keys) if fresh => {
                if let Some(key) = keys.find(kid, alg) {
                    return Ok(Some(key));
                }
                // Perhaps the issuer rotated its keys: refetch, within the rate limit. A
                // failed refetch leaves the current keys in use, so the token is refused
                // (401) rather than the whole deployment failing.
                if !self.may_refresh_for_unknown_kid() {
                    return Ok(None);
                }
                match self.refresh(asked_at, true).await {
                    Ok(keys) => Ok(keys.find(kid, alg)),
                    Err(_) => Ok(None),
                }
            }
            _ => {
                let keys = self.refresh(asked_at, false).await?;
                Ok(keys.find(kid, alg))
            }
        }
    }

    fn may_refresh_for_unknown_kid(&self) -> bool {
        self.lock()
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.options.min_refresh_interval)
    }

    /// Fetches the keys unless another request did since `asked_at`; `rotation` marks a refetch
    /// for an unknown `kid`, which the rate limit may refuse once the lock is held.
    async fn refresh(&self, asked_at: Instant, rotation: bool) -> Result<Arc<KeySet>, FetchError> {
        let _fetching = self.fetching.lock().await;
        {
            let state = self.lock();
            if let (Some(keys), Some(at)) = (&state.keys, state.fetched_at) {
                if at >= asked_at {
                    return Ok(keys.clone());
                }
            }
            if let Some(last) = state.last_attempt {
                let since = last.elapsed();
                if rotation && since < self.options.min_refresh_interval {
                    return state.keys.clone().ok_or_else(|| self.error("rate limited"));
                }
                if since < self.options.failure_backoff {
                    if let Some(error) = &state.last_error {
                        return Err(error.clone());
                    }
                }
            }
        }
        let result = self.fetch().await;
        let mut state = self.lock();
        state.last_attempt = Some(Instant::now());
        match result {
            Ok(keys) => {
                let keys = Arc::new(keys);
                state.keys = Some(keys.clone());
                state.fetched_at = Some(Instant::now());
                state.last_error = None;
                Ok(keys)
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot fetch the JWKS");
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    fn error(&self, reason: impl Into<String>) -> FetchError {
        let uri = match &self.source {
            KeySource::Jwks(uri) => uri.clone(),
            KeySource::Discovery(provider) => provider.uri().to_owned(),
        };
        FetchError {
            uri,
            reason: reason.into(),
            status: None,
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let jwks_uri = match &self.source {
            KeySource::Jwks(uri) => uri.clone(),
            KeySource::Discovery(provider) => provider
                .metadata()
                .await?
                .jwks_uri
                .clone()
                .ok_or_else(|| self.error("discovery document has no http(s) jwks_uri"))?,
        };
        let document = self.get(&jwks_uri).await?;
        let (keys, skipped) = KeySet::from_jwks(&document).map_err(|reason| FetchError {
            uri: jwks_uri.clone(),
            reason,
            status: None,
        })?;
        for e in skipped {
            match e {
                // Keys the issuer may sign with are not read: worth the operator's attention.
                KeyError::BeyondLimit(_) => {
                    tracing::warn!(uri = jwks_uri.as_str(), reason = %e, "JWKS truncated");
                }
                _ => tracing::debug!(uri = jwks_uri.as_str(), reason = %e, "JWKS entry skipped"),
            }
        }
        if keys.is_empty() {
            tracing::warn!(
                uri = jwks_uri.as_str(),
                "the JWKS has no usable signature key"
            );
        }
        Ok(keys)
    }

    /// GET `uri`, 2xx only, body bounded.
    async fn get(&self, uri: &str) -> Result<Vec<u8>, FetchError> {
        let request = self
            .client
            .get(uri)
            .header(http::header::ACCEPT, "application/json");
        fetch_document(request, uri, self.options.max_document_bytes).await
    }
}
