//! Authentication and authorization behind the real binary:
//!
//! * a real authorizer function (`tests/functions/authorizer`, the Fn Python FDK), single and
//!   multi-argument, whose invocations are counted in a file so that caching and expiry can be
//!   observed, and which can deny, answer junk, time out or crash;
//! * JWTs checked against a JWKS served by a real HTTP server started by the test (caching, key
//!   rotation, outages) and against static keys (an RSA JSON web key and an EC PEM key);
//! * one test per attack: `alg: none`, HS256 signed with the RSA public key, expired, not yet
//!   valid, wrong issuer, wrong audience, unknown `kid`, tampered payload, a token in the wrong
//!   place, an oversized token;
//! * CORS pre-flights answered before authentication, `ANY_OF` scope mismatches (404),
//!   `MODIFY_RESPONSE` failure policies (the 302 to a login page of compat spec 01).
//!
//! What is asserted is what a user sees: statuses, OCI's JSON bodies, `WWW-Authenticate`, and
//! the headers a real upstream received (set from `request.auth[...]` by header
//! transformations).

use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use gateway_tests::jwt::{
    b64, ec, hs256_token, key_set, merged, now, rsa, rsa2, unsigned_token, JwksServer, AUDIENCE,
    ISSUER,
};
use gateway_tests::net::closed_addr;
use gateway_tests::upstream::TestServer;
use gateway_tests::{repo_root, run_gateway, Gateway, Response, TempDir};

const COMPAT_01: &str = include_str!("../../../shared/compat/specs/01-oidc-custom-auth.json");
const COMPAT_04: &str =
    include_str!("../../../shared/compat/specs/04-jwt-auth-cors-ratelimit.json");

const AUTHORIZER_ID: &str = "ocid1.fnfunc.oc1..authorizer";
const ORIGIN: &str = "https://app.example.com";
/// What the gateway answers for a token it refuses.
const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";

// ---------------------------------------------------------------------------------------------
// Real HTTP servers on 127.0.0.1, keys and tokens (gateway-test-support)

/// An upstream that answers 200 with what it received, as JSON.
fn upstream() -> TestServer {
    TestServer::echo()
}

/// Valid claims, expiring in an hour.
fn claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "jdoe", "exp": now() + 3600, "iat": now(),
            "scope": "read:hello", "email": "jdoe@example.com" })
}

/// `claims()` with `changes` merged in (`null` removes a claim).
fn claims_with(changes: Value) -> Value {
    merged(claims(), changes)
}

// ---------------------------------------------------------------------------------------------
// Requests and what the client must see

fn with_token(gw: &Gateway, target: &str, token: &str) -> Response {
    let value = format!("Bearer {token}");
    gw.request("GET", target, &[("Authorization", value.as_str())], b"")
}

/// 401 with OCI's body and `challenge` as `WWW-Authenticate`.
#[track_caller]
fn assert_unauthorized(res: &Response, challenge: &str) {
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.header("www-authenticate"), Some(challenge), "{res:?}");
    assert_eq!(
        res.json(),
        json!({"code": 401, "message": "Unauthorized"}),
        "{res:?}"
    );
}

#[track_caller]
fn assert_oci_error(res: &Response, code: u16, message: &str) {
    assert_eq!(res.status, code, "{}", res.text());
    assert_eq!(res.json(), json!({"code": code, "message": message}));
}

/// A header the upstream received ("" when it did not receive it).
fn seen(res: &Response, name: &str) -> String {
    res.json()["headers"][name]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn sleep_until(at: Instant) {
    if let Some(left) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

// ---------------------------------------------------------------------------------------------
// Gateways with the authorizer function

/// Prepared functions are shared with the other end-to-end tests (a venv takes seconds).
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("function-cache")
}

fn function_dir(name: &str) -> String {
    repo_root()
        .join("tests/functions")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// `gateway.toml` with the spec at `spec.json` under `/t`, the authorizer (3 s timeout)
/// recording its invocations in `invocations`, and the echo function under each of `echo_ids`.
/// Every function keeps the name of its directory: prepared venvs are cached by name.
fn config_toml(invocations: &str, echo_ids: &[&str]) -> String {
    let mut config = format!(
        r#"[gateway]
cache_dir = "{cache}"

[[deployment]]
name = "t"
path_prefix = "/t"
specification = "spec.json"

[[application]]
name = "auth-app"

[[application.function]]
name = "authorizer"
id = "{AUTHORIZER_ID}"
source = "{source}"
timeout = 3
max_concurrency = 4
config = {{ INVOCATIONS_FILE = "{invocations}" }}
"#,
        cache = cache_dir().display(),
        source = function_dir("authorizer"),
    );
    // One application each, so that every one is named "echo" and shares one prepared venv.
    for (i, id) in echo_ids.iter().enumerate() {
        config.push_str(&format!(
            "\n[[application]]\nname = \"echo-app-{i}\"\n\n[[application.function]]\nname = \"echo\"\nid = \"{id}\"\nsource = \"{}\"\ntimeout = 10\n",
            function_dir("echo")
        ));
    }
    config
}

/// Prepares the authorizer and echo functions once per run, with `gateway invoke` (no start
/// timeout), so that gateways start at once.
fn prepare_functions() {
    static PREPARED: Once = Once::new();
    PREPARED.call_once(|| {
        let dir = TempDir::new("auth-prepare");
        dir.write(
            "spec.json",
            r#"{"routes": [{"path": "/", "methods": ["GET"],
                "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}}]}"#,
        );
        let invocations = dir.path().join("invocations.jsonl");
        let config = dir.write(
            "gateway.toml",
            &config_toml(&invocations.to_string_lossy(), &["ocid1.fnfunc.oc1..echo"]),
        );
        for (id, data) in [
            (AUTHORIZER_ID, r#"{"type":"TOKEN","token":"inactive"}"#),
            ("ocid1.fnfunc.oc1..echo", "warm up"),
        ] {
            let (code, out, err) =
                run_gateway(&["invoke", "--config", &config, id, "--data", data]);
            assert_eq!(code, 0, "preparing {id}:\n{out}\n{err}");
        }
    });
}

/// A gateway serving `spec` under `/t` with the authorizer function.
struct FnGateway {
    gw: Gateway,
    invocations: PathBuf,
    _dir: TempDir,
}

impl FnGateway {
    fn start(tag: &str, spec: &str, echo_ids: &[&str]) -> Self {
        prepare_functions();
        let dir = TempDir::new(tag);
        let invocations = dir.path().join("invocations.jsonl");
        dir.write("spec.json", spec);
        let config = dir.write(
            "gateway.toml",
            &config_toml(&invocations.to_string_lossy(), echo_ids),
        );
        let gw = Gateway::serve(&["--config", &config]);
        FnGateway {
            gw,
            invocations,
            _dir: dir,
        }
    }

    /// The inputs the authorizer received, in order.
    fn invocations(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.invocations)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("an invocation line is JSON"))
            .collect()
    }

    fn calls(&self) -> usize {
        self.invocations().len()
    }

    fn get(&self, target: &str, token: &str) -> Response {
        with_token(&self.gw, target, token)
    }
}

/// Header transformations that show the backend the caller's `request.auth` values.
fn auth_headers() -> Value {
    let item = |name: &str, key: &str| json!({ "name": name, "values": [format!("${{request.auth[{key}]}}")] });
    json!({ "setHeaders": { "items": [
        item("X-Auth-Email", "email"),
        item("X-Auth-Principal", "principal"),
        item("X-Auth-Client", "clientId"),
        item("X-Auth-Granted", "granted"),
        item("X-Auth-Groups", "groups"),
        item("X-Auth-Tenant", "tenant"),
    ] } })
}

/// A deployment authenticated by `authentication`, with CORS: `/hello` (any caller, the
/// caller's values as headers), `/scoped` (`ANY_OF` read:hello / write:hello) and `/public`
/// (`ANONYMOUS`), all backed by `upstream`.
fn custom_spec(upstream: &TestServer, authentication: Value) -> String {
    let addr = upstream.addr;
    let backend =
        |path: &str| json!({ "type": "HTTP_BACKEND", "url": format!("http://{addr}{path}") });
    json!({
        "requestPolicies": {
            "authentication": authentication,
            "cors": { "allowedOrigins": [ORIGIN], "allowedMethods": ["GET", "POST"],
                      "allowedHeaders": ["Authorization"], "maxAgeInSeconds": 600 }
        },
        "routes": [
            { "path": "/hello", "methods": ["GET", "POST"], "backend": backend("/hello"),
              "requestPolicies": { "headerTransformations": auth_headers() } },
            { "path": "/scoped", "methods": ["GET"], "backend": backend("/scoped"),
              "requestPolicies": { "authorization":
                  { "type": "ANY_OF", "allowedScope": ["read:hello", "write:hello"] } } },
            { "path": "/public", "methods": ["GET"], "backend": backend("/public"),
              "requestPolicies": { "authorization": { "type": "ANONYMOUS" },
                                   "headerTransformations": auth_headers() } }
        ]
    })
    .to_string()
}

/// The single-argument authorizer reading `Authorization`.
fn token_header_policy() -> Value {
    json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": AUTHORIZER_ID,
            "tokenHeader": "Authorization", "isAnonymousAccessAllowed": true })
}

/// The custom-authentication deployment with `authentication` and its upstream.
fn custom(tag: &str, authentication: Value) -> (FnGateway, TestServer) {
    let upstream = upstream();
    let gw = FnGateway::start(tag, &custom_spec(&upstream, authentication), &[]);
    (gw, upstream)
}

// ---------------------------------------------------------------------------------------------
// The authorizer function

#[test]
fn an_authorizer_admits_a_caller_and_the_backend_sees_its_context() {
    let (t, upstream) = custom("auth-admit", token_header_policy());
    let res = t.get("/t/hello", "good:read:hello");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["uri"], "/hello");
    assert_eq!(seen(&res, "x-auth-email"), "jdoe@example.com");
    assert_eq!(
        seen(&res, "x-auth-principal"),
        "https://example.com/users/jdoe"
    );
    assert_eq!(seen(&res, "x-auth-client"), "test-client");
    assert_eq!(seen(&res, "x-auth-granted"), "read:hello");
    assert_eq!(seen(&res, "x-auth-groups"), r#"["admins","users"]"#);
    assert_eq!(upstream.hits(), 1);
    // The function gets the raw header value; stripping the scheme is its business.
    assert_eq!(
        t.invocations(),
        [json!({"type": "TOKEN", "token": "Bearer good:read:hello"})]
    );
}

#[test]
fn no_token_is_401_without_calling_the_authorizer() {
    let (t, upstream) = custom("auth-none", token_header_policy());
    assert_unauthorized(&t.gw.get("/t/hello"), "Bearer");
    let empty =
        t.gw.request("GET", "/t/hello", &[("Authorization", "")], b"");
    assert_unauthorized(&empty, "Bearer");
    assert_eq!(t.calls(), 0);
    assert_eq!(upstream.hits(), 0);
}

#[test]
fn a_denial_is_401_with_the_authorizers_challenge() {
    let (t, upstream) = custom("auth-deny", token_header_policy());
    assert_unauthorized(
        &t.get("/t/hello", "deny"),
        r#"Bearer realm="tests", error="invalid_token""#,
    );
    // `active` missing means false; without a challenge of its own the gateway says Bearer.
    assert_unauthorized(&t.get("/t/hello", "inactive"), "Bearer");
    assert_eq!(upstream.hits(), 0);
    assert_eq!(t.calls(), 2);
}

#[test]
fn authorizer_results_are_cached_per_token() {
    let (t, _upstream) = custom("auth-cache", token_header_policy());
    for _ in 0..3 {
        assert_eq!(t.get("/t/hello", "good:read:hello").status, 200);
    }
    assert_eq!(t.calls(), 1, "one token, one invocation");
    assert_eq!(t.get("/t/hello", "good:other").status, 200);
    assert_eq!(t.calls(), 2, "another token is another invocation");

    // Concurrent first requests with one new token share one invocation.
    let addr = t.gw.addr;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(move || {
                    gateway_tests::request(
                        addr,
                        "GET",
                        "/t/hello",
                        &[("Authorization", "Bearer good:burst")],
                        b"",
                    )
                    .status
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread"), 200);
        }
    });
    assert_eq!(t.calls(), 3, "concurrent misses run the authorizer once");

    // Denials are cached too...
    assert_eq!(t.get("/t/hello", "deny").status, 401);
    assert_eq!(t.get("/t/hello", "deny").status, 401);
    assert_eq!(t.calls(), 4);
    // ...failures never are.
    assert_eq!(t.get("/t/hello", "junk").status, 502);
    assert_eq!(t.get("/t/hello", "junk").status, 502);
    assert_eq!(t.calls(), 6);
}

#[test]
fn cached_authorizer_results_expire() {
    let (t, _upstream) = custom("auth-expiry", token_header_policy());
    // The answer says it expires in one second; the gateway keeps answers at least 60 s.
    let started = Instant::now();
    assert_eq!(t.get("/t/hello", "brief:read:hello").status, 200);
    let cached = Instant::now();
    assert_eq!(t.get("/t/hello", "brief:read:hello").status, 200);
    assert_eq!(t.calls(), 1);

    sleep_until(started + Duration::from_secs(50));
    assert_eq!(t.get("/t/hello", "brief:read:hello").status, 200);
    assert_eq!(t.calls(), 1, "still cached after 50 s");

    sleep_until(cached + Duration::from_secs(62));
    let res = t.get("/t/hello", "brief:read:hello");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(t.calls(), 2, "asked again once the answer expired");
    assert_eq!(t.get("/t/hello", "brief:read:hello").status, 200);
    assert_eq!(t.calls(), 2, "and cached again");
}

#[test]
fn an_authorizer_token_may_come_from_a_query_parameter() {
    let policy = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": AUTHORIZER_ID,
                         "tokenQueryParam": "token", "isAnonymousAccessAllowed": true });
    let (t, upstream) = custom("auth-query", policy);
    let res = t.gw.get("/t/hello?x=1&token=good:read:hello");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(seen(&res, "x-auth-email"), "jdoe@example.com");
    // The token in a header where the policy reads the query: no credentials.
    assert_unauthorized(&t.get("/t/hello", "good:read:hello"), "Bearer");
    assert_eq!(
        t.invocations(),
        [json!({"type": "TOKEN", "token": "good:read:hello"})]
    );
    assert_eq!(upstream.hits(), 1);
}

#[test]
fn a_multi_argument_authorizer_gets_named_arguments() {
    let policy = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": AUTHORIZER_ID,
                         "parameters": { "token": "request.headers[X-Api-Key]",
                                         "tenant": "request.query[tenant]" },
                         "cacheKey": ["token"], "isAnonymousAccessAllowed": true });
    let (t, _upstream) = custom("auth-multi", policy);
    let get = |target: &str, key: &str| t.gw.request("GET", target, &[("X-Api-Key", key)], b"");

    let res = get("/t/hello?tenant=acme", "good:read:hello");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(seen(&res, "x-auth-tenant"), "acme");
    // cacheKey names only the token: another tenant with the same key reuses the answer.
    let res = get("/t/hello?tenant=other", "good:read:hello");
    assert_eq!(res.status, 200);
    assert_eq!(seen(&res, "x-auth-tenant"), "acme");
    assert_eq!(t.calls(), 1);
    // Repeated parameters are an array; absent ones are left out.
    assert_eq!(get("/t/hello?tenant=a&tenant=b", "good:two").status, 200);
    assert_eq!(get("/t/hello", "good:three").status, 200);
    assert_eq!(
        t.invocations(),
        [
            json!({"type": "USER_DEFINED", "data": {"token": "good:read:hello", "tenant": "acme"}}),
            json!({"type": "USER_DEFINED", "data": {"token": "good:two", "tenant": ["a", "b"]}}),
            json!({"type": "USER_DEFINED", "data": {"token": "good:three"}}),
        ]
    );
    // No argument at all: no credentials, and no invocation.
    assert_unauthorized(&t.gw.get("/t/hello"), "Bearer");
    assert_eq!(t.calls(), 3);
    // An argument the authorizer refuses.
    let res = get("/t/hello?tenant=acme", "deny");
    assert_unauthorized(&res, r#"Bearer realm="tests", error="invalid_token""#);
}

#[test]
fn a_body_read_for_the_authorizer_counts_against_max_buffered_body_bytes() {
    prepare_functions();
    let upstream = upstream();
    let policy = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": AUTHORIZER_ID,
                         "parameters": { "token": "request.headers[X-Api-Key]",
                                         "payload": "request.body" },
                         "isAnonymousAccessAllowed": true });
    let dir = TempDir::new("auth-body-budget");
    dir.write("spec.json", &custom_spec(&upstream, policy));
    let invocations = dir.path().join("invocations.jsonl");
    let config = config_toml(&invocations.to_string_lossy(), &[]).replace(
        "[[deployment]]",
        "[gateway.limits]\nmax_buffered_body_bytes = 1024\n\n[[deployment]]",
    );
    let config = dir.write("gateway.toml", &config);
    let gw = Gateway::serve(&["--config", &config, "--admin-listen", "127.0.0.1:0"]);
    let post = |body: &[u8]| {
        gw.request(
            "POST",
            "/t/hello",
            &[("X-Api-Key", "good:read:hello")],
            body,
        )
    };

    assert_eq!(post(&[b'x'; 100]).status, 200);
    assert_oci_error(&post(&[b'x'; 4096]), 503, "Service Unavailable");
    assert_eq!(upstream.hits(), 1, "the refused request went nowhere");
    let calls = std::fs::read_to_string(&invocations).unwrap_or_default();
    assert_eq!(calls.lines().count(), 1, "nor to the authorizer");
    let metrics = gw.scrape();
    assert_eq!(
        metrics.get("gateway_buffered_body_refused_total"),
        Some(&1.0)
    );
    assert_eq!(metrics.get("gateway_buffered_body_bytes"), Some(&0.0));
}

#[test]
fn an_authorizer_answering_junk_is_502() {
    let (t, upstream) = custom("auth-junk", token_header_policy());
    for _ in 0..2 {
        assert_oci_error(&t.get("/t/hello", "junk"), 502, "Bad Gateway");
    }
    assert_eq!(t.calls(), 2, "a failure is never cached");
    assert_eq!(upstream.hits(), 0);
    // The function raising is the same to the client.
    let res = t.get("/t/hello", "raise");
    assert_oci_error(&res, 502, "Bad Gateway");
    assert!(!res.text().contains("deliberate"));
    assert_eq!(t.get("/t/hello", "good:read:hello").status, 200);
}

#[test]
fn an_authorizer_timing_out_is_502_and_is_replaced() {
    let (t, upstream) = custom("auth-slow", token_header_policy());
    let started = Instant::now();
    let res = t.get("/t/hello", "slow");
    assert_oci_error(&res, 502, "Bad Gateway");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "the 3 s function timeout applied: {took:?}"
    );
    assert_eq!(upstream.hits(), 0);
    let res = t.get("/t/hello", "good:read:hello");
    assert_eq!(res.status, 200, "{}", res.text());
}

#[test]
fn an_authorizer_crashing_is_502_and_is_replaced() {
    let (t, upstream) = custom("auth-crash", token_header_policy());
    assert_oci_error(&t.get("/t/hello", "crash"), 502, "Bad Gateway");
    assert_eq!(upstream.hits(), 0);
    let res = t.get("/t/hello", "good:read:hello");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(upstream.hits(), 1);
    // A crash is not cached: the same token crashes the (new) process again.
    assert_oci_error(&t.get("/t/hello", "crash"), 502, "Bad Gateway");
    assert_eq!(t.calls(), 3);
}

#[test]
fn a_caller_without_an_allowed_scope_gets_404() {
    let (t, upstream) = custom("auth-scope", token_header_policy());
    let res = t.get("/t/scoped", "good:write:other");
    assert_oci_error(&res, 404, "Not Found");
    assert_eq!(res.header("www-authenticate"), None);
    assert_eq!(upstream.hits(), 0);
    let res = t.get("/t/scoped", "good:write:hello");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["uri"], "/scoped");
    // Scopes are compared case-sensitively.
    assert_oci_error(&t.get("/t/scoped", "good:READ:hello"), 404, "Not Found");
    // Without credentials it is still 401, not 404.
    assert_unauthorized(&t.gw.get("/t/scoped"), "Bearer");
}

#[test]
fn anonymous_routes_admit_everyone_and_still_recognise_callers() {
    let (t, upstream) = custom("auth-anon", token_header_policy());
    let res = t.gw.get("/t/public");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(seen(&res, "x-auth-email"), "");
    let res = t.get("/t/public", "good:read:hello");
    assert_eq!(res.status, 200);
    assert_eq!(seen(&res, "x-auth-email"), "jdoe@example.com");
    // Refused or failing credentials never block a public route.
    for token in ["deny", "junk"] {
        let res = t.get("/t/public", token);
        assert_eq!(res.status, 200, "{token}: {}", res.text());
        assert_eq!(seen(&res, "x-auth-email"), "", "{token}");
    }
    assert_eq!(upstream.hits(), 4);
    // The other routes still need a caller.
    assert_unauthorized(&t.gw.get("/t/hello"), "Bearer");
}

#[test]
fn cors_preflight_on_an_authenticated_route_is_answered_before_authentication() {
    let (t, upstream) = custom("auth-cors", token_header_policy());
    let res = t.gw.request(
        "OPTIONS",
        "/t/hello",
        &[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        b"",
    );
    assert_eq!(res.status, 204, "{}", res.text());
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(res.header("access-control-max-age"), Some("600"));
    assert!(res
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    assert!(res
        .header("access-control-allow-headers")
        .is_some_and(|h| h.to_ascii_lowercase().contains("authorization")));
    assert_eq!(res.header("www-authenticate"), None);
    assert_eq!(
        t.calls(),
        0,
        "the authorizer is not asked about a pre-flight"
    );
    assert_eq!(upstream.hits(), 0);

    // The actual request is authenticated, and its answer, a refusal too, carries CORS headers.
    let res =
        t.gw.request("POST", "/t/hello", &[("Origin", ORIGIN)], b"payload");
    assert_unauthorized(&res, "Bearer");
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    let res = t.gw.request(
        "POST",
        "/t/hello",
        &[
            ("Origin", ORIGIN),
            ("Authorization", "Bearer good:read:hello"),
        ],
        b"payload",
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(res.json()["body"], "payload");
}

/// Compat spec 01 (a multi-argument authorizer reading `Cookie` and `User-Agent`, with
/// `MODIFY_RESPONSE` redirecting to `/auth/login`), its placeholders filled with the test's
/// authorizer, echo functions and upstream.
fn compat_01(upstream: &TestServer) -> String {
    COMPAT_01
        .replace("<apigw-authzr-fn-ocid>", AUTHORIZER_ID)
        .replace("<health-fn-ocid>", "ocid1.fnfunc.oc1..health")
        .replace("<oidc-authn-fn-ocid>", "ocid1.fnfunc.oc1..login")
        .replace("<oidc-callback-fn-ocid>", "ocid1.fnfunc.oc1..callback")
        .replace("<oidc-logout-fn-ocid>", "ocid1.fnfunc.oc1..logout")
        .replace("<backend-ip>", &upstream.addr.to_string())
}

#[test]
fn modify_response_redirects_to_the_login_page() {
    let upstream = upstream();
    let t = FnGateway::start(
        "auth-oidc",
        &compat_01(&upstream),
        &[
            "ocid1.fnfunc.oc1..health",
            "ocid1.fnfunc.oc1..login",
            "ocid1.fnfunc.oc1..callback",
            "ocid1.fnfunc.oc1..logout",
        ],
    );
    let browser = |target: &str, cookie: Option<&str>| {
        let mut headers = vec![("User-Agent", "e2e-browser/1.0")];
        if let Some(cookie) = cookie {
            headers.push(("Cookie", cookie));
        }
        t.gw.request("GET", target, &headers, b"")
    };
    let assert_login_redirect = |res: &Response| {
        assert_eq!(res.status, 302, "{}", res.text());
        assert_eq!(res.header("location"), Some("/auth/login"));
        assert_eq!(res.header("www-authenticate"), None);
        assert_eq!(res.json(), json!({"code": 302, "message": "Found"}));
    };

    // Not signed in, or a session the authorizer refuses: to the login page.
    assert_login_redirect(&browser("/t/welcome", None));
    assert_login_redirect(&browser("/t/welcome", Some("theme=dark; session=deny")));
    assert_login_redirect(&t.gw.get("/t/debug"));
    assert_eq!(upstream.hits(), 0);

    // Signed in: the backend gets the user's claims as headers.
    let res = browser("/t/welcome", Some("theme=dark; session=good:openid"));
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["uri"], "/cgi-bin/userinfo.cgi");
    assert_eq!(seen(&res, "x-user-sub"), "jdoe");
    assert_eq!(seen(&res, "x-user-email"), "jdoe@example.com");
    assert_eq!(seen(&res, "x-user-name"), "John Doe");
    assert_eq!(seen(&res, "x-user-groups"), r#"["admins","users"]"#);

    // Public pages need no session; the login page is a function.
    let res = browser("/t/", None);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["uri"], "/index.html");
    let res = browser("/t/auth/login", None);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("x-echo"), Some("yes"));

    // The authorizer got the two arguments, each only when present.
    let inputs = t.invocations();
    assert!(
        inputs.contains(&json!({"type": "USER_DEFINED",
            "data": {"User-Agent": "e2e-browser/1.0", "Cookie": "theme=dark; session=good:openid"}})),
        "{inputs:?}"
    );
    assert!(
        inputs
            .contains(&json!({"type": "USER_DEFINED", "data": {"User-Agent": "e2e-browser/1.0"}})),
        "{inputs:?}"
    );
}

#[test]
fn modify_response_takes_its_status_from_the_authorizers_context() {
    let policy = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": AUTHORIZER_ID,
        "parameters": { "token": "request.headers[X-Api-Key]" },
        "isAnonymousAccessAllowed": true,
        "validationFailurePolicy": { "type": "MODIFY_RESPONSE",
            "responseCode": "request.auth[responseCode]",
            "responseMessage": "refused (${request.auth[responseCode]})",
            "responseHeaderTransformations": { "setHeaders": { "items": [
                { "name": "X-Refused", "values": ["yes"] } ] } } } });
    let (t, upstream) = custom("auth-modify", policy);
    let key = |key: &str| t.gw.request("GET", "/t/hello", &[("X-Api-Key", key)], b"");

    let res = key("refuse:403");
    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(res.text(), "refused (403)");
    assert_eq!(res.header("x-refused"), Some("yes"));
    // Without a code in the context the documented default, 401, applies, with the challenge.
    let res = key("deny");
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.text(), "refused ()");
    assert_eq!(
        res.header("www-authenticate"),
        Some(r#"Bearer realm="tests", error="invalid_token""#)
    );
    assert_eq!(res.header("x-refused"), Some("yes"));
    assert_eq!(upstream.hits(), 0);
    assert_eq!(key("good:read:hello").status, 200);
}

// ---------------------------------------------------------------------------------------------
// JWTs with static keys, and the attacks

/// A deployment with `JWT_AUTHENTICATION` and `STATIC_KEYS` (RSA JWK `rsa-1`, EC PEM `ec-1`),
/// 30 s of clock skew: `/hello` (the caller's claims as headers) and `/admin` (`ANY_OF` admin).
struct JwtGateway {
    gw: Gateway,
    upstream: TestServer,
    _dir: TempDir,
}

fn jwt_static_spec(upstream: &TestServer) -> String {
    let addr = upstream.addr;
    json!({
        "requestPolicies": { "authentication": {
            "type": "JWT_AUTHENTICATION", "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
            "issuers": [ISSUER], "audiences": [AUDIENCE], "maxClockSkewInSeconds": 30,
            "publicKeys": { "type": "STATIC_KEYS", "keys": [
                rsa().static_jwk("rsa-1"),
                { "format": "PEM", "kid": "ec-1", "key": ec().pem() } ] } } },
        "routes": [
            { "path": "/hello", "methods": ["GET"],
              "backend": { "type": "HTTP_BACKEND", "url": format!("http://{addr}/hello") },
              "requestPolicies": { "headerTransformations": { "setHeaders": { "items": [
                  { "name": "X-Auth-Sub", "values": ["${request.auth[sub]}"] },
                  { "name": "X-Auth-Email", "values": ["${request.auth[email]}"] } ] } } } },
            { "path": "/admin", "methods": ["GET"],
              "backend": { "type": "HTTP_BACKEND", "url": format!("http://{addr}/admin") },
              "requestPolicies": { "authorization": { "type": "ANY_OF", "allowedScope": ["admin"] } } }
        ]
    })
    .to_string()
}

fn jwt_static(tag: &str) -> JwtGateway {
    let upstream = upstream();
    let dir = TempDir::new(tag);
    let spec = dir.write("spec.json", &jwt_static_spec(&upstream));
    let gw = Gateway::serve(&[&spec, "--path-prefix", "/p"]);
    JwtGateway {
        gw,
        upstream,
        _dir: dir,
    }
}

impl JwtGateway {
    fn bearer(&self, target: &str, token: &str) -> Response {
        with_token(&self.gw, target, token)
    }

    /// `token` is refused as invalid on every route.
    #[track_caller]
    fn refuses(&self, token: &str) {
        for target in ["/p/hello", "/p/admin"] {
            assert_unauthorized(&self.bearer(target, token), INVALID_TOKEN);
        }
    }

    /// Nothing reached the backend, and a valid token still does.
    #[track_caller]
    fn backend_untouched_but_working(&self) {
        assert_eq!(
            self.upstream.hits(),
            0,
            "no refused request reached the backend"
        );
        let res = self.bearer("/p/hello", &rsa().token("rsa-1", &claims()));
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(self.upstream.hits(), 1);
    }
}

#[test]
fn static_keys_accept_rsa_and_ec_tokens_and_pass_their_claims() {
    let t = jwt_static("jwt-static");
    for token in [
        rsa().token("rsa-1", &claims()),
        ec().token("ec-1", &claims()),
    ] {
        let res = t.bearer("/p/hello", &token);
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.json()["uri"], "/hello");
        assert_eq!(seen(&res, "x-auth-sub"), "jdoe");
        assert_eq!(seen(&res, "x-auth-email"), "jdoe@example.com");
    }
    // The scheme is case-insensitive; an audience list needs one allowed audience.
    let lower = format!("bearer {}", rsa().token("rsa-1", &claims()));
    let res =
        t.gw.request("GET", "/p/hello", &[("Authorization", lower.as_str())], b"");
    assert_eq!(res.status, 200, "{}", res.text());
    let audiences = claims_with(json!({"aud": ["https://other.example/", AUDIENCE]}));
    assert_eq!(
        t.bearer("/p/hello", &rsa().token("rsa-1", &audiences))
            .status,
        200
    );
    // No token: 401 with the plain challenge.
    assert_unauthorized(&t.gw.get("/p/hello"), "Bearer");
}

#[test]
fn a_token_without_an_allowed_scope_gets_404() {
    let t = jwt_static("jwt-scope");
    let res = t.bearer("/p/admin", &rsa().token("rsa-1", &claims()));
    assert_oci_error(&res, 404, "Not Found");
    assert_eq!(t.upstream.hits(), 0);
    let admin = claims_with(json!({"scope": "read:hello admin"}));
    let res = t.bearer("/p/admin", &rsa().token("rsa-1", &admin));
    assert_eq!(res.status, 200, "{}", res.text());
    let admin = claims_with(json!({"scope": ["admin"]}));
    assert_eq!(
        t.bearer("/p/admin", &ec().token("ec-1", &admin)).status,
        200
    );
}

#[test]
fn attack_alg_none_is_refused() {
    let t = jwt_static("jwt-none");
    let real = rsa().token("rsa-1", &claims());
    let real_signature = real.rsplit('.').next().unwrap_or_default().to_owned();
    for alg in ["none", "None", "NONE", "nOnE"] {
        for kid in [Some("rsa-1"), None] {
            let header = match kid {
                Some(kid) => json!({ "alg": alg, "typ": "JWT", "kid": kid }),
                None => json!({ "alg": alg, "typ": "JWT" }),
            };
            t.refuses(&unsigned_token(&header, &claims(), ""));
            t.refuses(&unsigned_token(&header, &claims(), &real_signature));
        }
    }
    // Without a signature part at all.
    let header = json!({ "alg": "none", "kid": "rsa-1" });
    let two_parts = unsigned_token(&header, &claims(), "");
    t.refuses(two_parts.trim_end_matches('.'));
    t.backend_untouched_but_working();
}

#[test]
fn attack_hs256_signed_with_the_rsa_public_key_is_refused() {
    let t = jwt_static("jwt-hs256");
    let pem = rsa().pem();
    let der = rsa().public_der();
    let modulus = rsa().modulus();
    let secrets: [&[u8]; 4] = [pem.as_bytes(), pem.trim_end().as_bytes(), &der, &modulus];
    for secret in secrets {
        for kid in ["rsa-1", "ec-1"] {
            t.refuses(&hs256_token(kid, &claims(), secret));
        }
    }
    for alg in ["HS384", "HS512"] {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": "rsa-1" });
        t.refuses(&unsigned_token(&header, &claims(), &b64(&der)));
    }
    t.backend_untouched_but_working();
}

#[test]
fn attack_expired_token_is_refused() {
    let t = jwt_static("jwt-expired");
    // maxClockSkewInSeconds is 30.
    for exp in [now() - 120, now() - 3600, 0] {
        t.refuses(&rsa().token("rsa-1", &claims_with(json!({"exp": exp}))));
    }
    // exp is required.
    t.refuses(&rsa().token("rsa-1", &claims_with(json!({"exp": null}))));
    t.refuses(&rsa().token("rsa-1", &claims_with(json!({"exp": "tomorrow"}))));
    t.backend_untouched_but_working();
    // Within the skew it is still valid.
    let recent = claims_with(json!({"exp": now() - 5}));
    assert_eq!(
        t.bearer("/p/hello", &rsa().token("rsa-1", &recent)).status,
        200
    );
}

#[test]
fn attack_not_yet_valid_token_is_refused() {
    let t = jwt_static("jwt-nbf");
    for nbf in [now() + 300, now() + 86_400] {
        t.refuses(&rsa().token("rsa-1", &claims_with(json!({"nbf": nbf}))));
    }
    t.backend_untouched_but_working();
    let soon = claims_with(json!({"nbf": now() + 5}));
    assert_eq!(
        t.bearer("/p/hello", &rsa().token("rsa-1", &soon)).status,
        200,
        "within the 30 s skew"
    );
}

#[test]
fn attack_wrong_issuer_is_refused() {
    let t = jwt_static("jwt-iss");
    for iss in [
        json!("https://evil.example/"),
        json!("https://issuer.example"),
        json!("HTTPS://ISSUER.EXAMPLE/"),
        json!(["https://evil.example/"]),
        json!(42),
        Value::Null,
    ] {
        t.refuses(&rsa().token("rsa-1", &claims_with(json!({ "iss": iss }))));
    }
    t.backend_untouched_but_working();
}

#[test]
fn attack_issuer_array_smuggling_an_allowed_issuer_is_refused() {
    let t = jwt_static("jwt-iss-array");
    for iss in [json!(["https://evil.example/", ISSUER]), json!([ISSUER])] {
        t.refuses(&rsa().token("rsa-1", &claims_with(json!({ "iss": iss }))));
    }
    t.backend_untouched_but_working();
}

#[test]
fn attack_wrong_audience_is_refused() {
    let t = jwt_static("jwt-aud");
    for aud in [
        json!("https://other.example/"),
        json!(["https://other.example/", "https://else.example/"]),
        json!("https://api.example"),
        json!([]),
        Value::Null,
    ] {
        t.refuses(&rsa().token("rsa-1", &claims_with(json!({ "aud": aud }))));
    }
    t.backend_untouched_but_working();
}

#[test]
fn attack_unknown_kid_is_refused() {
    let t = jwt_static("jwt-kid");
    // A key the gateway does not know, under a kid it does not know, under none, and under
    // the kid of a key it knows.
    t.refuses(&rsa2().token("rsa-9", &claims()));
    t.refuses(&rsa2().token_with_header(&json!({"alg": "RS256", "typ": "JWT"}), &claims()));
    t.refuses(&rsa2().token("rsa-1", &claims()));
    // The right key under the wrong kid, and a kid of the wrong key type.
    t.refuses(&rsa().token("rsa-9", &claims()));
    t.refuses(&rsa().token("ec-1", &claims()));
    t.backend_untouched_but_working();
}

#[test]
fn attack_tampered_payload_is_refused() {
    let t = jwt_static("jwt-tamper");
    let token = rsa().token("rsa-1", &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = |payload: &Value| {
        format!(
            "{}.{}.{}",
            parts[0],
            b64(payload.to_string().as_bytes()),
            parts[2]
        )
    };
    t.refuses(&forged(&claims_with(json!({"scope": "read:hello admin"}))));
    t.refuses(&forged(&claims_with(json!({"sub": "root"}))));
    t.refuses(&forged(&claims_with(json!({"exp": now() + 86_400 * 365}))));
    // One flipped bit in the signature, or in the header.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64");
    signature[10] ^= 1;
    t.refuses(&format!("{}.{}.{}", parts[0], parts[1], b64(&signature)));
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "rsa-1", "x": 1 });
    t.refuses(&format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        parts[1],
        parts[2]
    ));
    t.backend_untouched_but_working();
}

#[test]
fn attack_token_in_the_wrong_place_is_refused() {
    let t = jwt_static("jwt-place");
    let token = rsa().token("rsa-1", &claims());
    // Where the policy does not look: no credentials at all.
    let cookie = format!("token={token}");
    for header in [("X-Token", token.as_str()), ("Cookie", cookie.as_str())] {
        assert_unauthorized(&t.gw.request("GET", "/p/hello", &[header], b""), "Bearer");
    }
    let res = t.gw.get(&format!("/p/hello?access_token={token}"));
    assert_unauthorized(&res, "Bearer");
    // In the right header, but not as the policy's scheme says.
    for value in [
        token.clone(),
        format!("Basic {token}"),
        format!("Bearer  {token}"),
        format!("Bearer{token}"),
        format!("Token {token}"),
    ] {
        let res =
            t.gw.request("GET", "/p/hello", &[("Authorization", value.as_str())], b"");
        assert_unauthorized(&res, INVALID_TOKEN);
    }
    // Two Authorization headers: never guess which one counts.
    let value = format!("Bearer {token}");
    let res = t.gw.request(
        "GET",
        "/p/hello",
        &[
            ("Authorization", value.as_str()),
            ("Authorization", "Bearer x"),
        ],
        b"",
    );
    assert_unauthorized(&res, INVALID_TOKEN);
    t.backend_untouched_but_working();
}

#[test]
fn attack_oversized_token_is_refused() {
    let t = jwt_static("jwt-big");
    // Correctly signed and otherwise valid, but larger than 16 KB.
    let big = claims_with(json!({"padding": "x".repeat(20 * 1024)}));
    let token = rsa().token("rsa-1", &big);
    assert!(token.len() > 16 * 1024);
    // Such a request head is past OCI's 8 KB limit: refused before authentication, 431.
    for token in [token, "A".repeat(64 * 1024)] {
        for target in ["/p/hello", "/p/admin"] {
            let res = t.bearer(target, &token);
            assert_eq!(res.status, 431, "{}", res.text());
        }
    }
    t.backend_untouched_but_working();
}

// ---------------------------------------------------------------------------------------------
// JWTs with a remote JWKS

/// Compat spec 04 (`JWT_AUTHENTICATION`, `REMOTE_JWKS`, CORS, rate limiting) pointed at `jwks`
/// and `upstream`, with the test issuer and audience.
fn compat_04(jwks: &JwksServer, upstream: &TestServer) -> String {
    let mut spec: Value = serde_json::from_str(COMPAT_04).expect("compat spec 04 is JSON");
    let auth = &mut spec["requestPolicies"]["authentication"];
    auth["publicKeys"]["uri"] = json!(jwks.jwks_url());
    auth["issuers"] = json!([ISSUER]);
    auth["audiences"] = json!([AUDIENCE]);
    spec["routes"][0]["backend"]["url"] = json!(format!("http://{}/weather", upstream.addr));
    spec.to_string()
}

/// `TOKEN_AUTHENTICATION` with `REMOTE_JWKS` at `uri`, one route `/hello` to `upstream`.
fn token_jwks_spec(uri: &str, upstream: &TestServer) -> String {
    json!({
        "requestPolicies": { "authentication": {
            "type": "TOKEN_AUTHENTICATION", "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
            "validationPolicy": { "type": "REMOTE_JWKS", "uri": uri, "maxCacheDurationInHours": 1,
                "additionalValidationPolicy": { "issuers": [ISSUER], "audiences": [AUDIENCE] } } } },
        "routes": [
            { "path": "/hello", "methods": ["GET"],
              "backend": { "type": "HTTP_BACKEND", "url": format!("http://{}/hello", upstream.addr) },
              "requestPolicies": { "headerTransformations": { "setHeaders": { "items": [
                  { "name": "X-Auth-Sub", "values": ["${request.auth[sub]}"] } ] } } } }
        ]
    })
    .to_string()
}

fn serve_spec(dir: &TempDir, spec: &str) -> Gateway {
    let spec = dir.write("spec.json", spec);
    Gateway::serve(&[&spec, "--path-prefix", "/p"])
}

#[test]
fn a_remote_jwks_is_fetched_once_and_cached() {
    let jwks = JwksServer::start(key_set(&[rsa().jwk("k1"), ec().jwk("k2")]));
    let upstream = upstream();
    let dir = TempDir::new("jwks-cache");
    let gw = serve_spec(&dir, &compat_04(&jwks, &upstream));

    // A pre-flight is answered before authentication: no key is fetched for it.
    let res = gw.request(
        "OPTIONS",
        "/p/hello",
        &[("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")],
        b"",
    );
    assert_eq!(res.status, 204, "{}", res.text());
    assert!(res.header("access-control-allow-origin").is_some());
    assert_eq!(jwks.hits(), 0);

    for token in [
        rsa().token("k1", &claims()),
        ec().token("k2", &claims()),
        rsa().token("k1", &claims()),
    ] {
        let res = with_token(&gw, "/p/hello", &token);
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.json()["uri"], "/weather");
    }
    assert_eq!(jwks.hits(), 1, "fetched once, then cached");
    // A key the set does not have, under a known kid.
    assert_unauthorized(
        &with_token(&gw, "/p/hello", &rsa2().token("k1", &claims())),
        INVALID_TOKEN,
    );
    assert_eq!(upstream.hits(), 3);
}

#[test]
fn remote_jwks_key_rotation_is_picked_up() {
    let jwks = JwksServer::start(key_set(&[rsa().jwk("2024-a")]));
    let upstream = upstream();
    let dir = TempDir::new("jwks-rotation");
    let gw = serve_spec(&dir, &token_jwks_spec(&jwks.jwks_url(), &upstream));
    let old = rsa().token("2024-a", &claims());
    let new = rsa2().token("2024-b", &claims());

    let res = with_token(&gw, "/p/hello", &old);
    assert_eq!(res.status, 200, "{}", res.text());
    let fetched = Instant::now();
    assert_eq!(jwks.hits(), 1);

    // The issuer rotates. Right after a fetch, unknown kids do not refetch (at most one
    // refetch per 30 s, so forged kids cannot make the gateway hammer the issuer).
    jwks.set_jwks(key_set(&[rsa2().jwk("2024-b")]));
    for _ in 0..3 {
        assert_unauthorized(&with_token(&gw, "/p/hello", &new), INVALID_TOKEN);
    }
    assert_eq!(jwks.hits(), 1);
    assert_eq!(with_token(&gw, "/p/hello", &old).status, 200);

    // Later, the new kid makes the gateway fetch the rotated set.
    sleep_until(fetched + Duration::from_secs(31));
    let res = with_token(&gw, "/p/hello", &new);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(seen(&res, "x-auth-sub"), "jdoe");
    assert_eq!(jwks.hits(), 2);
    // The retired key is gone with it.
    assert_unauthorized(&with_token(&gw, "/p/hello", &old), INVALID_TOKEN);
    assert_eq!(jwks.hits(), 2);
}

#[test]
fn an_unreachable_jwks_is_500() {
    let upstream = upstream();
    let dir = TempDir::new("jwks-down");
    let uri = format!("http://{}/jwks.json", closed_addr());
    let gw = serve_spec(&dir, &token_jwks_spec(&uri, &upstream));
    for _ in 0..2 {
        let res = with_token(&gw, "/p/hello", &rsa().token("k1", &claims()));
        assert_oci_error(&res, 500, "Internal Server Error");
        assert_eq!(res.header("www-authenticate"), None);
    }
    // What is refused without keys is still refused.
    assert_unauthorized(&gw.get("/p/hello"), "Bearer");
    assert_unauthorized(&with_token(&gw, "/p/hello", "not-a-jwt"), INVALID_TOKEN);
    assert_eq!(upstream.hits(), 0);
}

#[test]
fn a_failing_jwks_is_500_until_it_recovers() {
    let jwks = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    jwks.set_status(503);
    let upstream = upstream();
    let dir = TempDir::new("jwks-recover");
    let gw = serve_spec(&dir, &token_jwks_spec(&jwks.jwks_url(), &upstream));
    let token = rsa().token("k1", &claims());

    assert_oci_error(
        &with_token(&gw, "/p/hello", &token),
        500,
        "Internal Server Error",
    );
    assert_eq!(jwks.hits(), 1);
    jwks.set_status(200);
    let recovered = gateway_tests::eventually(Duration::from_secs(20), || {
        let res = with_token(&gw, "/p/hello", &token);
        assert!(res.status == 200 || res.status == 500, "{res:?}");
        res.status == 200
    });
    assert!(recovered, "the gateway fetched the keys again");
    // Requests during the back-off after a failure did not each refetch.
    assert_eq!(jwks.hits(), 2);
    assert_eq!(with_token(&gw, "/p/hello", &token).status, 200);
    assert_eq!(jwks.hits(), 2);
}

#[test]
fn cached_keys_outlive_a_jwks_outage() {
    let jwks = JwksServer::start(key_set(&[rsa().jwk("k1")]));
    let upstream = upstream();
    let dir = TempDir::new("jwks-outage");
    let gw = serve_spec(&dir, &token_jwks_spec(&jwks.jwks_url(), &upstream));
    let token = rsa().token("k1", &claims());
    assert_eq!(with_token(&gw, "/p/hello", &token).status, 200);

    jwks.stop();
    for _ in 0..3 {
        let res = with_token(&gw, "/p/hello", &token);
        assert_eq!(res.status, 200, "{}", res.text());
    }
    // An unknown kid is refused, not turned into a 500 for everyone.
    assert_unauthorized(
        &with_token(&gw, "/p/hello", &rsa2().token("k2", &claims())),
        INVALID_TOKEN,
    );
    assert_eq!(upstream.hits(), 4);
}
