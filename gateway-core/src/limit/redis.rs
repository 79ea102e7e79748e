//! The Redis store: limits shared by every replica.
//!
//! One Lua script per request decides the rate bucket and the quota counter atomically, in one
//! round trip: `EVALSHA`, and when a restarted server answers `NOSCRIPT`, `SCRIPT LOAD` and
//! `EVALSHA` again (`redis::Script`), so the script text crosses the wire only then. The script reads the time from Redis itself (`TIME`), so replicas whose clocks differ
//! still share one timeline, and it repeats [`Gcra::check`](super::gcra::Gcra::check) exactly.
//! Buckets are stored with a `PX` expiry at the moment they would be full again, quota counters
//! at the end of their window plus a margin, so Redis never accumulates dead keys.
//!
//! Keys are `<prefix>{<namespace>/<subject>}:r` for a bucket and
//! `<prefix>{<namespace>/<subject>}:q:<window start>` for a quota counter: they depend only on
//! the configuration (deployment, usage plan, entitlement) and the client, never on the node.
//! The braces keep both keys of one check in one Redis Cluster slot.

use std::sync::LazyLock;

use redis::Script;

use super::gcra::Gcra;
use super::store::{LimitKey, LimitOutcome, LimitRequest, RateLimitStore};
use crate::redis::RedisConnection;
use crate::store::{StoreCall, StoreError};

/// Prefix of every key unless configured otherwise.
pub(crate) const DEFAULT_PREFIX: &str = "gw:";

/// KEYS: the bucket (when `ARGV[1]` is 1), then the quota counter (when `ARGV[4]` is 1).
/// ARGV: has_rate, interval µs, tolerance µs, has_quota, limit, counter ttl ms, enforce.
/// Returns {admitted, TAT used for the decision, now, quota count before the request}.
const GCRA_LUA: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local has_rate = ARGV[1] == '1'
local has_quota = ARGV[4] == '1'
local rate_key = KEYS[1]
local quota_key = KEYS[2]
if not has_rate then quota_key = KEYS[1] end
local tat = now
local rate_ok = true
if has_rate then
  local stored = tonumber(redis.call('GET', rate_key))
  if stored and stored > now then tat = stored end
  rate_ok = (tat - now) <= tonumber(ARGV[3])
end
local used = 0
if has_quota then used = tonumber(redis.call('GET', quota_key)) or 0 end
local admitted = rate_ok and ((not has_quota) or ARGV[7] ~= '1' or used < tonumber(ARGV[5]))
if admitted then
  if has_rate then
    local new_tat = tat + tonumber(ARGV[2])
    redis.call('SET', rate_key, string.format('%.0f', new_tat),
      'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
  end
  if has_quota then
    if redis.call('INCR', quota_key) == 1 then redis.call('PEXPIRE', quota_key, ARGV[6]) end
  end
end
return {admitted and 1 or 0, string.format('%.0f', tat), string.format('%.0f', now), used}
";

static GCRA_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_LUA));

/// Buckets and quota counters in Redis.
#[derive(Debug, Clone)]
pub struct RedisLimitStore {
    conn: RedisConnection,
    prefix: Box<str>,
}

impl RedisLimitStore {
    /// A store on `conn`, with the default key prefix `DEFAULT_PREFIX`.
    pub fn new(conn: RedisConnection) -> Self {
        Self {
            conn,
            prefix: DEFAULT_PREFIX.into(),
        }
    }

    /// Uses `prefix` before every key, so several gateways can share one server apart.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The connection, for its failure counter.
    pub fn connection(&self) -> &RedisConnection {
        &self.conn
    }

    fn key(&self, key: &LimitKey<'_>) -> String {
        match key.window {
            None => format!("{}{{{}/{}}}:r", self.prefix, key.namespace, key.subject),
            Some(w) => format!("{}{{{}/{}}}:q:{w}", self.prefix, key.namespace, key.subject),
        }
    }
}

impl RateLimitStore for RedisLimitStore {
    fn check(&self, request: &LimitRequest<'_>) -> StoreCall<Result<LimitOutcome, StoreError>> {
        let rate = request.rate.map(|(key, gcra)| (self.key(&key), gcra));
        let quota = request.quota.map(|q| {
            let ttl_ms = u64::try_from(q.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            (self.key(&q.key), q.limit, ttl_ms, q.enforce)
        });
        // Owned copies of what the answer is interpreted with; the request borrows.
        let gcra: Option<Gcra> = rate.as_ref().map(|(_, g)| *g);
        let quota_rule = request.quota.map(|q| (q.limit, q.enforce));
        let call = self
            .conn
            .run("rate limit check", move |mut conn| async move {
                let mut invocation = GCRA_SCRIPT.prepare_invoke();
                match &rate {
                    Some((key, gcra)) => invocation
                        .key(key)
                        .arg(1)
                        .arg(gcra.interval_us())
                        .arg(gcra.tolerance_us()),
                    None => invocation.arg(0).arg(0).arg(0),
                };
                match &quota {
                    Some((key, limit, ttl_ms, enforce)) => invocation
                        .key(key)
                        .arg(1)
                        .arg(*limit)
                        .arg(*ttl_ms)
                        .arg(u8::from(*enforce)),
                    None => invocation.arg(0).arg(0).arg(0).arg(0),
                };
                invocation
                    .invoke_async::<(i64, String, String, i64)>(&mut conn)
                    .await
            });
        StoreCall::Pending(Box::pin(async move {
            let (admitted, tat, now, used) = call.await?;
            let number = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| StoreError::Protocol(format!("not a number: {s:?}")))
            };
            let (tat, now) = (number(&tat)?, number(&now)?);
            let used = u64::try_from(used).unwrap_or(0);
            let rate = gcra.map(|g| g.check(tat, now));
            let outcome = match quota_rule {
                Some((limit, enforce)) => {
                    LimitOutcome::decide_counts(rate, Some((limit, enforce, used)))
                }
                None => LimitOutcome::decide_counts(rate, None),
            };
            // The script's verdict is what was stored; the arithmetic above only explains it.
            Ok(LimitOutcome {
                admitted: admitted == 1,
                ..outcome
            })
        }))
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
