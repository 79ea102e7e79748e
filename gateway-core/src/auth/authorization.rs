//! Route `authorization` (reference 4.2) as a tower layer.
//!
//! It runs inside the authentication layer, which has already recorded the caller (or let an
//! anonymous caller through to an `ANONYMOUS` route), so all that is left is the route's own
//! rule: `ANONYMOUS` admits everyone, `AUTHENTICATION_ONLY` any caller, `ANY_OF` a caller with
//! one of the listed scopes — and a caller without one gets OCI's observed 404, not 403, so
//! the route's existence is not revealed.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};

use crate::body::Body;
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::future::PolicyFuture;
use crate::spec::{Route, RouteAuthorization};

/// Who may call a route, compiled from its `authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAccess {
    /// Everyone, authenticated or not.
    Anonymous,
    /// Any authenticated caller; the default when a deployment authenticates.
    AuthenticationOnly,
    /// An authenticated caller with at least one of these scopes (case-sensitive).
    AnyOf(Arc<[String]>),
}

impl RouteAccess {
    /// The access an `authorization` policy grants; none means `AUTHENTICATION_ONLY`.
    pub fn from_spec(authorization: Option<&RouteAuthorization>) -> Self {
        match authorization {
            Some(RouteAuthorization::Anonymous) => RouteAccess::Anonymous,
            Some(RouteAuthorization::AnyOf(a)) => {
                RouteAccess::AnyOf(a.allowed_scope.iter().cloned().collect())
            }
            Some(RouteAuthorization::AuthenticationOnly) | None => RouteAccess::AuthenticationOnly,
        }
    }

    /// The access of `route`.
    pub fn of_route(route: &Route) -> Self {
        Self::from_spec(
            route
                .request_policies
                .as_ref()
                .and_then(|p| p.authorization.as_ref()),
        )
    }

    /// `Ok` when the request may proceed, else the error the client gets.
    fn check(&self, ctx: Option<&RequestContext>) -> Result<(), GatewayError> {
        let caller = ctx.and_then(RequestContext::auth);
        match (self, caller) {
            (RouteAccess::Anonymous, _) => Ok(()),
            // Only reachable when the layers are wired without authentication in front:
            // fail closed.
            (_, None) => Err(GatewayError::Unauthenticated {
                challenge: None,
                reason: "the route needs an authenticated caller".to_owned(),
            }),
            (RouteAccess::AuthenticationOnly, Some(_)) => Ok(()),
            (RouteAccess::AnyOf(allowed), Some(caller)) => {
                if caller.scopes.iter().any(|s| allowed.contains(s)) {
                    Ok(())
                } else {
                    Err(GatewayError::ScopeNotAllowed)
                }
            }
        }
    }
}

/// Applies a route's [`RouteAccess`].
#[derive(Debug, Clone)]
pub struct AuthorizationLayer {
    access: RouteAccess,
}

impl AuthorizationLayer {
    /// A layer that admits the callers `access` allows.
    pub fn new(access: RouteAccess) -> Self {
        Self { access }
    }
}

impl<S> Layer<S> for AuthorizationLayer {
    type Service = Authorization<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorization {
            inner,
            access: self.access.clone(),
        }
    }
}

/// Lets a request through to `S` only when the route's access rule admits its caller.
#[derive(Debug, Clone)]
pub struct Authorization<S> {
    inner: S,
    access: RouteAccess,
}

impl<S> Authorization<S> {
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

impl<S> Service<Request<Body>> for Authorization<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: From<GatewayError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = PolicyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        match self.access.check(req.extensions().get::<RequestContext>()) {
            Ok(()) => PolicyFuture::inner(self.inner.call(req)),
            Err(error) => PolicyFuture::refused(error),
        }
    }
}
