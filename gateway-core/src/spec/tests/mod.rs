//! Loader tests: the compatibility fixtures, bad specs with their exact diagnostics, aliases,
//! limits, round trips and feature lists.

mod aliases;
mod compat;
mod errors;
mod limits;
mod policies;

use serde_json::{json, Value};

use super::{load_spec_value, SpecLoad};

/// Every diagnostic rendered as `severity: path: message (hint: …)`.
/// The diagnostics as text; also checks that no hint repeats its message.
fn lines(load: &SpecLoad) -> Vec<String> {
    for d in load.diagnostics.iter() {
        if let Some(hint) = &d.hint {
            assert!(!d.message.contains(hint.as_str()), "{d}");
        }
    }
    load.diagnostics.iter().map(ToString::to_string).collect()
}

/// Loads `spec` and asserts its diagnostics are exactly `expected`, in order.
#[track_caller]
fn assert_diags(spec: Value, expected: &[&str]) -> SpecLoad {
    let load = load_spec_value(&spec);
    assert_eq!(lines(&load), expected, "spec: {spec:#}");
    assert_eq!(load.spec.is_some(), !load.diagnostics.has_errors());
    load
}

/// A spec with one `GET /` route using `backend`.
fn with_backend(backend: Value) -> Value {
    json!({ "routes": [ { "path": "/", "methods": ["GET"], "backend": backend } ] })
}

/// A spec with one stock `GET /` route carrying `policies` as its request policies.
fn with_route_policies(policies: Value) -> Value {
    json!({ "routes": [ { "path": "/", "methods": ["GET"], "backend": stock(),
                           "requestPolicies": policies } ] })
}

/// A spec whose deployment request policies are `policies`, with one stock route.
fn with_deployment_policies(policies: Value) -> Value {
    json!({ "requestPolicies": policies,
            "routes": [ { "path": "/", "methods": ["GET"], "backend": stock() } ] })
}

fn stock() -> Value {
    json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 200 })
}

/// A valid JWT authentication policy to build on.
fn jwt() -> Value {
    json!({ "type": "JWT_AUTHENTICATION", "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
            "issuers": ["https://issuer.example.com/"], "audiences": ["api"],
            "publicKeys": { "type": "REMOTE_JWKS", "uri": "https://issuer.example.com/jwks" } })
}

/// Merges `extra`'s members into the object `base`.
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}
