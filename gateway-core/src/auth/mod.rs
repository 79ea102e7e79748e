//! Authentication and route authorization (reference 4.1, 4.2, 5.4).
//!
//! The core knows *what* an authentication policy decides, not *how*: an [`Authenticator`]
//! looks at a request and returns an [`AuthOutcome`]; the layers here turn outcomes into
//! OCI's answers. Authenticators (authorizer functions, JWT and JWKS) live in `gateway-auth`
//! and reach the core through an [`AuthenticatorFactory`] handed to the gateway builder, so
//! the dependency only ever points from `gateway-auth` to `gateway-core`.
//!
//! The pieces, in the order a request meets them:
//!
//! * [`compile_authentication`] builds a deployment's [`AuthPolicy`] once, at load time: one
//!   authenticator per `authentication` policy, or one per server of a `dynamicAuthentication`
//!   policy plus its selection rules, each with its compiled `MODIFY_RESPONSE` failure policy.
//! * [`AuthenticationLayer`] (deployment level) selects the server, buffers the body only when
//!   the authenticator reads `request.body`, runs the authenticator, and applies the outcome
//!   table of reference 5.4: the caller is recorded in the [`RequestContext`], or the client gets
//!   401 (or the failure policy's response), 502 or 500.
//! * [`AuthorizationLayer`] (route level) checks the route's `authorization`: `ANONYMOUS`,
//!   `AUTHENTICATION_ONLY`, or `ANY_OF` scopes with OCI's 404 for a missing scope.
//!
//! [`RequestContext`]: crate::context::RequestContext

mod authorization;
mod detached;
mod failure;
mod layer;
mod policy;
mod select;
#[cfg(test)]
mod tests;

pub use authorization::{Authorization, AuthorizationLayer, RouteAccess};
pub use detached::detached_context;
pub use layer::{Authentication, AuthenticationLayer, MAX_AUTH_BODY};
pub use policy::{compile_authentication, AuthPolicy, DeploymentAuth};

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response};

use crate::body::Body;
use crate::context::{AuthContext, RequestContext};
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::function::FunctionRegistry;
use crate::future::BoxFuture;
use crate::spec::Authentication as AuthenticationSpec;

/// What an authenticator decided about one request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// Valid credentials: the caller, its scopes and its `request.auth` values.
    Authenticated(Arc<AuthContext>),
    /// The request carries no credentials where the policy looks for them.
    NoCredentials,
    /// Credentials were presented and are not valid (an authorizer's `active: false` or 4xx,
    /// a bad or expired token): 401, or the failure policy's response.
    Rejected(Rejection),
    /// The authenticator could not decide (an authorizer's 5xx, a failed or timed-out
    /// invocation, an answer outside the contract): 502. Never a pass.
    Failed(String),
    /// What the authenticator needs is unavailable (a JWKS that cannot be fetched): 500.
    Unavailable(String),
}

impl AuthOutcome {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthOutcome::Authenticated(_) => "authenticated",
            AuthOutcome::NoCredentials => "no credentials",
            AuthOutcome::Rejected(_) => "rejected",
            AuthOutcome::Failed(_) => "failed",
            AuthOutcome::Unavailable(_) => "unavailable",
        }
    }
}

/// Why credentials were refused, and what the failure response may use.
#[derive(Debug, Clone, Default)]
pub struct Rejection {
    /// The `WWW-Authenticate` value to send (an authorizer's `wwwAuthenticate`); the
    /// authenticator's [`challenge`](Authenticator::challenge) is used when absent.
    pub www_authenticate: Option<HeaderValue>,
    /// Values an authorizer returned with `active: false`; a `MODIFY_RESPONSE` policy reads
    /// them as `request.auth[...]` (e.g. `responseCode`).
    pub context: Option<Arc<AuthContext>>,
    /// For logs only; never sent to the client.
    pub reason: String,
}

impl Rejection {
    /// A rejection with only a reason for the logs.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            ..Self::default()
        }
    }
}

/// Checks a request's credentials for one authentication policy.
///
/// Implementations extract what they need from `req` and `ctx` synchronously and return a
/// `'static` future, so the request can be handed on after the check without copying it.
pub trait Authenticator: Send + Sync + fmt::Debug + 'static {
    /// Decides about one request. `body` is the buffered request body, present exactly when
    /// [`needs_body`](Authenticator::needs_body) is true.
    fn authenticate(
        &self,
        req: &Parts,
        ctx: &RequestContext,
        body: Option<&Bytes>,
    ) -> BoxFuture<'static, AuthOutcome>;

    /// Whether [`authenticate`](Authenticator::authenticate) reads the request body (a
    /// multi-argument authorizer with a `request.body` parameter). Only then is the body
    /// buffered, bounded by [`MAX_AUTH_BODY`], and put back for the backend.
    fn needs_body(&self) -> bool {
        false
    }

    /// The `WWW-Authenticate` value for a 401 when the outcome carries none, e.g. `Bearer`.
    fn challenge(&self) -> Option<HeaderValue> {
        None
    }

    /// A claim of the request's token read **without** validating it, for a
    /// `dynamicAuthentication` selector `request.auth[claim]` (reference 4.1.4): the claim picks
    /// the server that then validates the token. `None` when there is no token, it is not a
    /// JWT, or it has no such claim. Strings as-is, other JSON values as JSON text.
    fn unverified_claim(&self, req: &Parts, claim: &str) -> Option<String> {
        let _ = (req, claim);
        None
    }

    /// The browser sessions of an `OAUTH2` validation failure policy, when this authenticator
    /// runs the OpenID Connect login flow: the layer hands it the provider's redirects back
    /// and the requests it would otherwise refuse, and an `OAUTH2_LOGOUT_BACKEND` ends them.
    fn sessions(&self) -> Option<Arc<dyn Sessions>> {
        None
    }
}

/// What a gateway answers on its own, or the failure to turn into OCI's error response.
pub type SessionResponse = Result<Response<Body>, GatewayError>;

/// Browser sessions established through the OpenID Connect authorization-code flow (an
/// `OAUTH2` validation failure policy, reference 4.1.3). Implemented by `gateway-auth`.
///
/// The session itself is a credential like a token: the [`Authenticator`] that returns these
/// sessions also accepts them in [`authenticate`](Authenticator::authenticate).
pub trait Sessions: Send + Sync + fmt::Debug {
    /// The identity provider sending the browser back with a code (or an error): `Some` when
    /// `req` completes a login this gateway started, answered without the route's backend.
    fn callback(
        &self,
        req: &Parts,
        ctx: &RequestContext,
    ) -> Option<BoxFuture<'static, SessionResponse>>;

    /// Instead of a 401 for a request without a valid session: the redirect that starts a
    /// login. `None` when the request is not one a person makes in a browser (no
    /// `Accept: text/html`), which then gets the 401.
    fn login(
        &self,
        req: &Parts,
        ctx: &RequestContext,
    ) -> Option<BoxFuture<'static, SessionResponse>>;

    /// Ends the session `req` carries, here and at the provider, for an
    /// `OAUTH2_LOGOUT_BACKEND`: `post_logout_url` has already been checked against the
    /// route's `allowedPostLogoutUris`; `state` is its `postLogoutState`.
    fn logout(
        &self,
        req: &Parts,
        ctx: &RequestContext,
        post_logout_url: Option<String>,
        state: Option<String>,
    ) -> BoxFuture<'static, SessionResponse>;
}

/// Builds authenticators from specification policies; implemented by `gateway-auth` and given
/// to the gateway builder, so the core never names the types that do the work.
pub trait AuthenticatorFactory: Send + Sync + fmt::Debug {
    /// Builds the authenticator for `policy`, found at JSON path `path` of the specification;
    /// authorizer functions are looked up in `functions`, the gateway's own. Every problem (an
    /// unknown authorizer function, an unusable key, a missing client) is reported in `diags`;
    /// `None` means the policy cannot be enforced and must not be served.
    fn build(
        &self,
        policy: &AuthenticationSpec,
        functions: &FunctionRegistry,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Arc<dyn Authenticator>>;
}
