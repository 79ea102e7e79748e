//! Shared test support: the claims of valid tokens, authorizer functions, and a harness that
//! runs the real authentication and authorization layers over a real specification. Keys,
//! hand-signed JWTs and the JWKS server come from `gateway_test_support::jwt`.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::{Layer, ServiceExt};

use gateway_auth::{AuthOptions, Authenticators};
use gateway_core::auth::{
    compile_authentication, AuthPolicy, AuthenticationLayer, AuthorizationLayer, DeploymentAuth,
    RouteAccess,
};
use gateway_core::diagnostics::Diagnostics;
use gateway_core::function::{
    FunctionCall, FunctionInvoker, FunctionRegistry, FunctionResponse, InvokeError,
    RegisteredFunction,
};
use gateway_core::spec::{load_spec, ApiSpecification};
use gateway_core::BoxFuture;
use gateway_core::{Body, ErrorResponseLayer, GatewayError, RequestContext};

// ---------------------------------------------------------------------------------------------
// Claims (keys, tokens and the JWKS server are `gateway_test_support::jwt`'s)

use gateway_test_support::jwt::{merged, now, AUDIENCE, ISSUER};

/// Valid claims for [`ISSUER`] and [`AUDIENCE`], expiring in an hour.
pub fn claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "jdoe", "exp": now() + 3600,
            "iat": now(), "scope": "read:hello write:hello", "email": "jdoe@example.com",
            "tenant": "acme", "admin": false })
}

/// `claims()` with `changes` merged in (a `null` removes the claim).
pub fn claims_with(changes: Value) -> Value {
    merged(claims(), changes)
}

/// Options for fast tests: no waiting between refetches.
pub fn fast_options() -> AuthOptions {
    let mut options = AuthOptions::default();
    options.jwks.min_refresh_interval = Duration::from_millis(0);
    options.jwks.failure_backoff = Duration::from_millis(0);
    options.jwks.fetch_timeout = Duration::from_secs(5);
    options
}

// ---------------------------------------------------------------------------------------------
// Authorizer functions

type Script = dyn Fn(&Value) -> (u16, String) + Send + Sync;

/// An authorizer function run in the test process: records every input, answers with
/// `script`, optionally after a delay. Implements the invoker contract directly, so tests can
/// pause tokio's clock.
#[derive(Clone)]
pub struct Authorizer {
    pub calls: Arc<AtomicUsize>,
    pub inputs: Arc<Mutex<Vec<Value>>>,
    script: Arc<Script>,
    delay: Duration,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    pub fn new(script: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static) -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            inputs: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(script),
            delay: Duration::ZERO,
        }
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn inputs(&self) -> Vec<Value> {
        self.inputs.lock().map(|i| i.clone()).unwrap_or_default()
    }

    pub fn register(&self, id: &str) -> RegisteredFunction {
        RegisteredFunction {
            id: Arc::from(id),
            name: format!("test/{id}"),
            timeout: Duration::from_secs(30),
            invoker: Arc::new(self.clone()),
            denied: None,
        }
    }
}

impl FunctionInvoker for Authorizer {
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>> {
        let this = self.clone();
        Box::pin(async move {
            let mut call = call;
            this.calls.fetch_add(1, Ordering::SeqCst);
            let (body, _held) = call.body.buffer().await?;
            let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Ok(mut inputs) = this.inputs.lock() {
                inputs.push(input.clone());
            }
            if !this.delay.is_zero() {
                tokio::time::sleep(this.delay).await;
            }
            let (status, body) = (this.script)(&input);
            Ok(FunctionResponse {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                headers: HeaderMap::new(),
                body: Bytes::from(body),
            })
        })
    }
}

/// An authorizer accepting the token "good" (scopes `read:hello`) and refusing others.
pub fn token_checker() -> Authorizer {
    Authorizer::new(|input| {
        let token = input["token"].as_str().unwrap_or_default();
        if token == "good" || token == "Bearer good" {
            (
                200,
                json!({ "active": true, "principal": "jdoe", "scope": "read:hello",
                        "clientId": "app", "context": { "email": "jdoe@example.com" } })
                .to_string(),
            )
        } else {
            (
                200,
                json!({ "active": false, "wwwAuthenticate": "Bearer realm=\"test\"" }).to_string(),
            )
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The layers over a real specification

/// The authentication of a loaded specification, and its routes' access rules.
#[derive(Debug, Clone)]
pub struct Gate {
    pub policy: Arc<AuthPolicy>,
    pub spec: ApiSpecification,
}

/// What a request got.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn registry(functions: &[(&str, &Authorizer)]) -> FunctionRegistry {
    let mut registry = FunctionRegistry::new();
    for (id, f) in functions {
        registry.register(f.register(id));
    }
    registry
}

/// What the tests build authentication with: the authenticators and the functions a gateway
/// would give them.
#[derive(Debug, Clone)]
pub struct Factory {
    pub authenticators: Authenticators,
    pub functions: FunctionRegistry,
}

impl Factory {
    pub fn new(functions: FunctionRegistry) -> Self {
        Self {
            authenticators: Authenticators::new(),
            functions,
        }
    }

    pub fn with_options(mut self, options: AuthOptions) -> Self {
        self.authenticators = self.authenticators.with_options(options);
        self
    }
}

/// Loads `spec`, builds its authentication with `factory`; panics on any error.
pub fn gate(spec: &str, factory: &Factory) -> Gate {
    let load = load_spec(spec);
    let spec = load
        .spec
        .unwrap_or_else(|| panic!("the spec loads: {}", load.diagnostics));
    let mut diags = Diagnostics::new();
    match compile_authentication(
        &spec,
        &factory.authenticators,
        &factory.functions,
        &mut diags,
    ) {
        DeploymentAuth::Enforced(policy) => {
            assert!(!diags.has_errors(), "{diags}");
            Gate { policy, spec }
        }
        other => panic!("authentication not enforced: {other:?}: {diags}"),
    }
}

/// Builds the authentication of `spec`, returning the diagnostics (for refusal tests).
pub fn build_errors(spec: &str, factory: &Factory) -> (bool, Diagnostics) {
    let load = load_spec(spec);
    let spec = load
        .spec
        .unwrap_or_else(|| panic!("the spec loads: {}", load.diagnostics));
    let mut diags = Diagnostics::new();
    let enforced = matches!(
        compile_authentication(
            &spec,
            &factory.authenticators,
            &factory.functions,
            &mut diags,
        ),
        DeploymentAuth::Enforced(_)
    );
    (enforced, diags)
}

/// The backend: 200 with the caller it saw, as JSON.
async fn backend(req: Request<Body>) -> Result<Response<Body>, GatewayError> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let caller = parts
        .extensions
        .get::<RequestContext>()
        .and_then(|c| c.auth().cloned());
    let seen = match caller {
        Some(c) => json!({
            "principal": c.principal, "clientId": c.client_id, "scopes": c.scopes,
            "claims": c.claims.into_iter().collect::<BTreeMap<_, _>>(),
            "body": String::from_utf8_lossy(&body),
        }),
        None => json!({ "anonymous": true, "body": String::from_utf8_lossy(&body) }),
    };
    Ok(Response::new(Body::full(seen.to_string())))
}

impl Gate {
    /// Sends `req` through authentication, the authorization of route `route`, and a backend.
    pub async fn send(&self, route: usize, req: Request<Body>) -> Reply {
        let access = self
            .spec
            .routes
            .get(route)
            .map(RouteAccess::of_route)
            .unwrap_or(RouteAccess::AuthenticationOnly);
        let stack = ErrorResponseLayer::new().layer(
            AuthenticationLayer::new(self.policy.clone(), &access)
                .layer(AuthorizationLayer::new(access).layer(tower::service_fn(backend))),
        );
        let res = stack.oneshot(req).await.unwrap_or_else(|e| match e {});
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// `GET uri` with `headers` on route `route`.
    pub async fn get(&self, route: usize, uri: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(route, request("GET", uri, headers, "")).await
    }

    /// `Authorization: Bearer <token>` on route 0.
    pub async fn bearer(&self, token: &str) -> Reply {
        self.get(0, "/", &[("authorization", &format!("Bearer {token}"))])
            .await
    }
}

pub fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    req.body(Body::full(body.to_owned())).expect("request")
}
