//! The route stack, assembled in one place.
//!
//! Order, outer to inner, and why:
//!
//! 1. CORS — answers pre-flight requests before anything can reject them, and adds the CORS
//!    headers to every answer below it, errors included.
//! 2. Rate limiting and usage plans — cheap rejections before any expensive work.
//! 3. Authentication, then route authorization — nothing below runs for an unknown caller.
//! 4. Header / query / body validation — after authorization, as OCI documents.
//! 5. Response header transformations — outside the request transformations so that their
//!    context variables see the request as it arrived, and outside the cache so that a cached
//!    answer is transformed for the current request.
//! 6. Request header and query transformations — what the backend sees.
//! 7. Response cache lookup and store — around the backend only.
//! 8. The backend.
//!
//! Request id, path normalisation and routing happen before the stack, in [`super::service`].
//! The stack is built from the inside out: the backend is boxed, the layers are composed
//! statically around it and the result is boxed once more, so a request pays for two dynamic
//! calls whatever the number of policies.

use std::convert::Infallible;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

use crate::auth::{
    compile_authentication, AuthenticationLayer, AuthorizationLayer, DeploymentAuth, RouteAccess,
};
use crate::backend::http::HostRule;
use crate::backend::{DynamicRouting, FunctionBackend, HttpBackendService, StockResponse};
use crate::body::Body;
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::policy::cors::CorsLayer;
use crate::policy::transform::{RequestTransformLayer, ResponseHeaderTransformLayer};
use crate::policy::validate::ValidationLayer;
use crate::router::PathTemplate;
use crate::spec::{ApiSpecification, Backend, Route};

use super::compile::Resources;

/// One route's whole stack, boxed once at load time.
pub(crate) type RouteService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The deployment-level policies, compiled once and shared by every route of the deployment.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentLayers {
    cors: Option<CorsLayer>,
    auth: DeploymentAuth,
}

impl DeploymentLayers {
    pub(crate) fn compile(
        spec: &ApiSpecification,
        resources: &Resources,
        diags: &mut Diagnostics,
    ) -> Self {
        let policies = spec.request_policies.as_ref();
        Self {
            cors: policies
                .and_then(|p| p.cors.as_ref())
                .map(|cors| CorsLayer::compile(cors, "requestPolicies.cors", diags)),
            auth: compile_authentication(spec, &*resources.authenticators, diags),
        }
    }
}

/// A route's stack and what the dispatcher needs to know about it.
pub(crate) struct RouteStack {
    pub(crate) service: RouteService,
    /// Whether a CORS policy applies, so that the dispatcher may route a pre-flight here.
    pub(crate) has_cors: bool,
}

/// Builds the stack for a route all of whose policies are supported.
pub(crate) fn route_stack(
    route: &Route,
    template: &PathTemplate,
    path: &str,
    deployment: &DeploymentLayers,
    resources: &Resources,
    diags: &mut Diagnostics,
) -> RouteStack {
    let backend = backend(
        &route.backend,
        template,
        &format!("{path}.backend"),
        resources,
        diags,
    );
    let request = route.request_policies.as_ref();
    let request_path = format!("{path}.requestPolicies");
    // A route-level CORS policy replaces the deployment's.
    let cors = match request.and_then(|p| p.cors.as_ref()) {
        Some(cors) => Some(CorsLayer::compile(
            cors,
            &format!("{request_path}.cors"),
            diags,
        )),
        None => deployment.cors.clone(),
    };
    let validation = request.and_then(|p| ValidationLayer::compile(p, &request_path, diags));
    let request_transform = request.and_then(|p| {
        RequestTransformLayer::compile(
            p.header_transformations.as_ref(),
            p.query_parameter_transformations.as_ref(),
            &request_path,
            diags,
        )
    });
    let response_transform = route.response_policies.as_ref().and_then(|p| {
        ResponseHeaderTransformLayer::compile(
            p.header_transformations.as_ref(),
            &format!("{path}.responsePolicies"),
            diags,
        )
    });
    let (authentication, authorization) = match &deployment.auth {
        DeploymentAuth::Open => (None, None),
        DeploymentAuth::Enforced(policy) => {
            let access = RouteAccess::of_route(route);
            (
                Some(AuthenticationLayer::new(policy.clone(), &access)),
                Some(AuthorizationLayer::new(access)),
            )
        }
        // The reasons are reported; such a deployment is never served.
        DeploymentAuth::Unusable => {
            return RouteStack {
                service: refuse("authentication"),
                has_cors: false,
            }
        }
    };
    let has_cors = cors.is_some();
    let stack = ServiceBuilder::new()
        .option_layer(cors)
        .option_layer(authentication)
        .option_layer(authorization)
        .option_layer(validation)
        .option_layer(response_transform)
        .option_layer(request_transform)
        .service(backend);
    RouteStack {
        service: BoxCloneSyncService::new(stack),
        has_cors,
    }
}

/// The backend at `path`: a route's, or a dynamic-routing branch's (`branch` set).
fn backend(
    spec: &Backend,
    template: &PathTemplate,
    path: &str,
    resources: &Resources,
    diags: &mut Diagnostics,
) -> RouteService {
    branch_backend(spec, template, path, HostRule::Literal, resources, diags)
}

fn branch_backend(
    spec: &Backend,
    template: &PathTemplate,
    path: &str,
    host: HostRule<'_>,
    resources: &Resources,
    diags: &mut Diagnostics,
) -> RouteService {
    match spec {
        Backend::StockResponse(stock) => {
            BoxCloneSyncService::new(StockResponse::compile(stock, path, diags))
        }
        Backend::OracleFunctions(backend) => match resources.functions.get(&backend.function_id) {
            Some(function) => BoxCloneSyncService::new(FunctionBackend::new(function.clone())),
            // Reported as an unknown functionId; the deployment is not served.
            None => refuse("ORACLE_FUNCTIONS_BACKEND"),
        },
        Backend::Http(http) => BoxCloneSyncService::new(HttpBackendService::compile_with(
            &resources.http,
            http,
            path,
            template,
            host,
            diags,
        )),
        Backend::DynamicRouting(dynamic) => BoxCloneSyncService::new(DynamicRouting::compile(
            dynamic,
            path,
            |target, branch, diags| {
                // The host of a branch's URL may use the selector's variable, and only there.
                let host = branch
                    .selector
                    .map_or(HostRule::Literal, HostRule::Selector);
                branch_backend(target, template, branch.path, host, resources, diags)
            },
            diags,
        )),
        // Reported as unsupported before a stack is built for it.
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
