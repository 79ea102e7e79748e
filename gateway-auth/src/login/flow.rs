//! The login flow's steps: sessions read, logins started, callbacks completed, logouts.

use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use gateway_core::auth::{AuthOutcome, Rejection, SessionResponse, Sessions};
use gateway_core::Body;
use gateway_core::BoxFuture;
use gateway_core::GatewayError;
use gateway_core::{decoded_query_value, AuthContext, RequestContext};

use super::cookies;
use super::seal::{pkce_challenge, random_token, Sealer};
use super::session::{now_seconds, EndedSessions, Pending, PendingLogins, Session, LOGIN_SECONDS};
use super::{is_safe, LoginSettings};
use crate::discovery::ProviderMetadata;
use crate::fetch::fetch_document;
use crate::jwt::auth_context;

/// The session cookie's name.
const SESSION_COOKIE: &str = "apigw_session";
/// The header carrying the session when `useCookiesForSession` is off.
const SESSION_HEADER: HeaderName = HeaderName::from_static("x-apigw-token");
/// The header a cookie session's state-changing requests repeat the CSRF token in.
const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");
/// Each login's cookie is this prefix and the login's `state`.
const LOGIN_COOKIE_PREFIX: &str = "apigw_login_";
/// Logins under way kept in memory at once, without intermediate cookies.
const PENDING_CAPACITY: usize = 10_000;

/// One deployment's login flow and sessions; cheap to clone into the futures it returns.
#[derive(Debug, Clone)]
pub(crate) struct LoginFlow(Arc<FlowState>);

#[derive(Debug)]
struct FlowState {
    settings: LoginSettings,
    /// `None` when the client secret is missing: no session can be made or read.
    sealer: Option<Sealer>,
    ended: EndedSessions,
    pending: PendingLogins,
}

impl LoginFlow {
    pub(super) fn new(settings: LoginSettings) -> Self {
        let sealer = settings
            .secret
            .as_ref()
            .ok()
            .map(|secret| Sealer::derive(secret.expose(), &settings.client_id));
        Self(Arc::new(FlowState {
            settings,
            sealer,
            ended: EndedSessions::default(),
            pending: PendingLogins::new(PENDING_CAPACITY),
        }))
    }

    /// The sealed session the request carries, opened; `Err` says why it is not usable.
    fn read_session(&self, parts: &Parts) -> Result<Option<Session>, String> {
        let raw = if self.0.settings.cookie_sessions {
            cookies::get_chunked(&parts.headers, SESSION_COOKIE)
        } else {
            parts
                .headers
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let sealer = self
            .0
            .sealer
            .as_ref()
            .ok_or("no client secret to open sessions with")?;
        sealer
            .open(SESSION_COOKIE, &raw)
            .and_then(|plain| serde_json::from_slice::<Session>(&plain).ok())
            .map(Some)
            .ok_or_else(|| "the session is not one this gateway sealed".to_owned())
    }

    /// The caller a session names, or why there is none.
    pub(super) fn session(&self, parts: &Parts) -> BoxFuture<'static, AuthOutcome> {
        let session = match self.read_session(parts) {
            Ok(Some(session)) => session,
            Ok(None) => return ready(AuthOutcome::NoCredentials),
            Err(reason) => return ready(refused(reason)),
        };
        if session.exp <= now_seconds() {
            return ready(refused("the session has expired"));
        }
        if self.0.ended.is_ended(&session.sid) {
            return ready(refused("the session was logged out"));
        }
        if self.0.settings.cookie_sessions && !is_safe(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
            if sent != Some(session.csrf.as_bytes()) {
                return ready(refused(
                    "a cookie session's request without its X-CSRF-TOKEN",
                ));
            }
        }
        let caller = session_caller(&session, self.0.settings.cookie_sessions);
        let (Some(introspection), Some(token)) =
            (&self.0.settings.introspection, session.access_token)
        else {
            return ready(AuthOutcome::Authenticated(Arc::new(caller)));
        };
        let checked = introspection.check_token(token);
        Box::pin(async move {
            match checked.await {
                AuthOutcome::Authenticated(active) => {
                    let mut caller = caller;
                    if caller.scopes.is_empty() {
                        caller.scopes.clone_from(&active.scopes);
                    }
                    AuthOutcome::Authenticated(Arc::new(caller))
                }
                AuthOutcome::Rejected(_) | AuthOutcome::NoCredentials => {
                    refused("the session's access token is no longer active")
                }
                other => other,
            }
        })
    }

    /// Where the request came from: `scheme://host`, as the browser sees it.
    fn origin(parts: &Parts) -> Option<String> {
        let forwarded = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or_default().trim())
            .filter(|p| *p == "https" || *p == "http");
        let scheme = forwarded
            .or_else(|| parts.uri.scheme_str())
            .or_else(|| {
                parts
                    .extensions
                    .get::<http::uri::Scheme>()
                    .map(http::uri::Scheme::as_str)
            })
            .unwrap_or("http");
        let host = parts
            .uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| parts.headers.get(http::header::HOST)?.to_str().ok())?;
        Some(format!("{scheme}://{host}"))
    }

    /// The path cookies are scoped to: the deployment's prefix.
    fn cookie_path(ctx: &RequestContext) -> &str {
        match &*ctx.route().path_prefix {
            "" => "/",
            prefix => prefix,
        }
    }

    /// `path` (relative to the deployment's prefix) as a path on this gateway.
    fn deployment_path(ctx: &RequestContext, path: &str) -> String {
        let prefix = ctx.route().path_prefix.trim_end_matches('/');
        let path = path.trim_start_matches('/');
        format!("{prefix}/{path}")
    }

    fn no_secret(&self) -> GatewayError {
        let reason = match &self.0.settings.secret {
            Err(e) => format!("cannot log in: {e}"),
            Ok(_) => "cannot log in".to_owned(),
        };
        GatewayError::AuthUnavailable(reason)
    }

    /// The provider's metadata, or the 500 that says it is unavailable.
    async fn metadata(
        provider: &crate::discovery::Provider,
    ) -> Result<Arc<ProviderMetadata>, GatewayError> {
        provider.metadata().await.map_err(|e| {
            GatewayError::AuthUnavailable(format!("discovery document unavailable from {e}"))
        })
    }
}

impl Sessions for LoginFlow {
    fn callback(
        &self,
        parts: &Parts,
        ctx: &RequestContext,
    ) -> Option<BoxFuture<'static, SessionResponse>> {
        if parts.method != Method::GET {
            return None;
        }
        let query = ctx.query()?;
        let state = decoded_query_value(query, "state")?;
        let code = decoded_query_value(query, "code");
        let error = decoded_query_value(query, "error");
        if code.is_none() && error.is_none() {
            return None;
        }
        let login_cookie = format!("{LOGIN_COOKIE_PREFIX}{state}");
        let pending: Pending = if self.0.settings.cookie_steps {
            let raw = cookies::get(&parts.headers, &login_cookie)?;
            let plain = self.0.sealer.as_ref()?.open(&login_cookie, &raw)?;
            serde_json::from_slice(&plain).ok()?
        } else {
            self.0.pending.take(&state)?
        };
        // The provider sends the browser back to the redirect URI this login was started with.
        let back_at = format!("{}{}", Self::origin(parts)?, ctx.path());
        if pending.state != state || pending.redirect_uri != back_at {
            return None;
        }
        let cookie_path = Self::cookie_path(ctx).to_owned();
        let clear_login = cookies::clear(&login_cookie, &cookie_path);
        if pending.exp <= now_seconds() {
            return Some(ready(Err(unauthenticated("the login took too long"))));
        }
        if let Some(error) = error {
            let description = decoded_query_value(query, "error_description").unwrap_or_default();
            return Some(ready(Err(unauthenticated(format!(
                "the identity provider refused the login: {error} {description}"
            )))));
        }
        let code = code?;
        let completion = Completion {
            pending,
            code,
            issuer: decoded_query_value(query, "iss"),
            clear_login,
            cookie_path,
            request_headers: parts.headers.clone(),
        };
        let flow = self.clone();
        Some(Box::pin(async move { flow.complete(completion).await }))
    }

    fn login(
        &self,
        parts: &Parts,
        ctx: &RequestContext,
    ) -> Option<BoxFuture<'static, SessionResponse>> {
        if !accepts_html(&parts.headers) {
            return None;
        }
        if let Some(logout) = &self.0.settings.logout_path {
            if ctx.path() == Self::deployment_path(ctx, logout) {
                return None;
            }
        }
        let origin = Self::origin(parts)?;
        let (redirect_path, return_to) = if matches!(parts.method, Method::GET | Method::HEAD) {
            let here = match ctx.query() {
                Some(q) => format!("{}?{q}", ctx.path()),
                None => ctx.path().to_owned(),
            };
            // `//host/…` in a Location header is another site: never send a browser there.
            let here = if here.starts_with("//") || here.starts_with("/\\") {
                "/".to_owned()
            } else {
                here
            };
            (ctx.path().to_owned(), here)
        } else {
            let fallback =
                Self::deployment_path(ctx, self.0.settings.fallback_redirect_path.as_deref()?);
            (fallback.clone(), fallback)
        };
        let Some(sealer) = &self.0.sealer else {
            return Some(ready(Err(self.no_secret())));
        };
        let verifier = self.0.settings.use_pkce.then(|| random_token(32));
        let pending = Pending {
            state: random_token(16),
            nonce: random_token(16),
            verifier,
            redirect_uri: format!("{origin}{redirect_path}"),
            return_to,
            exp: now_seconds() + LOGIN_SECONDS,
        };
        let cookie_path = Self::cookie_path(ctx);
        let login_cookie = if self.0.settings.cookie_steps {
            let name = format!("{LOGIN_COOKIE_PREFIX}{}", pending.state);
            let plain = serde_json::to_vec(&pending).unwrap_or_default();
            Some(cookies::set(
                &name,
                &sealer.seal(&name, &plain),
                cookie_path,
                LOGIN_SECONDS,
            ))
        } else {
            self.0.pending.insert(pending.clone());
            None
        };
        let provider = self.0.settings.provider.clone();
        let client_id = self.0.settings.client_id.clone();
        let scopes = self.0.settings.scopes.clone();
        Some(Box::pin(async move {
            let metadata = Self::metadata(&provider).await?;
            let endpoint = metadata.authorization_endpoint.as_deref().ok_or_else(|| {
                GatewayError::AuthUnavailable(
                    "the discovery document names no authorization_endpoint".to_owned(),
                )
            })?;
            let mut url = reqwest::Url::parse(endpoint).map_err(|e| {
                GatewayError::AuthUnavailable(format!("authorization_endpoint: {e}"))
            })?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("response_type", "code")
                    .append_pair("client_id", &client_id)
                    .append_pair("redirect_uri", &pending.redirect_uri)
                    .append_pair("scope", &scopes)
                    .append_pair("state", &pending.state)
                    .append_pair("nonce", &pending.nonce);
                if let Some(verifier) = &pending.verifier {
                    q.append_pair("code_challenge", &pkce_challenge(verifier))
                        .append_pair("code_challenge_method", "S256");
                }
            }
            let mut res = redirect(url.as_str());
            if let Some(cookie) = login_cookie {
                res.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(res)
        }))
    }

    fn logout(
        &self,
        parts: &Parts,
        ctx: &RequestContext,
        post_logout_url: Option<String>,
        state: Option<String>,
    ) -> BoxFuture<'static, SessionResponse> {
        // Whatever its state, the session the request carries is over.
        let session = self.read_session(parts).ok().flatten();
        if let Some(session) = &session {
            self.0.ended.end(&session.sid, session.exp);
            if let (Some(introspection), Some(token)) =
                (&self.0.settings.introspection, &session.access_token)
            {
                introspection.forget(token);
            }
        }
        let cookie_path = Self::cookie_path(ctx);
        let clear = if self.0.settings.cookie_sessions {
            cookies::clear_chunked(&parts.headers, SESSION_COOKIE, cookie_path)
        } else {
            Vec::new()
        };
        let origin = Self::origin(parts).unwrap_or_default();
        let post_logout = post_logout_url.map(|url| {
            if url.starts_with("https://") || url.starts_with("http://") {
                url
            } else {
                format!("{origin}{}", Self::deployment_path(ctx, &url))
            }
        });
        let provider = self.0.settings.provider.clone();
        let client_id = self.0.settings.client_id.clone();
        Box::pin(async move {
            // A provider that cannot be reached does not keep the browser logged in here.
            let end_session = provider
                .metadata()
                .await
                .ok()
                .and_then(|m| m.end_session_endpoint.clone())
                .and_then(|e| reqwest::Url::parse(&e).ok());
            let mut res = match (end_session, &post_logout) {
                (Some(mut url), _) => {
                    {
                        let mut q = url.query_pairs_mut();
                        q.append_pair("client_id", &client_id);
                        if let Some(session) = &session {
                            q.append_pair("id_token_hint", &session.id_token);
                        }
                        if let Some(post) = &post_logout {
                            q.append_pair("post_logout_redirect_uri", post);
                        }
                        if let Some(state) = &state {
                            q.append_pair("state", state);
                        }
                    }
                    redirect(url.as_str())
                }
                (None, Some(post)) => redirect(post),
                (None, None) => {
                    let mut res = Response::new(Body::full("{\"message\":\"Logged out\"}"));
                    let headers = res.headers_mut();
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    res
                }
            };
            for cookie in clear {
                res.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(res)
        })
    }
}

/// What completing a login needs from the callback request.
struct Completion {
    pending: Pending,
    code: String,
    /// The callback's `iss` (RFC 9207), when the provider sends one.
    issuer: Option<String>,
    /// Removes the login's intermediate cookie.
    clear_login: HeaderValue,
    cookie_path: String,
    /// For chunks of an earlier, larger session to remove.
    request_headers: HeaderMap,
}

/// The token endpoint's answer (OpenID Connect Core §3.1.3.3).
#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
}

impl LoginFlow {
    /// Exchanges the code, validates the ID token, makes the session and sends the browser
    /// back to the page it asked for.
    async fn complete(&self, login: Completion) -> SessionResponse {
        let (Some(sealer), Ok(secret)) = (&self.0.sealer, &self.0.settings.secret) else {
            return Err(self.no_secret());
        };
        let provider = &self.0.settings.provider;
        let metadata = Self::metadata(provider).await?;
        if let (Some(sent), Some(issuer)) = (&login.issuer, &metadata.issuer) {
            if sent != issuer {
                return Err(unauthenticated(format!(
                    "the callback comes from issuer {sent:?}, not {issuer:?}"
                )));
            }
        }
        let endpoint = metadata.token_endpoint.as_deref().ok_or_else(|| {
            GatewayError::AuthUnavailable(
                "the discovery document names no token_endpoint".to_owned(),
            )
        })?;
        let pending = &login.pending;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", login.code.as_str()),
            ("redirect_uri", pending.redirect_uri.as_str()),
        ];
        if let Some(verifier) = &pending.verifier {
            form.push(("code_verifier", verifier));
        }
        let request = provider
            .client()
            .post(endpoint)
            .basic_auth(&self.0.settings.client_id, Some(secret.expose()))
            .header(ACCEPT, "application/json")
            .form(&form);
        let body = fetch_document(request, endpoint, provider.max_document_bytes())
            .await
            .map_err(|e| match e.status {
                // A code used twice or too late: the browser's problem, not the provider's.
                Some(400 | 401) => unauthenticated(format!("the code was refused at {e}")),
                _ => GatewayError::IdentityProvider(format!("code exchange at {e}")),
            })?;
        let tokens: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            GatewayError::IdentityProvider(format!("the token endpoint's answer: {e}"))
        })?;
        let id_token = tokens.id_token.ok_or_else(|| {
            GatewayError::IdentityProvider("the token endpoint sent no id_token".to_owned())
        })?;
        let caller = match self
            .0
            .settings
            .id_tokens
            .authenticate_token(id_token.clone())
            .await
        {
            AuthOutcome::Authenticated(caller) => caller,
            AuthOutcome::Unavailable(reason) => return Err(GatewayError::AuthUnavailable(reason)),
            other => {
                return Err(unauthenticated(format!(
                    "the ID token is not valid: {}",
                    outcome_reason(&other)
                )))
            }
        };
        if let Some(issuer) = &metadata.issuer {
            if caller.claims.get("iss") != Some(issuer) {
                return Err(unauthenticated("the ID token's iss is not the provider's"));
            }
        }
        if caller.claims.get("nonce") != Some(&pending.nonce) {
            return Err(unauthenticated("the ID token's nonce is not this login's"));
        }

        let lifetime = match tokens.expires_in {
            Some(seconds) => self
                .0
                .settings
                .max_session
                .min(Duration::from_secs(seconds)),
            None => self.0.settings.max_session,
        };
        let session = Session {
            sid: random_token(16),
            exp: now_seconds() + lifetime.as_secs(),
            id_token,
            access_token: tokens.access_token,
            scope: tokens.scope,
            csrf: random_token(16),
        };
        let sealed = sealer.seal(
            SESSION_COOKIE,
            &serde_json::to_vec(&session).unwrap_or_default(),
        );
        let mut res = redirect(&pending.return_to);
        let headers = res.headers_mut();
        headers.append(SET_COOKIE, login.clear_login);
        if self.0.settings.cookie_sessions {
            for cookie in cookies::set_chunked(
                &login.request_headers,
                SESSION_COOKIE,
                &sealed,
                &login.cookie_path,
                lifetime.as_secs(),
            ) {
                headers.append(SET_COOKIE, cookie);
            }
        } else if let Ok(value) = HeaderValue::try_from(sealed) {
            headers.insert(SESSION_HEADER, value);
        }
        tracing::info!(
            sub = caller.principal.as_deref().unwrap_or_default(),
            "OpenID Connect login completed"
        );
        Ok(res)
    }
}

/// The caller of a session: the ID token's claims, the tokens, and for a cookie session the
/// CSRF token a page must repeat.
fn session_caller(session: &Session, cookie_session: bool) -> AuthContext {
    let claims: Map<String, Value> =
        jsonwebtoken::dangerous::insecure_decode_claims(&session.id_token).unwrap_or_default();
    let mut caller = auth_context(claims);
    caller
        .claims
        .insert("id_token".to_owned(), session.id_token.clone());
    if let Some(token) = &session.access_token {
        caller
            .claims
            .insert("access_token".to_owned(), token.clone());
    }
    if cookie_session {
        caller
            .claims
            .insert("apigw_csrf_token".to_owned(), session.csrf.clone());
    }
    if let Some(scope) = &session.scope {
        caller.scopes = scope.split_whitespace().map(str::to_owned).collect();
    }
    caller
}

fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

fn refused(reason: impl Into<String>) -> AuthOutcome {
    AuthOutcome::Rejected(Rejection::new(reason))
}

fn unauthenticated(reason: impl Into<String>) -> GatewayError {
    GatewayError::Unauthenticated {
        challenge: None,
        reason: reason.into(),
    }
}

fn outcome_reason(outcome: &AuthOutcome) -> String {
    match outcome {
        AuthOutcome::Rejected(r) => r.reason.clone(),
        AuthOutcome::Failed(reason) | AuthOutcome::Unavailable(reason) => reason.clone(),
        other => other.kind().to_owned(),
    }
}

/// A 302 to `location`, never cached.
fn redirect(location: &str) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::FOUND;
    if let Ok(location) = HeaderValue::try_from(location) {
        res.headers_mut().insert(LOCATION, location);
    }
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Whether a person in a browser sent the request: it accepts HTML.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}
