//! The core of the gateway: OCI API Gateway deployment specifications, the router, context
//! variables, policies, backends and their assembly into one `tower::Service`.
//!
//! Start at [`gateway::Gateway::builder`] to compile specifications into a service and at
//! [`server::Server::builder`] to serve it, or use one piece alone: [`spec::load_spec`] (the model with every problem reported), [`router`] (OCI path
//! templates), [`vars`] (context variables).
//!
//! # Cargo features
//!
//! Both are on by default; `--no-default-features` builds the gateway without them.
//!
//! * `redis` — rate limits, usage-plan quotas and the response cache shared by replicas
//!   through Redis: the `redis` module, `limit::RedisLimitStore`, `cache::RedisCacheStore`,
//!   and `store = "redis"` / `url` in `[rate_limit]` and `[response_cache]`. Without it a
//!   section that names Redis is refused ("built without the `redis` feature"), never served
//!   from memory instead.
//! * `mtls` — the `mutualTls` policy (`policy::MutualTlsLayer`): client certificates verified
//!   against the `[tls] client_ca` bundles, `allowedSans`, `request.cert[client_base64]`.
//!   Without it a specification with `requestPolicies.mutualTls` fails to load.

#![warn(missing_docs)]

pub mod auth;
pub mod backend;
mod body;
pub mod cache;
pub mod causes;
mod context;
pub mod diagnostics;
mod error;
pub mod function;
mod future;
pub mod gateway;
pub mod headers;
pub mod import;
pub mod limit;
pub mod observe;
mod percent;
pub mod policy;
#[cfg(feature = "redis")]
pub mod redis;
/// Without the `redis` feature: the refusal of every configuration section that names Redis.
#[cfg(not(feature = "redis"))]
#[path = "no_redis.rs"]
mod redis;
pub mod request_id;
pub mod request_limits;
mod respond;
pub mod router;
pub mod routes;
pub mod server;
pub mod spec;
pub mod store;
#[cfg(test)]
mod testing;
pub mod vars;

pub use body::{Body, BoxError};
pub use context::{
    decoded_query_value, AuthContext, ClientAddr, ClientCertificate, RequestContext, RequestVars,
};
pub use error::{ClientLeft, GatewayError, Refusal};
pub use future::{BoxFuture, PolicyFuture};
pub use gateway::{Gateway, GatewayService};
pub use respond::{
    error_response, json_error, ErrorResponse, ErrorResponseFuture, ErrorResponseLayer,
};
