//! The store behind rate limits and usage-plan quotas, and what one check asks of it.
//!
//! A check covers at most one GCRA bucket and one quota counter, decided **together and
//! atomically**: a request over its quota does not use up rate, and a request over its rate does
//! not use up quota. The in-memory store answers synchronously; the Redis store answers with one
//! round trip. [`crate::store::StoreCall`] carries either without boxing the synchronous case, so the default
//! (in-memory) configuration allocates nothing per request.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::gcra::{Gcra, GcraDecision};
use crate::store::{StoreCall, StoreError};

/// Who a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject<'a> {
    /// Everyone (`rateKey: TOTAL`).
    Total,
    /// One IPv4 client.
    V4(Ipv4Addr),
    /// One IPv6 /64: the first 64 bits of the address (`rateKey: CLIENT_IP`).
    V6Prefix(u64),
    /// A client with no known address (a layer used without a server that records it).
    Unknown,
    /// A named client (usage plans: `subscriber/client`).
    Named(&'a str),
}

impl Subject<'_> {
    /// The IPv6 /64 bucket of `addr`.
    pub fn v6(addr: Ipv6Addr) -> Subject<'static> {
        Subject::V6Prefix((u128::from(addr) >> 64) as u64)
    }
}

impl fmt::Display for Subject<'_> {
    /// The spelling used inside Redis keys: readable, and free of `:` where it could be read
    /// as a separator.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Total => f.write_str("total"),
            Subject::V4(ip) => write!(f, "ip4-{ip}"),
            Subject::V6Prefix(prefix) => write!(f, "ip6-{prefix:016x}"),
            Subject::Unknown => f.write_str("unknown"),
            Subject::Named(name) => f.write_str(name),
        }
    }
}

/// A bucket or counter: a namespace fixed at load time (`rl/<deployment>`,
/// `up/<plan>/<entitlement>`) plus a subject, and for quotas the window it counts.
///
/// Keys never contain anything node-specific, so replicas sharing a store share the limit.
/// The names in them are escaped, so that no two of them join into the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitKey<'a> {
    /// The limit the key belongs to: `rl/<deployment>/<rateKey>` or `up/<plan>/<entitlement>`.
    pub namespace: &'a str,
    /// Whose bucket or counter it is.
    pub subject: Subject<'a>,
    /// Start of the quota window (Unix seconds); `None` for rate buckets.
    pub window: Option<u64>,
}

/// A name as it is written into a limit key: `/` (which joins the parts of a key), `%`, and
/// `{` `}` (which delimit a Redis Cluster hash tag) escaped, so that `a/b` + `c` and `a` +
/// `b/c` stay two keys.
pub(crate) fn key_part(name: &str) -> impl std::fmt::Display + '_ {
    percent_encoding::utf8_percent_encode(name, crate::percent::LIMIT_KEY_PART)
}

impl Hash for LimitKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace.hash(state);
        self.subject.hash(state);
        self.window.hash(state);
    }
}

/// A quota counter to check and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCheck<'a> {
    /// The counter, its window included.
    pub key: LimitKey<'a>,
    /// Requests allowed in the window.
    pub limit: u64,
    /// How long the counter must live: to the end of the window plus a margin for replicas
    /// whose clocks lag.
    pub ttl: Duration,
    /// `REJECT` on breach; `false` (`ALLOW`) still counts the request but admits it.
    pub enforce: bool,
}

/// One request's check: a rate bucket, a quota counter, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRequest<'a> {
    /// The bucket to take a request from, and its rate and burst.
    pub rate: Option<(LimitKey<'a>, Gcra)>,
    /// The quota counter to count the request in.
    pub quota: Option<QuotaCheck<'a>>,
}

/// The state of the quota counter after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    /// Requests counted in the window, this one included when it was admitted.
    pub used: u64,
    /// The window was already full when the request arrived.
    pub breached: bool,
}

/// What the store decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOutcome {
    /// The request goes on: within its rate, and within its quota or allowed over it.
    pub admitted: bool,
    /// The rate bucket's view (present when the request had a rate).
    pub rate: Option<GcraDecision>,
    /// The quota counter's view (present when the request had a quota).
    pub quota: Option<QuotaState>,
}

impl LimitOutcome {
    /// Combines a GCRA decision and a quota counter, given as `(limit, enforce, count before
    /// this request)`: the one rule every store follows. Admitted when within rate and
    /// (within quota or not enforcing it).
    pub fn decide_counts(rate: Option<GcraDecision>, quota: Option<(u64, bool, u64)>) -> Self {
        let rate_ok = rate.is_none_or(|d| d.allowed);
        let quota_ok = quota.is_none_or(|(limit, enforce, used)| used < limit || !enforce);
        let admitted = rate_ok && quota_ok;
        LimitOutcome {
            admitted,
            rate,
            quota: quota.map(|(limit, _, used)| QuotaState {
                used: if admitted {
                    used.saturating_add(1)
                } else {
                    used
                },
                breached: used >= limit,
            }),
        }
    }

    /// [`LimitOutcome::decide_counts`] for a [`QuotaCheck`] and its count before the request.
    pub fn decide(rate: Option<GcraDecision>, quota: Option<(&QuotaCheck<'_>, u64)>) -> Self {
        Self::decide_counts(rate, quota.map(|(q, used)| (q.limit, q.enforce, used)))
    }

    /// The rate part refused the request.
    pub fn rate_denied(&self) -> bool {
        self.rate.is_some_and(|d| !d.allowed)
    }
}

/// Where buckets and quota counters live. Built once and shared (`Arc`) by every deployment and
/// route; implementations never hold a lock across an await.
pub trait RateLimitStore: Send + Sync + fmt::Debug + 'static {
    /// Checks, and when admitted records, one request.
    fn check(&self, request: &LimitRequest<'_>) -> StoreCall<Result<LimitOutcome, StoreError>>;

    /// A short name for logs and metrics (`memory`, `redis`).
    fn kind(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_spell_safely_in_keys() {
        assert_eq!(
            Subject::V4(Ipv4Addr::new(10, 0, 0, 1)).to_string(),
            "ip4-10.0.0.1"
        );
        let v6: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        assert_eq!(Subject::v6(v6).to_string(), "ip6-20010db800010002");
        assert_eq!(Subject::Total.to_string(), "total");
    }

    #[test]
    fn quota_rules() {
        let key = LimitKey {
            namespace: "n",
            subject: Subject::Total,
            window: Some(0),
        };
        let reject = QuotaCheck {
            key,
            limit: 2,
            ttl: Duration::from_secs(1),
            enforce: true,
        };
        let allow = QuotaCheck {
            enforce: false,
            ..reject
        };
        let under = LimitOutcome::decide(None, Some((&reject, 1)));
        assert!(under.admitted);
        assert_eq!(under.quota.map(|q| q.used), Some(2));
        let over = LimitOutcome::decide(None, Some((&reject, 2)));
        assert!(!over.admitted);
        assert_eq!(
            over.quota,
            Some(QuotaState {
                used: 2,
                breached: true
            })
        );
        let allowed = LimitOutcome::decide(None, Some((&allow, 2)));
        assert!(allowed.admitted);
        assert_eq!(
            allowed.quota,
            Some(QuotaState {
                used: 3,
                breached: true
            })
        );
    }
}
