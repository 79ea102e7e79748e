//! The in-memory store: the default, for a single replica.
//!
//! Each bucket is one `AtomicU64` (its TAT) and each quota counter one `AtomicU64`, updated with
//! compare-and-swap loops under a *read* lock of their shard: requests for existing keys never
//! wait for each other. Only a key seen for the first time takes its shard's write lock.
//!
//! Keys are reduced to 128-bit hashes under two per-store random SipHash keys, so an entry
//! costs 24 bytes plus the map's overhead whatever the deployment or client names, and an
//! attacker who picks client addresses cannot aim collisions. Memory is bounded: a shard that
//! reaches its share of `max_keys` first forgets expired entries (a bucket whose TAT has passed
//! is full, exactly like an absent one), then, if still full, the half closest to expiry.
//! Every 1024 inserts a shard also forgets its expired entries.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::clock::{Clock, SystemClock};
use super::gcra::{Gcra, GcraDecision};
use super::store::{LimitKey, LimitOutcome, LimitRequest, QuotaCheck, RateLimitStore};
use crate::store::{StoreCall, StoreError};

/// Default bound on the number of keys (buckets plus quota counters): about 10 MB at most.
pub(crate) const DEFAULT_MAX_KEYS: usize = 1 << 18;

const SHARDS: usize = 64;
const SWEEP_EVERY: usize = 1024;

/// Buckets and quota counters in this process.
#[derive(Debug)]
pub struct MemoryLimitStore {
    shards: Box<[RwLock<Shard>]>,
    hashers: (RandomState, RandomState),
    clock: Arc<dyn Clock>,
    max_per_shard: usize,
}

#[derive(Debug, Default)]
struct Shard {
    /// TAT per bucket, monotonic microseconds.
    rates: HashMap<u128, AtomicU64, PassThrough>,
    quotas: HashMap<u128, Counter, PassThrough>,
    inserts: usize,
}

#[derive(Debug)]
struct Counter {
    count: AtomicU64,
    /// Monotonic microseconds after which the counter is forgotten.
    expires_at: u64,
}

/// The keys are already uniformly random hashes: hashing them again would be wasted work.
type PassThrough = BuildHasherDefault<KeyHasher>;

#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

impl Default for MemoryLimitStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimitStore {
    /// A store with the system clock and `DEFAULT_MAX_KEYS`.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock::new()), DEFAULT_MAX_KEYS)
    }

    /// A store reading `clock` and keeping at most about `max_keys` keys.
    pub fn with_clock(clock: Arc<dyn Clock>, max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hashers: (RandomState::new(), RandomState::new()),
            clock,
            max_per_shard: max_keys.div_ceil(SHARDS).max(2),
        }
    }

    /// Keys currently held (buckets and counters), expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.read().unwrap_or_else(PoisonError::into_inner);
                s.rates.len() + s.quotas.len()
            })
            .sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hash(&self, key: &LimitKey<'_>) -> u128 {
        (u128::from(self.hashers.0.hash_one(key)) << 64) | u128::from(self.hashers.1.hash_one(key))
    }

    fn shard(&self, hash: u128) -> &RwLock<Shard> {
        // The high bits pick the shard; the low bits are what the map hashes on.
        &self.shards[(hash >> 122) as usize % SHARDS]
    }

    /// Runs GCRA on a bucket: admits (storing the new TAT) or only reports, per `apply`.
    fn rate(&self, key: &LimitKey<'_>, gcra: &Gcra, now: u64, apply: bool) -> GcraDecision {
        let hash = self.hash(key);
        let shard = self.shard(hash);
        {
            let guard = shard.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(tat) = guard.rates.get(&hash) {
                return gcra_update(tat, gcra, now, apply);
            }
        }
        if !apply {
            return gcra.check(0, now);
        }
        let mut guard = shard.write().unwrap_or_else(PoisonError::into_inner);
        self.make_room(&mut guard, now);
        let tat = guard.rates.entry(hash).or_insert_with(|| AtomicU64::new(0));
        gcra_update(tat, gcra, now, true)
    }

    /// Counts a request in a quota window unless it is full and enforced; returns the count
    /// before this request and whether it was counted.
    fn quota(&self, check: &QuotaCheck<'_>, now: u64) -> (u64, bool) {
        let hash = self.hash(&check.key);
        let shard = self.shard(hash);
        {
            let guard = shard.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(counter) = guard.quotas.get(&hash) {
                if counter.expires_at > now {
                    return count(&counter.count, check);
                }
            }
        }
        let mut guard = shard.write().unwrap_or_else(PoisonError::into_inner);
        self.make_room(&mut guard, now);
        let expires_at =
            now.saturating_add(u64::try_from(check.ttl.as_micros()).unwrap_or(u64::MAX));
        let counter = guard.quotas.entry(hash).or_insert_with(|| Counter {
            count: AtomicU64::new(0),
            expires_at,
        });
        if counter.expires_at <= now {
            *counter = Counter {
                count: AtomicU64::new(0),
                expires_at,
            };
        }
        count(&counter.count, check)
    }

    fn refund(&self, check: &QuotaCheck<'_>) {
        let hash = self.hash(&check.key);
        let guard = self
            .shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(counter) = guard.quotas.get(&hash) {
            // Never below zero, even if the counter was reset meanwhile.
            let _ = counter
                .count
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1));
        }
    }

    /// Keeps a shard under its bound before an insert.
    fn make_room(&self, shard: &mut Shard, now: u64) {
        shard.inserts = shard.inserts.wrapping_add(1);
        let full = shard.rates.len() + shard.quotas.len() >= self.max_per_shard;
        if !full && shard.inserts % SWEEP_EVERY != 0 {
            return;
        }
        shard
            .rates
            .retain(|_, tat| tat.load(Ordering::Relaxed) > now);
        shard.quotas.retain(|_, c| c.expires_at > now);
        if shard.rates.len() + shard.quotas.len() < self.max_per_shard {
            return;
        }
        // Still full of live keys: forget the half that would expire soonest.
        evict_half(&mut shard.rates, |tat| tat.load(Ordering::Relaxed));
        evict_half(&mut shard.quotas, |c| c.expires_at);
    }
}

fn evict_half<V>(map: &mut HashMap<u128, V, PassThrough>, expiry: impl Fn(&V) -> u64) {
    if map.len() < 2 {
        map.clear();
        return;
    }
    let mut times: Vec<u64> = map.values().map(&expiry).collect();
    let mid = times.len() / 2;
    let (_, &mut threshold, _) = times.select_nth_unstable(mid);
    map.retain(|_, v| expiry(v) > threshold);
}

fn gcra_update(tat: &AtomicU64, gcra: &Gcra, now: u64, apply: bool) -> GcraDecision {
    let mut current = tat.load(Ordering::Acquire);
    loop {
        let decision = gcra.check(current, now);
        if !decision.allowed || !apply {
            return decision;
        }
        match tat.compare_exchange_weak(
            current,
            decision.new_tat,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return decision,
            Err(actual) => current = actual,
        }
    }
}

fn count(counter: &AtomicU64, check: &QuotaCheck<'_>) -> (u64, bool) {
    let mut current = counter.load(Ordering::Acquire);
    loop {
        if check.enforce && current >= check.limit {
            return (current, false);
        }
        match counter.compare_exchange_weak(
            current,
            current.saturating_add(1),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return (current, true),
            Err(actual) => current = actual,
        }
    }
}

impl RateLimitStore for MemoryLimitStore {
    fn check(&self, request: &LimitRequest<'_>) -> StoreCall<Result<LimitOutcome, StoreError>> {
        let now = self.clock.monotonic_micros();
        // The quota is reserved first because a counter can be refunded exactly, a TAT cannot.
        let quota = request.quota.as_ref().map(|q| (q, self.quota(q, now)));
        let quota_blocks = quota
            .as_ref()
            .is_some_and(|(q, (used, counted))| !counted && q.enforce && *used >= q.limit);
        let rate = request
            .rate
            .as_ref()
            .map(|(key, gcra)| self.rate(key, gcra, now, !quota_blocks));
        if let (Some(d), Some((q, (_, true)))) = (&rate, &quota) {
            if !d.allowed {
                self.refund(q);
            }
        }
        StoreCall::ready(Ok(LimitOutcome::decide(
            rate,
            quota.map(|(q, (used, _))| (q, used)),
        )))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::limit::clock::ManualClock;
    use crate::limit::store::Subject;

    fn run(store: &MemoryLimitStore, request: &LimitRequest<'_>) -> LimitOutcome {
        match store.check(request) {
            StoreCall::Ready(Some(Ok(outcome))) => outcome,
            other => panic!("memory store answers synchronously: {other:?}"),
        }
    }

    fn rate_key(subject: Subject<'_>) -> LimitKey<'_> {
        LimitKey {
            namespace: "rl/demo",
            subject,
            window: None,
        }
    }

    #[test]
    fn buckets_are_per_key_and_refill() {
        let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
        let store = MemoryLimitStore::with_clock(clock.clone(), 100);
        let gcra = Gcra::per_second(2, 2);
        let a = LimitRequest {
            rate: Some((rate_key(Subject::V4(Ipv4Addr::new(10, 0, 0, 1))), gcra)),
            quota: None,
        };
        let b = LimitRequest {
            rate: Some((rate_key(Subject::V4(Ipv4Addr::new(10, 0, 0, 2))), gcra)),
            quota: None,
        };
        assert!(run(&store, &a).admitted);
        assert!(run(&store, &a).admitted);
        assert!(!run(&store, &a).admitted);
        assert!(
            run(&store, &b).admitted,
            "another client has its own bucket"
        );
        clock.advance(Duration::from_millis(500));
        assert!(run(&store, &a).admitted);
        assert!(!run(&store, &a).admitted);
    }

    #[test]
    fn quota_and_rate_are_decided_together() {
        let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
        let store = MemoryLimitStore::with_clock(clock.clone(), 100);
        let quota = QuotaCheck {
            key: LimitKey {
                namespace: "up/p/e",
                subject: Subject::Named("s/c"),
                window: Some(0),
            },
            limit: 3,
            ttl: Duration::from_secs(60),
            enforce: true,
        };
        let request = LimitRequest {
            rate: Some((rate_key(Subject::Named("s/c")), Gcra::per_second(1, 1))),
            quota: Some(quota),
        };
        assert!(run(&store, &request).admitted);
        // Over rate: the quota is not used up.
        let denied = run(&store, &request);
        assert!(!denied.admitted && denied.rate_denied());
        assert_eq!(denied.quota.map(|q| q.used), Some(1));
        clock.advance(Duration::from_secs(1));
        assert!(run(&store, &request).admitted);
        clock.advance(Duration::from_secs(1));
        assert!(run(&store, &request).admitted);
        clock.advance(Duration::from_secs(1));
        // Over quota: the rate is not used up either.
        let over = run(&store, &request);
        assert!(!over.admitted && !over.rate_denied());
        assert_eq!(over.quota.map(|q| (q.used, q.breached)), Some((3, true)));
    }

    #[test]
    fn memory_stays_bounded() {
        let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
        let store = MemoryLimitStore::with_clock(clock.clone(), 640);
        let gcra = Gcra::per_second(1, 1);
        for i in 0..20_000u32 {
            let request = LimitRequest {
                rate: Some((rate_key(Subject::V4(Ipv4Addr::from(i))), gcra)),
                quota: None,
            };
            assert!(run(&store, &request).admitted);
        }
        assert!(store.len() <= 640 + SHARDS, "{} keys", store.len());
        // Once every bucket is full again, a sweep forgets them all.
        clock.advance(Duration::from_secs(2));
        for i in 0..SWEEP_EVERY as u32 * SHARDS as u32 {
            let request = LimitRequest {
                rate: Some((rate_key(Subject::V4(Ipv4Addr::from(1_000_000 + i))), gcra)),
                quota: None,
            };
            let _ = run(&store, &request);
        }
        assert!(store.len() <= 640 + SHARDS);
    }

    #[test]
    fn concurrent_requests_never_exceed_the_burst() {
        let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
        let store = Arc::new(MemoryLimitStore::with_clock(clock, 100));
        let admitted = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        let request = LimitRequest {
                            rate: Some((rate_key(Subject::Total), Gcra::per_second(50, 50))),
                            quota: None,
                        };
                        if run(&store, &request).admitted {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::Relaxed), 50);
    }
}
