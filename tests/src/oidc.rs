//! A real OpenID provider for end-to-end tests: the npm package `oidc-provider` (OpenID
//! Certified) running `tests/oidc/provider.mjs` over HTTPS on loopback, and a browser without a
//! screen (`tests/oidc/browse.mjs`) that follows a login through it with a cookie jar.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::net::free_port;
use crate::pki::ServerPki;
use crate::{npm_install, repo_root, TempDir};

/// oidc-provider, installed from npm once per target directory (beside the test binaries),
/// with the scripts of `tests/oidc` beside it (ES modules resolve packages from their own
/// directory). The tests of a file run in parallel threads: one of them installs and copies
/// while the others wait.
fn provider_dir() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/<test> -> target/tmp, Cargo's CARGO_TARGET_TMPDIR.
            let target = exe
                .ancestors()
                .nth(3)
                .expect("target directory")
                .join("tmp");
            let dir = npm_install(&target.join("oidc-provider"), "oidc-provider@9.13.3");
            for script in ["provider.mjs", "browse.mjs"] {
                std::fs::copy(
                    repo_root().join("tests/oidc").join(script),
                    dir.join(script),
                )
                .expect("provider scripts");
            }
            dir
        })
        .clone()
}

/// The provider process; stopped when dropped.
#[derive(Debug)]
pub struct OpenIdProvider {
    child: Option<Child>,
    port: u16,
    /// Its certificate, key and the CA that signed them (what the gateway must trust).
    pub pki: ServerPki,
    gateway_origin: String,
}

impl OpenIdProvider {
    /// A provider for a gateway at `gateway_origin`, running.
    pub fn start(dir: &TempDir, gateway_origin: &str) -> OpenIdProvider {
        let mut provider = OpenIdProvider::prepare(dir);
        provider.gateway_origin = gateway_origin.to_owned();
        provider.restart();
        provider
    }

    /// Starts a [`prepared`](Self::prepare) provider for the gateway at `gateway_origin`.
    pub fn start_for(&mut self, gateway_origin: &str) {
        self.gateway_origin = gateway_origin.to_owned();
        self.restart();
    }

    /// A provider with its port and certificate, not started yet: its issuer goes into the
    /// gateway's configuration before the gateway (whose origin the provider needs) starts.
    pub fn prepare(dir: &TempDir) -> OpenIdProvider {
        OpenIdProvider {
            child: None,
            port: free_port(),
            pki: ServerPki::new(dir, "idp"),
            gateway_origin: String::new(),
        }
    }

    /// Starts (again) on the same port, with the same certificate.
    pub fn restart(&mut self) {
        let dir = provider_dir();
        let mut child = Command::new("node")
            .current_dir(&dir)
            .arg("provider.mjs")
            .arg(&self.pki.cert)
            .arg(&self.pki.key)
            .arg(self.port.to_string())
            .arg(&self.gateway_origin)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("issuer line");
        assert!(line.starts_with("issuer "), "provider said {line:?}");
        // Whatever else it prints is read, so that it never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// POSTs `form` to `path` as `client:secret`, with node's fetch trusting the test CA: the
    /// answer's JSON.
    pub fn post(&self, path: &str, client: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let script = r#"
            const [url, auth, form] = process.argv.slice(1);
            const res = await fetch(url, { method: 'POST', body: new URLSearchParams(JSON.parse(form)),
              headers: { authorization: 'Basic ' + Buffer.from(auth).toString('base64') } });
            const text = await res.text();
            console.log(text === '' ? '{}' : text);
        "#;
        let form: serde_json::Map<String, serde_json::Value> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        let out = Command::new("node")
            .args(["--input-type=module", "-e", script])
            .arg(format!("{}{path}", self.issuer()))
            .arg(client)
            .arg(serde_json::Value::Object(form).to_string())
            .env("NODE_EXTRA_CA_CERTS", &self.pki.ca)
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON answer")
    }

    /// An access token for the `app` client (client credentials).
    pub fn app_token(&self, scope: &str) -> String {
        let answer = self.post(
            "/token",
            "app:app-secret",
            &[("grant_type", "client_credentials"), ("scope", scope)],
        );
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {answer}"))
            .to_owned()
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Vault OCID the tests' `[[secret]]` holds the gateway's client secret under.
pub const SECRET_ID: &str = "ocid1.vaultsecret.oc1..gwsecret";

/// The `TOKEN_AUTHENTICATION` fields the tests' deployments share, as JSON object members: a
/// bearer token checked at `issuer`'s introspection endpoint by the client `gateway`, whose
/// secret is [`SECRET_ID`]; `more` is added to the validation policy.
pub fn token_authentication(issuer: &str, more: &str) -> String {
    format!(
        r#""type": "TOKEN_AUTHENTICATION", "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
    "validationPolicy": {{
      "type": "REMOTE_DISCOVERY",
      "clientDetails": {{ "type": "CUSTOM", "clientId": "gateway",
                         "clientSecretId": "{SECRET_ID}", "clientSecretVersionNumber": 1 }},
      "sourceUriDetails": {{ "type": "DISCOVERY_URI",
                            "uri": "{issuer}/.well-known/openid-configuration" }}{more} }}"#
    )
}

/// A browser's cookie jar kept in a file, and the page it ends on after following a URL
/// through redirects and the provider's login, consent and logout forms.
#[derive(Debug)]
pub struct Browser {
    jar: PathBuf,
    user: String,
    ca: PathBuf,
}

/// The last page a [`Browser`] reached.
#[derive(Debug)]
pub struct Page {
    /// Where it is.
    pub url: String,
    pub status: u16,
    /// Its headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The page's text.
    pub body: String,
    /// Every request the browser made on the way, `METHOD URL`.
    pub visited: Vec<String>,
}

impl Browser {
    /// A browser with an empty jar in `dir` that logs in as `user` and trusts the provider.
    pub fn new(dir: &TempDir, user: &str, provider: &OpenIdProvider) -> Browser {
        Browser {
            jar: dir.path().join(format!("jar-{user}.json")),
            user: user.to_owned(),
            ca: provider.pki.ca.clone(),
        }
    }

    /// Follows `url` to the page it ends on.
    pub fn open(&self, url: &str) -> Page {
        let out = Command::new("node")
            .current_dir(provider_dir())
            .arg("browse.mjs")
            .arg(&self.jar)
            .arg(&self.user)
            .arg(url)
            .env("NODE_EXTRA_CA_CERTS", &self.ca)
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "browsing {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON page");
        let text = |k: &str| page[k].as_str().unwrap_or_default().to_owned();
        Page {
            url: text("url"),
            status: page["status"].as_u64().unwrap_or_default() as u16,
            headers: page["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            body: text("body"),
            visited: page["visited"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The cookies the browser holds for `origin` (`http://127.0.0.1:PORT`).
    pub fn cookies(&self, origin: &str) -> BTreeMap<String, String> {
        let Ok(text) = std::fs::read_to_string(&self.jar) else {
            return BTreeMap::new();
        };
        let jar: serde_json::Value = serde_json::from_str(&text).expect("JSON jar");
        jar[origin]
            .as_object()
            .map(|cookies| {
                cookies
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
