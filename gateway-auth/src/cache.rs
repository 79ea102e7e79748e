//! The authorizer result cache (reference 5.3): bounded, with expiry, and single-flight.
//!
//! * **Keys** are SHA-256 digests of the full credential text (the caller builds it with a
//!   domain prefix), so an entry costs 32 bytes of key however large the token, and two
//!   different credentials can only share an entry by breaking SHA-256.
//! * **Single flight**: concurrent misses for one key run the authorizer once; the others wait
//!   for that result, whether it is cacheable or not (a failure is shared with the requests
//!   already waiting for it, never stored). If the leading request is dropped, a waiter takes
//!   over.
//! * **Bounded**: beyond `capacity` ready entries, expired ones go first, then the ones
//!   closest to expiry, a tenth of the capacity at a time so eviction is amortised.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::digest::{digest, SHA256};
use tokio::sync::watch;
// tokio's clock, so that tests can pause and advance time through hour-long TTLs.
use tokio::time::Instant;

/// A cache key: the SHA-256 of the credential text.
pub(crate) type CacheKey = [u8; 32];

/// The key for `text`.
pub(crate) fn cache_key(text: &[u8]) -> CacheKey {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, text).as_ref());
    key
}

/// How long a computed value may be reused; `None` means not at all.
pub(crate) type Ttl = Option<Duration>;

/// A bounded, expiring, single-flight map from credential digests to results.
#[derive(Debug)]
pub(crate) struct ResultCache<V> {
    capacity: usize,
    state: Mutex<State<V>>,
}

#[derive(Debug)]
struct State<V> {
    slots: HashMap<CacheKey, Slot<V>>,
    /// Ready slots only; pending ones are bounded by the requests in flight.
    ready: usize,
    next_flight: u64,
}

#[derive(Debug)]
enum Slot<V> {
    Ready {
        value: V,
        expires: Instant,
    },
    Pending {
        flight: u64,
        done: watch::Receiver<Option<V>>,
    },
}

/// What a caller does after looking at the slot.
enum Step<V> {
    Hit(V),
    Wait(watch::Receiver<Option<V>>),
    Lead(u64, watch::Sender<Option<V>>),
}

impl<V: Clone> ResultCache<V> {
    /// A cache holding at most `capacity` ready entries (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                slots: HashMap::new(),
                ready: 0,
                next_flight: 0,
            }),
        }
    }

    /// Ready entries currently held (expired ones included until evicted).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().ready
    }

    /// Whether no ready entries are held (values being computed do not count).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the ready value for `key`, if any, so that the next lookup computes it again.
    pub(crate) fn remove(&self, key: &CacheKey) {
        let mut state = self.lock();
        if matches!(state.slots.get(key), Some(Slot::Ready { .. })) {
            state.slots.remove(key);
            state.ready -= 1;
        }
    }

    /// The cached value for `key`, or the value `compute` produces, computed at most once at
    /// a time per key. `compute` returns the value and how long it may be reused.
    pub(crate) async fn get_or_compute<F, Fut>(&self, key: CacheKey, compute: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (V, Ttl)>,
    {
        let mut compute = Some(compute);
        loop {
            match self.step(&key) {
                Step::Hit(value) => return value,
                Step::Wait(mut done) => {
                    if let Ok(value) = done.wait_for(Option::is_some).await {
                        if let Some(value) = value.clone() {
                            return value;
                        }
                    }
                    // The leader went away without an answer: look again, maybe lead.
                }
                Step::Lead(flight, done) => {
                    let Some(compute) = compute.take() else {
                        // Unreachable: a caller leads at most once, then returns.
                        continue;
                    };
                    let mut guard = FlightGuard {
                        cache: self,
                        key,
                        flight,
                        armed: true,
                    };
                    let (value, ttl) = compute().await;
                    guard.finish(value.clone(), ttl);
                    // Waiters may all have gone; nobody to tell is fine.
                    let _ = done.send(Some(value.clone()));
                    return value;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<V>> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is a
        // single insert or remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn step(&self, key: &CacheKey) -> Step<V> {
        let mut state = self.lock();
        let now = Instant::now();
        match state.slots.get(key) {
            Some(Slot::Ready { value, expires }) if *expires > now => {
                return Step::Hit(value.clone());
            }
            Some(Slot::Pending { done, .. }) => return Step::Wait(done.clone()),
            Some(Slot::Ready { .. }) => {
                state.slots.remove(key);
                state.ready -= 1;
            }
            None => {}
        }
        let flight = state.next_flight;
        state.next_flight += 1;
        let (tx, rx) = watch::channel(None);
        state.slots.insert(*key, Slot::Pending { flight, done: rx });
        Step::Lead(flight, tx)
    }

    /// Replaces this flight's pending slot with the result (or removes it).
    fn settle(&self, key: &CacheKey, flight: u64, result: Option<(V, Duration)>) {
        let mut state = self.lock();
        let ours =
            matches!(state.slots.get(key), Some(Slot::Pending { flight: f, .. }) if *f == flight);
        if !ours {
            return;
        }
        state.slots.remove(key);
        if let Some((value, ttl)) = result {
            let expires = Instant::now() + ttl;
            state.slots.insert(*key, Slot::Ready { value, expires });
            state.ready += 1;
            if state.ready > self.capacity {
                evict(&mut state, self.capacity);
            }
        }
    }
}

/// Removes expired ready slots, then those closest to expiry, down to 90 % of `capacity`.
fn evict<V>(state: &mut State<V>, capacity: usize) {
    let now = Instant::now();
    state
        .slots
        .retain(|_, slot| !matches!(slot, Slot::Ready { expires, .. } if *expires <= now));
    let target = capacity - capacity / 10;
    let mut ready: Vec<(Instant, CacheKey)> = state
        .slots
        .iter()
        .filter_map(|(k, slot)| match slot {
            Slot::Ready { expires, .. } => Some((*expires, *k)),
            Slot::Pending { .. } => None,
        })
        .collect();
    if ready.len() > target {
        ready.sort_unstable_by_key(|(expires, _)| *expires);
        for (_, key) in &ready[..ready.len() - target] {
            state.slots.remove(key);
        }
        ready.truncate(target);
    }
    state.ready = ready.len();
}

/// Clears the pending slot if the leading computation is dropped before it finishes, so the
/// key is not stuck and waiters can take over.
struct FlightGuard<'a, V: Clone> {
    cache: &'a ResultCache<V>,
    key: CacheKey,
    flight: u64,
    armed: bool,
}

impl<V: Clone> FlightGuard<'_, V> {
    fn finish(&mut self, value: V, ttl: Ttl) {
        self.armed = false;
        self.cache
            .settle(&self.key, self.flight, ttl.map(|ttl| (value, ttl)));
    }
}

impl<V: Clone> Drop for FlightGuard<'_, V> {
    fn drop(&mut self) {
        if self.armed {
            self.cache.settle(&self.key, self.flight, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn hits_until_expiry() {
        let cache = ResultCache::new(10);
        let runs = AtomicUsize::new(0);
        let key = cache_key(b"t");
        let compute = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            (1, Some(Duration::from_millis(50)))
        };
        assert_eq!(cache.get_or_compute(key, compute).await, 1);
        assert_eq!(cache.get_or_compute(key, compute).await, 1);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(cache.get_or_compute(key, compute).await, 1);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn uncacheable_results_are_computed_again() {
        let cache = ResultCache::new(10);
        let runs = AtomicUsize::new(0);
        for _ in 0..3 {
            cache
                .get_or_compute(cache_key(b"t"), || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    (0, None)
                })
                .await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn concurrent_misses_compute_once() {
        let cache = Arc::new(ResultCache::new(10));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_compute(cache_key(b"t"), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        (7, None)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.ok(), Some(7));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_dropped_leader_hands_over() {
        let cache = Arc::new(ResultCache::new(10));
        let leader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_compute(cache_key(b"t"), || async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        (1, None)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_compute(cache_key(b"t"), || async { (2, None) })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        assert_eq!(waiter.await.ok(), Some(2));
    }

    #[tokio::test]
    async fn capacity_is_enforced() {
        let cache = ResultCache::new(20);
        for i in 0..100u32 {
            let ttl = Duration::from_secs(60 + u64::from(i));
            cache
                .get_or_compute(
                    cache_key(&i.to_be_bytes()),
                    || async move { (i, Some(ttl)) },
                )
                .await;
            assert!(cache.len() <= 20);
        }
        // The entries closest to expiry went first; the newest is still there.
        let runs = AtomicUsize::new(0);
        let v = cache
            .get_or_compute(cache_key(&99u32.to_be_bytes()), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                (0, None)
            })
            .await;
        assert_eq!((v, runs.load(Ordering::SeqCst)), (99, 0));
    }

    #[test]
    fn different_credentials_have_different_keys() {
        assert_ne!(cache_key(b"token\0a"), cache_key(b"token\0b"));
        assert_eq!(cache_key(b"x"), cache_key(b"x"));
    }
}
