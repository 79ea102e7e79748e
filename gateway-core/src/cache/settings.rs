//! The `[response_cache]` section of `gateway.toml`: where responses are cached.
//!
//! ```toml
//! [response_cache]
//! url = "redis://127.0.0.1:6379"   # absent: in-memory, per replica
//! timeout_ms = 1000                # per Redis operation (OCI's default read timeout)
//! max_memory_bytes = 134217728     # in-memory budget (default 128 MiB)
//! ```
//!
//! OCI keeps the cache server on the gateway (`responseCacheDetails`, reference 4.9);
//! [`ResponseCacheConfig::from_oci`] reads that shape for configurations that carry it.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::memory::{MemoryCacheStore, DEFAULT_CAPACITY};
use super::redis::RedisCacheStore;
use super::store::ResponseCacheStore;
use crate::limit::redis_conn::{RedisConnection, RedisOpenError, RedisOptions};
use crate::spec::ExternalRespCache;

/// `[response_cache]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseCacheConfig {
    /// `redis://[:password@]host:port[/db]`; in-memory when absent.
    pub url: Option<String>,
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
    #[error("response_cache.url: {0}")]
    Url(#[from] RedisOpenError),
    #[error("responseCacheDetails: {0}")]
    Unsupported(&'static str),
}

impl ResponseCacheConfig {
    /// The section for OCI's `EXTERNAL_RESP_CACHE` details: its one server and its timeouts.
    /// The password lives in an OCI Vault secret the gateway cannot read; put it in the URL
    /// of `[response_cache]` instead.
    pub fn from_oci(details: &ExternalRespCache) -> Result<Self, CacheConfigError> {
        if details.is_ssl_enabled == Some(true) {
            return Err(CacheConfigError::Unsupported(
                "TLS to the cache server (isSslEnabled) is not supported",
            ));
        }
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
        Ok(Self {
            url: Some(format!("redis://{host}:{}", server.port)),
            timeout_ms: details.read_timeout_in_ms.map(u64::from),
            connect_timeout_ms: details.connect_timeout_in_ms.map(u64::from),
            ..Self::default()
        })
    }

    /// Checks the section without connecting anywhere.
    pub fn validate(&self) -> Result<(), CacheConfigError> {
        if let Some(url) = &self.url {
            redis::Client::open(url.as_str()).map_err(|e| RedisOpenError {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Builds the shared store. With Redis this prepares a lazy connection (the gateway starts
    /// while Redis is down) and must run inside a Tokio runtime.
    pub fn build(&self) -> Result<Arc<dyn ResponseCacheStore>, CacheConfigError> {
        let Some(url) = &self.url else {
            return Ok(Arc::new(MemoryCacheStore::new(
                self.max_memory_bytes.unwrap_or(DEFAULT_CAPACITY),
            )));
        };
        let ms = |v: Option<u64>| Duration::from_millis(v.unwrap_or(1000));
        let conn = RedisConnection::open(
            url,
            RedisOptions {
                op_timeout: ms(self.timeout_ms),
                connect_timeout: ms(self.connect_timeout_ms),
                ..RedisOptions::default()
            },
        )?;
        let store = RedisCacheStore::new(conn);
        Ok(Arc::new(match &self.key_prefix {
            Some(prefix) => store.with_prefix(prefix),
            None => store,
        }))
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
        assert_eq!(config.url.as_deref(), Some("redis://cache.internal:6380"));
        assert_eq!(config.connect_timeout_ms, Some(200));
        let tls = ExternalRespCache {
            is_ssl_enabled: Some(true),
            ..details
        };
        assert!(ResponseCacheConfig::from_oci(&tls).is_err());
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
    }
}
