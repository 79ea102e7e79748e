//! Rate limiting (`rateLimiting`, reference 4.4) and usage plans (`usagePlans`, 4.5), shared by
//! replicas through Redis when configured.
//!
//! The pieces:
//!
//! * `gcra` — the algorithm (GCRA: one theoretical arrival time per bucket), pure arithmetic;
//! * `store` — the [`RateLimitStore`] trait: one atomic check of a rate bucket and a quota
//!   counter; `memory` (the default, lock-free per key, bounded) and `redis` (one Lua script
//!   per request, shared by replicas; with the `redis` feature) implement it;
//! * `rate` — the deployment's [`RateLimiter`] and its [`RateLimitLayer`];
//! * `usage` — usage plans, subscribers and their [`UsagePlansLayer`];
//! * `client_ip` — the client address behind trusted proxies, IPv6 grouped by /64;
//! * `settings` — the `[rate_limit]` section of `gateway.toml` and the shared
//!   [`LimitSettings`].
//!
//! ```
//! use std::sync::Arc;
//! use gateway_core::limit::{LimitSettings, RateLimitLayer, RateLimiter};
//! use gateway_core::spec::{RateKey, RateLimitingPolicy};
//!
//! let policy = RateLimitingPolicy { rate_in_requests_per_second: 10, rate_key: RateKey::ClientIp };
//! // Once per deployment, shared by its routes:
//! let limiter = Arc::new(RateLimiter::new("orders", &policy, LimitSettings::default()));
//! let layer = RateLimitLayer::new(limiter);
//! # let _ = layer;
//! ```

pub(crate) mod client_ip;
pub(crate) mod clock;
pub(crate) mod future;
pub(crate) mod gcra;
pub(crate) mod headers;
pub(crate) mod memory;
pub(crate) mod rate;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod settings;
pub(crate) mod store;
pub(crate) mod usage;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use client_ip::{Cidr, TrustedProxies};
pub use clock::{Clock, ManualClock, SystemClock};
pub use future::{LimitFuture, Throttled};
pub use gcra::Gcra;
pub use headers::{RateHeaders, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET};
pub use memory::MemoryLimitStore;
pub use rate::{
    LimitCounters, RateDecider, RateLimit, RateLimitLayer, RateLimiter,
    ResponseFuture as RateLimitFuture,
};
#[cfg(feature = "redis")]
pub use redis::RedisLimitStore;
pub use settings::{LimitConfigError, LimitSettings, OnUnavailable, RateLimitConfig, StoreKind};
pub use store::{
    LimitKey, LimitOutcome, LimitRequest, QuotaCheck, QuotaState, RateLimitStore, Subject,
};
pub use usage::{
    ClientConfig, EntitlementConfig, Grant, OperationOnBreach, QuotaSpec, QuotaUnit, RateLimitSpec,
    RateUnit, ResetPolicy, SubscriberConfig, UsageDecider, UsagePlanConfig, UsagePlanError,
    UsagePlanId, UsagePlanLimiter, UsagePlans, UsagePlansFuture, UsagePlansLayer,
    UsagePlansService,
};
