use serde_json::{json, Value};

use super::*;
use crate::spec::load_spec;

/// Imports `document`, checks that whatever came out loads as a specification without a
/// problem, and returns it as JSON with the import's diagnostics as text.
fn import(document: Value, backend: &ImportBackend) -> (Option<Value>, Vec<String>) {
    let imported = import_api_description(&document, backend);
    let lines = imported
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    let spec = imported.specification.map(|spec| {
        let text = serde_json::to_string(&spec).expect("serializes");
        let load = load_spec(&text);
        assert!(load.diagnostics.is_empty(), "{:?}", load.diagnostics);
        serde_json::from_str(&text).expect("JSON")
    });
    (spec, lines)
}

#[test]
fn swagger_2_routes_go_to_its_host_and_base_path() {
    let doc = json!({
        "swagger": "2.0", "host": "api.example.com", "basePath": "/v1/",
        "schemes": ["http", "https"],
        "paths": { "/pets/{petId}": {
            "parameters": [ { "name": "petId", "in": "path", "required": true, "type": "string" } ],
            "get": { "parameters": [
                { "name": "X-Tenant", "in": "header", "required": true, "type": "string" },
                { "name": "fields", "in": "query", "required": true, "type": "string" },
                { "name": "page", "in": "query", "type": "integer" } ] },
            "put": { "consumes": ["application/xml"],
                "parameters": [ { "name": "pet", "in": "body", "required": true, "schema": {} } ] } } }
    });
    let (spec, lines) = import(doc, &ImportBackend::Described);
    assert_eq!(lines, Vec::<String>::new());
    assert_eq!(
        spec.expect("imported"),
        json!({ "routes": [
            { "path": "/pets/{petId}", "methods": ["GET"],
              "backend": { "type": "HTTP_BACKEND", "url": "https://api.example.com/v1/pets/${request.path[petId]}" },
              "requestPolicies": {
                "headerValidations": { "validationMode": "ENFORCING", "headers": [ { "name": "X-Tenant", "required": true } ] },
                "queryParameterValidations": { "validationMode": "ENFORCING", "parameters": [ { "name": "fields", "required": true } ] } } },
            { "path": "/pets/{petId}", "methods": ["PUT"],
              "backend": { "type": "HTTP_BACKEND", "url": "https://api.example.com/v1/pets/${request.path[petId]}" },
              "requestPolicies": { "bodyValidation": { "validationMode": "ENFORCING", "required": true,
                "content": { "application/xml": { "validationType": "NONE" } } } } }
        ] })
    );
}

#[test]
fn openapi_3_servers_refs_and_what_openapi_says_to_ignore() {
    let doc = json!({
        "openapi": "3.1.0",
        "servers": [ { "url": "https://{region}.example.com/{base}",
                       "variables": { "region": { "default": "eu" }, "base": { "default": "api" } } } ],
        "components": { "parameters": { "tenant": { "name": "X-Tenant", "in": "header", "required": true } },
                        "requestBodies": { "order": { "required": true, "content": { "application/json": {} } } } },
        "paths": {
            "/orders": {
                "post": { "requestBody": { "$ref": "#/components/requestBodies/order" },
                          "parameters": [ { "$ref": "#/components/parameters/tenant" },
                                          { "name": "Accept", "in": "header", "required": true } ] },
                "get": { "parameters": [
                    { "$ref": "#/components/parameters/tenant" },
                    { "name": "X-Tenant", "in": "header", "required": false } ] } } }
    });
    let (spec, lines) = import(doc, &ImportBackend::Described);
    assert_eq!(lines, Vec::<String>::new());
    assert_eq!(
        spec.expect("imported")["routes"],
        json!([
            // The operation's own X-Tenant overrides the shared one: not required.
            { "path": "/orders", "methods": ["GET"],
              "backend": { "type": "HTTP_BACKEND", "url": "https://eu.example.com/api/orders" } },
            { "path": "/orders", "methods": ["POST"],
              "backend": { "type": "HTTP_BACKEND", "url": "https://eu.example.com/api/orders" },
              "requestPolicies": {
                "headerValidations": { "validationMode": "ENFORCING", "headers": [ { "name": "X-Tenant", "required": true } ] },
                "bodyValidation": { "validationMode": "ENFORCING", "required": true,
                  "content": { "application/json": { "validationType": "NONE" } } } } }
        ])
    );
}

#[test]
fn what_oci_cannot_route_is_reported_and_left_out() {
    let doc = json!({
        "openapi": "3.0.3", "servers": [ { "url": "https://up.example.com" } ],
        "components": { "securitySchemes": {
            "key": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
            "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": {
            "/users/{user-id}": { "get": {}, "delete": {} },
            "/files/{name}.json": { "get": {} },
            "/echo": { "trace": {}, "get": {} },
            "/remote": { "$ref": "other.yaml#/paths/~1remote" } }
    });
    let (spec, lines) = import(doc, &ImportBackend::Described);
    assert_eq!(
        lines,
        [
            "warning: components.securitySchemes.bearer: the API expects bearer tokens; nothing enforces it yet (hint: add a JWT_AUTHENTICATION policy with the issuer's keys to the deployment's requestPolicies)",
            "warning: components.securitySchemes.key: the API expects an API key in header \"X-API-Key\"; nothing enforces it yet (hint: add a CUSTOM_AUTHENTICATION policy whose authorizer function checks it to the deployment's requestPolicies)",
            "warning: paths[\"/echo\"].trace: OCI routes do not accept TRACE; the operation is left out",
            "warning: paths[\"/files/{name}.json\"]: segment \"{name}.json\" has a parameter inside it; OCI routes take whole-segment parameters only, so its operations are left out",
            "warning: paths[\"/remote\"][\"$ref\"]: cannot follow \"other.yaml#/paths/~1remote\": only references inside the document are read; skipped",
            "warning: paths[\"/users/{user-id}\"]: parameter name 'user-id' is written 'user_id' in the route (OCI allows letters, digits and '_')",
        ]
    );
    let routes = &spec.expect("imported")["routes"];
    let described: Vec<String> = routes
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            format!(
                "{} {} -> {}",
                r["methods"][0], r["path"], r["backend"]["url"]
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            r#""GET" "/echo" -> "https://up.example.com/echo""#,
            r#""GET" "/users/{user_id}" -> "https://up.example.com/users/${request.path[user_id]}""#,
            r#""DELETE" "/users/{user_id}" -> "https://up.example.com/users/${request.path[user_id]}""#,
        ]
    );
}

#[test]
fn a_given_backend_or_function_replaces_the_servers() {
    let doc = json!({ "openapi": "3.0.0", "servers": [ { "url": "/relative" } ],
                      "paths": { "/a/{id}": { "get": {} } } });
    let (spec, _) = import(
        doc.clone(),
        &ImportBackend::Url("http://127.0.0.1:9/base/".into()),
    );
    assert_eq!(
        spec.expect("imported")["routes"][0]["backend"],
        json!({ "type": "HTTP_BACKEND", "url": "http://127.0.0.1:9/base/a/${request.path[id]}" })
    );
    let (spec, _) = import(doc, &ImportBackend::Function("ocid1.fnfunc.oc1..f".into()));
    assert_eq!(
        spec.expect("imported")["routes"][0]["backend"],
        json!({ "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..f" })
    );
}

#[test]
fn documents_that_cannot_be_imported_say_why() {
    let cases = [
        (
            json!({ "openapi": "3.0.0", "servers": [ { "url": "/v3" } ], "paths": { "/a": { "get": {} } } }),
            "error: servers[0].url: \"/v3\" is not an absolute http(s) URL (hint: give the backend with --backend URL, or --function ID)",
        ),
        (
            json!({ "openapi": "3.0.0", "paths": { "/a": { "get": {} } } }),
            "error: servers: the description names no server (hint: give the backend with --backend URL, or --function ID)",
        ),
        (
            json!({ "openapi": "2.5" }),
            "error: openapi: unsupported OpenAPI version \"2.5\" (hint: OpenAPI 3.0 and 3.1, and Swagger 2.0, can be imported)",
        ),
        (
            json!({ "info": {} }),
            "error: (document): neither an `openapi` nor a `swagger` version field (hint: is this an OpenAPI 3 or Swagger 2.0 document?)",
        ),
        (
            json!({ "swagger": "2.0", "host": "h", "paths": { "/a": { "trace": {} } } }),
            "error: paths: no operation could be turned into a route",
        ),
        (json!([1]), "error: (document): an API description is a JSON or YAML object"),
    ];
    for (doc, expected) in cases {
        let (spec, lines) = import(doc, &ImportBackend::Described);
        assert!(spec.is_none());
        assert_eq!(lines.last().map(String::as_str), Some(expected));
    }
}

#[test]
fn a_loop_of_references_is_reported_not_followed() {
    let doc = json!({ "swagger": "2.0", "host": "h",
        "parameters": { "a": { "$ref": "#/parameters/b" }, "b": { "$ref": "#/parameters/a" } },
        "paths": { "/x": { "get": { "parameters": [ { "$ref": "#/parameters/a" } ] } } } });
    let (spec, lines) = import(doc, &ImportBackend::Described);
    assert!(spec.is_some());
    assert_eq!(
        lines,
        ["warning: paths[\"/x\"].get.parameters[0][\"$ref\"]: references nested more than 16 deep (a loop?); skipped"]
    );
}
