//! The core of the gateway: OCI API Gateway deployment specifications, the router, context
//! variables, policies, backends and their assembly into one `tower::Service`.

pub mod diagnostics;
pub mod router;
pub mod spec;
pub mod vars;
