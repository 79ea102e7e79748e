//! Shared test support: keys generated at run time, JWTs signed by hand (so attack tokens can
//! be built exactly), a real JWKS server on 127.0.0.1, authorizer functions, and a harness that
//! runs the real authentication and authorization layers over a real specification.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
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
// Keys and tokens

/// A signing key generated for the test run.
pub enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Rsa(_) => "Signer::Rsa",
            Signer::Ec(_) => "Signer::Ec",
            Signer::Ed(_) => "Signer::Ed",
        })
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    pub fn rsa() -> Self {
        let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
        Signer::Rsa(key)
    }

    pub fn ec() -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("EC key");
        Signer::Ec(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("EC key"))
    }

    pub fn ed() -> Self {
        Signer::Ed(Ed25519KeyPair::generate().expect("Ed25519 key"))
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
            Signer::Ed(_) => "EdDSA",
        }
    }

    /// The public key as a JWK with `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Rsa(k) => {
                let public = k.public_key();
                json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": b64(public.modulus().big_endian_without_leading_zero()),
                        "e": b64(public.exponent().big_endian_without_leading_zero()) })
            }
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({ "kty": "EC", "crv": "P-256", "kid": kid,
                        "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
            }
            Signer::Ed(k) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid,
                        "x": b64(k.public_key().as_ref()) })
            }
        }
    }

    /// The public key as PEM (SubjectPublicKeyInfo).
    pub fn pem(&self) -> String {
        let der = match self {
            Signer::Rsa(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ec(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ed(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
        };
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// The DER of the public key, which an attacker may use as an HMAC secret.
    pub fn public_der(&self) -> Vec<u8> {
        match self {
            Signer::Rsa(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ec(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ed(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("sign");
                sig
            }
            Signer::Ec(k) => k.sign(&rng, message).expect("sign").as_ref().to_vec(),
            Signer::Ed(k) => k.sign(message).as_ref().to_vec(),
        }
    }

    /// A token with this key's algorithm, `kid` and `claims`.
    pub fn token(&self, kid: &str, claims: &Value) -> String {
        let header = json!({ "alg": self.alg(), "typ": "JWT", "kid": kid });
        self.token_with_header(&header, claims)
    }

    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign(message.as_bytes());
        format!("{message}.{}", b64(&sig))
    }
}

/// A token with `alg: none` and an empty signature.
pub fn unsigned_token(kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// A token "signed" with HMAC-SHA256 using `secret` (the classic confusion attack uses the
/// RSA public key as the secret).
pub fn hs256_token(kid: &str, claims: &Value, secret: &[u8]) -> String {
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", b64(tag.as_ref()))
}

/// Replaces the payload of a signed token, keeping its signature.
pub fn tamper(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().unwrap_or_default();
    let _payload = parts.next();
    let sig = parts.next().unwrap_or_default();
    format!("{header}.{}.{sig}", b64(claims.to_string().as_bytes()))
}

/// One RSA key for the whole test binary: generating one is slow in a debug build.
pub fn rsa() -> &'static Signer {
    static KEY: OnceLock<Signer> = OnceLock::new();
    KEY.get_or_init(Signer::rsa)
}

/// A second RSA key (rotation, wrong-key cases).
pub fn rsa2() -> &'static Signer {
    static KEY: OnceLock<Signer> = OnceLock::new();
    KEY.get_or_init(Signer::rsa)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub const ISSUER: &str = "https://issuer.example/";
pub const AUDIENCE: &str = "https://api.example/";

/// Valid claims for [`ISSUER`] and [`AUDIENCE`], expiring in an hour.
pub fn claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "jdoe", "exp": now() + 3600,
            "iat": now(), "scope": "read:hello write:hello", "email": "jdoe@example.com",
            "tenant": "acme", "admin": false })
}

/// `claims()` with `changes` merged in (a `null` removes the claim).
pub fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    if let (Some(c), Some(changes)) = (c.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

// ---------------------------------------------------------------------------------------------
// A real JWKS server

/// An HTTP server on 127.0.0.1 serving a JWKS (and, at `/.well-known/openid-configuration`, a
/// discovery document pointing at it) that the test can change, count and break.
#[derive(Debug, Clone)]
pub struct JwksServer {
    pub addr: SocketAddr,
    jwks: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
    status: Arc<AtomicU16>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl JwksServer {
    pub async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("address");
        let jwks = Arc::new(Mutex::new(jwks));
        let hits = Arc::new(AtomicUsize::new(0));
        let status = Arc::new(AtomicU16::new(200));
        let (j, h, s) = (jwks.clone(), hits.clone(), status.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (j, h, s) = (j.clone(), h.clone(), s.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        let path = req.uri().path().to_owned();
                        h.fetch_add(1, Ordering::SeqCst);
                        let status = s.load(Ordering::SeqCst);
                        let body = if path == "/.well-known/openid-configuration" {
                            json!({ "issuer": ISSUER,
                                    "jwks_uri": format!("http://{addr}/jwks.json") })
                            .to_string()
                        } else {
                            j.lock().map(|v| v.to_string()).unwrap_or_default()
                        };
                        async move {
                            let mut res = Response::new(Full::new(Bytes::from(body)));
                            *res.status_mut() =
                                StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            jwks,
            hits,
            status,
            task: Arc::new(task),
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    pub fn discovery_url(&self) -> String {
        format!("http://{}/.well-known/openid-configuration", self.addr)
    }

    pub fn set_jwks(&self, jwks: Value) {
        if let Ok(mut j) = self.jwks.lock() {
            *j = jwks;
        }
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Answers every request with `status` from now on.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

/// An address where nothing listens.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    addr
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
