//! The route stack, assembled in one place.
//!
//! Order, outer to inner, and why:
//!
//! 0. `mutualTls` — the client certificate belongs to the connection, and OCI checks it before
//!    anything else (reference 1.7): a refused certificate gets 401 even for a pre-flight.
//! 1. CORS — answers pre-flight requests before anything can reject them, and adds the CORS
//!    headers to every answer below it, errors included.
//! 2. Rate limiting and usage plans — cheap rejections before any expensive work (a usage
//!    plan whose token is read from `request.auth[…]` sits after authentication instead).
//! 3. Authentication, then route authorization — nothing below runs for an unknown caller.
//! 4. Header / query / body validation — after authorization, as OCI documents.
//! 5. Response header transformations — outside the request transformations so that their
//!    context variables see the request as it arrived, and outside the cache so that a cached
//!    answer is transformed for the current request.
//! 6. Request header and query transformations — what the backend sees.
//! 7. Response cache lookup and store — around the backend only, so what is stored is the
//!    backend's own answer.
//! 8. The backend.
//!
//! Request id, path normalisation and routing happen before the stack, in [`super::service`].
//! The stack is built from the inside out with only the policies the route has, each one boxed
//! service around the next: a route without policies is its backend under the edge that turns
//! failures into answers, two dynamic calls a request.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service};

use crate::auth::{
    compile_authentication, AuthenticationLayer, AuthorizationLayer, DeploymentAuth, RouteAccess,
};
use crate::backend::http::HostRule;
use crate::backend::{
    BackendService, DynamicRouting, FunctionBackend, HttpBackendService, OAuth2Logout,
    StockResponse,
};
use crate::body::Body;
use crate::cache::{CredentialLocations, ResponseCacheLayer, ResponseCachePolicy};
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::function::InvokeError;
use crate::limit::{RateLimitLayer, RateLimiter, UsagePlanLimiter, UsagePlansLayer};
use crate::policy::cors::CorsLayer;
use crate::policy::transform::{RequestTransformLayer, ResponseHeaderTransformLayer};
use crate::policy::validate::ValidationLayer;
use crate::policy::MutualTlsLayer;
use crate::respond::{ErrorResponse, ErrorResponseLayer};
use crate::router::PathTemplate;
use crate::spec::{ApiSpecification, Backend, OAuth2LogoutBackend, Route};

use super::compile::Resources;

/// One route's whole stack, boxed once at load time. Its failures are answered inside it.
pub(crate) type RouteService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The deployment-level policies, compiled once and shared by every route of the deployment.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentLayers {
    name: Arc<str>,
    mtls: Option<MutualTlsLayer>,
    cors: Option<CorsLayer>,
    /// One limiter per deployment: OCI applies the limit to the deployment as a whole.
    rate_limit: Option<RateLimitLayer>,
    usage_plans: Option<UsagePlansLayer>,
    /// The usage-plan limiter itself, for its counters.
    usage_limiter: Option<Arc<UsagePlanLimiter>>,
    /// Whether a usage-plan token is read from `request.auth[…]`, so the layer must sit after
    /// authentication.
    usage_plans_read_auth: bool,
    auth: DeploymentAuth,
    /// Where the authentication policy finds credentials: requests carrying them are not
    /// cached unless private caching is enabled.
    credentials: CredentialLocations,
    resources: Resources,
}

impl DeploymentLayers {
    pub(crate) fn compile(
        name: &str,
        spec: &ApiSpecification,
        resources: &Resources,
        diags: &mut Diagnostics,
    ) -> Self {
        let policies = spec.request_policies.as_ref();
        let rate_limit = policies
            .and_then(|p| p.rate_limiting.as_ref())
            .map(|policy| {
                RateLimitLayer::new(Arc::new(RateLimiter::new(
                    name,
                    policy,
                    resources.limits.clone(),
                )))
            });
        let usage = policies
            .and_then(|p| p.usage_plans.as_ref())
            .and_then(|policy| {
                match UsagePlanLimiter::new(
                    name,
                    policy,
                    &resources.usage_plans,
                    resources.limits.clone(),
                ) {
                    Ok(limiter) => Some(Arc::new(limiter)),
                    Err(e) => {
                        diags.error(e.at.clone(), e.message.clone());
                        None
                    }
                }
            });
        Self {
            name: Arc::from(name),
            mtls: policies
                .and_then(|p| p.mutual_tls.as_ref())
                .and_then(|mtls| {
                    MutualTlsLayer::compile(
                        mtls,
                        &resources.client_ca,
                        "requestPolicies.mutualTls",
                        diags,
                    )
                }),
            cors: policies
                .and_then(|p| p.cors.as_ref())
                .map(|cors| CorsLayer::compile(cors, "requestPolicies.cors", diags)),
            rate_limit,
            usage_plans_read_auth: usage.as_ref().is_some_and(|u| u.reads_auth()),
            usage_plans: usage.clone().map(UsagePlansLayer::new),
            usage_limiter: usage,
            auth: compile_authentication(
                spec,
                &*resources.authenticators,
                &resources.functions,
                diags,
            ),
            credentials: CredentialLocations::for_deployment(
                spec.authentication(),
                spec.dynamic_authentication(),
            ),
            resources: resources.clone(),
        }
    }
}

impl DeploymentLayers {
    /// The deployment's limiters, for metrics.
    pub(crate) fn limiters(&self) -> Limiters {
        Limiters {
            rate: self.rate_limit.as_ref().map(|l| l.limiter().clone()),
            usage: self.usage_limiter.clone(),
        }
    }
}

/// A deployment's rate and usage-plan limiters, whose counters the metrics report.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limiters {
    pub(crate) rate: Option<Arc<RateLimiter>>,
    pub(crate) usage: Option<Arc<UsagePlanLimiter>>,
}

/// How a route answers and what the dispatcher needs to know about it.
pub(crate) struct RouteStack {
    pub(crate) handler: Handler<RouteService>,
    /// Whether a CORS policy applies, so that the dispatcher may route a pre-flight here.
    pub(crate) has_cors: bool,
}

/// What answers a route's requests.
#[derive(Debug, Clone)]
pub(crate) enum Handler<S> {
    /// The same answer to every request, when nothing of the request can change it: a stock
    /// response with no policy around it. The dispatcher answers with it directly.
    Fixed(StockResponse),
    /// The route's stack: its policies around its backend.
    Stack(S),
}

impl<S> Handler<S> {
    /// The same handler with its stack turned into `T` by `f`.
    pub(crate) fn map<T>(self, f: impl FnOnce(S) -> T) -> Handler<T> {
        match self {
            Self::Fixed(answer) => Handler::Fixed(answer),
            Self::Stack(stack) => Handler::Stack(f(stack)),
        }
    }
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
    let backend_path = format!("{path}.backend");
    let stock = match &route.backend {
        Backend::StockResponse(stock) => Some(StockResponse::compile(stock, &backend_path, diags)),
        _ => None,
    };
    let backend = match (&route.backend, &stock) {
        (_, Some(stock)) => BoxCloneSyncService::new(stock.clone()),
        (Backend::OAuth2Logout(logout), None) => {
            logout_backend(logout, &deployment.auth, &backend_path, diags)
        }
        (other, None) => backend(other, template, &backend_path, resources, diags),
    };
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
                Some(
                    AuthenticationLayer::new(policy.clone(), &access)
                        .body_budget(deployment.resources.body_budget.clone()),
                ),
                Some(AuthorizationLayer::new(access)),
            )
        }
        // The reasons are reported; such a deployment is never served.
        DeploymentAuth::Unusable => {
            return RouteStack {
                handler: Handler::Stack(BoxCloneSyncService::new(
                    ErrorResponseLayer::new().layer(refuse("authentication")),
                )),
                has_cors: false,
            }
        }
    };
    let cache = request
        .and_then(|p| p.response_cache_lookup.as_ref())
        .and_then(|lookup| {
            let store_policy = route
                .response_policies
                .as_ref()
                .and_then(|p| p.response_cache_store.as_ref());
            match ResponseCachePolicy::compile(
                &deployment.name,
                lookup,
                store_policy,
                deployment.credentials.clone(),
                deployment.resources.response_cache.clone(),
            ) {
                Ok(policy) => policy.map(|p| ResponseCacheLayer::new(Arc::new(p))),
                Err(e) => {
                    diags.error(
                        format!("{request_path}.responseCacheLookup.cacheKeyAdditions"),
                        e.to_string(),
                    );
                    None
                }
            }
        });
    // Usage-plan tokens read from `request.auth[…]` exist only after authentication.
    let (usage_before_auth, usage_after_auth) = match deployment.usage_plans_read_auth {
        false => (deployment.usage_plans.clone(), None),
        true => (None, deployment.usage_plans.clone()),
    };
    let has_cors = cors.is_some();
    // Built from the inside out.
    let stack = Stack::new(backend)
        .decorating(cache)
        .plain(request_transform)
        .decorating(response_transform)
        .plain(validation)
        .decorating(usage_after_auth)
        .plain(authorization)
        .plain(authentication)
        .decorating(usage_before_auth)
        .decorating(deployment.rate_limit.clone())
        .decorating(cors)
        .plain(deployment.mtls.clone());
    let handler = match stock {
        Some(answer) if !stack.wrapped => Handler::Fixed(answer),
        _ => Handler::Stack(BoxCloneSyncService::new(
            ErrorResponseLayer::new().layer(stack.service),
        )),
    };
    RouteStack { handler, has_cors }
}

/// What a policy's service must be to take its place in a route's [`Stack`].
trait Stackable:
    Service<Request<Body>, Response = Response<Body>, Error = GatewayError, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> Stackable for S where
    S: Service<
            Request<Body>,
            Response = Response<Body>,
            Error = GatewayError,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// A route's stack while it is built, from the backend outwards. Each policy the route has
/// wraps it in one more boxed service and nothing is there for the others, so a request pays
/// for the policies of its route and no more, and no future holds the empty variants of the
/// absent ones.
struct Stack {
    service: BackendService,
    /// Whether any policy wraps the backend.
    wrapped: bool,
}

impl Stack {
    fn new(backend: BackendService) -> Self {
        Self {
            service: backend,
            wrapped: false,
        }
    }

    /// Wraps the stack in `layer`, when the route has that policy.
    fn plain<L>(self, layer: Option<L>) -> Self
    where
        L: Layer<BackendService, Service: Stackable>,
    {
        match layer {
            Some(layer) => Self {
                service: BoxCloneSyncService::new(layer.layer(self.service)),
                wrapped: true,
            },
            None => self,
        }
    }

    /// Wraps the stack in `layer`, a policy that decorates every answer, with failures below
    /// it turned into answers first, so that its headers are on the gateway's own answers too
    /// (CORS, the rate headers of rate limits and usage plans, response header
    /// transformations, the cache's status).
    fn decorating<L>(self, layer: Option<L>) -> Self
    where
        L: Layer<ErrorResponse<BackendService, GatewayError>, Service: Stackable>,
    {
        match layer {
            Some(layer) => {
                let rescued = ErrorResponseLayer::<GatewayError>::default().layer(self.service);
                Self {
                    service: BoxCloneSyncService::new(layer.layer(rescued)),
                    wrapped: true,
                }
            }
            None => self,
        }
    }
}

/// An `OAUTH2_LOGOUT_BACKEND`: it ends the sessions of the deployment's `OAUTH2` failure
/// policy, so a deployment without one has nothing to log out of.
fn logout_backend(
    spec: &OAuth2LogoutBackend,
    auth: &DeploymentAuth,
    path: &str,
    diags: &mut Diagnostics,
) -> BackendService {
    let sessions = match auth {
        DeploymentAuth::Enforced(policy) => policy.sessions(),
        DeploymentAuth::Open | DeploymentAuth::Unusable => None,
    };
    match sessions {
        Some(sessions) => {
            BoxCloneSyncService::new(OAuth2Logout::compile(spec, sessions, path, diags))
        }
        None => {
            // An unusable policy is reported already; an open one or one without the flow is
            // this route's problem.
            if !matches!(auth, DeploymentAuth::Unusable) {
                diags
                    .error(
                        path,
                        "OAUTH2_LOGOUT_BACKEND ends OpenID Connect sessions, and the deployment has none",
                    )
                    .hint("add TOKEN_AUTHENTICATION with a REMOTE_DISCOVERY validation policy and an OAUTH2 validationFailurePolicy");
            }
            refuse("OAUTH2_LOGOUT_BACKEND")
        }
    }
}

/// The backend at `path`: a route's, or a dynamic-routing branch's (`branch` set).
fn backend(
    spec: &Backend,
    template: &PathTemplate,
    path: &str,
    resources: &Resources,
    diags: &mut Diagnostics,
) -> BackendService {
    branch_backend(spec, template, path, HostRule::Literal, resources, diags)
}

fn branch_backend(
    spec: &Backend,
    template: &PathTemplate,
    path: &str,
    host: HostRule<'_>,
    resources: &Resources,
    diags: &mut Diagnostics,
) -> BackendService {
    match spec {
        Backend::StockResponse(stock) => {
            BoxCloneSyncService::new(StockResponse::compile(stock, path, diags))
        }
        Backend::OracleFunctions(backend) => match resources.functions.get(&backend.function_id) {
            Some(function) => BoxCloneSyncService::new(
                FunctionBackend::new(function.clone())
                    .max_body(resources.request_limits.max_function_body_bytes)
                    .body_budget(resources.body_budget.clone()),
            ),
            // Reported as an unknown functionId: an error, or (for a specification served on
            // its own) a warning, and then the route answers as OCI does for a missing function.
            None => unbound_function(&backend.function_id),
        },
        Backend::Http(http) => BoxCloneSyncService::new(
            HttpBackendService::compile_with(&resources.http, http, path, template, host, diags)
                .trusted_proxies(resources.limits.trusted_proxies.clone()),
        ),
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
        // The loader refuses a logout backend inside dynamic routing.
        other => refuse(other.type_name()),
    }
}

/// A route to a function nothing is bound to: 500, `functionBackend.notFoundOrNotAuthorized`.
fn unbound_function(id: &str) -> BackendService {
    let function: Arc<str> = Arc::from(id);
    BoxCloneSyncService::new(tower::service_fn(move |_req: Request<Body>| {
        let error = InvokeError::NotInvocable {
            function: function.clone(),
            reason: "no function with this id is configured".to_owned(),
        };
        std::future::ready(Err(error.into()))
    }))
}

/// A backend that refuses every request (501): for a route whose `feature` could not be
/// built. That is reported as an error, so the route is never served; should it be, it fails
/// closed.
fn refuse(feature: &'static str) -> BackendService {
    BoxCloneSyncService::new(tower::service_fn(move |_req: Request<Body>| {
        std::future::ready(Err(GatewayError::Unsupported { feature }))
    }))
}

#[cfg(test)]
mod tests {
    use http::Request;
    use tower::ServiceExt;

    use crate::body::Body;
    use crate::gateway::Gateway;

    /// A deployment limited to 10 requests a second whose routes' backend refuses connections
    /// (nothing listens on port 1), one of them behind the response cache.
    const LIMITED: &str = r#"{
      "requestPolicies": { "rateLimiting": { "rateInRequestsPerSecond": 10, "rateKey": "TOTAL" } },
      "routes": [
        { "path": "/down", "methods": ["GET"],
          "backend": { "type": "HTTP_BACKEND", "url": "http://127.0.0.1:1/" } },
        { "path": "/cached", "methods": ["GET"],
          "backend": { "type": "HTTP_BACKEND", "url": "http://127.0.0.1:1/" },
          "requestPolicies": { "responseCacheLookup": { "type": "SIMPLE_LOOKUP_POLICY" } },
          "responsePolicies": { "responseCacheStore": {
            "type": "FIXED_TTL_STORE_POLICY", "timeToLiveInSeconds": 60 } } } ] }"#;

    /// A failure is answered as any other answer is decorated: the policies above the layer
    /// that failed add their headers to it.
    #[tokio::test]
    async fn a_failed_backend_answer_carries_the_rate_and_cache_headers() {
        let service = Gateway::builder()
            .deployment("limited", "/l", LIMITED)
            .build()
            .expect("builds");
        for path in ["/l/down", "/l/cached"] {
            let req = Request::get(path).body(Body::empty()).expect("request");
            let res = service
                .clone()
                .oneshot(req)
                .await
                .unwrap_or_else(|never| match never {});
            assert_eq!(res.status(), 502, "{path}");
            for name in [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ] {
                assert!(
                    res.headers().contains_key(name),
                    "{path} {name}: {:?}",
                    res.headers()
                );
            }
            if path == "/l/cached" {
                assert_eq!(res.headers()["x-cache-status"], "MISS", "{path}");
            }
        }
    }
}
