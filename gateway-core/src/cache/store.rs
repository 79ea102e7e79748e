//! Where cached responses live.
//!
//! The trait shares [`StoreCall`] and [`StoreError`] with the limit stores: the in-memory store
//! answers synchronously (nothing boxed), the Redis one with one round trip.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::entry::CachedResponse;
use super::key::CacheKey;
use crate::store::{StoreCall, StoreError};

/// A response cache. Built once and shared (`Arc`) by every route that caches; implementations
/// never hold a lock across an await.
pub trait ResponseCacheStore: Send + Sync + fmt::Debug + 'static {
    /// The entry under `key`, if any and not expired.
    fn get(&self, key: &CacheKey) -> StoreCall<Result<Option<Arc<CachedResponse>>, StoreError>>;

    /// Stores `entry` under `key` for `ttl`, replacing any previous one.
    fn put(
        &self,
        key: &CacheKey,
        entry: Arc<CachedResponse>,
        ttl: Duration,
    ) -> StoreCall<Result<(), StoreError>>;

    /// A short name for logs and metrics (`memory`, `redis`).
    fn kind(&self) -> &'static str;
}
