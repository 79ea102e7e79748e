//! The response cache (`responseCacheLookup` + `responseCacheStore`, reference 4.9).
//!
//! * `layer` — [`ResponseCachePolicy`] (one per route, compiled once) and
//!   [`ResponseCacheLayer`]: eligibility, HIT / MISS / BYPASS, storing while streaming;
//! * `key` — SHA-256 cache keys;
//! * `entry` — a stored response and its byte encoding;
//! * `store` — the [`ResponseCacheStore`] trait; `memory` (bounded, LRU) and `redis`
//!   (shared by replicas; with the `redis` feature) implement it;
//! * `settings` — the `[response_cache]` section of `gateway.toml`.

pub(crate) mod entry;
pub(crate) mod key;
pub(crate) mod layer;
pub(crate) mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod settings;
pub(crate) mod store;
mod tee;

#[cfg(test)]
mod tests;

pub use entry::{CachedResponse, X_CACHE_STATUS};
pub use key::CacheKey;
pub use layer::{
    CacheCounters, CredentialLocations, ResponseCache, ResponseCacheLayer, ResponseCachePolicy,
    MAX_ENTRY_BYTES,
};
pub use memory::MemoryCacheStore;
#[cfg(feature = "redis")]
pub use redis::RedisCacheStore;
pub use settings::{CacheConfigError, ResponseCacheConfig};
pub use store::ResponseCacheStore;
