//! Doc-spelling aliases (reference 0.2): accepted with a `Kind::Alias` warning naming the SDK
//! spelling, written back out in SDK spelling.

use serde_json::{json, Value};

use super::{assert_diags, lines, stock, with_backend, with_deployment_policies};
use crate::diagnostics::Kind;
use crate::spec::load_spec_value;

/// Loads with only alias warnings, and checks the SDK serialization reloads without any.
#[track_caller]
fn loads_with_aliases(spec: Value, expected: &[&str]) -> Value {
    let load = assert_diags(spec, expected);
    assert!(load.diagnostics.iter().all(|d| d.kind == Kind::Alias));
    let sdk = serde_json::to_value(load.spec.as_ref().expect("loads")).expect("serializes");
    let again = load_spec_value(&sdk);
    assert!(again.diagnostics.is_empty(), "{:?}", lines(&again));
    assert_eq!(again.spec, load.spec);
    sdk
}

#[test]
fn key_aliases() {
    let sdk = loads_with_aliases(
        json!({
            "requestPolicies": { "mutualTLS": { "isVerifiedCertificateRequired": true } },
            "routes": [ {
                "path": "/", "methods": ["GET"],
                "backend": { "type": "HTTP_BACKEND", "url": "https://x.example.com", "isSSLVerifyDisabled": true },
                "requestPolicies": { "responseCacheLookup": { "type": "SIMPLE_LOOKUP_POLICY" } },
                "responsePolicies": { "responseCacheStorage": { "type": "FIXED_TTL_STORE_POLICY", "timeToLiveInSeconds": 60 } }
            } ]
        }),
        &[
            "warning: requestPolicies.mutualTLS: \"mutualTLS\" is the documentation's spelling of \"mutualTls\" (hint: write mutualTls)",
            "warning: routes[0].backend.isSSLVerifyDisabled: \"isSSLVerifyDisabled\" is the documentation's spelling of \"isSslVerifyDisabled\" (hint: write isSslVerifyDisabled)",
            "warning: routes[0].responsePolicies.responseCacheStorage: \"responseCacheStorage\" is the documentation's spelling of \"responseCacheStore\" (hint: write responseCacheStore)",
        ],
    );
    assert_eq!(
        sdk["requestPolicies"]["mutualTls"]["isVerifiedCertificateRequired"],
        true
    );
    assert_eq!(sdk["routes"][0]["backend"]["isSslVerifyDisabled"], true);
    assert!(sdk["routes"][0]["responsePolicies"]["responseCacheStore"].is_object());
}

#[test]
fn modify_response_header_transformation_aliases() {
    for alias in ["headerTransformations", "responseTransformations"] {
        let auth = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": "f",
            "parameters": { "c": "request.headers[Cookie]" },
            "validationFailurePolicy": { "type": "MODIFY_RESPONSE", "responseCode": "302",
                alias: { "setHeaders": { "items": [ { "name": "Location", "values": ["/login"] } ] } } } });
        let expected = format!(
            "warning: requestPolicies.authentication.validationFailurePolicy.{alias}: \"{alias}\" is the documentation's spelling of \"responseHeaderTransformations\" (hint: write responseHeaderTransformations)"
        );
        let sdk = loads_with_aliases(
            with_deployment_policies(json!({ "authentication": auth })),
            &[&expected],
        );
        let policy = &sdk["requestPolicies"]["authentication"]["validationFailurePolicy"];
        assert!(policy["responseHeaderTransformations"]["setHeaders"].is_object());
    }
}

#[test]
fn value_aliases() {
    let sdk = loads_with_aliases(
        json!({
            "requestPolicies": { "authentication": {
                "type": "TOKEN_AUTHENTICATION", "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
                "validationPolicy": { "type": "REMOTE_DISCOVERY",
                    "clientDetails": { "type": "CUSTOM", "clientId": "c", "clientSecretId": "s", "clientSecretVersionNumber": 1 },
                    "sourceUriDetails": { "type": "DISCOVERY_URI", "uri": "https://idp.example.com/.well-known/openid-configuration" } },
                "validationFailurePolicy": { "type": "OAUTH2", "clientDetails": { "type": "VALIDATION_BLOCK" },
                    "sourceUriDetails": { "type": "VALIDATION_BLOCK" }, "scopes": ["openid"], "responseType": "code" } } },
            "routes": [
                { "path": "/logout", "methods": ["GET"], "backend": { "type": "OAUTH2_LOGOUT" } },
                { "path": "/v", "methods": ["GET"], "backend": { "type": "DYNAMIC_ROUTING_BACKEND",
                    "selectionSource": { "type": "SINGLE", "selector": "request.query[v]" },
                    "routingBackends": [
                        { "key": { "type": "ANY_OF", "name": "a", "values": ["a"], "isDefault": "true" }, "backend": stock() },
                        { "key": { "type": "WILDCARD", "name": "b", "expression": "b*", "isDefault": "false" }, "backend": stock() } ] } }
            ]
        }),
        &[
            "warning: requestPolicies.authentication.validationFailurePolicy.responseType: \"code\" is the documentation's spelling of response type \"CODE\" (hint: write CODE)",
            "warning: routes[0].backend.type: \"OAUTH2_LOGOUT\" is the documentation's spelling of backend type \"OAUTH2_LOGOUT_BACKEND\" (hint: write OAUTH2_LOGOUT_BACKEND)",
            "warning: routes[1].backend.routingBackends[0].key.isDefault: the quoted string \"true\" is the documentation's spelling of the boolean true (hint: write true without quotes)",
            "warning: routes[1].backend.routingBackends[1].key.isDefault: the quoted string \"false\" is the documentation's spelling of the boolean false (hint: write false without quotes)",
        ],
    );
    assert_eq!(sdk["routes"][0]["backend"]["type"], "OAUTH2_LOGOUT_BACKEND");
    assert_eq!(
        sdk["routes"][1]["backend"]["routingBackends"][0]["key"]["isDefault"],
        true
    );
    assert_eq!(
        sdk["requestPolicies"]["authentication"]["validationFailurePolicy"]["responseType"],
        "CODE"
    );
}

#[test]
fn an_alias_next_to_its_sdk_spelling_is_an_error() {
    assert_diags(
        with_backend(json!({ "type": "HTTP_BACKEND", "url": "https://x.example.com",
            "isSslVerifyDisabled": false, "isSSLVerifyDisabled": true })),
        &["error: routes[0].backend.isSSLVerifyDisabled: \"isSSLVerifyDisabled\" repeats \"isSslVerifyDisabled\" (hint: keep only isSslVerifyDisabled)"],
    );
    // Only the documented quoted booleans are accepted.
    assert_diags(
        json!({ "routes": [ { "path": "/", "methods": ["GET"], "backend": { "type": "DYNAMIC_ROUTING_BACKEND",
            "selectionSource": { "type": "SINGLE", "selector": "request.host" },
            "routingBackends": [ { "key": { "type": "ANY_OF", "name": "a", "isDefault": "yes" }, "backend": stock() } ] } } ] }),
        &["error: routes[0].backend.routingBackends[0].key.isDefault: expected a boolean, found a string"],
    );
}
