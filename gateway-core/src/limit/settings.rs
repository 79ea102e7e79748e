//! What the limit layers need from the gateway's own configuration, and that configuration's
//! `gateway.toml` shape.
//!
//! ```toml
//! [rate_limit]
//! store = "redis"                      # or "memory" (the default)
//! url = "redis://127.0.0.1:6379"       # required with store = "redis"; a list with
//! # cluster = true                     # (the URLs are cluster seeds) or
//! # sentinel = "mymaster"              # (the URLs are sentinels)
//! # ca_file = "redis-ca.pem"           # CA for rediss:// (default: the system's roots)
//! on_unavailable = "open"              # or "closed": 503 while Redis is unreachable
//! trusted_proxies = ["10.0.0.0/8"]     # believe X-Forwarded-For from these peers
//! timeout_ms = 250                     # per Redis operation (default 250)
//! ```
//!
//! One [`LimitSettings`] serves every deployment's rate limit and usage plans: the store is
//! built once and shared.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::client_ip::{CidrError, TrustedProxies};
use super::clock::{Clock, SystemClock};
use super::memory::{MemoryLimitStore, DEFAULT_MAX_KEYS};
use super::store::RateLimitStore;
use crate::redis::{section_target, RedisTarget};
use crate::store::{RedisOpenError, RedisUrls};

/// What to do with a request when the shared store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Let it through (the default): an outage of the limiter is not an outage of the API.
    #[default]
    Open,
    /// Refuse it with 503: for limits that protect something fragile or bill someone.
    Closed,
}

/// The runtime pieces every limit layer shares.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Where buckets and quota counters live.
    pub store: Arc<dyn RateLimitStore>,
    /// Peers whose `X-Forwarded-For` names the client, for `rateKey: CLIENT_IP`.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// What happens to requests while the store cannot be reached.
    pub on_unavailable: OnUnavailable,
    /// Wall clock for calendar quota windows.
    pub clock: Arc<dyn Clock>,
}

impl Default for LimitSettings {
    /// In-memory store, no trusted proxies, fail open, system clock.
    fn default() -> Self {
        Self::with_store(Arc::new(MemoryLimitStore::new()))
    }
}

impl LimitSettings {
    /// `store` with the other defaults.
    pub fn with_store(store: Arc<dyn RateLimitStore>) -> Self {
        Self {
            store,
            trusted_proxies: Arc::new(TrustedProxies::none()),
            on_unavailable: OnUnavailable::Open,
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// Which store `[rate_limit]` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Each replica counts on its own, in memory (the default).
    #[default]
    Memory,
    /// Replicas share the counts in Redis at `url`.
    Redis,
}

/// `[rate_limit]` in `gateway.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Where limits are counted; `memory` when absent.
    #[serde(default)]
    pub store: StoreKind,
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`); several with `cluster` or
    /// `sentinel`.
    pub url: Option<RedisUrls>,
    /// The URLs are seeds of a Redis Cluster.
    #[serde(default)]
    pub cluster: bool,
    /// The URLs are sentinels watching the primary of this service.
    pub sentinel: Option<String>,
    /// PEM CA certificates trusted for `rediss://`.
    pub ca_file: Option<PathBuf>,
    /// What happens to requests while Redis cannot be reached; `open` when absent.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
    /// CIDR blocks (or single addresses) of proxies whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Deadline of one Redis operation, milliseconds; default 250.
    pub timeout_ms: Option<u64>,
    /// Prefix of the Redis keys; default `gw:`.
    pub key_prefix: Option<String>,
    /// Bound on in-memory keys; default 262144.
    pub max_keys: Option<usize>,
}

/// A `[rate_limit]` section that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum LimitConfigError {
    /// `store = "redis"` without a `url`.
    #[error("rate_limit.store = \"redis\" needs rate_limit.url")]
    MissingUrl,
    /// `url`, `cluster`, `sentinel` or `ca_file` is set while the store is in memory.
    #[error("rate_limit.url, cluster, sentinel and ca_file are only used with store = \"redis\"")]
    UrlWithoutRedis,
    /// A `trusted_proxies` entry is not an address or a CIDR block.
    #[error("rate_limit.trusted_proxies: {0}")]
    TrustedProxy(#[from] CidrError),
    /// The Redis settings cannot be used: a bad URL, `cluster` and `sentinel` together, an
    /// unreadable `ca_file`, or (from [`RateLimitConfig::build`]) no Tokio runtime; or a
    /// gateway built without the `redis` feature.
    #[error("rate_limit.url: {0}")]
    Url(#[from] RedisOpenError),
}

impl RateLimitConfig {
    /// Checks the section without connecting anywhere (for `gateway validate`).
    pub fn validate(&self) -> Result<(), LimitConfigError> {
        self.target()?;
        TrustedProxies::parse(&self.trusted_proxies)?;
        Ok(())
    }

    /// The Redis deployment, when the store is Redis.
    fn target(&self) -> Result<Option<RedisTarget>, LimitConfigError> {
        let redis_keys =
            self.url.is_some() || self.cluster || self.sentinel.is_some() || self.ca_file.is_some();
        match (self.store, &self.url) {
            (StoreKind::Redis, None) => Err(LimitConfigError::MissingUrl),
            (StoreKind::Memory, _) if redis_keys => Err(LimitConfigError::UrlWithoutRedis),
            (StoreKind::Redis, Some(urls)) => Ok(Some(section_target(
                urls,
                self.cluster,
                self.sentinel.as_deref(),
                self.ca_file.as_deref(),
            )?)),
            (StoreKind::Memory, _) => Ok(None),
        }
    }

    /// Builds the shared settings. With Redis this prepares a lazy connection (the gateway
    /// starts while Redis is down) and must run inside a Tokio runtime.
    pub fn build(&self) -> Result<LimitSettings, LimitConfigError> {
        // Checked in validate's order, and each once (the CA file is read here only).
        let target = self.target()?;
        let trusted_proxies = Arc::new(TrustedProxies::parse(&self.trusted_proxies)?);
        let store: Arc<dyn RateLimitStore> = match target {
            Some(target) => self.redis_store(target)?,
            None => Arc::new(MemoryLimitStore::with_clock(
                Arc::new(SystemClock::new()),
                self.max_keys.unwrap_or(DEFAULT_MAX_KEYS),
            )),
        };
        Ok(LimitSettings {
            store,
            trusted_proxies,
            on_unavailable: self.on_unavailable,
            clock: Arc::new(SystemClock::new()),
        })
    }
}

#[cfg(feature = "redis")]
impl RateLimitConfig {
    /// The shared store at `target`.
    fn redis_store(
        &self,
        target: RedisTarget,
    ) -> Result<Arc<dyn RateLimitStore>, LimitConfigError> {
        use crate::redis::{RedisConnection, RedisOptions};
        use std::time::Duration;

        /// Default Redis deadline for limits: short, because every request waits for it.
        const DEFAULT_LIMIT_TIMEOUT: Duration = Duration::from_millis(250);

        let timeout = self
            .timeout_ms
            .map_or(DEFAULT_LIMIT_TIMEOUT, Duration::from_millis);
        let conn = RedisConnection::open_target(&target, RedisOptions::with_timeout(timeout))?;
        let store = super::redis::RedisLimitStore::new(conn);
        Ok(Arc::new(match &self.key_prefix {
            Some(prefix) => store.with_prefix(prefix),
            None => store,
        }))
    }
}

/// Without the `redis` feature there is no target: `target` refuses every Redis store.
#[cfg(not(feature = "redis"))]
impl RateLimitConfig {
    fn redis_store(
        &self,
        target: RedisTarget,
    ) -> Result<Arc<dyn RateLimitStore>, LimitConfigError> {
        match target {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_checked() {
        let memory = RateLimitConfig::default();
        assert!(memory.validate().is_ok());
        let redis = RateLimitConfig {
            store: StoreKind::Redis,
            ..RateLimitConfig::default()
        };
        assert!(matches!(
            redis.validate(),
            Err(LimitConfigError::MissingUrl)
        ));
        let stray = RateLimitConfig {
            url: Some("redis://127.0.0.1:6379".into()),
            ..RateLimitConfig::default()
        };
        assert!(matches!(
            stray.validate(),
            Err(LimitConfigError::UrlWithoutRedis)
        ));
        let stray = RateLimitConfig {
            cluster: true,
            ..RateLimitConfig::default()
        };
        assert!(matches!(
            stray.validate(),
            Err(LimitConfigError::UrlWithoutRedis)
        ));
        let proxies = RateLimitConfig {
            trusted_proxies: vec!["10.0.0.0/40".into()],
            ..RateLimitConfig::default()
        };
        assert!(matches!(
            proxies.validate(),
            Err(LimitConfigError::TrustedProxy(_))
        ));
    }

    #[test]
    fn memory_settings_build_without_a_runtime() {
        let settings = RateLimitConfig::default().build().expect("builds");
        assert_eq!(settings.store.kind(), "memory");
        assert_eq!(settings.on_unavailable, OnUnavailable::Open);
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn a_redis_store_is_refused_without_the_redis_feature() {
        let redis = RateLimitConfig {
            store: StoreKind::Redis,
            url: Some("redis://:secret@127.0.0.1:6379".into()),
            ..RateLimitConfig::default()
        };
        let refused = |err: LimitConfigError| {
            assert_eq!(
                err.to_string(),
                "rate_limit.url: cannot use Redis at the configured URL: this gateway was built without the `redis` feature"
            );
        };
        refused(redis.validate().expect_err("validate"));
        refused(redis.build().expect_err("no memory store in its place"));
    }
}
