//! JWT_AUTHENTICATION and TOKEN_AUTHENTICATION with STATIC_KEYS: valid tokens with JWK and PEM
//! keys (RSA, EC, Ed25519), and every attack case refused with 401.

mod common;

use common::*;
use gateway_auth::MAX_TOKEN_BYTES;
use gateway_core::function::FunctionRegistry;
use gateway_test_support::jwt::*;
use serde_json::{json, Value};

fn factory() -> Factory {
    Factory::new(FunctionRegistry::new())
}

/// JWT_AUTHENTICATION with the RSA test key as a static JWK (kid "k1") and as PEM (kid "p1").
fn jwt_spec(extra: &str) -> String {
    let Value::Object(mut jwk) = rsa().jwk("k1") else {
        panic!("a JWK is an object");
    };
    jwk.insert("format".into(), json!("JSON_WEB_KEY"));
    let pem = json!({ "format": "PEM", "kid": "p1", "key": rsa2().pem() });
    format!(
        r#"{{ "requestPolicies": {{ "authentication": {{ "type": "JWT_AUTHENTICATION",
              "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
              "issuers": ["{ISSUER}"], "audiences": ["{AUDIENCE}"] {extra},
              "publicKeys": {{ "type": "STATIC_KEYS", "keys": [ {jwk}, {pem} ] }} }} }},
            "routes": [ {{ "path": "/", "methods": ["GET"],
              "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#,
        jwk = Value::Object(jwk),
    )
}

fn assert_refused(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 401, "{case}: {}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"code": 401, "message": "Unauthorized"}),
        "{case}"
    );
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{case}: {:?}",
        reply.headers
    );
}

#[tokio::test]
async fn a_valid_token_exposes_every_claim_and_its_scopes() {
    let gate = gate(&jwt_spec(""), &factory());
    let reply = gate.bearer(&rsa().token("k1", &claims())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen = reply.json();
    assert_eq!(seen["principal"], "jdoe");
    assert_eq!(seen["scopes"], json!(["read:hello", "write:hello"]));
    assert_eq!(seen["claims"]["email"], "jdoe@example.com");
    assert_eq!(seen["claims"]["iss"], ISSUER);
    assert_eq!(seen["claims"]["admin"], "false");
    assert_eq!(seen["claims"]["scope"], "read:hello write:hello");
}

#[tokio::test]
async fn a_pem_key_verifies_its_own_tokens() {
    let gate = gate(&jwt_spec(""), &factory());
    assert_eq!(
        gate.bearer(&rsa2().token("p1", &claims())).await.status,
        200
    );
}

#[tokio::test]
async fn the_scheme_is_case_insensitive_with_exactly_one_space() {
    let gate = gate(&jwt_spec(""), &factory());
    let token = rsa().token("k1", &claims());
    let ok = gate
        .get(0, "/", &[("authorization", &format!("bEaReR {token}"))])
        .await;
    assert_eq!(ok.status, 200);
    for value in [
        format!("Bearer  {token}"),
        format!("Basic {token}"),
        token.clone(),
    ] {
        let reply = gate.get(0, "/", &[("authorization", &value)]).await;
        assert_refused(&reply, &value[..10]);
    }
}

#[tokio::test]
async fn attack_alg_none() {
    let gate = gate(&jwt_spec(""), &factory());
    assert_refused(
        &gate
            .bearer(&unsigned_token(
                &json!({ "alg": "none", "typ": "JWT", "kid": "k1" }),
                &claims(),
                "",
            ))
            .await,
        "alg none",
    );
    // Even with a signature attached.
    let forged = format!(
        "{}sig",
        unsigned_token(
            &json!({ "alg": "none", "typ": "JWT", "kid": "k1" }),
            &claims(),
            ""
        )
    );
    assert_refused(&gate.bearer(&forged).await, "alg none with signature");
}

#[tokio::test]
async fn attack_hs256_signed_with_the_rsa_public_key() {
    let gate = gate(&jwt_spec(""), &factory());
    for (what, secret) in [
        ("DER", rsa().public_der()),
        ("PEM", rsa2().pem().into_bytes()),
    ] {
        let kid = if what == "DER" { "k1" } else { "p1" };
        let token = hs256_token(kid, &claims(), &secret);
        assert_refused(&gate.bearer(&token).await, what);
    }
}

#[tokio::test]
async fn attack_a_token_signed_by_another_key() {
    let gate = gate(&jwt_spec(""), &factory());
    // rsa2 signs, claiming rsa's kid.
    assert_refused(
        &gate.bearer(&rsa2().token("k1", &claims())).await,
        "wrong key",
    );
}

#[tokio::test]
async fn attack_expired() {
    let gate = gate(&jwt_spec(""), &factory());
    let token = rsa().token("k1", &claims_with(json!({"exp": now() - 30})));
    assert_refused(&gate.bearer(&token).await, "expired");
    let token = rsa().token("k1", &claims_with(json!({"exp": null})));
    assert_refused(&gate.bearer(&token).await, "no exp");
    let token = rsa().token("k1", &claims_with(json!({"exp": "tomorrow"})));
    assert_refused(&gate.bearer(&token).await, "exp not a number");
}

#[tokio::test]
async fn attack_not_yet_valid() {
    let gate = gate(&jwt_spec(""), &factory());
    let token = rsa().token("k1", &claims_with(json!({"nbf": now() + 300})));
    assert_refused(&gate.bearer(&token).await, "nbf in the future");
    let token = rsa().token("k1", &claims_with(json!({"nbf": now() - 10})));
    assert_eq!(gate.bearer(&token).await.status, 200);
}

#[tokio::test]
async fn clock_skew_is_tolerated_up_to_the_configured_seconds() {
    let gate = gate(&jwt_spec(r#", "maxClockSkewInSeconds": 60"#), &factory());
    let token = rsa().token("k1", &claims_with(json!({"exp": now() - 20})));
    assert_eq!(gate.bearer(&token).await.status, 200);
    let token = rsa().token("k1", &claims_with(json!({"nbf": now() + 20})));
    assert_eq!(gate.bearer(&token).await.status, 200);
    let token = rsa().token("k1", &claims_with(json!({"exp": now() - 120})));
    assert_refused(&gate.bearer(&token).await, "beyond the skew");
}

#[tokio::test]
async fn attack_wrong_issuer() {
    let gate = gate(&jwt_spec(""), &factory());
    let token = rsa().token("k1", &claims_with(json!({"iss": "https://evil.example/"})));
    assert_refused(&gate.bearer(&token).await, "wrong iss");
    let token = rsa().token("k1", &claims_with(json!({"iss": null})));
    assert_refused(&gate.bearer(&token).await, "no iss");
}

#[tokio::test]
async fn attack_wrong_audience() {
    let gate = gate(&jwt_spec(""), &factory());
    let token = rsa().token("k1", &claims_with(json!({"aud": "https://other.example/"})));
    assert_refused(&gate.bearer(&token).await, "wrong aud");
    let token = rsa().token("k1", &claims_with(json!({"aud": null})));
    assert_refused(&gate.bearer(&token).await, "no aud");
    let token = rsa().token(
        "k1",
        &claims_with(json!({"aud": ["https://other.example/", AUDIENCE]})),
    );
    assert_eq!(gate.bearer(&token).await.status, 200, "one of several");
}

#[tokio::test]
async fn attack_unknown_kid() {
    let gate = gate(&jwt_spec(""), &factory());
    assert_refused(
        &gate.bearer(&rsa().token("nope", &claims())).await,
        "unknown kid",
    );
}

#[tokio::test]
async fn attack_tampered_payload() {
    let gate = gate(&jwt_spec(""), &factory());
    let token = rsa().token("k1", &claims());
    let tampered = tamper(
        &token,
        &claims_with(json!({"sub": "root", "scope": "admin"})),
    );
    assert_refused(&gate.bearer(&tampered).await, "tampered");
    let garbage = format!("{token}.extra");
    assert_refused(&gate.bearer(&garbage).await, "four parts");
    assert_refused(&gate.bearer("not.a.jwt").await, "garbage");
}

#[tokio::test]
async fn attack_a_token_in_the_wrong_place() {
    let gate = gate(&jwt_spec(""), &factory());
    let token = rsa().token("k1", &claims());
    // In the query string while the policy reads the header: no credentials.
    let reply = gate.get(0, &format!("/?token={token}"), &[]).await;
    assert_refused(&reply, "query instead of header");
    let reply = gate
        .get(0, "/", &[("x-token", &format!("Bearer {token}"))])
        .await;
    assert_refused(&reply, "another header");
    // Sent twice: ambiguous, refused.
    let value = format!("Bearer {token}");
    let reply = gate
        .get(
            0,
            "/",
            &[("authorization", &value), ("authorization", &value)],
        )
        .await;
    assert_refused(&reply, "header twice");
}

#[tokio::test]
async fn attack_an_oversized_token() {
    let gate = gate(&jwt_spec(""), &factory());
    let huge = claims_with(json!({"padding": "x".repeat(MAX_TOKEN_BYTES)}));
    let token = rsa().token("k1", &huge);
    assert!(token.len() > MAX_TOKEN_BYTES);
    assert_refused(&gate.bearer(&token).await, "oversized");
}

#[tokio::test]
async fn verify_claims_follow_the_sdk_semantics() {
    let extra = r#", "verifyClaims": [
        { "key": "tenant", "values": ["acme", "globex"], "isRequired": true },
        { "key": "email", "isRequired": true },
        { "key": "dept", "values": ["eng"], "isRequired": false } ]"#;
    let gate = gate(&jwt_spec(extra), &factory());
    assert_eq!(gate.bearer(&rsa().token("k1", &claims())).await.status, 200);
    for (case, changes) in [
        ("tenant not allowed", json!({"tenant": "initech"})),
        ("tenant missing", json!({"tenant": null})),
        ("email missing", json!({"email": null})),
        (
            "optional claim with a wrong value",
            json!({"dept": "sales"}),
        ),
    ] {
        let token = rsa().token("k1", &claims_with(changes));
        assert_refused(&gate.bearer(&token).await, case);
    }
    let token = rsa().token("k1", &claims_with(json!({"dept": "eng"})));
    assert_eq!(gate.bearer(&token).await.status, 200);
}

fn token_auth_spec(keys: &str, location: &str) -> String {
    format!(
        r#"{{ "requestPolicies": {{ "authentication": {{ "type": "TOKEN_AUTHENTICATION",
              {location},
              "validationPolicy": {{ "type": "STATIC_KEYS", "keys": [ {keys} ] }} }} }},
            "routes": [ {{ "path": "/", "methods": ["GET"],
              "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#
    )
}

#[tokio::test]
async fn token_authentication_with_ec_and_ed25519_pem_keys() {
    let ec = Signer::ec();
    let ed = Signer::ed();
    let keys = format!(
        "{}, {}",
        json!({"format": "PEM", "kid": "ec", "key": ec.pem()}),
        json!({"format": "PEM", "kid": "ed", "key": ed.pem()})
    );
    let spec = token_auth_spec(
        &keys,
        r#""tokenHeader": "Authorization", "tokenAuthScheme": "Bearer""#,
    );
    let gate = gate(&spec, &factory());
    assert_eq!(gate.bearer(&ec.token("ec", &claims())).await.status, 200);
    assert_eq!(gate.bearer(&ed.token("ed", &claims())).await.status, 200);
    // The key's type decides: an EdDSA token naming the EC key is refused.
    assert_refused(&gate.bearer(&ed.token("ec", &claims())).await, "ed as ec");
    // HS256 with the EC public key as secret.
    let token = hs256_token("ec", &claims(), &ec.public_der());
    assert_refused(&gate.bearer(&token).await, "hs256 with ec key");
}

#[tokio::test]
async fn token_authentication_from_a_query_parameter_checks_exp_even_without_issuers() {
    let Value::Object(mut jwk) = rsa().jwk("k1") else {
        panic!("object");
    };
    jwk.insert("format".into(), json!("JSON_WEB_KEY"));
    let spec = token_auth_spec(
        &Value::Object(jwk).to_string(),
        r#""tokenQueryParam": "access_token""#,
    );
    let gate = gate(&spec, &factory());
    let token = rsa().token("k1", &claims_with(json!({"iss": "anyone", "aud": "any"})));
    let reply = gate.get(0, &format!("/?access_token={token}"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expired = rsa().token("k1", &claims_with(json!({"exp": now() - 5})));
    let reply = gate.get(0, &format!("/?access_token={expired}"), &[]).await;
    assert_eq!(reply.status, 401);
    let reply = gate
        .get(0, "/", &[("authorization", &format!("Bearer {token}"))])
        .await;
    assert_eq!(reply.status, 401, "header instead of query parameter");
}

/// A deployment whose `OAUTH2` failure policy logs in with `login_client` and validates with
/// `validation_client`.
fn oauth2_spec(validation_client: &str, login_client: &str) -> String {
    format!(
        r#"{{ "requestPolicies": {{ "authentication": {{ "type": "TOKEN_AUTHENTICATION",
        "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
        "validationPolicy": {{ "type": "REMOTE_DISCOVERY",
          "clientDetails": {validation_client},
          "sourceUriDetails": {{ "type": "DISCOVERY_URI",
                                "uri": "https://idp.example/.well-known/openid-configuration" }} }},
        "validationFailurePolicy": {{ "type": "OAUTH2",
          "clientDetails": {login_client},
          "sourceUriDetails": {{ "type": "VALIDATION_BLOCK" }},
          "scopes": ["openid"], "responseType": "CODE" }} }} }},
      "routes": [ {{ "path": "/", "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#
    )
}

#[test]
fn an_oauth2_failure_policy_logs_in_with_its_own_client_or_the_validation_policys() {
    let custom = |secret: &str| {
        format!(
            r#"{{ "type": "CUSTOM", "clientId": "c", "clientSecretId": "{secret}",
                 "clientSecretVersionNumber": 1 }}"#
        )
    };
    let block = r#"{ "type": "VALIDATION_BLOCK" }"#.to_owned();
    for (login, at) in [
        (block, "validationPolicy"),
        (custom("s2"), "validationFailurePolicy"),
    ] {
        let (enforced, diags) = build_errors(&oauth2_spec(&custom("s"), &login), &factory());
        assert!(enforced, "{diags}");
        // The secret is not configured here: a warning, and logins answer 500.
        let secret = if at == "validationPolicy" { "s" } else { "s2" };
        let warning =
            format!("{at}.clientDetails.clientSecretId: secret {secret} is not configured");
        assert_eq!(diags.to_string().matches(&warning).count(), 1, "{diags}");
    }
}

/// The P-256 group order, big-endian.
const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// `P256_ORDER - s`, big-endian.
fn negate(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_ORDER[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// Both `(r, s)` and `(r, n - s)` verify. ECDSA signers (OpenSSL, Go, aws-lc) produce either
/// form at random, so refusing the high-S twin would refuse half of an issuer's valid tokens.
/// Both are accepted as the same caller: nothing in the gateway keys on a JWT's exact bytes.
#[tokio::test]
async fn both_ecdsa_signature_forms_are_accepted_as_the_same_caller() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let ec = Signer::ec();
    let spec = token_auth_spec(
        &json!({"format": "PEM", "kid": "ec", "key": ec.pem()}).to_string(),
        r#""tokenHeader": "Authorization", "tokenAuthScheme": "Bearer""#,
    );
    let gate = gate(&spec, &factory());
    let token = ec.token("ec", &claims());
    let (message, signature) = token.rsplit_once('.').expect("three parts");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let (r, s) = signature.split_at(32);
    for s in [s.to_vec(), negate(s)] {
        let twin = format!("{message}.{}", URL_SAFE_NO_PAD.encode([r, &s].concat()));
        let reply = gate.bearer(&twin).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["principal"], "jdoe");
    }
}

#[tokio::test]
async fn attack_critical_header_parameters_are_refused() {
    let gate = gate(&jwt_spec(""), &factory());
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "k1", "crit": ["exp"] });
    let token = rsa().token_with_header(&header, &claims());
    assert_refused(&gate.bearer(&token).await, "crit");
    let header =
        json!({ "alg": "RS256", "typ": "JWT", "kid": "k1", "b64": false, "crit": ["b64"] });
    let token = rsa().token_with_header(&header, &claims());
    assert_refused(&gate.bearer(&token).await, "crit b64");
}

/// A 1024-bit RSA public key with exponent 3 (`openssl genrsa -3 1024`).
const WEAK_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGdMA0GCSqGSIb3DQEBAQUAA4GLADCBhwKBgQDawyAmD6cYRH10Scjc8RlmOH/o
4nu5hYSAv8LjB0i315RkszbtpQDU0WZg4PAc2oZ4O8ndVtJTJIE3EolA0RNCpeGn
jf+fel9n27oHot9sqK2P3EiMAAW27T6DHXkwIZnIoSTkZLPezE2kV4B6EsIZZi3y
TKMEFjrIrgLo+J1JqwIBAw==
-----END PUBLIC KEY-----";

#[tokio::test]
async fn weak_rsa_keys_are_warned_about() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    // A 1024-bit modulus with exponent 3, as a JWK and as PEM; and a sound key (no warning).
    let mut n = vec![0xC5u8; 128];
    n[127] = 0x01;
    let weak = json!({ "format": "JSON_WEB_KEY", "kid": "weak", "kty": "RSA", "alg": "RS256",
        "use": "sig", "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode([3]) });
    let weak_pem = json!({ "format": "PEM", "kid": "weak-pem", "key": WEAK_PEM });
    let good = json!({ "format": "PEM", "kid": "p1", "key": rsa2().pem() });
    let spec = token_auth_spec(
        &format!("{weak}, {weak_pem}, {good}"),
        r#""tokenHeader": "Authorization", "tokenAuthScheme": "Bearer""#,
    );
    let (enforced, diags) = build_errors(&spec, &factory());
    assert!(enforced, "{diags}");
    let warnings: Vec<String> = diags.warnings().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "warning: requestPolicies.authentication.validationPolicy.keys[0]: the RSA key has a 1024-bit modulus: no token signed with it will verify (hint: use a key of 2048 to 8192 bits)",
            "warning: requestPolicies.authentication.validationPolicy.keys[0]: the RSA key's public exponent is 3 (hint: a small or even exponent is weak or invalid; keys use 65537)",
            "warning: requestPolicies.authentication.validationPolicy.keys[1]: the RSA key has a 1024-bit modulus: no token signed with it will verify (hint: use a key of 2048 to 8192 bits)",
            "warning: requestPolicies.authentication.validationPolicy.keys[1]: the RSA key's public exponent is 3 (hint: a small or even exponent is weak or invalid; keys use 65537)",
        ],
        "{diags}"
    );
}
