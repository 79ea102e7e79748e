//! The `[response_cache]` section of `gateway.toml`: where responses are cached.
//!
//! ```toml
//! [response_cache]
//! url = "redis://127.0.0.1:6379"   # absent: in-memory, per replica; a list with
//! # cluster = true                 # (the URLs are cluster seeds) or
//! # sentinel = "mymaster"          # (the URLs are sentinels)
//! # ca_file = "redis-ca.pem"       # CA for rediss:// (default: the system's roots)
//! timeout_ms = 1000                # per Redis operation (OCI's default read timeout)
//! max_memory_bytes = 134217728     # in-memory budget (default 128 MiB)
//! ```
//!
//! OCI keeps the cache server on the gateway (`responseCacheDetails`, reference 4.9);
//! [`ResponseCacheConfig::from_oci`] reads that shape for configurations that carry it.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::memory::{MemoryCacheStore, DEFAULT_CAPACITY};
use super::store::ResponseCacheStore;
use crate::redis::{section_target, RedisTarget};
use crate::spec::ExternalRespCache;
use crate::store::{RedisOpenError, RedisUrls};

/// `[response_cache]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseCacheConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`); several with `cluster` or
    /// `sentinel`; in-memory when absent.
    pub url: Option<RedisUrls>,
    /// The URLs are seeds of a Redis Cluster.
    #[serde(default)]
    pub cluster: bool,
    /// The URLs are sentinels watching the primary of this service.
    pub sentinel: Option<String>,
    /// PEM CA certificates trusted for `rediss://`.
    pub ca_file: Option<PathBuf>,
    /// Deadline of one Redis operation, milliseconds; default 1000.
    pub timeout_ms: Option<u64>,
    /// Deadline for connecting, milliseconds; default 1000.
    pub connect_timeout_ms: Option<u64>,
    /// In-memory budget in bytes; default 128 MiB.
    pub max_memory_bytes: Option<usize>,
    /// Prefix of the Redis keys; default `gw:`.
    pub key_prefix: Option<String>,
}

/// A `[response_cache]` section or `responseCacheDetails` that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum CacheConfigError {
    /// The Redis settings cannot be used: a bad URL, `cluster` and `sentinel` together, an
    /// unreadable `ca_file`, or (from [`ResponseCacheConfig::build`]) no Tokio runtime; or a
    /// gateway built without the `redis` feature.
    #[error("response_cache.url: {0}")]
    Url(#[from] RedisOpenError),
    /// OCI's `responseCacheDetails` asks for something this gateway cannot do: it lists no
    /// server, or more than one.
    #[error("responseCacheDetails: {0}")]
    Unsupported(&'static str),
    /// `cluster`, `sentinel` or `ca_file` is set without a `url`.
    #[error("cluster, sentinel and ca_file need a url")]
    RedisKeysWithoutUrl,
}

impl ResponseCacheConfig {
    /// The section for OCI's `EXTERNAL_RESP_CACHE` details: its one server, TLS
    /// (`isSslEnabled`, `isSslVerifyDisabled`) and timeouts. The password lives in an OCI Vault
    /// secret the gateway cannot read; put it in the URL of `[response_cache]` instead.
    pub fn from_oci(details: &ExternalRespCache) -> Result<Self, CacheConfigError> {
        let [server] = details.servers.as_slice() else {
            return Err(CacheConfigError::Unsupported(
                "exactly one server is needed",
            ));
        };
        let host = if server.host.contains(':') {
            format!("[{}]", server.host)
        } else {
            server.host.clone()
        };
        let url = match (details.is_ssl_enabled, details.is_ssl_verify_disabled) {
            (Some(true), Some(true)) => format!("rediss://{host}:{}/#insecure", server.port),
            (Some(true), _) => format!("rediss://{host}:{}", server.port),
            _ => format!("redis://{host}:{}", server.port),
        };
        Ok(Self {
            url: Some(RedisUrls::One(url)),
            timeout_ms: details.read_timeout_in_ms.map(u64::from),
            connect_timeout_ms: details.connect_timeout_in_ms.map(u64::from),
            ..Self::default()
        })
    }

    /// Checks the section without connecting anywhere.
    pub fn validate(&self) -> Result<(), CacheConfigError> {
        self.target().map(drop)
    }

    /// The Redis deployment, when there is one.
    fn target(&self) -> Result<Option<RedisTarget>, CacheConfigError> {
        let Some(urls) = &self.url else {
            if self.cluster || self.sentinel.is_some() || self.ca_file.is_some() {
                return Err(CacheConfigError::RedisKeysWithoutUrl);
            }
            return Ok(None);
        };
        Ok(Some(section_target(
            urls,
            self.cluster,
            self.sentinel.as_deref(),
            self.ca_file.as_deref(),
        )?))
    }

    /// Builds the shared store. With Redis this prepares a lazy connection (the gateway starts
    /// while Redis is down) and must run inside a Tokio runtime.
    pub fn build(&self) -> Result<Arc<dyn ResponseCacheStore>, CacheConfigError> {
        let Some(target) = self.target()? else {
            return Ok(Arc::new(MemoryCacheStore::new(
                self.max_memory_bytes.unwrap_or(DEFAULT_CAPACITY),
            )));
        };
        self.redis_store(target)
    }
}

#[cfg(feature = "redis")]
impl ResponseCacheConfig {
    /// The shared store at `target`.
    fn redis_store(
        &self,
        target: RedisTarget,
    ) -> Result<Arc<dyn ResponseCacheStore>, CacheConfigError> {
        use crate::redis::{RedisConnection, RedisOptions};
        use std::time::Duration;

        let ms = |v: Option<u64>| Duration::from_millis(v.unwrap_or(1000));
        let conn = RedisConnection::open_target(
            &target,
            RedisOptions {
                op_timeout: ms(self.timeout_ms),
                connect_timeout: ms(self.connect_timeout_ms),
                ..RedisOptions::default()
            },
        )?;
        let store = super::redis::RedisCacheStore::new(conn);
        Ok(Arc::new(match &self.key_prefix {
            Some(prefix) => store.with_prefix(prefix),
            None => store,
        }))
    }
}

/// Without the `redis` feature there is no target: `target` refuses every Redis cache.
#[cfg(not(feature = "redis"))]
impl ResponseCacheConfig {
    fn redis_store(
        &self,
        target: RedisTarget,
    ) -> Result<Arc<dyn ResponseCacheStore>, CacheConfigError> {
        match target {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RespServer;

    #[test]
    fn oci_details_become_a_url() {
        let details = ExternalRespCache {
            servers: vec![RespServer {
                host: "cache.internal".into(),
                port: 6380,
            }],
            authentication_secret_id: "ocid1.vaultsecret..x".into(),
            authentication_secret_version_number: 1,
            is_ssl_enabled: None,
            is_ssl_verify_disabled: None,
            connect_timeout_in_ms: Some(200),
            read_timeout_in_ms: None,
            send_timeout_in_ms: None,
        };
        let config = ResponseCacheConfig::from_oci(&details).expect("supported");
        assert_eq!(
            config.url,
            Some(RedisUrls::One("redis://cache.internal:6380".into()))
        );
        assert_eq!(config.connect_timeout_ms, Some(200));
        let tls = ExternalRespCache {
            is_ssl_enabled: Some(true),
            ..details
        };
        let config = ResponseCacheConfig::from_oci(&tls).expect("TLS");
        assert_eq!(
            config.url,
            Some(RedisUrls::One("rediss://cache.internal:6380".into()))
        );
        #[cfg(feature = "redis")]
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let bad = serde_json::from_value::<ResponseCacheConfig>(serde_json::json!({ "ttl": 5 }));
        assert!(bad.is_err());
        let memory = ResponseCacheConfig::default().build().expect("memory");
        assert_eq!(memory.kind(), "memory");
        let bad_url = ResponseCacheConfig {
            url: Some("nope://".into()),
            ..ResponseCacheConfig::default()
        };
        assert!(bad_url.validate().is_err());
        let cluster_without_url = ResponseCacheConfig {
            cluster: true,
            ..ResponseCacheConfig::default()
        };
        assert!(matches!(
            cluster_without_url.validate(),
            Err(CacheConfigError::RedisKeysWithoutUrl)
        ));
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn a_redis_cache_is_refused_without_the_redis_feature() {
        let redis = ResponseCacheConfig {
            url: Some("redis://127.0.0.1:6379".into()),
            ..ResponseCacheConfig::default()
        };
        let message = "response_cache.url: cannot use Redis at the configured URL: this gateway was built without the `redis` feature";
        let err = redis.validate().expect_err("validate");
        assert_eq!(err.to_string(), message);
        let Err(err) = redis.build() else {
            panic!("a memory store in place of Redis");
        };
        assert_eq!(err.to_string(), message);
    }
}
