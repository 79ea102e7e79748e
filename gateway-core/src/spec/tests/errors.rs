//! Bad documents: shapes, types, discriminators, enums and unknown keys, each with its exact
//! path, message and hint — and several problems in one document, all reported.

use serde_json::json;

use super::{assert_diags, lines, stock, with_backend, with_route_policies};
use crate::spec::load_spec;

#[test]
fn every_problem_in_a_document_is_reported_at_once() {
    let spec = json!({
        "routes": [
            { "path": "/a", "methods": ["GET", "get"],
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": "200" },
              "requestPolicies": { "rateLimiting": { "rateInRequestsPerSecond": 1, "rateKey": "TOTAL" } } },
            { "path": "/b", "methods": ["GET"], "backend": { "type": "ORACLE_FUNCTIONS_BACKEND" } },
            { "path": "/c", "methods": ["GET"], "backend": { "type": "HTTP_BACKEND", "url": "https://c.example.com" } },
            { "path": "/d", "methods": ["GET"], "backend": { "type": "HTTP", "url": "https://d.example.com" } }
        ]
    });
    assert_diags(spec, &[
        "error: routes[0].methods[1]: unknown method \"get\" (hint: methods are upper case: GET)",
        "error: routes[0].backend.status: expected an integer, found a string (hint: write 200 without quotes)",
        "error: routes[0].requestPolicies.rateLimiting: unknown key (hint: rateLimiting is a deployment-level policy: move it to requestPolicies at the top level)",
        "error: routes[1].backend: missing required key \"functionId\"",
        "error: routes[3].backend.type: unknown backend type \"HTTP\" (hint: expected one of HTTP_BACKEND, ORACLE_FUNCTIONS_BACKEND, STOCK_RESPONSE_BACKEND, DYNAMIC_ROUTING_BACKEND, OAUTH2_LOGOUT_BACKEND)",
    ]);
}

#[test]
fn invalid_json_is_one_diagnostic_with_line_and_column() {
    let load = load_spec("{\n  \"routes\": [\n}");
    assert_eq!(
        lines(&load),
        ["error: (document): invalid JSON: expected value at line 3 column 1 (hint: the file must be one JSON object: the ApiSpecification)"]
    );
    assert!(load.spec.is_none());
}

#[test]
fn the_document_must_be_the_specification_object() {
    assert_diags(
        json!([1]),
        &["error: (document): expected an object, found an array"],
    );
    assert_diags(json!({ "specification": { "routes": [] }, "pathPrefix": "/v1" }), &[
        "error: pathPrefix: unknown key (hint: pathPrefix belongs to the deployment, not to the specification: configure it next to the spec)",
        "error: specification: unknown key (hint: the file is the ApiSpecification itself: remove the \"specification\" wrapper)",
        "warning: (document): no routes: every request to the deployment gets 404",
    ]);
}

#[test]
fn unknown_keys_get_a_near_miss_or_the_known_keys() {
    let spec = json!({ "routes": [ { "path": "/", "methods": ["GET"], "backend": stock(),
        "requestPolicy": {}, "policies": {}, "timeout": 3 } ] });
    assert_diags(spec, &[
        "error: routes[0].policies: unknown key (hint: there is no policies key: use requestPolicies, responsePolicies or loggingPolicies)",
        "error: routes[0].requestPolicy: unknown key (hint: did you mean requestPolicies?)",
        "error: routes[0].timeout: unknown key (hint: known keys: path, methods, backend, requestPolicies, responsePolicies, loggingPolicies)",
    ]);
    assert_diags(
        with_backend(json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "Body": "x" })),
        &["error: routes[0].backend.Body: unknown key (hint: did you mean body?)"],
    );
}

#[test]
fn misplaced_policies_say_where_they_belong() {
    let spec = json!({
        "requestPolicies": { "authorization": { "type": "ANONYMOUS" }, "responseCacheStore": {} },
        "routes": [ { "path": "/", "methods": ["GET"], "backend": stock(),
                      "cors": { "allowedOrigins": ["*"] },
                      "requestPolicies": { "authentication": {}, "mutualTls": {} },
                      "responsePolicies": { "responseCacheLookup": {} } } ]
    });
    assert_diags(spec, &[
        "error: requestPolicies.authorization: unknown key (hint: authorization is a route request policy: move it to the route's requestPolicies)",
        "error: requestPolicies.responseCacheStore: unknown key (hint: responseCacheStore is a route response policy: move it to the route's responsePolicies)",
        "error: routes[0].requestPolicies.authentication: unknown key (hint: authentication is a deployment-level policy: move it to requestPolicies at the top level)",
        "error: routes[0].requestPolicies.mutualTls: unknown key (hint: mutualTls is a deployment-level policy: move it to requestPolicies at the top level)",
        "error: routes[0].responsePolicies.responseCacheLookup: unknown key (hint: responseCacheLookup is a route request policy: move it to the route's requestPolicies)",
        "error: routes[0].cors: unknown key (hint: cors is a request policy: put it in requestPolicies (top level or route))",
    ]);
}

#[test]
fn wrong_json_types() {
    assert_diags(
        json!({ "routes": {} }),
        &["error: routes: expected an array, found an object"],
    );
    assert_diags(
        json!({ "routes": [ "/hello" ] }),
        &["error: routes[0]: expected an object, found a string"],
    );
    let spec = json!({ "routes": [ { "path": 5, "methods": "GET", "backend": {
        "type": "HTTP_BACKEND", "url": "https://x.example.com", "readTimeoutInSeconds": "10",
        "isSslVerifyDisabled": "false" } } ] });
    assert_diags(spec, &[
        "error: routes[0].path: expected a string, found a number (hint: quote it: \"5\")",
        "error: routes[0].methods: expected an array, found a string",
        "error: routes[0].backend.readTimeoutInSeconds: expected a number, found a string (hint: write 10 without quotes)",
        "error: routes[0].backend.isSslVerifyDisabled: expected a boolean, found a string (hint: write false without quotes)",
    ]);
    assert_diags(
        with_backend(json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 200.5 })),
        &["error: routes[0].backend.status: expected an integer, found 200.5"],
    );
    assert_diags(
        with_backend(json!({ "type": "STOCK_RESPONSE_BACKEND", "status": -1 })),
        &["error: routes[0].backend.status: expected an integer between 0 and 65535, found -1"],
    );
}

#[test]
fn null_is_absent_for_optional_keys() {
    let spec = json!({ "requestPolicies": null, "routes": [ { "path": "/", "methods": ["GET"],
        "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 204, "body": null } } ] });
    assert_diags(spec, &[]);
    assert_diags(
        with_backend(json!({ "type": "STOCK_RESPONSE_BACKEND", "status": null })),
        &["error: routes[0].backend.status: expected an integer, found null"],
    );
}

#[test]
fn unknown_discriminators_and_enum_values() {
    assert_diags(with_backend(json!({ "url": "https://x.example.com" })), &[
        "error: routes[0].backend: missing required key \"type\" (hint: expected one of HTTP_BACKEND, ORACLE_FUNCTIONS_BACKEND, STOCK_RESPONSE_BACKEND, DYNAMIC_ROUTING_BACKEND, OAUTH2_LOGOUT_BACKEND)",
    ]);
    assert_diags(with_backend(json!({ "type": "HTTP_BAKEND", "url": "https://x.example.com" })), &[
        "error: routes[0].backend.type: unknown backend type \"HTTP_BAKEND\" (hint: did you mean HTTP_BACKEND?)",
    ]);
    // The invalid type seen in a Terraform module (reference 13).
    assert_diags(with_backend(json!({ "type": "ORACLE_FUNCTIONS", "functionId": "f" })), &[
        "error: routes[0].backend.type: unknown backend type \"ORACLE_FUNCTIONS\" (hint: did you mean ORACLE_FUNCTIONS_BACKEND?)",
    ]);
    assert_diags(with_route_policies(json!({ "authorization": { "type": "anonymous" } })), &[
        "error: routes[0].requestPolicies.authorization.type: unknown authorization type \"anonymous\" (hint: authorization types are upper case: ANONYMOUS)",
    ]);
    assert_diags(with_route_policies(json!({ "headerValidations": { "validationMode": "STRICT" } })), &[
        "error: routes[0].requestPolicies.headerValidations.validationMode: unknown validation mode \"STRICT\" (hint: expected one of ENFORCING, PERMISSIVE, DISABLED)",
    ]);
    let spec = json!({ "requestPolicies": { "authentication": { "type": "JWT", "issuers": [] } },
        "routes": [ { "path": "/", "methods": ["GET"], "backend": stock() } ] });
    assert_diags(spec, &[
        "error: requestPolicies.authentication.type: unknown authentication type \"JWT\" (hint: expected one of CUSTOM_AUTHENTICATION, JWT_AUTHENTICATION, TOKEN_AUTHENTICATION)",
    ]);
}

#[test]
fn methods() {
    let spec = json!({ "routes": [
        { "path": "/a", "backend": stock() },
        { "path": "/b", "methods": ["GET", "POST", "GET"], "backend": stock() },
        { "path": "/c", "methods": ["ANY", "GET"], "backend": stock() },
        { "path": "/d", "methods": [], "backend": stock() },
    ] });
    let load = assert_diags(spec, &[
        "warning: routes[0]: no methods: the route accepts every method (treated as ANY) (hint: list the methods, e.g. \"methods\": [\"GET\"], or write [\"ANY\"])",
        "warning: routes[1].methods[2]: duplicate method GET",
        "warning: routes[2].methods: ANY already covers every method; the other entries are redundant",
        "error: routes[3].methods: must not be empty: the route would match no request (hint: list the methods, or remove the key to accept every method)",
    ]);
    assert!(load.spec.is_none());
}

#[test]
fn a_failed_route_keeps_the_indices_of_the_others() {
    // Route 0 fails entirely; route 1's authorization problem is still found, under routes[1].
    let spec = json!({ "routes": [
        { "path": "/a", "methods": ["GET"] },
        { "path": "/b", "methods": ["GET"], "backend": stock(),
          "requestPolicies": { "authorization": { "type": "AUTHENTICATION_ONLY" } } },
    ] });
    assert_diags(spec, &[
        "error: routes[0]: missing required key \"backend\"",
        "error: routes[1].requestPolicies.authorization: AUTHENTICATION_ONLY authorization needs an authentication policy at the deployment level (hint: add requestPolicies.authentication (or dynamicAuthentication) at the top level, or remove this authorization)",
    ]);
}
