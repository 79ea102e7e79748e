//! The in-memory response cache: bounded by total size, least recently used out first.
//!
//! One mutex guards the map and its recency order; it is held only for a hash lookup and a
//! `BTreeMap` update, never across an await, and hits share the entry (`Arc`) instead of copying
//! it under the lock. One lock rather than shards because an entry may be as large as 50 MB and
//! a shard's share of the budget would be smaller than that.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::entry::CachedResponse;
use super::key::CacheKey;
use super::store::ResponseCacheStore;
use crate::limit::clock::{Clock, SystemClock};
use crate::store::{StoreCall, StoreError};

/// Default total budget: 128 MiB.
pub(crate) const DEFAULT_CAPACITY: usize = 128 << 20;

/// Responses in this process.
#[derive(Debug)]
pub struct MemoryCacheStore {
    lru: Mutex<Lru>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct Lru {
    map: HashMap<CacheKey, Slot>,
    /// Last use → key; the first entry is the least recently used.
    order: BTreeMap<u64, CacheKey>,
    tick: u64,
    bytes: usize,
}

#[derive(Debug)]
struct Slot {
    entry: Arc<CachedResponse>,
    /// Monotonic microseconds.
    expires_at: u64,
    last_use: u64,
    size: usize,
}

impl Lru {
    fn remove(&mut self, key: &CacheKey) {
        if let Some(slot) = self.map.remove(key) {
            self.order.remove(&slot.last_use);
            self.bytes -= slot.size;
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

impl Default for MemoryCacheStore {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl MemoryCacheStore {
    /// A cache holding at most `capacity` bytes of responses.
    pub fn new(capacity: usize) -> Self {
        Self::with_clock(capacity, Arc::new(SystemClock::new()))
    }

    /// A cache holding at most `capacity` bytes of responses, reading expiry times from `clock`
    /// (tests step it instead of sleeping).
    pub fn with_clock(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            lru: Mutex::default(),
            capacity,
            clock,
        }
    }

    /// The budget in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Entries held now (expired ones not yet evicted included).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no entry is held (expired ones not yet evicted count as held).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // The state stays consistent between statements, so a panic elsewhere cannot leave it
        // half-updated in a way that matters.
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lookup(&self, key: &CacheKey) -> Option<Arc<CachedResponse>> {
        let now = self.clock.monotonic_micros();
        let mut guard = self.lock();
        let lru = &mut *guard;
        if lru.map.get(key)?.expires_at <= now {
            lru.remove(key);
            return None;
        }
        let tick = lru.next_tick();
        let slot = lru.map.get_mut(key)?;
        lru.order.remove(&slot.last_use);
        slot.last_use = tick;
        lru.order.insert(tick, *key);
        Some(slot.entry.clone())
    }

    fn insert(&self, key: &CacheKey, entry: Arc<CachedResponse>, ttl: Duration) {
        let size = entry.size();
        let now = self.clock.monotonic_micros();
        let expires_at = now.saturating_add(u64::try_from(ttl.as_micros()).unwrap_or(u64::MAX));
        let mut lru = self.lock();
        lru.remove(key);
        if size > self.capacity {
            return;
        }
        while lru.bytes + size > self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some(slot) = lru.map.remove(&oldest) {
                lru.bytes -= slot.size;
            }
        }
        let tick = lru.next_tick();
        lru.order.insert(tick, *key);
        lru.bytes += size;
        lru.map.insert(
            *key,
            Slot {
                entry,
                expires_at,
                last_use: tick,
                size,
            },
        );
    }
}

impl ResponseCacheStore for MemoryCacheStore {
    fn get(&self, key: &CacheKey) -> StoreCall<Result<Option<Arc<CachedResponse>>, StoreError>> {
        StoreCall::ready(Ok(self.lookup(key)))
    }

    fn put(
        &self,
        key: &CacheKey,
        entry: Arc<CachedResponse>,
        ttl: Duration,
    ) -> StoreCall<Result<(), StoreError>> {
        self.insert(key, entry, ttl);
        StoreCall::ready(Ok(()))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, Method, StatusCode};

    use super::*;
    use crate::limit::clock::ManualClock;

    fn entry(len: usize) -> Arc<CachedResponse> {
        Arc::new(CachedResponse::new(
            StatusCode::OK,
            &HeaderMap::new(),
            Bytes::from(vec![b'x'; len]),
        ))
    }

    fn key(path: &str) -> CacheKey {
        CacheKey::compute("d", &Method::GET, path, [])
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let clock = Arc::new(ManualClock::at(Duration::from_secs(100)));
        let cache = MemoryCacheStore::with_clock(1 << 20, clock.clone());
        cache.insert(&key("/a"), entry(10), Duration::from_secs(5));
        assert!(cache.lookup(&key("/a")).is_some());
        clock.advance(Duration::from_secs(5));
        assert!(cache.lookup(&key("/a")).is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let one = entry(1000).size();
        let cache = MemoryCacheStore::new(one * 3);
        let ttl = Duration::from_secs(60);
        cache.insert(&key("/a"), entry(1000), ttl);
        cache.insert(&key("/b"), entry(1000), ttl);
        cache.insert(&key("/c"), entry(1000), ttl);
        assert!(cache.lookup(&key("/a")).is_some()); // /b is now the oldest
        cache.insert(&key("/d"), entry(1000), ttl);
        assert!(cache.lookup(&key("/b")).is_none());
        for k in ["/a", "/c", "/d"] {
            assert!(cache.lookup(&key(k)).is_some(), "{k}");
        }
        assert!(cache.bytes() <= cache.capacity());
        // Bigger than the whole budget: not stored, nothing evicted.
        cache.insert(&key("/huge"), entry(one * 4), ttl);
        assert!(cache.lookup(&key("/huge")).is_none());
        assert_eq!(cache.len(), 3);
        // Replacing an entry does not count it twice.
        cache.insert(&key("/a"), entry(1000), ttl);
        assert_eq!(cache.bytes(), one * 3);
    }
}
