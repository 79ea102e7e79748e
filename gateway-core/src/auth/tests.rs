//! The layers with a scripted authenticator: the outcome table, anonymous routes, scopes,
//! failure policies, dynamic selection and body buffering.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};

use super::*;
use crate::body::Body;
use crate::context::{AuthContext, RequestContext};
use crate::diagnostics::{Diagnostics, Kind};
use crate::error::GatewayError;
use crate::request_id::RequestId;
use crate::respond::ErrorResponseLayer;
use crate::router::{Lookup, MethodSet, PathTemplate, RouterBuilder};
use crate::routes::RouteInfo;
use crate::spec::{load_spec, Authentication as AuthenticationSpec};

/// Decides by the `x-outcome` header: `ok:<scopes>`, `reject`, `reject-ctx:<code>`, `fail`,
/// `down`; no header means no credentials. The principal is the server's name.
#[derive(Debug)]
struct Scripted {
    name: String,
    needs_body: bool,
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

impl Authenticator for Scripted {
    fn authenticate(
        &self,
        req: &Parts,
        _ctx: &RequestContext,
        body: Option<&Bytes>,
    ) -> BoxFuture<'static, AuthOutcome> {
        if let Some(body) = body {
            self.bodies.lock().expect("lock").push(body.clone());
        }
        let script = req
            .headers
            .get("x-outcome")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let name = self.name.clone();
        Box::pin(async move {
            let Some(script) = script else {
                return AuthOutcome::NoCredentials;
            };
            let (verb, arg) = script.split_once(':').unwrap_or((script.as_str(), ""));
            match verb {
                "ok" => AuthOutcome::Authenticated(Arc::new(AuthContext {
                    principal: Some(name),
                    scopes: arg.split_whitespace().map(str::to_owned).collect(),
                    claims: BTreeMap::from([("who".to_owned(), "jdoe".to_owned())]),
                    ..AuthContext::default()
                })),
                "reject" => AuthOutcome::Rejected(Rejection {
                    www_authenticate: Some(HeaderValue::from_static("Bearer realm=\"x\"")),
                    ..Rejection::new("scripted")
                }),
                "reject-ctx" => AuthOutcome::Rejected(Rejection {
                    context: Some(Arc::new(AuthContext {
                        claims: BTreeMap::from([
                            ("responseCode".to_owned(), arg.to_owned()),
                            ("where".to_owned(), "/login".to_owned()),
                        ]),
                        ..AuthContext::default()
                    })),
                    ..Rejection::new("scripted")
                }),
                "fail" => AuthOutcome::Failed("scripted".into()),
                _ => AuthOutcome::Unavailable("scripted".into()),
            }
        })
    }

    fn needs_body(&self) -> bool {
        self.needs_body
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(HeaderValue::from_static("Bearer"))
    }

    fn unverified_claim(&self, req: &Parts, claim: &str) -> Option<String> {
        (claim == "tenant")
            .then(|| {
                req.headers
                    .get("x-token-tenant")?
                    .to_str()
                    .ok()
                    .map(str::to_owned)
            })
            .flatten()
    }
}

/// Builds a [`Scripted`] named after the authorizer's `functionId`; it reads the body when the
/// function id ends in `-body`.
#[derive(Debug, Default)]
struct ScriptedFactory {
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

impl AuthenticatorFactory for ScriptedFactory {
    fn build(
        &self,
        policy: &AuthenticationSpec,
        _functions: &FunctionRegistry,
        _path: &str,
        _diags: &mut Diagnostics,
    ) -> Option<Arc<dyn Authenticator>> {
        let name = match policy {
            AuthenticationSpec::Custom(c) => c.function_id.clone(),
            other => other.type_name().to_owned(),
        };
        Some(Arc::new(Scripted {
            needs_body: name.ends_with("-body"),
            name,
            bodies: self.bodies.clone(),
        }))
    }
}

fn policy_of(spec: &str, factory: &ScriptedFactory) -> Arc<AuthPolicy> {
    let load = load_spec(spec);
    let spec = load
        .spec
        .unwrap_or_else(|| panic!("spec loads: {}", load.diagnostics));
    let mut diags = Diagnostics::new();
    match compile_authentication(&spec, factory, &FunctionRegistry::new(), &mut diags) {
        DeploymentAuth::Enforced(policy) => policy,
        other => panic!("not enforced: {other:?} {diags}"),
    }
}

fn spec_with(auth: &str) -> String {
    format!(
        r#"{{ "requestPolicies": {{ {auth} }},
             "routes": [ {{ "path": "/x", "methods": ["GET"],
               "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#
    )
}

const CUSTOM: &str = r#""authentication": { "type": "CUSTOM_AUTHENTICATION",
    "functionId": "fn", "tokenHeader": "Authorization", "isAnonymousAccessAllowed": true }"#;

fn context(uri: &Uri) -> RequestContext {
    let template = PathTemplate::parse("/x").expect("template");
    let mut routes = RouterBuilder::new();
    routes
        .insert(template.clone(), MethodSet::ANY, ())
        .expect("route");
    let params = match routes.build().at(&Method::GET, uri.path()) {
        Lookup::Found(m) => m.params,
        _ => Default::default(),
    };
    let info = RouteInfo::new(
        Arc::from("test"),
        Arc::from("/"),
        0,
        template,
        MethodSet::ANY,
        "STOCK_RESPONSE_BACKEND",
    );
    RequestContext::new(
        RequestId::generate(),
        None,
        Arc::new(info),
        uri.clone(),
        0,
        params,
    )
}

/// What the backend saw: the caller (principal and scopes) and the body.
async fn backend(req: Request<Body>) -> Result<Response<Body>, GatewayError> {
    let (parts, body) = req.into_parts();
    let caller = parts
        .extensions
        .get::<RequestContext>()
        .and_then(|c| c.auth().cloned());
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = match caller {
        Some(c) => format!("{} {}", c.principal.unwrap_or_default(), body.len()),
        None => format!("anonymous {}", body.len()),
    };
    Ok(Response::new(Body::full(text)))
}

async fn call(
    policy: &Arc<AuthPolicy>,
    access: RouteAccess,
    headers: &[(&str, &str)],
    body: &'static str,
) -> (StatusCode, http::HeaderMap, String) {
    let uri: Uri = "/x?q=1".parse().expect("uri");
    let svc = AuthenticationLayer::new(policy.clone(), &access)
        .layer(AuthorizationLayer::new(access).layer(tower::service_fn(backend)));
    let mut req = Request::builder().uri(uri.clone());
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let mut req = req.body(Body::full(body)).expect("request");
    req.extensions_mut().insert(context(&uri));
    let res = ErrorResponseLayer::new()
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    let (parts, body) = res.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn outcome_table_on_an_authenticated_route() {
    let policy = policy_of(&spec_with(CUSTOM), &ScriptedFactory::default());
    let access = RouteAccess::AuthenticationOnly;

    let (status, _, body) = call(&policy, access.clone(), &[("x-outcome", "ok:")], "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "fn 0"));

    let (status, headers, body) = call(&policy, access.clone(), &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(body, r#"{"code":401,"message":"Unauthorized"}"#);

    let (status, headers, _) = call(&policy, access.clone(), &[("x-outcome", "reject")], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"x\"");

    let (status, _, body) = call(&policy, access.clone(), &[("x-outcome", "fail")], "").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body, r#"{"code":502,"message":"Bad Gateway"}"#);

    let (status, _, _) = call(&policy, access, &[("x-outcome", "down")], "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn anonymous_routes_admit_everyone_and_still_recognise_callers() {
    let policy = policy_of(&spec_with(CUSTOM), &ScriptedFactory::default());
    for script in [None, Some("reject"), Some("fail"), Some("down")] {
        let headers: Vec<(&str, &str)> = script.map(|s| ("x-outcome", s)).into_iter().collect();
        let (status, _, body) = call(&policy, RouteAccess::Anonymous, &headers, "").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "anonymous 0"),
            "{script:?}"
        );
    }
    let (status, _, body) =
        call(&policy, RouteAccess::Anonymous, &[("x-outcome", "ok:")], "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "fn 0"));
}

#[tokio::test]
async fn anonymous_route_without_anonymous_access_needs_credentials() {
    let spec = r#"{ "requestPolicies": { "authentication": { "type": "CUSTOM_AUTHENTICATION",
        "functionId": "fn", "tokenHeader": "Authorization" } },
      "routes": [ { "path": "/x", "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
    let policy = policy_of(spec, &ScriptedFactory::default());
    let (status, _, _) = call(&policy, RouteAccess::Anonymous, &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn any_of_needs_one_scope_and_hides_the_route_otherwise() {
    let policy = policy_of(&spec_with(CUSTOM), &ScriptedFactory::default());
    let access = RouteAccess::AnyOf(Arc::from(vec!["read:hello".to_owned()]));
    let (status, _, _) = call(
        &policy,
        access.clone(),
        &[("x-outcome", "ok:list:hello read:hello")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(
        &policy,
        access.clone(),
        &[("x-outcome", "ok:Read:hello")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"code":404,"message":"Not Found"}"#);
    let (status, _, _) = call(&policy, access, &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn modify_response_redirects_like_the_compat_spec() {
    let auth = r#""authentication": { "type": "CUSTOM_AUTHENTICATION", "functionId": "fn",
        "isAnonymousAccessAllowed": true,
        "parameters": { "Cookie": "request.headers[Cookie]" },
        "validationFailurePolicy": { "type": "MODIFY_RESPONSE", "responseCode": "302",
          "responseHeaderTransformations": { "setHeaders": { "items": [
            { "name": "Location", "values": ["/auth/login"], "ifExists": "OVERWRITE" } ] } } } }"#;
    let policy = policy_of(&spec_with(auth), &ScriptedFactory::default());
    for headers in [vec![], vec![("x-outcome", "reject")]] {
        let (status, h, _) = call(&policy, RouteAccess::AuthenticationOnly, &headers, "").await;
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(h["location"], "/auth/login");
        assert!(!h.contains_key("www-authenticate"));
    }
    // An anonymous route is not redirected.
    let (status, _, _) = call(&policy, RouteAccess::Anonymous, &[], "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn modify_response_reads_the_authorizers_context_and_the_request() {
    let auth = r#""authentication": { "type": "CUSTOM_AUTHENTICATION", "functionId": "fn",
        "tokenHeader": "Authorization",
        "validationFailurePolicy": { "type": "MODIFY_RESPONSE",
          "responseCode": "request.auth[responseCode]",
          "responseMessage": "go to ${request.auth[where]} (${request.headers[X-Who]})",
          "responseHeaderTransformations": {
            "setHeaders": { "items": [
              { "name": "X-Where", "values": ["${request.auth[where]}"] } ] },
            "renameHeaders": { "items": [ { "from": "Content-Type", "to": "X-Type" } ] } } } }"#;
    let spec = format!(
        r#"{{ "requestPolicies": {{ {auth} }}, "routes": [ {{ "path": "/x",
            "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#
    );
    let policy = policy_of(&spec, &ScriptedFactory::default());
    let access = RouteAccess::AuthenticationOnly;
    let (status, h, body) = call(
        &policy,
        access.clone(),
        &[("x-outcome", "reject-ctx:403"), ("x-who", "me")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "go to /login (me)");
    assert_eq!(h["x-type"], "text/plain; charset=utf-8");
    assert!(!h.contains_key("content-type"));
    assert_eq!(h["x-where"], "/login");

    // No usable code in the context: the documented 401, with the challenge.
    let (status, h, _) = call(
        &policy,
        access.clone(),
        &[("x-outcome", "reject-ctx:abc")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h["www-authenticate"], "Bearer");
    let (status, _, body) = call(&policy, access, &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "go to  ()");
}

#[tokio::test]
async fn modify_response_filters_apply_last() {
    let auth = r#""authentication": { "type": "CUSTOM_AUTHENTICATION", "functionId": "fn",
        "tokenHeader": "Authorization",
        "validationFailurePolicy": { "type": "MODIFY_RESPONSE", "responseCode": "302",
          "responseHeaderTransformations": {
            "setHeaders": { "items": [
              { "name": "Location", "values": ["/a", "/b"] },
              { "name": "X-Extra", "values": ["1"] } ] },
            "filterHeaders": { "type": "ALLOW", "items": [ { "name": "Location" } ] } } } }"#;
    let policy = policy_of(&spec_with(auth), &ScriptedFactory::default());
    let (status, h, _) = call(&policy, RouteAccess::AuthenticationOnly, &[], "").await;
    assert_eq!(status, StatusCode::FOUND);
    let locations: Vec<_> = h.get_all("location").iter().collect();
    assert_eq!(locations, ["/a", "/b"]);
    assert!(!h.contains_key("x-extra"));
    assert!(!h.contains_key("content-type"));
}

const DYNAMIC: &str = r#""dynamicAuthentication": {
    "selectionSource": { "type": "SINGLE", "selector": "request.headers[X-Tenant]" },
    "authenticationServers": [
      { "key": { "type": "ANY_OF", "name": "acme", "values": ["Acme"] },
        "authenticationServerDetail": { "type": "CUSTOM_AUTHENTICATION", "functionId": "a",
          "tokenHeader": "Authorization" } },
      { "key": { "type": "WILDCARD", "name": "bees", "expression": "bee*" },
        "authenticationServerDetail": { "type": "CUSTOM_AUTHENTICATION", "functionId": "b",
          "tokenHeader": "Authorization", "isAnonymousAccessAllowed": true } } ] }"#;

#[tokio::test]
async fn dynamic_authentication_selects_by_rule_and_refuses_without_one() {
    let policy = policy_of(&spec_with(DYNAMIC), &ScriptedFactory::default());
    assert!(policy.is_dynamic());
    let access = RouteAccess::AuthenticationOnly;
    let ok = ("x-outcome", "ok:");
    let (_, _, body) = call(&policy, access.clone(), &[("x-tenant", "ACME"), ok], "").await;
    assert_eq!(body, "a 0");
    let (_, _, body) = call(&policy, access.clone(), &[("x-tenant", "beehive"), ok], "").await;
    assert_eq!(body, "b 0");
    let (status, _, _) = call(&policy, access.clone(), &[("x-tenant", "Beehive"), ok], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&policy, access, &[ok], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Anonymous access follows the selected server.
    let (status, _, _) = call(&policy, RouteAccess::Anonymous, &[("x-tenant", "acme")], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&policy, RouteAccess::Anonymous, &[("x-tenant", "bee")], "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn dynamic_authentication_by_claim_reads_the_unvalidated_token() {
    let auth = r#""dynamicAuthentication": {
        "selectionSource": { "type": "SINGLE", "selector": "request.auth[tenant]" },
        "authenticationServers": [
          { "key": { "type": "ANY_OF", "name": "one", "values": ["t1"], "isDefault": true },
            "authenticationServerDetail": { "type": "TOKEN_AUTHENTICATION",
              "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
              "validationPolicy": { "type": "REMOTE_JWKS", "uri": "https://a.example/jwks" } } },
          { "key": { "type": "ANY_OF", "name": "two", "values": ["t2"] },
            "authenticationServerDetail": { "type": "JWT_AUTHENTICATION",
              "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
              "issuers": ["i"], "audiences": ["a"],
              "publicKeys": { "type": "REMOTE_JWKS", "uri": "https://b.example/jwks" } } } ] }"#;
    let policy = policy_of(&spec_with(auth), &ScriptedFactory::default());
    let access = RouteAccess::AuthenticationOnly;
    let ok = ("x-outcome", "ok:");
    let (_, _, body) = call(&policy, access.clone(), &[("x-token-tenant", "T2"), ok], "").await;
    assert_eq!(body, "JWT_AUTHENTICATION 0");
    let (_, _, body) = call(&policy, access, &[ok], "").await;
    assert_eq!(body, "TOKEN_AUTHENTICATION 0");
}

#[tokio::test]
async fn the_body_is_buffered_only_when_the_authenticator_reads_it() {
    let factory = ScriptedFactory::default();
    let auth = r#""authentication": { "type": "CUSTOM_AUTHENTICATION", "functionId": "fn-body",
        "parameters": { "b": "request.body" } }"#;
    let policy = policy_of(&spec_with(auth), &factory);
    let (status, _, body) = call(
        &policy,
        RouteAccess::AuthenticationOnly,
        &[("x-outcome", "ok:")],
        "hello",
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "fn-body 5"));
    assert_eq!(
        factory.bodies.lock().expect("lock").as_slice(),
        &[Bytes::from_static(b"hello")]
    );

    let plain = ScriptedFactory::default();
    let policy = policy_of(&spec_with(CUSTOM), &plain);
    let (_, _, body) = call(
        &policy,
        RouteAccess::Anonymous,
        &[("x-outcome", "ok:")],
        "hello",
    )
    .await;
    assert_eq!(body, "fn 5");
    assert!(plain.bodies.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn an_oversized_body_for_the_authorizer_is_413() {
    let auth = r#""authentication": { "type": "CUSTOM_AUTHENTICATION", "functionId": "fn-body",
        "parameters": { "b": "request.body" } }"#;
    let policy = policy_of(&spec_with(auth), &ScriptedFactory::default());
    let uri: Uri = "/x".parse().expect("uri");
    let svc = AuthenticationLayer::new(policy, &RouteAccess::AuthenticationOnly)
        .layer(tower::service_fn(backend));
    let mut req = Request::builder()
        .uri(uri.clone())
        .body(Body::full(vec![b'x'; MAX_AUTH_BODY + 1]))
        .expect("request");
    req.extensions_mut().insert(context(&uri));
    let res = ErrorResponseLayer::new()
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn without_a_request_context_the_layer_builds_one() {
    let policy = policy_of(&spec_with(CUSTOM), &ScriptedFactory::default());
    let svc =
        AuthenticationLayer::new(policy, &RouteAccess::Anonymous).layer(tower::service_fn(backend));
    let req = Request::builder()
        .uri("/x")
        .header("x-outcome", "ok:")
        .body(Body::empty())
        .expect("request");
    let res = ErrorResponseLayer::new()
        .layer(svc)
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    assert_eq!(res.status(), StatusCode::OK);
    let body = res
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    assert_eq!(&body[..], b"fn 0");
}

#[test]
fn an_oauth2_failure_policy_is_never_ignored() {
    let spec = r#"{ "requestPolicies": { "authentication": { "type": "TOKEN_AUTHENTICATION",
        "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
        "validationPolicy": { "type": "REMOTE_DISCOVERY",
          "clientDetails": { "type": "CUSTOM", "clientId": "c", "clientSecretId": "s",
                             "clientSecretVersionNumber": 1 },
          "sourceUriDetails": { "type": "DISCOVERY_URI",
                                "uri": "https://idp.example/.well-known/openid-configuration" } },
        "validationFailurePolicy": { "type": "OAUTH2",
          "clientDetails": { "type": "VALIDATION_BLOCK" },
          "sourceUriDetails": { "type": "VALIDATION_BLOCK" },
          "scopes": ["openid"], "responseType": "CODE" } } },
      "routes": [ { "path": "/x", "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
    let load = load_spec(spec);
    let spec = load
        .spec
        .unwrap_or_else(|| panic!("loads: {}", load.diagnostics));
    let mut diags = Diagnostics::new();
    let auth = compile_authentication(
        &spec,
        &ScriptedFactory::default(),
        &FunctionRegistry::new(),
        &mut diags,
    );
    // The scripted authenticators run no login: the deployment is refused, never served
    // with a 401 in place of the login.
    assert!(matches!(auth, DeploymentAuth::Unusable), "{auth:?}");
    let unsupported: Vec<_> = diags.of_kind(Kind::Unsupported).collect();
    assert_eq!(unsupported.len(), 1, "{diags}");
    assert!(unsupported[0].message.contains("OAUTH2"));
}

#[test]
fn no_policy_means_open_routes() {
    let load = load_spec(
        r#"{ "routes": [ { "path": "/x", "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#,
    );
    let spec = load.spec.expect("loads");
    let mut diags = Diagnostics::new();
    let auth = compile_authentication(
        &spec,
        &ScriptedFactory::default(),
        &FunctionRegistry::new(),
        &mut diags,
    );
    assert!(matches!(auth, DeploymentAuth::Open));
    assert!(diags.is_empty());
}

#[test]
fn route_access_defaults_to_authentication_only() {
    assert_eq!(
        RouteAccess::from_spec(None),
        RouteAccess::AuthenticationOnly
    );
}

/// The integrator boxes each route stack as a `BoxCloneSyncService`: the layers must allow it.
#[test]
fn the_layers_fit_in_a_boxed_route_stack() {
    let policy = policy_of(&spec_with(CUSTOM), &ScriptedFactory::default());
    let access = RouteAccess::AuthenticationOnly;
    let stack = AuthenticationLayer::new(policy, &access)
        .layer(AuthorizationLayer::new(access).layer(tower::service_fn(backend)));
    let boxed: tower::util::BoxCloneSyncService<Request<Body>, Response<Body>, GatewayError> =
        tower::util::BoxCloneSyncService::new(stack);
    drop(boxed);
}
