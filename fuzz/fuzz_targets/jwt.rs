//! JWTs through a `JWT_AUTHENTICATION` policy with a static key, as gateway-auth validates
//! them: the token read from `Authorization: Bearer …`, its header decoded and the key chosen
//! before any signature is checked, then the signature, the registered claims and the policy's
//! `verifyClaims`; and a claim read without validation, as dynamic authentication selects a
//! server by it.
//!
//! Input, by the first byte:
//! * even: the rest is the `Authorization` value, with `Bearer ` put in front when bit 1 is
//!   set: untrusted tokens, that cannot pass the signature check;
//! * odd: the rest is a token header's JSON, a newline, the claims' JSON; the target signs them
//!   with the policy's Ed25519 key, so that the claim checks behind the signature are reached.
//!
//! Checked besides "no panic": static keys are never unavailable; an accepted token has the
//! policy's issuer, an `exp` and the required claim, and reading a claim without validation
//! gives what validation gave.

#![no_main]

use std::sync::{Arc, LazyLock};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use gateway_auth::Authenticators;
use gateway_core::auth::{detached_context, AuthOutcome, Authenticator, AuthenticatorFactory};
use gateway_core::diagnostics::Diagnostics;
use gateway_core::function::FunctionRegistry;
use gateway_core::spec::load_spec;
use http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://issuer.example";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

struct Setup {
    runtime: tokio::runtime::Runtime,
    key: Ed25519KeyPair,
    authenticator: Arc<dyn Authenticator>,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let key = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("a fixed seed");
    let spki = [&ED25519_SPKI_PREFIX[..], key.public_key().as_ref()].concat();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(spki)
    );
    let spec = serde_json::json!({
        "requestPolicies": {
            "authentication": {
                "type": "JWT_AUTHENTICATION",
                "tokenHeader": "Authorization",
                "tokenAuthScheme": "Bearer",
                "issuers": [ISSUER],
                "audiences": ["gateway"],
                "maxClockSkewInSeconds": 5,
                "verifyClaims": [
                    {"key": "role", "values": ["admin", "ops"], "isRequired": true},
                    {"key": "tier", "values": ["gold"], "isRequired": false}
                ],
                "publicKeys": {
                    "type": "STATIC_KEYS",
                    "keys": [{"format": "PEM", "kid": "ed", "key": pem}]
                }
            }
        },
        "routes": [{
            "path": "/",
            "methods": ["GET"],
            "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}
        }]
    });
    let load = load_spec(&spec.to_string());
    let spec = load.spec.expect("the fixed specification loads");
    let policy = spec.authentication().expect("an authentication policy");
    let mut diags = Diagnostics::new();
    let authenticator = Authenticators::new()
        .build(
            policy,
            &FunctionRegistry::default(),
            "requestPolicies.authentication",
            &mut diags,
        )
        .expect("the policy builds");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    Setup {
        runtime,
        key,
        authenticator,
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let setup = &*SETUP;
    let value = if mode & 1 == 1 {
        let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &b""[..]),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = setup.key.sign(signing_input.as_bytes());
        format!(
            "Bearer {signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
        .into_bytes()
    } else if mode & 2 == 2 {
        [&b"Bearer "[..], rest].concat()
    } else {
        rest.to_vec()
    };
    let Ok(value) = HeaderValue::from_bytes(&value) else {
        return;
    };
    let (parts, ()) = Request::get("/")
        .header("authorization", value)
        .body(())
        .expect("a request")
        .into_parts();
    let context = detached_context(&parts);
    let authenticator = &setup.authenticator;
    let outcome = setup
        .runtime
        .block_on(authenticator.authenticate(&parts, &context, None));
    let sub = authenticator.unverified_claim(&parts, "sub");
    match outcome {
        AuthOutcome::Authenticated(caller) => {
            let claims = &caller.claims;
            assert_eq!(claims.get("iss").map(String::as_str), Some(ISSUER));
            assert!(claims.contains_key("exp"), "{claims:?}");
            assert!(claims.contains_key("aud"), "{claims:?}");
            assert!(claims.contains_key("role"), "{claims:?}");
            assert_eq!(sub.as_deref(), claims.get("sub").map(String::as_str));
            for (name, value) in claims {
                assert_eq!(
                    authenticator.unverified_claim(&parts, name).as_ref(),
                    Some(value),
                    "claim {name}"
                );
            }
        }
        AuthOutcome::NoCredentials | AuthOutcome::Rejected(_) => {}
        other => panic!("a static key set gave {other:?}"),
    }
});
