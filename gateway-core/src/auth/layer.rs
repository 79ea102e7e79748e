//! The deployment's authentication as a tower layer: OCI's outcome table (reference 5.4).
//!
//! | outcome | non-`ANONYMOUS` route | `ANONYMOUS` route (anonymous access allowed) |
//! |---|---|---|
//! | authenticated | proceeds with `request.auth` | proceeds with `request.auth` |
//! | no credentials | 401 / failure policy | proceeds without `request.auth` |
//! | rejected (`active: false`, 4xx, bad token) | 401 + `WWW-Authenticate` / failure policy | proceeds without `request.auth` |
//! | authorizer failed (5xx, timeout, junk) | 502 | proceeds without `request.auth` |
//! | keys unavailable (JWKS fetch failed) | 500 | proceeds without `request.auth` |
//!
//! On `ANONYMOUS` routes credentials are still checked when present, so that a signed-in
//! caller is recognised, but a failed check never blocks a route its policy makes public
//! (reference 4.2 leaves this open; this is its proposal).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};

use tower::{Layer, Service};

use super::authorization::RouteAccess;
use super::detached::detached_context;
use super::policy::{AuthPolicy, Choice};
use super::{AuthOutcome, SessionResponse};
use crate::body::Body;
use crate::context::{AuthContext, RequestContext};
use crate::error::GatewayError;
use crate::future::BoxFuture;
use crate::request_limits::MAX_FUNCTION_BODY;
use crate::request_limits::{buffer, held_body, BodyBudget};

/// The largest request body buffered for an authorizer that reads `request.body`: the body
/// travels inside the function's input, so the function body limit applies.
pub const MAX_AUTH_BODY: usize = MAX_FUNCTION_BODY;

/// Applies a deployment's authentication to one route.
#[derive(Debug, Clone)]
pub struct AuthenticationLayer {
    policy: Arc<AuthPolicy>,
    anonymous_route: bool,
    budget: BodyBudget,
}

impl AuthenticationLayer {
    /// `access` is the route's authorization: an `ANONYMOUS` route lets callers through
    /// without valid credentials when the selected server allows anonymous access.
    pub fn new(policy: Arc<AuthPolicy>, access: &RouteAccess) -> Self {
        Self {
            policy,
            anonymous_route: *access == RouteAccess::Anonymous,
            budget: BodyBudget::default(),
        }
    }

    /// The budget a body read for an authorizer is held against (by default one of this
    /// layer's own, of the default size).
    pub fn body_budget(mut self, budget: BodyBudget) -> Self {
        self.budget = budget;
        self
    }
}

impl<S> Layer<S> for AuthenticationLayer {
    type Service = Authentication<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authentication {
            inner,
            policy: self.policy.clone(),
            anonymous_route: self.anonymous_route,
            budget: self.budget.clone(),
        }
    }
}

/// Authenticates each request before `S` sees it; see the module docs for the outcomes.
///
/// Reads the dispatcher's [`RequestContext`] from the request extensions (or, used outside a
/// gateway, builds a [`detached_context`]) and records the caller there
/// ([`RequestContext::set_auth`]).
#[derive(Debug, Clone)]
pub struct Authentication<S> {
    inner: S,
    policy: Arc<AuthPolicy>,
    anonymous_route: bool,
    budget: BodyBudget,
}

impl<S> Authentication<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<Request<Body>> for Authentication<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Error: From<GatewayError>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    // Authentication awaits a function call or a key fetch before the inner service runs, so
    // the future is a state machine of its own; one allocation per authenticated request.
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The service polled ready is the one that must be called; keep a fresh clone here.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(authenticate(
            self.policy.clone(),
            self.anonymous_route,
            self.budget.clone(),
            inner,
            req,
        ))
    }
}

/// What to do with the request.
enum Decision {
    /// Hand it on, with the caller when there is one.
    Proceed(Option<Arc<AuthContext>>),
    /// Answer now.
    Respond(Result<Response<Body>, GatewayError>),
    /// Answer with what the session flow says (a redirect to log in).
    Session(BoxFuture<'static, SessionResponse>),
}

async fn authenticate<S>(
    policy: Arc<AuthPolicy>,
    anonymous_route: bool,
    budget: BodyBudget,
    mut inner: S,
    req: Request<Body>,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: From<GatewayError>,
{
    let (mut parts, body) = req.into_parts();
    // Used on its own, outside a gateway, the layer builds the context the dispatcher would.
    if parts.extensions.get::<RequestContext>().is_none() {
        let ctx = detached_context(&parts);
        parts.extensions.insert(ctx);
    }
    let Some(ctx) = parts.extensions.get::<RequestContext>() else {
        return Err(GatewayError::AuthUnavailable("no request context".to_owned()).into());
    };
    let server = match policy.choose(&parts, ctx) {
        Choice::Server(server) => server,
        Choice::NoServer if anonymous_route && policy.allows_anonymous() => {
            return inner.call(Request::from_parts(parts, body)).await;
        }
        Choice::NoServer => return Err(policy.no_server_error().into()),
    };
    // The identity provider sending the browser back: the login completes here, and the
    // browser is sent on to the page it asked for.
    let sessions = server.authenticator.sessions();
    if let Some(callback) = sessions.as_ref().and_then(|s| s.callback(&parts, ctx)) {
        return callback.await.map_err(S::Error::from);
    }
    let (body, buffered) = if server.authenticator.needs_body() {
        match buffer(body, MAX_AUTH_BODY as u64, &budget).await {
            // The body stays counted until the backend is done with it.
            Ok((bytes, held)) => (held_body(bytes.clone(), held), Some(bytes)),
            Err(error) => return Err(GatewayError::from(error).into()),
        }
    } else {
        (body, None)
    };
    let started = Instant::now();
    let outcome = server
        .authenticator
        .authenticate(&parts, ctx, buffered.as_ref())
        .await;
    // Authorizer functions and key servers are outside the gateway: their time is integration
    // latency, as OCI counts it.
    if let Some(exchange) = ctx.exchange() {
        exchange.add_integration(started.elapsed());
    }
    let anonymous = anonymous_route && server.anonymous;
    tracing::debug!(
        request_id = ctx.request_id().as_str(),
        outcome = outcome.kind(),
        anonymous_route = anonymous,
        "authentication"
    );
    // Instead of a 401, a browser without a valid session is sent to log in.
    let login = match (&outcome, &sessions) {
        (AuthOutcome::NoCredentials | AuthOutcome::Rejected(_), Some(s)) if !anonymous => {
            s.login(&parts, ctx)
        }
        _ => None,
    };
    let decision = match (outcome, login) {
        (AuthOutcome::Authenticated(caller), _) => Decision::Proceed(Some(caller)),
        (_, Some(login)) => Decision::Session(login),
        (other, None) if anonymous => {
            if let AuthOutcome::Failed(reason) | AuthOutcome::Unavailable(reason) = &other {
                tracing::warn!(
                    request_id = ctx.request_id().as_str(),
                    reason = reason.as_str(),
                    "authentication failed on an anonymous route; continuing without a caller"
                );
            }
            Decision::Proceed(None)
        }
        (AuthOutcome::NoCredentials, None) => {
            Decision::Respond(server.failure_response(&parts, ctx, None))
        }
        (AuthOutcome::Rejected(rejection), None) => {
            tracing::info!(
                request_id = ctx.request_id().as_str(),
                reason = rejection.reason.as_str(),
                "credentials rejected"
            );
            Decision::Respond(server.failure_response(&parts, ctx, Some(rejection)))
        }
        (AuthOutcome::Failed(reason), None) => {
            Decision::Respond(Err(GatewayError::AuthorizerFailed(reason)))
        }
        (AuthOutcome::Unavailable(reason), None) => {
            Decision::Respond(Err(GatewayError::AuthUnavailable(reason)))
        }
    };
    match decision {
        Decision::Respond(answer) => answer.map_err(S::Error::from),
        Decision::Session(answer) => answer.await.map_err(S::Error::from),
        Decision::Proceed(caller) => {
            if let (Some(caller), Some(ctx)) =
                (caller, parts.extensions.get_mut::<RequestContext>())
            {
                ctx.set_auth(caller);
            }
            inner.call(Request::from_parts(parts, body)).await
        }
    }
}
