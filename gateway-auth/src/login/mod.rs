//! `TOKEN_AUTHENTICATION` with an `OAUTH2` validation failure policy (reference 4.1.3): a
//! browser without a valid token or session logs in at the identity provider through the
//! OpenID Connect authorization-code flow, and then carries a session.
//!
//! * **Tokens first.** A request with a token where the policy looks for one (an API client)
//!   is validated exactly as without the failure policy.
//! * **Sessions.** Otherwise the session is read from its cookie (`useCookiesForSession`,
//!   the default) or from the `X-APIGW-TOKEN` header. It is sealed (AES-256-GCM, key derived
//!   from the client secret: see [`seal`]), expires with its access token or after
//!   `maxExpiryDurationInHours`, whichever is first, and is refused once logged out. A cookie
//!   session's state-changing requests (anything but GET, HEAD, OPTIONS) must repeat the
//!   session's CSRF token, `request.auth[apigw_csrf_token]`, in `X-CSRF-TOKEN`. When the
//!   provider can introspect, the session's access token is checked with it (cached as any
//!   token), so a token revoked at the provider ends the session. The caller is the ID token's
//!   claims (`request.auth[sub]`, …) plus `request.auth[id_token]` and
//!   `request.auth[access_token]`.
//! * **Login.** A GET or HEAD that accepts `text/html` is redirected to the provider's
//!   authorization endpoint with `state`, `nonce` and, with `usePkce`, an S256 challenge; its
//!   `redirect_uri` is the URL asked for (OCI's default, so the provider must list each
//!   protected page a login can start from). Another method from a browser goes back to
//!   `fallbackRedirectPath` when one is set. Any other request gets the 401. What the callback
//!   needs is kept in a sealed cookie per login (`useCookiesForIntermediateSteps`, the
//!   default) or in memory for ten minutes.
//! * **Callback.** The provider's redirect back is recognised by its `state`, answered by the
//!   gateway: the code is exchanged (client secret, PKCE verifier), the ID token validated
//!   (signature with the provider's keys, `iss`, `aud`, `exp`, `nonce`), the session set, and
//!   the browser sent to the page it asked for.
//! * **Logout** ([`Sessions::logout`], an `OAUTH2_LOGOUT_BACKEND`): the session is cleared and
//!   remembered as ended until it would have expired, its access token's cached introspection
//!   dropped, and the browser sent to the provider's `end_session_endpoint` (with
//!   `id_token_hint`, `post_logout_redirect_uri`, `state`) or straight to the post-logout URL.

mod cookies;
mod flow;
mod seal;
mod session;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method};

use gateway_core::auth::{AuthOutcome, Authenticator, Sessions};
use gateway_core::BoxFuture;
use gateway_core::RequestContext;

use crate::discovery::Provider;
use crate::introspect::IntrospectionAuthenticator;
use crate::jwt::JwtAuthenticator;
use crate::secrets::{Secret, SecretError};
use crate::token::{Extracted, TokenLocation};

use flow::LoginFlow;

/// How a deployment's `OAUTH2` failure policy runs the login, as configured.
#[derive(Debug)]
pub(crate) struct LoginSettings {
    /// The provider whose discovery document names the endpoints.
    pub(crate) provider: Arc<Provider>,
    /// The gateway's client at the provider.
    pub(crate) client_id: String,
    /// Its secret, or why it is missing (then logins answer 500).
    pub(crate) secret: Result<Secret, SecretError>,
    /// `scopes`, space-separated.
    pub(crate) scopes: String,
    /// `usePkce`.
    pub(crate) use_pkce: bool,
    /// `useCookiesForSession` (default true).
    pub(crate) cookie_sessions: bool,
    /// `useCookiesForIntermediateSteps` (default true).
    pub(crate) cookie_steps: bool,
    /// `maxExpiryDurationInHours`.
    pub(crate) max_session: Duration,
    /// `fallbackRedirectPath`, relative to the deployment's prefix.
    pub(crate) fallback_redirect_path: Option<String>,
    /// `logoutPath`, relative to the deployment's prefix: never redirected to log in.
    pub(crate) logout_path: Option<String>,
    /// Validates ID tokens: the provider's keys, `aud` the client.
    pub(crate) id_tokens: JwtAuthenticator,
    /// Checks sessions' access tokens, when the validation policy introspects.
    pub(crate) introspection: Option<Arc<IntrospectionAuthenticator>>,
}

/// The validation policy's authenticator with the login flow around it.
#[derive(Debug)]
pub(crate) struct LoginAuthenticator {
    location: TokenLocation,
    tokens: Arc<dyn Authenticator>,
    flow: LoginFlow,
    /// The same flow, as the layer and the logout backend take it.
    sessions: Arc<dyn Sessions>,
}

impl LoginAuthenticator {
    /// `tokens` validates tokens found at `location`; sessions and logins follow `settings`.
    pub(crate) fn new(
        location: TokenLocation,
        tokens: Arc<dyn Authenticator>,
        settings: LoginSettings,
    ) -> Self {
        let flow = LoginFlow::new(settings);
        Self {
            location,
            tokens,
            sessions: Arc::new(flow.clone()),
            flow,
        }
    }
}

impl Authenticator for LoginAuthenticator {
    fn authenticate(
        &self,
        req: &Parts,
        ctx: &RequestContext,
        body: Option<&Bytes>,
    ) -> BoxFuture<'static, AuthOutcome> {
        match self.location.extract(req) {
            Extracted::Missing => self.flow.session(req),
            _ => self.tokens.authenticate(req, ctx, body),
        }
    }

    fn challenge(&self) -> Option<HeaderValue> {
        self.tokens.challenge()
    }

    fn unverified_claim(&self, req: &Parts, claim: &str) -> Option<String> {
        self.tokens.unverified_claim(req, claim)
    }

    fn sessions(&self) -> Option<Arc<dyn Sessions>> {
        Some(self.sessions.clone())
    }
}

/// Methods that change nothing, which a cookie session may send without the CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
