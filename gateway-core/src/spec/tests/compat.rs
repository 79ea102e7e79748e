//! The real specs from `shared/compat/specs`, two specs that use every feature, round trips
//! through the SDK serialization, and the feature lists.

use std::collections::BTreeSet;

use super::lines;
use crate::spec::{load_spec, load_spec_value, ApiSpecification, Feature};

const OIDC: &str = include_str!("../../../../../shared/compat/specs/01-oidc-custom-auth.json");
const MIXED: &str = include_str!("../../../../../shared/compat/specs/03-mixed-backends.json");
const JWT: &str =
    include_str!("../../../../../shared/compat/specs/04-jwt-auth-cors-ratelimit.json");
const OAUTH2: &str = include_str!("fixtures/everything-oauth2.json");
const DYNAMIC_AUTH: &str = include_str!("fixtures/everything-dynamic-auth.json");

const ALL: [(&str, &str); 5] = [
    ("01-oidc-custom-auth", OIDC),
    ("03-mixed-backends", MIXED),
    ("04-jwt-auth-cors-ratelimit", JWT),
    ("everything-oauth2", OAUTH2),
    ("everything-dynamic-auth", DYNAMIC_AUTH),
];

fn load(name: &str, text: &str) -> ApiSpecification {
    let load = load_spec(text);
    assert!(load.diagnostics.is_empty(), "{name}: {:#?}", lines(&load));
    load.spec.unwrap_or_else(|| panic!("{name} did not load"))
}

#[test]
fn every_spec_loads_without_any_diagnostic() {
    for (name, text) in ALL {
        load(name, text);
    }
}

#[test]
fn round_trip_through_sdk_json_gives_an_equal_spec() {
    for (name, text) in ALL {
        let spec = load(name, text);
        let value = serde_json::to_value(&spec).expect("serializes");
        let again = load_spec_value(&value);
        assert!(again.diagnostics.is_empty(), "{name}: {:#?}", lines(&again));
        assert_eq!(again.spec.as_ref(), Some(&spec), "{name}");
    }
}

#[test]
fn serialization_is_the_sdk_json() {
    // Integers stay integers, discriminators are written, absent optionals are skipped.
    let spec = load("03", MIXED);
    let value = serde_json::to_value(&spec).expect("serializes");
    assert_eq!(
        value["routes"][1]["backend"],
        serde_json::json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 200,
                            "body": "{\"special_key\":\"Special Value\"}", "headers": [] })
    );
    assert_eq!(
        value["routes"][2]["backend"],
        serde_json::json!({ "type": "HTTP_BACKEND", "url": "https://www.startpage.com/" })
    );
    let spec = load("dynamic", DYNAMIC_AUTH);
    let value = serde_json::to_value(&spec).expect("serializes");
    let key = &value["requestPolicies"]["dynamicAuthentication"]["authenticationServers"][1]
        ["authenticationServerDetail"]["publicKeys"]["keys"][0];
    assert_eq!(key["format"], "JSON_WEB_KEY");
    assert_eq!(key["key_ops"], serde_json::json!(["verify"]));
    assert_eq!(key["use"], "sig");
}

fn features(text: &str) -> Vec<(String, Option<usize>, &'static str)> {
    load("spec", text)
        .features()
        .into_iter()
        .map(|f| (f.path, f.route, f.feature.name()))
        .collect()
}

#[test]
fn features_of_the_jwt_spec() {
    let expected = [
        (
            "loggingPolicies.accessLog",
            None,
            "loggingPolicies.accessLog",
        ),
        (
            "loggingPolicies.executionLog",
            None,
            "loggingPolicies.executionLog",
        ),
        ("requestPolicies.authentication", None, "JWT_AUTHENTICATION"),
        (
            "requestPolicies.authentication.publicKeys",
            None,
            "REMOTE_JWKS",
        ),
        (
            "requestPolicies.rateLimiting",
            None,
            "requestPolicies.rateLimiting",
        ),
        ("requestPolicies.cors", None, "requestPolicies.cors"),
        ("routes[0].backend", Some(0), "HTTP_BACKEND"),
        (
            "routes[0].requestPolicies.authorization",
            Some(0),
            "authorization.AUTHENTICATION_ONLY",
        ),
        (
            "routes[0].requestPolicies.cors",
            Some(0),
            "requestPolicies.cors",
        ),
        (
            "routes[0].loggingPolicies.accessLog",
            Some(0),
            "loggingPolicies.accessLog",
        ),
        (
            "routes[0].loggingPolicies.executionLog",
            Some(0),
            "loggingPolicies.executionLog",
        ),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(p, r, f)| (p.to_string(), *r, *f))
        .collect();
    assert_eq!(features(JWT), expected);
}

#[test]
fn features_of_the_mixed_backends_spec() {
    let expected = vec![
        (
            "routes[0].backend".to_owned(),
            Some(0),
            "ORACLE_FUNCTIONS_BACKEND",
        ),
        (
            "routes[1].backend".to_owned(),
            Some(1),
            "STOCK_RESPONSE_BACKEND",
        ),
        ("routes[2].backend".to_owned(), Some(2), "HTTP_BACKEND"),
    ];
    assert_eq!(features(MIXED), expected);
}

#[test]
fn features_of_the_oidc_spec() {
    let spec = load("01", OIDC);
    let uses = spec.features();
    let distinct: BTreeSet<Feature> = uses.iter().map(|f| f.feature).collect();
    let expected = BTreeSet::from([
        Feature::ExecutionLog,
        Feature::CustomAuthenticationMultiArgument,
        Feature::ModifyResponseFailurePolicy,
        Feature::HttpBackend,
        Feature::OracleFunctionsBackend,
        Feature::AnonymousAuthorization,
        Feature::AuthenticationOnlyAuthorization,
        Feature::SetHeaders,
    ]);
    assert_eq!(distinct, expected);
    let count = |f: Feature| uses.iter().filter(|u| u.feature == f).count();
    assert_eq!(count(Feature::AnonymousAuthorization), 6);
    assert_eq!(count(Feature::AuthenticationOnlyAuthorization), 2);
    assert_eq!(count(Feature::HttpBackend), 4);
    assert_eq!(count(Feature::OracleFunctionsBackend), 4);
    assert_eq!(count(Feature::SetHeaders), 3);
    assert!(uses.iter().any(|u| u.path
        == "requestPolicies.authentication.validationFailurePolicy"
        && u.feature == Feature::ModifyResponseFailurePolicy
        && u.route.is_none()));
    assert!(uses.iter().any(|u| u.path
        == "routes[3].requestPolicies.headerTransformations.setHeaders"
        && u.route == Some(3)));
}

#[test]
fn nested_backends_and_dynamic_servers_are_listed() {
    let uses = load("oauth2", OAUTH2).features();
    let at = |path: &str| uses.iter().find(|u| u.path == path).map(|u| u.feature);
    assert_eq!(
        at("routes[1].backend"),
        Some(Feature::DynamicRoutingBackend)
    );
    assert_eq!(
        at("routes[1].backend.routingBackends[1].backend"),
        Some(Feature::OracleFunctionsBackend)
    );
    assert_eq!(
        at("routes[1].backend.routingBackends[2].backend"),
        Some(Feature::StockResponseBackend)
    );
    assert_eq!(at("routes[3].backend"), Some(Feature::OAuth2LogoutBackend));
    assert_eq!(
        at("requestPolicies.authentication.validationPolicy"),
        Some(Feature::RemoteDiscovery)
    );
    assert_eq!(
        at("requestPolicies.authentication.validationFailurePolicy"),
        Some(Feature::OAuth2FailurePolicy)
    );
    let uses = load("dynamic", DYNAMIC_AUTH).features();
    let at = |path: &str| uses.iter().find(|u| u.path == path).map(|u| u.feature);
    let server = |i: usize| {
        format!("requestPolicies.dynamicAuthentication.authenticationServers[{i}].authenticationServerDetail")
    };
    assert_eq!(
        at("requestPolicies.dynamicAuthentication"),
        Some(Feature::DynamicAuthentication)
    );
    assert_eq!(
        at(&server(0)),
        Some(Feature::CustomAuthenticationSingleArgument)
    );
    assert_eq!(at(&server(1)), Some(Feature::JwtAuthentication));
    assert_eq!(
        at(&format!("{}.publicKeys", server(1))),
        Some(Feature::StaticKeys)
    );
    assert_eq!(
        at(&server(3)),
        Some(Feature::CustomAuthenticationMultiArgument)
    );
}

#[test]
fn the_fixtures_together_use_every_feature() {
    let used: BTreeSet<Feature> = ALL
        .iter()
        .flat_map(|(name, text)| load(name, text).features())
        .map(|u| u.feature)
        .collect();
    let all: BTreeSet<Feature> = Feature::ALL.iter().copied().collect();
    assert_eq!(
        all.difference(&used).collect::<Vec<_>>(),
        Vec::<&Feature>::new()
    );
    let names: BTreeSet<&str> = Feature::ALL.iter().map(Feature::name).collect();
    assert_eq!(
        names.len(),
        Feature::ALL.len(),
        "feature names are distinct"
    );
}

#[test]
fn every_json_file_in_the_compat_directory_loads() {
    // Fixtures added to shared/compat/specs later are covered without editing this test.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/compat/specs");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("compat directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let load = load_spec(&text);
            assert!(
                !load.diagnostics.has_errors(),
                "{}: {:#?}",
                path.display(),
                lines(&load)
            );
            seen += 1;
        }
    }
    assert!(seen >= 3, "only {seen} compat specs found in {dir}");
}
