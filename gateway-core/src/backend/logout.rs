//! `OAUTH2_LOGOUT_BACKEND` (reference 3.5): ends the caller's OpenID Connect session.
//!
//! The client may name where it wants to go afterwards in the `postLogoutUrl` query
//! parameter; that URL must be one of the route's `allowedPostLogoutUris` (each a template with
//! context variables, rendered for the request) unless the list is empty, and anything else is
//! refused with 400 before the session is touched. `postLogoutState` is rendered from context
//! variables and passed along. The rest — clearing the session, remembering it as ended,
//! sending the browser to the provider's end-session endpoint — belongs to the deployment's
//! [`Sessions`], which the backend is compiled with.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use crate::auth::{detached_context, Sessions};
use crate::body::Body;
use crate::context::{decoded_query_value, RequestContext};
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::future::BoxFuture;
use crate::spec::OAuth2LogoutBackend;
use crate::vars::{TableSet, Template};

/// The compiled logout backend.
#[derive(Debug, Clone)]
pub struct OAuth2Logout {
    sessions: Arc<dyn Sessions>,
    allowed: Arc<[Template]>,
    state: Option<Template>,
}

impl OAuth2Logout {
    /// Compiles the backend at `path` for the deployment's `sessions`; templates that do not
    /// parse are reported there (the loader has already checked them, so this is a backstop).
    pub fn compile(
        spec: &OAuth2LogoutBackend,
        sessions: Arc<dyn Sessions>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Self {
        let mut template = |text: &str, at: String| match Template::parse(text, TableSet::REQUEST) {
            Ok(t) => Some(t),
            Err(e) => {
                diags.error(at, e.to_string());
                None
            }
        };
        let allowed = spec
            .allowed_post_logout_uris
            .iter()
            .enumerate()
            .filter_map(|(i, uri)| template(uri, format!("{path}.allowedPostLogoutUris[{i}]")))
            .collect();
        let state = spec
            .post_logout_state
            .as_deref()
            .and_then(|s| template(s, format!("{path}.postLogoutState")));
        Self {
            sessions,
            allowed,
            state,
        }
    }
}

impl Service<Request<Body>> for OAuth2Logout {
    type Response = Response<Body>;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<Response<Body>, GatewayError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (mut parts, _body) = req.into_parts();
        if parts.extensions.get::<RequestContext>().is_none() {
            let ctx = detached_context(&parts);
            parts.extensions.insert(ctx);
        }
        let Some(ctx) = parts.extensions.get::<RequestContext>() else {
            let error = GatewayError::AuthUnavailable("no request context".to_owned());
            return Box::pin(std::future::ready(Err(error)));
        };
        let vars = ctx.vars(&parts.headers);
        let wanted = ctx
            .query()
            .and_then(|q| decoded_query_value(q, "postLogoutUrl"))
            .filter(|url| !url.is_empty());
        if let Some(url) = &wanted {
            let allowed =
                self.allowed.is_empty() || self.allowed.iter().any(|t| t.render(&vars) == *url);
            if !allowed {
                tracing::debug!(post_logout_url = url.as_str(), "logout refused");
                let error = GatewayError::PostLogoutUrlNotAllowed;
                return Box::pin(std::future::ready(Err(error)));
            }
        }
        let state = self
            .state
            .as_ref()
            .map(|t| t.render(&vars))
            .filter(|s| !s.is_empty());
        self.sessions.logout(&parts, ctx, wanted, state)
    }
}
