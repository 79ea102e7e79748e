//! Route policies compiled once from the specification into tower layers.
//!
//! * `MutualTlsLayer` — the client certificate a deployment requires (reference 4.6), with
//!   the `mtls` feature; [`ClientCaBundles`] are the CAs it verifies against;
//! * [`CorsLayer`] — answers pre-flights and adds the CORS response headers (reference 4.3);
//! * [`ValidationLayer`] — required headers, query parameters and body, the body's media type
//!   (4.8);
//! * [`RequestTransformLayer`] and [`ResponseHeaderTransformLayer`] — set, rename and filter
//!   request headers and query parameters, and response headers (4.7).
//!
//! Each policy has a `compile` constructor that reads the spec model once (header names built,
//! templates parsed, lists lowered) and returns a cheap-to-clone layer holding the result in an
//! `Arc`, so the request path does no parsing. `compile` returns `None` when the policy would
//! do nothing, so the assembly can skip the layer entirely. Where each layer sits in a route's
//! stack, and why, is documented in `gateway::assemble`.

pub(crate) mod client_ca;
pub(crate) mod cors;
#[cfg(feature = "mtls")]
pub(crate) mod mtls;
#[cfg(not(feature = "mtls"))]
mod no_mtls;
pub(crate) mod transform;
pub(crate) mod validate;

mod query;
#[cfg(test)]
mod testing;

pub use client_ca::{read_pem_certs, CaBundleError, ClientCaBundles, PemCertsError};
pub use cors::{Cors, CorsLayer};
#[cfg(feature = "mtls")]
pub use mtls::{MutualTls, MutualTlsLayer};
#[cfg(not(feature = "mtls"))]
pub(crate) use no_mtls::MutualTlsLayer;
pub use transform::{
    RequestTransform, RequestTransformLayer, ResponseHeaderTransform,
    ResponseHeaderTransformFuture, ResponseHeaderTransformLayer,
};
pub use validate::{Validate, ValidationFuture, ValidationLayer};

use http::Request;

use crate::context::RequestContext;
use crate::vars::VarSource;

/// A variable source with nothing in it: requests that reach a policy without a
/// [`RequestContext`] (a layer used on its own) render every variable as the empty string.
#[derive(Debug, Clone, Copy)]
struct NoVars;

impl VarSource for NoVars {
    fn path_param(&self, _: &str) -> Option<&str> {
        None
    }
    fn query_param(&self, _: &str) -> Option<&str> {
        None
    }
    fn header(&self, _: &str) -> Option<&str> {
        None
    }
    fn auth(&self, _: &str) -> Option<&str> {
        None
    }
    fn host(&self) -> Option<&str> {
        None
    }
    fn cert(&self, _: &str) -> Option<&str> {
        None
    }
    fn usage_plan(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Runs `f` with the request's context variables: its [`RequestContext`] and headers, or
/// [`NoVars`] when the dispatcher did not put a context in the extensions.
fn with_vars<B, R>(req: &Request<B>, f: impl FnOnce(&dyn VarSource) -> R) -> R {
    match req.extensions().get::<RequestContext>() {
        Some(ctx) => f(&ctx.vars(req.headers())),
        None => f(&NoVars),
    }
}
