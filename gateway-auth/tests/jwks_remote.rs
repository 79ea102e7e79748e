//! REMOTE_JWKS and REMOTE_DISCOVERY against a real HTTP server on 127.0.0.1: caching, key
//! rotation, the refetch rate limit, unreachable servers (500), EC and Ed25519 keys.

mod common;

use std::time::Duration;

use common::*;
use gateway_auth::AuthOptions;
use gateway_core::function::FunctionRegistry;
use gateway_test_support::jwt::*;
use gateway_test_support::net::closed_addr;
use serde_json::{json, Value};

const COMPAT_04: &str =
    include_str!("../../../shared/compat/specs/04-jwt-auth-cors-ratelimit.json");

/// The compat spec 04 (JWT_AUTHENTICATION, REMOTE_JWKS) pointed at `jwks_url`, with the test
/// issuer and audience.
fn compat_04(jwks_url: &str) -> String {
    let mut spec: Value = serde_json::from_str(COMPAT_04).expect("compat spec 04 is JSON");
    let auth = &mut spec["requestPolicies"]["authentication"];
    auth["publicKeys"]["uri"] = json!(jwks_url);
    auth["issuers"] = json!([ISSUER]);
    auth["audiences"] = json!([AUDIENCE]);
    spec.to_string()
}

fn factory(options: AuthOptions) -> Factory {
    Factory::new(FunctionRegistry::new()).with_options(options)
}

#[tokio::test]
async fn compat_spec_04_validates_tokens_with_fetched_keys_and_caches_them() {
    let server = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    let gate = gate(&compat_04(&server.jwks_url()), &factory(fast_options()));
    let token = rsa().token("k1", &claims());
    for _ in 0..3 {
        let reply = gate.bearer(&token).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["claims"]["sub"], "jdoe");
    }
    assert_eq!(server.hits(), 1, "fetched once, then cached");
    assert_eq!(
        gate.bearer(&rsa2().token("k1", &claims())).await.status,
        401
    );
}

#[tokio::test]
async fn a_new_kid_triggers_a_refetch_for_rotated_keys() {
    let server = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    let gate = gate(&compat_04(&server.jwks_url()), &factory(fast_options()));
    assert_eq!(gate.bearer(&rsa().token("k1", &claims())).await.status, 200);
    assert_eq!(server.hits(), 1);

    server.set_jwks(key_set(&[rsa().jwk("k1"), rsa2().jwk("k2")]));
    let reply = gate.bearer(&rsa2().token("k2", &claims())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.hits(), 2);
    // Both keys are now known without another fetch.
    assert_eq!(gate.bearer(&rsa().token("k1", &claims())).await.status, 200);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn unknown_kids_refetch_at_a_bounded_rate() {
    let server = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    let mut options = fast_options();
    options.jwks.min_refresh_interval = Duration::from_secs(3600);
    let gate = gate(&compat_04(&server.jwks_url()), &factory(options));
    assert_eq!(gate.bearer(&rsa().token("k1", &claims())).await.status, 200);
    for i in 0..20 {
        let reply = gate
            .bearer(&rsa().token(&format!("forged-{i}"), &claims()))
            .await;
        assert_eq!(reply.status, 401);
    }
    assert_eq!(server.hits(), 1, "no refetch within the interval");
}

#[tokio::test]
async fn an_unreachable_jwks_is_500_for_requests_and_recovers() {
    let addr = closed_addr();
    let gate = gate(
        &compat_04(&format!("http://{addr}/jwks.json")),
        &factory(fast_options()),
    );
    let reply = gate.bearer(&rsa().token("k1", &claims())).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"code": 500, "message": "Internal Server Error"})
    );
    // Without a token there is nothing to verify: 401, not 500.
    assert_eq!(gate.get(0, "/", &[]).await.status, 401);
}

#[tokio::test]
async fn a_jwks_server_error_is_500_until_it_answers_again() {
    let server = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    server.set_status(503);
    let gate = gate(&compat_04(&server.jwks_url()), &factory(fast_options()));
    let token = rsa().token("k1", &claims());
    assert_eq!(gate.bearer(&token).await.status, 500);
    server.set_status(200);
    assert_eq!(gate.bearer(&token).await.status, 200);
}

#[tokio::test]
async fn failures_back_off_instead_of_hammering_the_server() {
    let server = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    server.set_status(500);
    let mut options = fast_options();
    options.jwks.failure_backoff = Duration::from_secs(3600);
    let gate = gate(&compat_04(&server.jwks_url()), &factory(options));
    let token = rsa().token("k1", &claims());
    for _ in 0..5 {
        assert_eq!(gate.bearer(&token).await.status, 500);
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn junk_instead_of_a_jwks_is_500() {
    let server = JwksServer::start(json!(["not", "a", "jwks"]));
    let gate = gate(&compat_04(&server.jwks_url()), &factory(fast_options()));
    assert_eq!(gate.bearer(&rsa().token("k1", &claims())).await.status, 500);
}

#[tokio::test]
async fn concurrent_first_requests_share_one_fetch() {
    let server = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    let gate = gate(&compat_04(&server.jwks_url()), &factory(fast_options()));
    let token = rsa().token("k1", &claims());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (gate, token) = (gate.clone(), token.clone());
        tasks.push(tokio::spawn(
            async move { gate.bearer(&token).await.status },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.ok(), Some(http::StatusCode::OK));
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_symmetric_key_in_the_jwks_never_verifies_anything() {
    let secret = b"shared-secret-known-to-the-attacker";
    let oct = json!({ "kty": "oct", "kid": "h1", "alg": "HS256",
                      "k": base64_url(secret) });
    let server = JwksServer::start(key_set(&[oct, rsa().jwk("k1")]));
    let gate = gate(&compat_04(&server.jwks_url()), &factory(fast_options()));
    let token = hs256_token("h1", &claims(), secret);
    assert_eq!(gate.bearer(&token).await.status, 401);
    assert_eq!(gate.bearer(&rsa().token("k1", &claims())).await.status, 200);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn remote_discovery_finds_the_jwks_and_accepts_ec_and_ed25519_keys() {
    let ec = Signer::ec();
    let ed = Signer::ed();
    let server = JwksServer::start(key_set(&[ec.jwk("ec1"), ed.jwk("ed1"), rsa().jwk("k1")]));
    let spec = format!(
        r#"{{ "requestPolicies": {{ "authentication": {{ "type": "TOKEN_AUTHENTICATION",
              "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
              "validationPolicy": {{ "type": "REMOTE_DISCOVERY",
                "clientDetails": {{ "type": "CUSTOM", "clientId": "c", "clientSecretId": "s",
                                    "clientSecretVersionNumber": 1 }},
                "sourceUriDetails": {{ "type": "DISCOVERY_URI", "uri": "{}" }},
                "additionalValidationPolicy": {{ "issuers": ["{ISSUER}"],
                                                 "audiences": ["{AUDIENCE}"] }} }} }} }},
            "routes": [ {{ "path": "/", "methods": ["GET"],
              "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#,
        server.discovery_url()
    );
    let gate = gate(&spec, &factory(fast_options()));
    for (signer, kid) in [(&ec, "ec1"), (&ed, "ed1"), (rsa(), "k1")] {
        let reply = gate.bearer(&signer.token(kid, &claims())).await;
        assert_eq!(reply.status, 200, "{kid}: {}", reply.body);
    }
    assert_eq!(server.hits(), 2, "discovery document and JWKS, once each");
    // The key's type decides the algorithm: an RS256 token naming the EC key is refused.
    assert_eq!(
        gate.bearer(&rsa().token("ec1", &claims())).await.status,
        401
    );
    let wrong_aud = ec.token("ec1", &claims_with(json!({"aud": "other"})));
    assert_eq!(gate.bearer(&wrong_aud).await.status, 401);
}
