//! Route authorization over real specifications: ANONYMOUS with and without credentials,
//! AUTHENTICATION_ONLY, ANY_OF (404 on a missing scope), MODIFY_RESPONSE with the compat
//! spec's 302, and dynamicAuthentication.

mod common;

use common::*;
use gateway_core::function::FunctionRegistry;
use gateway_test_support::jwt::*;
use serde_json::{json, Value};

const COMPAT_01: &str = include_str!("../../../shared/compat/specs/01-oidc-custom-auth.json");

/// JWT authentication (static RSA key "k1") with anonymous access and one route per
/// authorization type.
fn routes_spec() -> String {
    let Value::Object(mut jwk) = rsa().jwk("k1") else {
        panic!("object");
    };
    jwk.insert("format".into(), json!("JSON_WEB_KEY"));
    let route = |path: &str, authorization: &str| {
        format!(
            r#"{{ "path": "{path}", "methods": ["GET"], {authorization}
                 "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }}"#
        )
    };
    format!(
        r#"{{ "requestPolicies": {{ "authentication": {{ "type": "JWT_AUTHENTICATION",
              "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
              "isAnonymousAccessAllowed": true,
              "issuers": ["{ISSUER}"], "audiences": ["{AUDIENCE}"],
              "publicKeys": {{ "type": "STATIC_KEYS", "keys": [ {jwk} ] }} }} }},
            "routes": [ {}, {}, {}, {} ] }}"#,
        route(
            "/public",
            r#""requestPolicies": { "authorization": { "type": "ANONYMOUS" } },"#
        ),
        route(
            "/private",
            r#""requestPolicies": { "authorization": { "type": "AUTHENTICATION_ONLY" } },"#
        ),
        route(
            "/admin",
            r#""requestPolicies": { "authorization": { "type": "ANY_OF",
                 "allowedScope": ["admin", "write:hello"] } },"#
        ),
        route("/default", ""),
        jwk = Value::Object(jwk),
    )
}

const PUBLIC: usize = 0;
const PRIVATE: usize = 1;
const ADMIN: usize = 2;
const DEFAULT: usize = 3;

fn jwt_gate() -> Gate {
    gate(&routes_spec(), &Factory::new(FunctionRegistry::new()))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn anonymous_without_credentials_proceeds_without_request_auth() {
    let reply = jwt_gate().get(PUBLIC, "/public", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["anonymous"], true);
}

#[tokio::test]
async fn anonymous_with_valid_credentials_recognises_the_caller() {
    let token = bearer(&rsa().token("k1", &claims()));
    let reply = jwt_gate()
        .get(PUBLIC, "/public", &[("authorization", &token)])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["principal"], "jdoe");
}

#[tokio::test]
async fn anonymous_with_invalid_credentials_still_proceeds_anonymously() {
    let expired = bearer(&rsa().token("k1", &claims_with(json!({"exp": now() - 60}))));
    let reply = jwt_gate()
        .get(PUBLIC, "/public", &[("authorization", &expired)])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["anonymous"], true);
}

#[tokio::test]
async fn authentication_only_needs_a_valid_caller() {
    let gate = jwt_gate();
    for route in [PRIVATE, DEFAULT] {
        let reply = gate.get(route, "/private", &[]).await;
        assert_eq!(reply.status, 401, "route {route}");
        let token = bearer(&rsa().token("k1", &claims()));
        let reply = gate
            .get(route, "/private", &[("authorization", &token)])
            .await;
        assert_eq!(reply.status, 200, "route {route}");
    }
}

#[tokio::test]
async fn any_of_admits_a_matching_scope() {
    let token = bearer(&rsa().token("k1", &claims()));
    let reply = jwt_gate()
        .get(ADMIN, "/admin", &[("authorization", &token)])
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn any_of_without_a_matching_scope_is_ocis_404() {
    let gate = jwt_gate();
    for scope in [json!("read:hello"), json!(["Admin"]), json!(null)] {
        let token = bearer(&rsa().token("k1", &claims_with(json!({"scope": scope}))));
        let reply = gate
            .get(ADMIN, "/admin", &[("authorization", &token)])
            .await;
        assert_eq!(reply.status, 404, "{scope}");
        assert_eq!(reply.body, r#"{"code":404,"message":"Not Found"}"#);
    }
    // Unauthenticated is still 401.
    assert_eq!(gate.get(ADMIN, "/admin", &[]).await.status, 401);
}

/// The authorizer of the OIDC sample: a session cookie "session=valid" is a signed-in user.
fn session_checker() -> Authorizer {
    Authorizer::new(|input| {
        let cookie = input["data"]["Cookie"].as_str().unwrap_or_default();
        let active = cookie.contains("session=valid");
        let body = if active {
            json!({ "active": true, "principal": "jdoe",
                    "context": { "sub": "jdoe", "email": "jdoe@example.com" } })
        } else {
            json!({ "active": false })
        };
        (200, body.to_string())
    })
}

fn compat_01_gate(authz: &Authorizer) -> Gate {
    gate(
        COMPAT_01,
        &Factory::new(registry(&[("<apigw-authzr-fn-ocid>", authz)])),
    )
}

#[tokio::test]
async fn compat_01_redirects_unauthenticated_browsers_to_the_login_page() {
    let authz = session_checker();
    let gate = compat_01_gate(&authz);
    let welcome = gate
        .spec
        .routes
        .iter()
        .position(|r| r.path == "/welcome")
        .expect("/welcome route");
    for headers in [
        vec![],
        vec![("user-agent", "Mozilla/5.0")],
        vec![("cookie", "session=expired"), ("user-agent", "Mozilla/5.0")],
    ] {
        let reply = gate.get(welcome, "/welcome", &headers).await;
        assert_eq!(reply.status, 302, "{headers:?}: {}", reply.body);
        assert_eq!(reply.header("location"), Some("/auth/login"));
        assert!(reply.header("www-authenticate").is_none());
    }
    let reply = gate
        .get(welcome, "/welcome", &[("cookie", "session=valid")])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["claims"]["email"], "jdoe@example.com");
    assert_eq!(
        authz.inputs().last(),
        Some(&json!({"type": "USER_DEFINED", "data": {"Cookie": "session=valid"}}))
    );
}

#[tokio::test]
async fn compat_01_anonymous_routes_stay_open() {
    let authz = session_checker();
    let gate = compat_01_gate(&authz);
    let login = gate
        .spec
        .routes
        .iter()
        .position(|r| r.path == "/auth/login")
        .expect("/auth/login route");
    let reply = gate.get(login, "/auth/login", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["anonymous"], true);
    let reply = gate
        .get(login, "/auth/login", &[("cookie", "session=expired")])
        .await;
    assert_eq!(reply.status, 200);
    let reply = gate
        .get(login, "/auth/login", &[("cookie", "session=valid")])
        .await;
    assert_eq!(reply.json()["principal"], "jdoe");
}

#[tokio::test]
async fn modify_response_code_and_message_from_the_authorizers_context() {
    let authz = Authorizer::new(|_| {
        (
            200,
            json!({ "active": false,
                    "context": { "responseCode": "403", "reason": "suspended" } })
            .to_string(),
        )
    });
    let spec = r#"{ "requestPolicies": { "authentication": { "type": "CUSTOM_AUTHENTICATION",
        "functionId": "authz", "parameters": { "key": "request.headers[X-Api-Key]" },
        "validationFailurePolicy": { "type": "MODIFY_RESPONSE",
          "responseCode": "request.auth[responseCode]",
          "responseMessage": "{\"error\": \"${request.auth[reason]}\", \"key\": \"${request.headers[X-Api-Key]}\"}",
          "responseHeaderTransformations": { "setHeaders": { "items": [
            { "name": "Content-Type", "values": ["application/json"] } ] } } } } },
      "routes": [ { "path": "/", "methods": ["GET"],
        "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
    let gate = gate(spec, &Factory::new(registry(&[("authz", &authz)])));
    let reply = gate.get(0, "/", &[("x-api-key", "k-1")]).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), json!({"error": "suspended", "key": "k-1"}));
}

fn dynamic_spec() -> String {
    let Value::Object(mut jwk) = rsa().jwk("k1") else {
        panic!("object");
    };
    jwk.insert("format".into(), json!("JSON_WEB_KEY"));
    format!(
        r#"{{ "requestPolicies": {{ "dynamicAuthentication": {{
              "selectionSource": {{ "type": "SINGLE", "selector": "request.headers[X-Tenant]" }},
              "authenticationServers": [
                {{ "key": {{ "type": "ANY_OF", "name": "acme", "values": ["acme", "acme-corp"] }},
                  "authenticationServerDetail": {{ "type": "CUSTOM_AUTHENTICATION",
                    "functionId": "authz", "tokenHeader": "Authorization" }} }},
                {{ "key": {{ "type": "WILDCARD", "name": "partners", "expression": "partner-*" }},
                  "authenticationServerDetail": {{ "type": "JWT_AUTHENTICATION",
                    "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
                    "issuers": ["{ISSUER}"], "audiences": ["{AUDIENCE}"],
                    "publicKeys": {{ "type": "STATIC_KEYS", "keys": [ {jwk} ] }} }} }} ] }} }},
            "routes": [ {{ "path": "/", "methods": ["GET"],
              "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#,
        jwk = Value::Object(jwk),
    )
}

#[tokio::test]
async fn dynamic_authentication_selects_the_server_by_header() {
    let authz = token_checker();
    let gate = gate(
        &dynamic_spec(),
        &Factory::new(registry(&[("authz", &authz)])),
    );
    let jwt = bearer(&rsa().token("k1", &claims()));
    // ANY_OF, case-insensitive: the authorizer function.
    let reply = gate
        .get(0, "/", &[("x-tenant", "ACME"), ("authorization", "good")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(authz.calls(), 1);
    // The same JWT is not an authorizer token.
    let reply = gate
        .get(0, "/", &[("x-tenant", "acme"), ("authorization", &jwt)])
        .await;
    assert_eq!(reply.status, 401);
    // WILDCARD, case-sensitive: the JWT server.
    let reply = gate
        .get(
            0,
            "/",
            &[("x-tenant", "partner-1"), ("authorization", &jwt)],
        )
        .await;
    assert_eq!(reply.status, 200);
    let reply = gate
        .get(
            0,
            "/",
            &[("x-tenant", "Partner-1"), ("authorization", &jwt)],
        )
        .await;
    assert_eq!(reply.status, 401, "no rule matches and there is no default");
    let reply = gate.get(0, "/", &[("authorization", &jwt)]).await;
    assert_eq!(reply.status, 401, "no selector value, no default");
}

#[tokio::test]
async fn dynamic_authentication_by_an_unvalidated_claim() {
    let other = rsa2();
    let key = |signer: &Signer, kid: &str| {
        let Value::Object(mut jwk) = signer.jwk(kid) else {
            panic!("object");
        };
        jwk.insert("format".into(), json!("JSON_WEB_KEY"));
        Value::Object(jwk)
    };
    let server = |name: &str, value: &str, jwk: Value, default: bool| {
        json!({
            "key": { "type": "ANY_OF", "name": name, "values": [value], "isDefault": default },
            "authenticationServerDetail": { "type": "JWT_AUTHENTICATION",
                "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
                "issuers": [ISSUER], "audiences": [AUDIENCE],
                "publicKeys": { "type": "STATIC_KEYS", "keys": [jwk] } } })
    };
    let spec = json!({
        "requestPolicies": { "dynamicAuthentication": {
            "selectionSource": { "type": "SINGLE", "selector": "request.auth[tenant]" },
            "authenticationServers": [
                server("acme", "acme", key(rsa(), "acme-key"), false),
                server("globex", "globex", key(other, "globex-key"), true) ] } },
        "routes": [ { "path": "/", "methods": ["GET"],
            "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] });
    let gate = gate(&spec.to_string(), &Factory::new(FunctionRegistry::new()));
    let acme = rsa().token("acme-key", &claims_with(json!({"tenant": "acme"})));
    assert_eq!(gate.bearer(&acme).await.status, 200);
    let globex = other.token("globex-key", &claims_with(json!({"tenant": "GLOBEX"})));
    assert_eq!(gate.bearer(&globex).await.status, 200);
    // Claiming to be acme with globex's key: acme's server refuses it.
    let forged = other.token("globex-key", &claims_with(json!({"tenant": "acme"})));
    assert_eq!(gate.bearer(&forged).await.status, 401);
    // No tenant claim: the default server.
    let untagged = other.token("globex-key", &claims_with(json!({"tenant": null})));
    assert_eq!(gate.bearer(&untagged).await.status, 200);
}
