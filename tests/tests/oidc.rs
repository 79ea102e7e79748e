//! `TOKEN_AUTHENTICATION` with `REMOTE_DISCOVERY` against a real OpenID provider: the npm
//! package `oidc-provider` (`tests/oidc/provider.mjs`) over HTTPS on loopback, its CA given to
//! the gateway through `ca_bundles`, the gateway's client secret through `[[secret]]`.

use std::net::SocketAddr;
use std::time::Duration;

use gateway_tests::oidc::{token_authentication, OpenIdProvider, SECRET_ID};
use gateway_tests::{eventually, raw_echo_upstream, Gateway, Response, TempDir};

/// The deployment: tokens from `issuer` only (the provider's own, or another to refuse it).
fn spec(issuer: &str, allowed_issuer: &str, upstream: SocketAddr) -> String {
    let authentication = token_authentication(
        issuer,
        &format!(r#", "additionalValidationPolicy": {{ "issuers": ["{allowed_issuer}"] }}"#),
    );
    format!(
        r#"{{
  "requestPolicies": {{ "authentication": {{ {authentication} }} }},
  "routes": [ {{ "path": "/data", "methods": ["GET"],
    "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/data" }},
    "requestPolicies": {{
      "authorization": {{ "type": "ANY_OF", "allowedScope": ["api:read"] }},
      "headerTransformations": {{ "setHeaders": {{ "items": [
        {{ "name": "X-Client-Id", "values": ["${{request.auth[client_id]}}"] }},
        {{ "name": "X-Scope", "values": ["${{request.auth[scope]}}"] }} ] }} }} }} }} ]
}}"#
    )
}

/// A deployment proxying to the provider's discovery document: an HTTPS backend on the
/// private CA.
fn idp_spec(issuer: &str) -> String {
    format!(
        r#"{{ "routes": [ {{ "path": "/discovery", "methods": ["GET"],
              "backend": {{ "type": "HTTP_BACKEND",
                           "url": "{issuer}/.well-known/openid-configuration" }} }} ] }}"#
    )
}

fn gateway(dir: &TempDir, provider: &OpenIdProvider, secret: &str) -> Gateway {
    let issuer = provider.issuer();
    dir.write("api.json", &spec(&issuer, &issuer, raw_echo_upstream()));
    dir.write(
        "other.json",
        &spec(&issuer, "https://elsewhere.example", raw_echo_upstream()),
    );
    dir.write("idp.json", &idp_spec(&issuer));
    let config = dir.write(
        "gateway.toml",
        &format!(
            "[gateway]\nca_bundles = [\"{ca}\"]\n\n\
             [[secret]]\nid = \"{SECRET_ID}\"\nvalue = \"{secret}\"\nversion = 1\n\n\
             [[deployment]]\nname = \"api\"\npath_prefix = \"/api\"\nspecification = \"api.json\"\n\n\
             [[deployment]]\nname = \"other\"\npath_prefix = \"/other\"\nspecification = \"other.json\"\n\n\
             [[deployment]]\nname = \"idp\"\npath_prefix = \"/idp\"\nspecification = \"idp.json\"\n",
            ca = provider.pki.ca.display()
        ),
    );
    Gateway::serve(&["--config", &config, "--no-watch"])
}

/// GET `path` with `Authorization: Bearer <token>`.
fn with_token(gw: &Gateway, path: &str, token: &str) -> Response {
    gw.request(
        "GET",
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

#[test]
fn opaque_tokens_are_introspected_at_the_provider() {
    let dir = TempDir::new("oidc-introspect");
    let mut provider = OpenIdProvider::start(&dir, "http://127.0.0.1:9");
    let gw = gateway(&dir, &provider, "gw-secret");

    // A client-credentials token: opaque; the provider vouches for it, and its claims reach
    // the backend.
    let token = provider.app_token("api:read");
    assert!(!token.contains('.'), "an opaque token: {token}");
    let res = with_token(&gw, "/api/data", &token);
    assert_eq!(res.status, 200, "{}\n{}", res.text(), gw.stderr());
    let seen = res.text().to_ascii_lowercase();
    assert!(seen.contains("x-client-id: app\r\n"), "{seen}");
    assert!(seen.contains("x-scope: api:read\r\n"), "{seen}");

    // ca_bundles is trusted by HTTP backends too.
    let discovery = gw.get("/idp/discovery");
    assert_eq!(discovery.status, 200, "{}", discovery.text());
    assert_eq!(discovery.json()["issuer"], provider.issuer());

    // The same token where another issuer is required.
    let res = with_token(&gw, "/other/data", &token);
    assert_eq!(res.status, 401);

    // Garbage, and a token without the scope the route needs (OCI answers 404 to that).
    let garbage = with_token(&gw, "/api/data", "garbage");
    assert_eq!(garbage.status, 401);
    assert_eq!(
        garbage.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    let narrow = provider.app_token("api:write");
    let res = with_token(&gw, "/api/data", &narrow);
    assert_eq!(res.status, 404);
    assert_eq!(gw.request("GET", "/api/data", &[], b"").status, 401);

    // A revoked token is refused.
    let revoked = provider.app_token("api:read");
    provider.post(
        "/token/revocation",
        "app:app-secret",
        &[("token", &revoked)],
    );
    let res = with_token(&gw, "/api/data", &revoked);
    assert_eq!(res.status, 401, "{}", gw.stderr());

    // The provider goes away: a token not seen before cannot be checked (500), one already
    // checked is still served from the cache; the provider comes back and is used again.
    provider.stop();
    let unseen = with_token(&gw, "/api/data", "unseen");
    assert_eq!(unseen.status, 500);
    let cached = with_token(&gw, "/api/data", &token);
    assert_eq!(cached.status, 200);
    provider.restart();
    let fresh = provider.app_token("api:read");
    let back = eventually(Duration::from_secs(15), || {
        with_token(&gw, "/api/data", &fresh).status == 200
    });
    assert!(back, "the provider is used again once it is back");
    assert!(!gw.stderr().contains("gw-secret"), "{}", gw.stderr());
}

#[test]
fn a_wrong_or_missing_client_secret_is_a_clear_error() {
    let dir = TempDir::new("oidc-secret");
    let provider = OpenIdProvider::start(&dir, "http://127.0.0.1:9");
    let gw = gateway(&dir, &provider, "not-the-secret");
    let token = provider.app_token("api:read");
    let res = with_token(&gw, "/api/data", &token);
    assert_eq!(res.status, 500, "{}", res.text());
    assert!(!gw.stderr().contains("not-the-secret"), "{}", gw.stderr());

    // validate says what is missing, and never shows a secret.
    let config = dir.write(
        "missing.toml",
        "[[deployment]]\nname = \"api\"\npath_prefix = \"/api\"\nspecification = \"api.json\"\n\n\
         [[deployment]]\nname = \"idp\"\npath_prefix = \"/idp\"\nspecification = \"idp.json\"\n",
    );
    let (code, out, err) = gateway_tests::run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 0, "a warning, not an error:\n{out}\n{err}");
    let text = format!("{out}{err}");
    assert!(
        text.contains(&format!("secret {SECRET_ID} is not configured")),
        "{text}"
    );
    // Without ca_bundles the provider's certificate is not trusted.
    let untrusted = Gateway::serve(&["--config", &config, "--no-watch"]);
    assert_eq!(untrusted.get("/idp/discovery").status, 502);
}
