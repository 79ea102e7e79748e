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
use serde_json::Value;

use crate::keys::{KeySet, VerifyKey};

/// Tuning for remote key sets; the defaults suit production.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// Timeout of one HTTP fetch, connection included.
    pub fetch_timeout: Duration,
    /// Least time between two refetches triggered by unknown `kid`s.
    pub min_refresh_interval: Duration,
    /// Least time between a failed fetch and the next attempt.
    pub failure_backoff: Duration,
    /// Largest JWKS or discovery document accepted.
    pub max_document_bytes: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(10),
            min_refresh_interval: Duration::from_secs(30),
            failure_backoff: Duration::from_secs(5),
            max_document_bytes: 1024 * 1024,
        }
    }
}

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The JWKS itself.
    Jwks(String),
    /// An OpenID discovery document whose `jwks_uri` names the JWKS.
    Discovery(String),
}

/// Why keys could not be had: the request gets 500.
#[derive(Debug, Clone, thiserror::Error)]
#[error("keys unavailable from {uri}: {reason}")]
pub struct FetchError {
    pub uri: String,
    pub reason: String,
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
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(options.fetch_timeout)
            .connect_timeout(options.fetch_timeout)
            .tls_danger_accept_invalid_certs(!verify_tls)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
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
            KeySource::Jwks(u) | KeySource::Discovery(u) => u.clone(),
        };
        FetchError {
            uri,
            reason: reason.into(),
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let jwks_uri = match &self.source {
            KeySource::Jwks(uri) => uri.clone(),
            KeySource::Discovery(uri) => {
                let document = self.get(uri).await?;
                let value: Value = serde_json::from_slice(&document)
                    .map_err(|e| self.error(format!("discovery document is not JSON: {e}")))?;
                match value.get("jwks_uri").and_then(Value::as_str) {
                    Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                        u.to_owned()
                    }
                    _ => return Err(self.error("discovery document has no http(s) jwks_uri")),
                }
            }
        };
        let document = self.get(&jwks_uri).await?;
        let (keys, skipped) = KeySet::from_jwks(&document).map_err(|reason| FetchError {
            uri: jwks_uri.clone(),
            reason,
        })?;
        for e in skipped {
            tracing::debug!(uri = jwks_uri.as_str(), reason = %e, "JWKS entry skipped");
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
        let fail = |reason: String| FetchError {
            uri: uri.to_owned(),
            reason,
        };
        let mut response = self
            .client
            .get(uri)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {e}")))?;
        if !response.status().is_success() {
            return Err(fail(format!("answered {}", response.status())));
        }
        let limit = self.options.max_document_bytes;
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
}
