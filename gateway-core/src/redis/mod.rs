//! Redis for the state replicas share: rate limits and usage plans ([`crate::limit`]), the
//! response cache ([`crate::cache`]) and authorizer results (`gateway-auth`). Built with the
//! `redis` feature (a default one).
//!
//! * `target` — where Redis is and how it is deployed ([`RedisTarget`]: one server, a Redis
//!   Cluster, or a primary watched by Sentinel; `redis://` or `rediss://`, credentials in the
//!   URL and never in logs);
//! * `connection` — [`RedisConnection`]: every operation under a deadline, and a circuit
//!   breaker that answers fast while Redis is unreachable and probes it again once a second.
//!
//! Keys that one operation touches together share a hash tag (`{…}`), so that in a cluster
//! they live in one slot.

pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod target;

pub use connection::{RedisConnection, RedisOptions};
pub(crate) use target::section_target;
pub use target::{RedisMode, RedisTarget};
// Read from `gateway.toml` in any build, so they live with the stores.
pub use crate::store::{RedisOpenError, RedisUrls};
