//! The core of the gateway: OCI API Gateway deployment specifications, the router, context
//! variables, policies, backends and their assembly into one `tower::Service`.
//!
//! Start at [`gateway::Gateway::builder`] to compile specifications into a service and at
//! [`server::Server::builder`] to serve it, or use one piece alone: [`spec::load_spec`] (the model with every problem reported), [`router`] (OCI path
//! templates), [`vars`] (context variables).

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
pub mod redis;
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
