//! The route stack, assembled in one place.
//!
//! Order, outer to inner, and why (the full pipeline of the design; layers arrive as their
//! policies are supported):
//!
//! 1. CORS — answers pre-flight requests before anything can reject them.
//! 2. Rate limiting and usage plans — cheap rejections before any expensive work.
//! 3. Authentication, then route authorization — nothing below runs for an unknown caller.
//! 4. Header / query / body validation — after authorization, as OCI documents.
//! 5. Header and query transformations — context variables, `request.auth` included.
//! 6. Response cache lookup and store — around the backend only.
//! 7. Response header transformations and CORS response headers.
//! 8. The backend.
//!
//! Request id, path normalisation and routing happen before the stack, in [`super::service`].

use std::convert::Infallible;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;

use crate::backend::{FunctionBackend, StockResponse};
use crate::body::Body;
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::function::FunctionRegistry;
use crate::spec::{Backend, Route};

/// One route's whole stack, boxed once at load time.
pub(crate) type RouteService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// Builds the stack for a route all of whose policies are supported.
pub(crate) fn route_stack(
    route: &Route,
    path: &str,
    functions: &FunctionRegistry,
    diags: &mut Diagnostics,
) -> RouteService {
    match &route.backend {
        Backend::StockResponse(stock) => BoxCloneSyncService::new(StockResponse::compile(
            stock,
            &format!("{path}.backend"),
            diags,
        )),
        Backend::OracleFunctions(backend) => match functions.get(&backend.function_id) {
            Some(function) => BoxCloneSyncService::new(FunctionBackend::new(function.clone())),
            // Reported as an unknown functionId; the deployment is not served.
            None => refuse("ORACLE_FUNCTIONS_BACKEND"),
        },
        // Every other backend is reported as unsupported before a stack is built for it.
        other => refuse(other.type_name()),
    }
}

/// A stack that refuses every request because the route needs `feature`, which this build does
/// not enforce: failing closed is the only safe way to serve such a route.
pub(crate) fn refuse(feature: &'static str) -> RouteService {
    BoxCloneSyncService::new(tower::service_fn(move |_req: Request<Body>| async move {
        Ok(GatewayError::Unsupported { feature }.into_response())
    }))
}
