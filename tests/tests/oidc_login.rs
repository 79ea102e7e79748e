//! The `OAUTH2` validation failure policy and `OAUTH2_LOGOUT_BACKEND` against a real OpenID
//! provider (`oidc-provider`): a browser is sent to log in through the provider's own login
//! form, comes back to the page it asked for with a session, and logs out there and at the
//! provider.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gateway_tests::oidc::{token_authentication, Browser, OpenIdProvider, SECRET_ID};
use gateway_tests::{npm_install, raw_echo_upstream, repo_root, Gateway, Response, TempDir};

/// `/app`: PKCE, intermediate steps and the session in cookies; a logout route that allows
/// only `/bye` afterwards.
fn app_spec(issuer: &str, upstream: SocketAddr) -> String {
    let authentication = token_authentication(issuer, "");
    format!(
        r#"{{
  "requestPolicies": {{ "authentication": {{ {authentication},
    "isAnonymousAccessAllowed": true,
    "validationFailurePolicy": {{
      "type": "OAUTH2",
      "clientDetails": {{ "type": "VALIDATION_BLOCK" }},
      "sourceUriDetails": {{ "type": "VALIDATION_BLOCK" }},
      "scopes": ["openid", "email", "profile"], "responseType": "CODE", "usePkce": true,
      "fallbackRedirectPath": "/home", "logoutPath": "/logout" }} }} }},
  "routes": [
    {{ "path": "/profile", "methods": ["GET"],
      "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/profile" }},
      "requestPolicies": {{ "headerTransformations": {{ "setHeaders": {{ "items": [
        {{ "name": "X-User", "values": ["${{request.auth[sub]}}"] }},
        {{ "name": "X-Email", "values": ["${{request.auth[email]}}"] }},
        {{ "name": "X-Csrf", "values": ["${{request.auth[apigw_csrf_token]}}"] }} ] }} }} }} }},
    {{ "path": "/home", "methods": ["GET"],
      "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/home" }},
      "requestPolicies": {{ "headerTransformations": {{ "setHeaders": {{ "items": [
        {{ "name": "X-User", "values": ["${{request.auth[sub]}}"] }} ] }} }} }} }},
    {{ "path": "/form", "methods": ["POST"],
      "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/form" }} }},
    {{ "path": "/logout", "methods": ["GET"],
      "backend": {{ "type": "OAUTH2_LOGOUT_BACKEND", "allowedPostLogoutUris": ["/bye"],
                   "postLogoutState": "${{request.query[region]}}" }},
      "requestPolicies": {{ "authorization": {{ "type": "ANONYMOUS" }} }} }},
    {{ "path": "/bye", "methods": ["GET"],
      "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "bye" }},
      "requestPolicies": {{ "authorization": {{ "type": "ANONYMOUS" }} }} }} ]
}}"#
    )
}

/// `/quick`: the `short` scope (access tokens live five seconds), logins under way kept in the
/// gateway's memory instead of cookies. `/header`: the session in `X-APIGW-TOKEN`.
fn quick_spec(issuer: &str, upstream: SocketAddr, options: &str) -> String {
    let authentication = token_authentication(issuer, "");
    format!(
        r#"{{
  "requestPolicies": {{ "authentication": {{ {authentication},
    "validationFailurePolicy": {{
      "type": "OAUTH2",
      "clientDetails": {{ "type": "VALIDATION_BLOCK" }},
      "sourceUriDetails": {{ "type": "VALIDATION_BLOCK" }},
      {options} }} }} }},
  "routes": [
    {{ "path": "/profile", "methods": ["GET"],
      "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/profile" }},
      "requestPolicies": {{ "headerTransformations": {{ "setHeaders": {{ "items": [
        {{ "name": "X-User", "values": ["${{request.auth[sub]}}"] }} ] }} }} }} }} ]
}}"#
    )
}

/// A provider, and a gateway serving `/app` and `/quick` with it.
fn setup(dir: &TempDir) -> (OpenIdProvider, Gateway, String) {
    let mut provider = OpenIdProvider::prepare(dir);
    let issuer = provider.issuer();
    let upstream = raw_echo_upstream();
    dir.write("app.json", &app_spec(&issuer, upstream));
    dir.write(
        "quick.json",
        &quick_spec(
            &issuer,
            upstream,
            r#""scopes": ["openid", "short"], "responseType": "CODE",
               "useCookiesForIntermediateSteps": false"#,
        ),
    );
    dir.write(
        "header.json",
        &quick_spec(
            &issuer,
            upstream,
            r#""scopes": ["openid"], "responseType": "CODE", "useCookiesForSession": false"#,
        ),
    );
    let config = dir.write(
        "gateway.toml",
        &format!(
            "[gateway]\nca_bundles = [\"{ca}\"]\n\n\
             [[secret]]\nid = \"{SECRET_ID}\"\nvalue = \"gw-secret\"\nversion = 1\n\n\
             [[deployment]]\nname = \"app\"\npath_prefix = \"/app\"\nspecification = \"app.json\"\n\n\
             [[deployment]]\nname = \"quick\"\npath_prefix = \"/quick\"\nspecification = \"quick.json\"\n\n\
             [[deployment]]\nname = \"header\"\npath_prefix = \"/header\"\nspecification = \"header.json\"\n",
            ca = provider.pki.ca.display()
        ),
    );
    let gw = Gateway::serve(&["--config", &config, "--no-watch"]);
    let origin = format!("http://{}", gw.addr);
    provider.start_for(&origin);
    (provider, gw, origin)
}

/// A request with `cookies` (name to value) and more headers.
fn with_cookies(
    gw: &Gateway,
    method: &str,
    path: &str,
    cookies: &BTreeMap<String, String>,
    headers: &[(&str, &str)],
) -> Response {
    let cookie: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cookie = cookie.join("; ");
    let mut all = vec![("Cookie", cookie.as_str())];
    all.extend_from_slice(headers);
    gw.request(method, path, &all, b"")
}

/// The echoed request's header `name` (lower case), as the backend saw it.
fn seen(res: &Response, name: &str) -> Option<String> {
    let text = res.text();
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

#[test]
fn a_browser_logs_in_at_the_provider_and_out_again() {
    let dir = TempDir::new("oidc-login");
    let (provider, gw, origin) = setup(&dir);

    // An API client without a token gets OCI's 401, not a redirect it cannot follow.
    let api = gw.request(
        "GET",
        "/app/profile",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(api.status, 401, "{}", api.text());
    assert_eq!(api.header("www-authenticate"), Some("Bearer"));

    // A browser is sent to the provider, logs in through its form, and lands on the page it
    // asked for, query included, with the user's claims at the backend.
    let browser = Browser::new(&dir, "alice", &provider);
    let page = browser.open(&format!("{origin}/app/profile?tab=2"));
    assert_eq!(page.status, 200, "{page:?}\n{}", gw.stderr());
    assert_eq!(page.url, format!("{origin}/app/profile?tab=2"), "{page:?}");
    assert!(
        page.visited
            .iter()
            .any(|v| v.starts_with("POST ") && v.contains("/interaction/")),
        "the provider's login form was used: {:?}",
        page.visited
    );
    let lower = page.body.to_ascii_lowercase();
    assert!(lower.starts_with("get /profile?tab=2 "), "{}", page.body);
    assert!(lower.contains("x-user: alice\r\n"), "{}", page.body);
    assert!(
        lower.contains("x-email: alice@example.com\r\n"),
        "{}",
        page.body
    );
    // The authorization request used PKCE, state and nonce.
    let authorize = page
        .visited
        .iter()
        .find(|v| v.contains("/auth?"))
        .expect("an authorization request");
    for param in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid+email+profile",
    ] {
        assert!(authorize.contains(param), "{param} in {authorize}");
    }

    // The session is one cookie; the login's own cookie is gone.
    let cookies = browser.cookies(&origin);
    assert!(cookies.contains_key("apigw_session"), "{cookies:?}");
    assert!(
        !cookies.keys().any(|k| k.starts_with("apigw_login_")),
        "{cookies:?}"
    );
    let res = with_cookies(&gw, "GET", "/app/profile", &cookies, &[]);
    assert_eq!(res.status, 200);
    assert_eq!(seen(&res, "x-user").as_deref(), Some("alice"));
    let csrf = seen(&res, "x-csrf").expect("the CSRF token is a context variable");
    assert!(csrf.len() >= 20, "{csrf}");

    // A state-changing request must repeat the CSRF token.
    let res = with_cookies(&gw, "POST", "/app/form", &cookies, &[]);
    assert_eq!(res.status, 401, "{}", res.text());
    let res = with_cookies(
        &gw,
        "POST",
        "/app/form",
        &cookies,
        &[("X-CSRF-TOKEN", "wrong")],
    );
    assert_eq!(res.status, 401);
    let res = with_cookies(
        &gw,
        "POST",
        "/app/form",
        &cookies,
        &[("X-CSRF-TOKEN", &csrf)],
    );
    assert_eq!(res.status, 200, "{}", res.text());
    // A browser's POST without a session is sent to log in, and back to fallbackRedirectPath.
    let res = gw.request("POST", "/app/form", &[("Accept", "text/html")], b"");
    assert_eq!(res.status, 302);
    let location = res.header("location").expect("a redirect").to_owned();
    let redirect_uri = format!("redirect_uri={}", encode(&format!("{origin}/app/home")));
    assert!(location.contains(&redirect_uri), "{location}");

    // A session cookie changed by one character is refused: 401 for an API client, a new
    // login for a browser.
    let mut tampered = cookies.clone();
    let value = tampered.get_mut("apigw_session").expect("session");
    let last = value.pop().expect("a character");
    value.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        with_cookies(&gw, "GET", "/app/profile", &tampered, &[]).status,
        401
    );
    let res = with_cookies(
        &gw,
        "GET",
        "/app/profile",
        &tampered,
        &[("Accept", "text/html")],
    );
    assert_eq!(res.status, 302);
    assert!(
        res.header("location")
            .is_some_and(|l| l.starts_with(&format!("{}/auth?", provider.issuer()))),
        "{:?}",
        res.header("location")
    );

    // Logout refuses a post-logout URL that is not allowed, and leaves the session alone.
    let res = with_cookies(
        &gw,
        "GET",
        "/app/logout?postLogoutUrl=https%3A%2F%2Fevil.example%2F",
        &cookies,
        &[],
    );
    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(
        with_cookies(&gw, "GET", "/app/profile", &cookies, &[]).status,
        200
    );

    // Logout clears the cookie and sends the browser to the provider's end-session endpoint
    // with the ID token, the allowed post-logout URL and the state.
    let res = with_cookies(
        &gw,
        "GET",
        "/app/logout?postLogoutUrl=%2Fbye&region=eu",
        &cookies,
        &[],
    );
    assert_eq!(res.status, 302, "{}", res.text());
    let location = res.header("location").expect("a redirect").to_owned();
    assert!(
        location.starts_with(&format!("{}/session/end?", provider.issuer())),
        "{location}"
    );
    assert!(location.contains("id_token_hint=ey"), "{location}");
    let post_logout = format!(
        "post_logout_redirect_uri={}",
        encode(&format!("{origin}/app/bye"))
    );
    assert!(location.contains(&post_logout), "{location}");
    assert!(location.contains("state=eu"), "{location}");
    let cleared = res
        .header_all("set-cookie")
        .into_iter()
        .any(|c| c.starts_with("apigw_session=;") && c.contains("Max-Age=0"));
    assert!(cleared, "{:?}", res.header_all("set-cookie"));

    // A copy of the old cookie is refused from now on.
    let replay = with_cookies(&gw, "GET", "/app/profile", &cookies, &[]);
    assert_eq!(replay.status, 401, "{}", replay.text());

    // The provider ends its own session and sends the browser to the allowed page.
    let page = browser.open(&location);
    assert_eq!(page.url, format!("{origin}/app/bye?state=eu"), "{page:?}");
    assert_eq!((page.status, page.body.as_str()), (200, "bye"));
    // Logged out at the provider too: the next visit shows its login form again.
    let again = browser.open(&format!("{origin}/app/home"));
    assert!(
        again
            .visited
            .iter()
            .any(|v| v.starts_with("POST ") && v.contains("/interaction/")),
        "{:?}",
        again.visited
    );
    assert!(
        again
            .body
            .to_ascii_lowercase()
            .contains("x-user: alice\r\n"),
        "{}",
        again.body
    );
    assert!(!gw.stderr().contains("gw-secret"), "{}", gw.stderr());
}

#[test]
fn a_session_ends_with_its_access_token() {
    let dir = TempDir::new("oidc-session-expiry");
    let (provider, gw, origin) = setup(&dir);
    let browser = Browser::new(&dir, "bob", &provider);
    let page = browser.open(&format!("{origin}/quick/profile"));
    assert_eq!(page.status, 200, "{page:?}\n{}", gw.stderr());
    assert!(
        page.body.to_ascii_lowercase().contains("x-user: bob\r\n"),
        "{}",
        page.body
    );
    // Logins under way were kept in memory: no intermediate cookie was ever set.
    assert!(
        !page.visited.is_empty() && browser.cookies(&origin).len() == 1,
        "{:?}",
        browser.cookies(&origin)
    );

    // The provider's access token lives five seconds from before the page was served, and the
    // session with it.
    std::thread::sleep(Duration::from_millis(5500));
    let cookies = browser.cookies(&origin);
    let res = with_cookies(&gw, "GET", "/quick/profile", &cookies, &[]);
    assert_eq!(res.status, 401, "{}", res.text());
    let res = with_cookies(
        &gw,
        "GET",
        "/quick/profile",
        &cookies,
        &[("Accept", "text/html")],
    );
    assert_eq!(res.status, 302);
}

#[test]
fn a_session_can_travel_in_a_header() {
    let dir = TempDir::new("oidc-header-session");
    let (provider, gw, origin) = setup(&dir);
    let browser = Browser::new(&dir, "dave", &provider);
    // The callback hands the session over with its redirect, and sets no cookie.
    let handover = browser.open(&format!("{origin}/header/profile"));
    assert_eq!(handover.status, 302, "{handover:?}");
    assert_eq!(
        handover.headers.get("location").map(String::as_str),
        Some("/header/profile")
    );
    assert!(
        !browser.cookies(&origin).contains_key("apigw_session"),
        "{:?}",
        browser.cookies(&origin)
    );
    let token = handover.headers.get("x-apigw-token").expect("the session");

    let res = gw.request("GET", "/header/profile", &[("X-APIGW-TOKEN", token)], b"");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(seen(&res, "x-user").as_deref(), Some("dave"));
    // Without it, or with a cookie session's name for it, there is no session.
    assert_eq!(gw.request("GET", "/header/profile", &[], b"").status, 401);
    let cookie = format!("apigw_session={token}");
    let res = gw.request("GET", "/header/profile", &[("Cookie", &cookie)], b"");
    assert_eq!(res.status, 401);
}

/// The whole login and logout once in headless Chromium, as a person would click through it.
#[test]
fn chromium_logs_in_and_out() {
    let dir = TempDir::new("oidc-chromium");
    let (provider, gw, origin) = setup(&dir);
    let playwright = npm_install(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("playwright"),
        "playwright-core@1.65.2",
    )
    .join("node_modules");
    let out = Command::new("node")
        .arg(repo_root().join("tests/oidc/chromium.js"))
        .arg(&origin)
        .arg("carol")
        .env("NODE_PATH", playwright)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    let profile = result["profile"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(profile.contains("x-user: carol"), "{result}");
    assert_eq!(result["afterLogout"], format!("{origin}/app/bye"));
    assert_eq!(result["byePage"], "bye");
    let _ = provider;
}

/// `text` percent-encoded as a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
