//! Rate limiting (`rateLimiting`, reference 4.4) and usage plans (`usagePlans`, 4.5), shared by
//! replicas through Redis when configured.
//!
//! The pieces:
//!
//! * [`gcra`] — the algorithm (GCRA: one theoretical arrival time per bucket), pure arithmetic;
//! * [`store`] — the [`RateLimitStore`] trait: one atomic check of a rate bucket and a quota
//!   counter; [`memory`] (the default, lock-free per key, bounded) and [`redis`] (one Lua script
//!   per request, shared by replicas) implement it;
//! * [`rate`] — the deployment's [`RateLimiter`] and its [`RateLimitLayer`];
//! * [`usage`] — usage plans, subscribers and their [`UsagePlansLayer`];
//! * [`client_ip`] — the client address behind trusted proxies, IPv6 grouped by /64;
//! * [`settings`] — the `[rate_limit]` section of `gateway.toml` and the shared
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

pub mod client_ip;
pub mod clock;
pub mod future;
pub mod gcra;
pub mod headers;
pub mod memory;
pub mod rate;
pub mod redis;
pub mod settings;
pub mod store;
pub mod usage;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use client_ip::{Cidr, TrustedProxies};
pub use clock::{Clock, ManualClock, SystemClock};
pub use gcra::Gcra;
pub use memory::MemoryLimitStore;
pub use rate::{LimitCounters, RateLimit, RateLimitLayer, RateLimiter};
pub use redis::RedisLimitStore;
pub use settings::{LimitConfigError, LimitSettings, OnUnavailable, RateLimitConfig, StoreKind};
pub use store::{LimitOutcome, RateLimitStore};
pub use usage::{
    SubscriberConfig, UsagePlanConfig, UsagePlanError, UsagePlanId, UsagePlanLimiter, UsagePlans,
    UsagePlansLayer,
};
