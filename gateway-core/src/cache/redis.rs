//! The Redis response cache, shared by replicas: one value per response (status, headers and
//! body, see [`super::entry`]), written with `SET … PX <ttl>`, read with `GET`. Keys are
//! `<prefix>rc:<sha-256 hex>`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::entry::CachedResponse;
use super::key::CacheKey;
use super::store::ResponseCacheStore;
use crate::limit::redis::DEFAULT_PREFIX;
use crate::redis::RedisConnection;
use crate::store::{StoreCall, StoreError};

/// Responses in Redis.
#[derive(Debug, Clone)]
pub struct RedisCacheStore {
    conn: RedisConnection,
    prefix: Box<str>,
}

impl RedisCacheStore {
    /// A store on `conn`, with the default key prefix `gw:`.
    pub fn new(conn: RedisConnection) -> Self {
        Self {
            conn,
            prefix: DEFAULT_PREFIX.into(),
        }
    }

    /// Uses `prefix` before every key.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The connection, for its failure counter.
    pub fn connection(&self) -> &RedisConnection {
        &self.conn
    }

    fn key(&self, key: &CacheKey) -> String {
        format!("{}rc:{key}", self.prefix)
    }
}

impl ResponseCacheStore for RedisCacheStore {
    fn get(&self, key: &CacheKey) -> StoreCall<Result<Option<Arc<CachedResponse>>, StoreError>> {
        let key = self.key(key);
        let call = self.conn.run("cache lookup", move |mut conn| async move {
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        });
        StoreCall::Pending(Box::pin(async move {
            let Some(value) = call.await? else {
                return Ok(None);
            };
            match CachedResponse::decode(Bytes::from(value)) {
                Ok(entry) => Ok(Some(Arc::new(entry))),
                // Not ours or corrupt: a miss; the next store overwrites it.
                Err(e) => {
                    tracing::warn!(code = "responseCache.invalidEntry", error = %e, "ignoring a cache entry");
                    Ok(None)
                }
            }
        }))
    }

    fn put(
        &self,
        key: &CacheKey,
        entry: Arc<CachedResponse>,
        ttl: Duration,
    ) -> StoreCall<Result<(), StoreError>> {
        let key = self.key(key);
        let conn = self.conn.clone();
        StoreCall::Pending(Box::pin(async move {
            // Encoded here, off the response path's poll, once the body is complete.
            conn.set_with_ttl("cache store", key, entry.encode(), ttl)
                .await
        }))
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
