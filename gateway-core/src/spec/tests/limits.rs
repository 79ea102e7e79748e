//! OCI's service limits (reference 11): `Kind::Limit` warnings that leave the spec loadable,
//! and errors under `--strict` (`Diagnostics::make_limits_errors`).

use serde_json::{json, Value};

use super::{
    assert_diags, jwt, merged, stock, with_backend, with_deployment_policies, with_route_policies,
};
use crate::diagnostics::Kind;
use crate::spec::load_spec;

fn strings(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Asserts the diagnostics, that all are limits, and that the spec still loads.
#[track_caller]
fn limits(spec: Value, expected: &[&str]) {
    let load = assert_diags(spec, expected);
    assert!(load.spec.is_some());
    assert!(load.diagnostics.iter().all(|d| d.kind == Kind::Limit));
    let mut strict = load.diagnostics.clone();
    strict.make_limits_errors();
    assert_eq!(strict.errors().count(), expected.len());
}

#[test]
fn routes_and_paths() {
    let routes: Vec<Value> = (0..51)
        .map(|i| json!({ "path": format!("/r{i}"), "methods": ["GET"], "backend": stock() }))
        .collect();
    limits(
        json!({ "routes": routes }),
        &["warning: routes: 51 routes; OCI allows at most 50"],
    );
    let path = format!("/{}", "a".repeat(2000));
    limits(
        json!({ "routes": [ { "path": path, "methods": ["GET"], "backend": stock() } ] }),
        &["warning: routes[0].path: the route path is 2001 characters; OCI allows at most 2000"],
    );
}

#[test]
fn spec_size() {
    let text = format!(
        "{{\"routes\": [{{\"path\": \"/\", \"methods\": [\"GET\"], \"backend\": {{\"type\": \"STOCK_RESPONSE_BACKEND\", \"status\": 200}}}}]}}{}",
        " ".repeat(2 * 1024 * 1024)
    );
    let load = load_spec(&text);
    let lines: Vec<String> = load.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [format!(
            "warning: (document): the specification is {} bytes; OCI allows at most 2097152",
            text.len()
        )]
    );
    assert!(load.spec.is_some());
}

#[test]
fn stock_response() {
    let headers: Vec<Value> = (0..51)
        .map(|i| json!({ "name": format!("X-H{i}"), "value": "v" }))
        .collect();
    limits(
        with_backend(json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 200,
        "body": "b".repeat(4097), "headers": headers })),
        &[
            "warning: routes[0].backend.body: the body is 4097 bytes; OCI allows at most 4096",
            "warning: routes[0].backend.headers: 51 headers; OCI allows at most 50",
        ],
    );
    limits(with_backend(json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 200,
        "headers": [ { "name": "X".repeat(1025), "value": "v".repeat(4097) } ] })), &[
        "warning: routes[0].backend.headers[0].name: the header name is 1025 bytes; OCI allows at most 1024",
        "warning: routes[0].backend.headers[0].value: the header value is 4097 bytes; OCI allows at most 4096",
        "warning: routes[0].backend.headers: the headers JSON is 5146 bytes; OCI allows at most 4096",
    ]);
}

#[test]
fn authentication() {
    let params: serde_json::Map<String, Value> = strings("p", 11)
        .into_iter()
        .map(|p| (p.clone(), json!(format!("request.headers[{p}]"))))
        .collect();
    limits(with_deployment_policies(json!({ "authentication": { "type": "CUSTOM_AUTHENTICATION",
        "functionId": "f", "parameters": params, "cacheKey": strings("p", 11) } })), &[
        "warning: requestPolicies.authentication.parameters: 11 authorizer parameters; OCI allows at most 10",
        "warning: requestPolicies.authentication.cacheKey: 11 cacheKey entries; OCI allows at most 10",
    ]);
    let claims: Vec<Value> = strings("c", 11)
        .into_iter()
        .map(|k| json!({ "key": k }))
        .collect();
    let pem = "-----BEGIN PUBLIC KEY-----\nA\n-----END PUBLIC KEY-----";
    let keys: Vec<Value> = strings("k", 11)
        .into_iter()
        .map(|k| json!({ "format": "PEM", "kid": k, "key": pem }))
        .collect();
    limits(with_deployment_policies(json!({ "authentication": merged(jwt(), json!({
        "issuers": strings("i", 6), "audiences": strings("a", 6), "verifyClaims": claims,
        "publicKeys": { "type": "STATIC_KEYS", "keys": keys } })) })), &[
        "warning: requestPolicies.authentication.publicKeys.keys: 11 keys; OCI allows at most 10",
        "warning: requestPolicies.authentication.issuers: 6 issuers; OCI allows at most 5",
        "warning: requestPolicies.authentication.audiences: 6 audiences; OCI allows at most 5",
        "warning: requestPolicies.authentication.verifyClaims: 11 verifyClaims entries; OCI allows at most 10",
    ]);
    let servers: Vec<Value> = (0..101)
        .map(|i| json!({ "key": { "type": "ANY_OF", "name": format!("s{i}"), "values": [format!("v{i}")] },
                         "authenticationServerDetail": jwt() }))
        .collect();
    limits(with_deployment_policies(json!({ "dynamicAuthentication": {
        "selectionSource": { "type": "SINGLE", "selector": "request.headers[X-Tenant]" },
        "authenticationServers": servers } })), &[
        "warning: requestPolicies.dynamicAuthentication.authenticationServers: 101 authentication servers; OCI allows at most 100",
    ]);
}

#[test]
fn dynamic_routing_and_logout() {
    let mut branches: Vec<Value> = (0..101)
        .map(|i| json!({ "key": { "type": "ANY_OF", "name": format!("b{i}"), "values": [format!("v{i}")] }, "backend": stock() }))
        .collect();
    branches[0]["key"]["values"] = json!(strings("x", 101));
    limits(with_backend(json!({ "type": "DYNAMIC_ROUTING_BACKEND",
        "selectionSource": { "type": "SINGLE", "selector": "request.host" }, "routingBackends": branches })), &[
        "warning: routes[0].backend.routingBackends[0].key.values: 101 key values; OCI allows at most 100",
        "warning: routes[0].backend.routingBackends: 101 routing back ends; OCI allows at most 100",
    ]);
    let load = assert_diags(
        with_backend(json!({ "type": "OAUTH2_LOGOUT_BACKEND", "allowedPostLogoutUris": strings("/u", 11) })),
        &[
            "warning: routes[0].backend.allowedPostLogoutUris: 11 post-logout URIs; OCI allows at most 10",
            "warning: routes[0].backend: an OAUTH2_LOGOUT_BACKEND only has a session to end with TOKEN_AUTHENTICATION using REMOTE_DISCOVERY and an OAUTH2 failure policy",
        ],
    );
    assert_eq!(load.diagnostics.of_kind(Kind::Limit).count(), 1);
}

#[test]
fn cors_mtls_and_transformations() {
    limits(with_deployment_policies(json!({
        "cors": { "allowedOrigins": ["*"], "allowedMethods": vec!["GET"; 51], "allowedHeaders": strings("X-A", 51),
                  "exposedHeaders": strings("X-E", 51) },
        "mutualTls": { "allowedSans": strings("host", 11) } })), &[
        "warning: requestPolicies.cors.allowedMethods: 51 allowedMethods; OCI allows at most 50",
        "warning: requestPolicies.cors.allowedHeaders: 51 allowedHeaders; OCI allows at most 50",
        "warning: requestPolicies.cors.exposedHeaders: 51 exposedHeaders; OCI allows at most 50",
        "warning: requestPolicies.mutualTls.allowedSans: 11 allowedSans entries; OCI allows at most 10",
    ]);
    let set: Vec<Value> = strings("X-S", 21)
        .into_iter()
        .map(|n| json!({ "name": n, "values": ["v"] }))
        .collect();
    let rename: Vec<Value> = (0..21)
        .map(|i| json!({ "from": format!("X-F{i}"), "to": format!("X-T{i}") }))
        .collect();
    let filter: Vec<Value> = strings("X-B", 51)
        .into_iter()
        .map(|n| json!({ "name": n }))
        .collect();
    let mut set = set;
    set[0]["values"] = json!(strings("v", 11));
    limits(with_route_policies(json!({ "headerTransformations": {
        "setHeaders": { "items": set }, "renameHeaders": { "items": rename },
        "filterHeaders": { "type": "BLOCK", "items": filter } } })), &[
        "warning: routes[0].requestPolicies.headerTransformations.setHeaders.items[0].values: 11 values; OCI allows at most 10",
        "warning: routes[0].requestPolicies.headerTransformations.setHeaders.items: 21 items to set; OCI allows at most 20",
        "warning: routes[0].requestPolicies.headerTransformations.renameHeaders.items: 21 items to rename; OCI allows at most 20",
        "warning: routes[0].requestPolicies.headerTransformations.filterHeaders.items: 51 items to filter; OCI allows at most 50",
    ]);
    let filter: Vec<Value> = strings("X-B", 21)
        .into_iter()
        .map(|n| json!({ "name": n }))
        .collect();
    limits(json!({ "routes": [ { "path": "/", "methods": ["GET"], "backend": stock(),
        "responsePolicies": { "headerTransformations": { "filterHeaders": { "type": "ALLOW", "items": filter } } } } ] }), &[
        "warning: routes[0].responsePolicies.headerTransformations.filterHeaders.items: 21 items to filter; OCI allows at most 20",
    ]);
}
