//! `TOKEN_AUTHENTICATION` with a `REMOTE_DISCOVERY` validation policy (reference 4.1.3): the
//! identity provider's OpenID discovery document names its introspection endpoint (RFC 7662),
//! and the gateway, as the `clientDetails` client, asks it about each token, opaque or JWT.
//!
//! * The discovery document is fetched on first use and kept ([`crate::discovery`]).
//! * An active answer is kept up to `maxCacheDurationInHours`, never past the token's `exp`; an
//!   inactive one for a minute; a failure not at all. Concurrent requests with one token make
//!   one introspection call (single flight).
//! * `additionalValidationPolicy` applies to the answer: `iss`, `aud` and `verifyClaims`, and
//!   `exp` with `maxClockSkewInSeconds`.
//! * The answer's fields become `request.auth[...]`: `sub` is the principal, `scope` the scopes,
//!   `client_id` the client.
//! * A provider without an introspection endpoint: tokens are validated as JWTs with the keys
//!   of its `jwks_uri`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::HeaderValue;
use serde_json::{Map, Value};

use gateway_core::auth::{AuthOutcome, Authenticator};
use gateway_core::BoxFuture;
use gateway_core::RequestContext;

use crate::answer::NEGATIVE_TTL;
use crate::cache::{cache_key, CacheKey, ResultCache};
use crate::discovery::Provider;
use crate::fetch::fetch_document;
use crate::jwt::{auth_context, check_claims, rejected, ClaimChecks, JwtAuthenticator};
use crate::secrets::{Secret, SecretError};
use crate::token::{Extracted, TokenLocation};

/// The gateway's client at the provider: its id and secret (or why the secret is missing).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// `clientId`.
    pub id: String,
    /// The secret `clientSecretId` names.
    pub secret: Result<Secret, SecretError>,
}

/// What the provider said about a token, as cached.
#[derive(Debug, Clone)]
enum Introspected {
    Active(Arc<gateway_core::AuthContext>),
    Refused(String),
    Failed(String),
}

/// Checks tokens with the provider's introspection endpoint.
#[derive(Debug)]
pub struct IntrospectionAuthenticator {
    location: TokenLocation,
    provider: Arc<Provider>,
    client: ClientCredentials,
    checks: Arc<ClaimChecks>,
    max_cache: Duration,
    cache: Arc<ResultCache<Introspected>>,
    /// For a provider without an introspection endpoint.
    jwt: Arc<JwtAuthenticator>,
    challenge: HeaderValue,
    invalid_token: HeaderValue,
}

impl IntrospectionAuthenticator {
    pub(crate) fn new(
        location: TokenLocation,
        provider: Arc<Provider>,
        client: ClientCredentials,
        checks: ClaimChecks,
        max_cache: Duration,
        cache_capacity: usize,
        jwt: JwtAuthenticator,
    ) -> Self {
        let (challenge, invalid_token) = location.challenges();
        Self {
            location,
            provider,
            client,
            checks: Arc::new(checks),
            max_cache,
            cache: Arc::new(ResultCache::new(cache_capacity)),
            jwt: Arc::new(jwt),
            challenge,
            invalid_token,
        }
    }
}

impl Authenticator for IntrospectionAuthenticator {
    fn authenticate(
        &self,
        req: &Parts,
        _ctx: &RequestContext,
        _body: Option<&Bytes>,
    ) -> BoxFuture<'static, AuthOutcome> {
        match self.location.extract(req) {
            Extracted::Missing => Box::pin(std::future::ready(AuthOutcome::NoCredentials)),
            Extracted::Invalid(reason) => {
                let outcome = rejected(self.invalid_token.clone(), reason.to_owned());
                Box::pin(std::future::ready(outcome))
            }
            Extracted::Token(token) => self.check_token(token),
        }
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }
}

impl IntrospectionAuthenticator {
    /// Checks `token`, already taken from the request (or from a session), with the provider.
    pub(crate) fn check_token(&self, token: String) -> BoxFuture<'static, AuthOutcome> {
        let jwt = self.jwt.clone();
        let provider = self.provider.clone();
        let client = self.client.clone();
        let checks = self.checks.clone();
        let cache = self.cache.clone();
        let max_cache = self.max_cache;
        let invalid_token = self.invalid_token.clone();
        Box::pin(async move {
            let metadata = match provider.metadata().await {
                Ok(metadata) => metadata,
                Err(e) => {
                    return AuthOutcome::Unavailable(format!(
                        "discovery document unavailable from {e}"
                    ))
                }
            };
            let Some(endpoint) = metadata.introspection_endpoint.clone() else {
                return jwt.authenticate_token(token).await;
            };
            let secret = match &client.secret {
                Ok(secret) => secret.clone(),
                Err(e) => return AuthOutcome::Unavailable(format!("cannot introspect: {e}")),
            };
            let answer = cache
                .get_or_compute(introspection_key(&token), || async {
                    let result =
                        introspect(&provider, &endpoint, &client.id, &secret, &token, &checks)
                            .await;
                    let ttl = match &result {
                        Ok((_, Some(exp))) => Some(max_cache.min(until(*exp))),
                        Ok((_, None)) => Some(max_cache),
                        Err(Introspected::Refused(_)) => Some(NEGATIVE_TTL),
                        Err(_) => None,
                    };
                    let value = match result {
                        Ok((caller, _)) => Introspected::Active(Arc::new(caller)),
                        Err(other) => other,
                    };
                    (value, ttl.filter(|t| !t.is_zero()))
                })
                .await;
            match answer {
                Introspected::Active(caller) => AuthOutcome::Authenticated(caller),
                Introspected::Refused(reason) => rejected(invalid_token, reason),
                Introspected::Failed(reason) => AuthOutcome::Unavailable(reason),
            }
        })
    }

    /// Forgets what the provider said about `token`: after a logout, the next use asks again.
    pub(crate) fn forget(&self, token: &str) {
        self.cache.remove(&introspection_key(token));
    }
}

fn introspection_key(token: &str) -> CacheKey {
    let mut key = b"introspect\0".to_vec();
    key.extend_from_slice(token.as_bytes());
    cache_key(&key)
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Time left until the Unix time `exp`.
fn until(exp: u64) -> Duration {
    Duration::from_secs(exp.saturating_sub(now_seconds()))
}

/// Asks the provider about `token` (RFC 7662, `client_secret_basic`) and checks the answer:
/// the caller and the token's `exp`, or why not.
async fn introspect(
    provider: &Provider,
    endpoint: &str,
    client_id: &str,
    secret: &Secret,
    token: &str,
    checks: &ClaimChecks,
) -> Result<(gateway_core::AuthContext, Option<u64>), Introspected> {
    let request = provider
        .client()
        .post(endpoint)
        .basic_auth(client_id, Some(secret.expose()))
        .header(http::header::ACCEPT, "application/json")
        .form(&[("token", token), ("token_type_hint", "access_token")]);
    let body = fetch_document(request, endpoint, provider.max_document_bytes())
        .await
        .map_err(|e| Introspected::Failed(format!("introspection at {e}")))?;
    let answer: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
        Introspected::Failed(format!(
            "the introspection answer is not a JSON object: {e}"
        ))
    })?;
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(Introspected::Refused("the token is not active".into()));
    }
    let refuse = |reason: String| Introspected::Refused(reason);
    let exp = match answer.get("exp") {
        None => None,
        Some(exp) => Some(
            exp.as_u64()
                .ok_or_else(|| refuse("exp is not a number".into()))?,
        ),
    };
    if exp.is_some_and(|exp| exp.saturating_add(checks.leeway) <= now_seconds()) {
        return Err(refuse("the token has expired".into()));
    }
    if !checks.issuers.is_empty() {
        let iss = answer.get("iss").and_then(Value::as_str);
        if !iss.is_some_and(|iss| checks.issuers.iter().any(|i| i == iss)) {
            return Err(refuse(format!("issuer {iss:?} is not allowed")));
        }
    }
    if !checks.audiences.is_empty() {
        let allowed = |a: &Value| {
            a.as_str()
                .is_some_and(|a| checks.audiences.iter().any(|x| x == a))
        };
        let ok = match answer.get("aud") {
            Some(Value::Array(items)) => items.iter().any(allowed),
            Some(one) => allowed(one),
            None => false,
        };
        if !ok {
            return Err(refuse("no allowed audience".into()));
        }
    }
    check_claims(&answer, &checks.verify_claims).map_err(refuse)?;
    Ok((auth_context(answer), exp))
}
