//! Shared helpers for the OCI tests: the reference vectors (made with Oracle's Python SDK, in
//! `shared/vectors/`), config files in temporary directories, and a local HTTPS endpoint that
//! behaves like OCI's invoke endpoint and verifies signatures on its own.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// `shared/vectors/oci_sign_vectors.json`, parsed.
pub fn vectors() -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/oci_sign_vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A string field of a JSON object.
pub fn text<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no string field {key:?}"))
}

/// The vectors' throw-away RSA key, PKCS#8 PEM.
pub fn vector_key_pem() -> String {
    text(&vectors(), "private_key_pkcs8_pem").to_string()
}

/// The vectors' public key, DER SubjectPublicKeyInfo (decoded here, not by the code under test).
pub fn vector_public_key_der() -> Vec<u8> {
    pem_body(text(&vectors(), "public_key_spki_pem"))
}

/// The base64 between the PEM armour lines, decoded.
pub fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    BASE64
        .decode(b64)
        .unwrap_or_else(|e| panic!("bad PEM: {e}"))
}

/// Writes `files` (name → contents) into a fresh temporary directory.
pub fn temp_dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for (name, contents) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {name}: {e}"));
    }
    dir
}

/// What the fake endpoint saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The result of the endpoint's own signature check.
    pub verified: Result<(), String>,
    /// The keyId of the Authorization header.
    pub key_id: Option<String>,
}

/// How the fake endpoint answers, chosen by the function id in the path.
fn answer(function_id: &str, recorded: &Recorded) -> Option<Response<Full<Bytes>>> {
    let oci_error = |status: u16, code: &str, message: &str| {
        let body = serde_json::json!({ "code": code, "message": message }).to_string();
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("opc-request-id", "OCIREQ/TEST")
            .body(Full::new(Bytes::from(body)))
            .ok()
    };
    if let Err(reason) = &recorded.verified {
        return oci_error(401, "NotAuthenticated", reason);
    }
    let last = function_id.rsplit('.').next().unwrap_or("");
    match last {
        "unauth" => oci_error(401, "NotAuthenticated", "The required information to complete authentication was not provided or was incorrect."),
        "forbidden" => oci_error(403, "NotAllowed", "forbidden"),
        "missing" => oci_error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found."),
        "busy" => oci_error(429, "TooManyRequests", "Too many requests for the function"),
        "broken" => oci_error(500, "InternalServerError", "Internal error"),
        "unavailable" => oci_error(503, "ServiceUnavailable", "try later"),
        "fnfail" => oci_error(502, "FunctionInvokeExecutionFailed", "function failed"),
        "fntimeout" => oci_error(504, "FunctionInvokeTimeout", "function timed out"),
        "badstatus" => Response::builder()
            .status(200)
            .header("fn-http-status", "abc")
            .body(Full::new(Bytes::new()))
            .ok(),
        _ => {
            // Echo like an FDK in gateway mode behind OCI: platform status 200, the function's
            // status and headers in Fn-Http-*, OCI's own headers besides.
            let mut builder = Response::builder()
                .status(200)
                .header("opc-request-id", "OCIREQ/OK")
                .header("fn-call-id", "01OCICALL")
                .header("fn-fdk-version", "fdk-python/0.1.128")
                .header("fn-http-h-x-echo", "yes")
                .header("fn-http-h-x-seen-method", recorded.headers.get("fn-http-method").cloned().unwrap_or_else(|| http::HeaderValue::from_static("none")))
                .header("fn-http-status", "201");
            if let Some(ct) = recorded.headers.get("content-type") {
                builder = builder.header("content-type", ct.clone());
            }
            builder.body(Full::new(recorded.body.clone())).ok()
        }
    }
}

/// The signing string rebuilt from the received request, then verified with the public key:
/// an implementation independent of the signer under test (fn-protocols §4.2–4.4).
pub fn verify_signature(
    method: &str,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    public_key_der: &[u8],
) -> (Result<(), String>, Option<String>) {
    let auth = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(a) => a,
        None => return (Err("no Authorization header".into()), None),
    };
    let Some(params) = auth.strip_prefix("Signature ") else {
        return (Err("not a Signature".into()), None);
    };
    let mut attrs = BTreeMap::new();
    for part in params.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return (Err(format!("bad attribute {part:?}")), None);
        };
        attrs.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    let key_id = attrs.get("keyId").cloned();
    let result = (|| {
        if attrs.get("version").map(String::as_str) != Some("1") {
            return Err("version is not 1".to_string());
        }
        if attrs.get("algorithm").map(String::as_str) != Some("rsa-sha256") {
            return Err("algorithm is not rsa-sha256".to_string());
        }
        let names: Vec<&str> = attrs
            .get("headers")
            .ok_or("no headers")?
            .split(' ')
            .collect();
        let expected: &[&str] = if matches!(method, "POST" | "PUT" | "PATCH") {
            &[
                "date",
                "(request-target)",
                "host",
                "content-length",
                "content-type",
                "x-content-sha256",
            ]
        } else {
            &["date", "(request-target)", "host"]
        };
        if names != expected {
            return Err(format!("signed headers {names:?}"));
        }
        let mut lines = Vec::new();
        for name in &names {
            if *name == "(request-target)" {
                lines.push(format!(
                    "(request-target): {} {target}",
                    method.to_ascii_lowercase()
                ));
            } else {
                let value = headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("signed header {name} missing"))?;
                lines.push(format!("{name}: {value}"));
            }
        }
        let signing_string = lines.join("\n");
        let signature = BASE64
            .decode(attrs.get("signature").ok_or("no signature")?)
            .map_err(|e| e.to_string())?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der)
            .verify(signing_string.as_bytes(), &signature)
            .map_err(|_| "signature does not verify".to_string())?;
        if names.contains(&"x-content-sha256") {
            let hash = BASE64.encode(Sha256::digest(body));
            if headers
                .get("x-content-sha256")
                .and_then(|v| v.to_str().ok())
                != Some(hash.as_str())
            {
                return Err("x-content-sha256 is not the body's".into());
            }
            let length = body.len().to_string();
            if headers.get("content-length").and_then(|v| v.to_str().ok()) != Some(length.as_str())
            {
                return Err("content-length is not the body's".into());
            }
        }
        let date = headers
            .get("date")
            .and_then(|v| v.to_str().ok())
            .ok_or("no date")?;
        let date = httpdate::parse_http_date(date).map_err(|e| e.to_string())?;
        let skew = match SystemTime::now().duration_since(date) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if skew > Duration::from_secs(300) {
            return Err("clock skew over 5 minutes".into());
        }
        Ok(())
    })();
    (result, key_id)
}

/// A fake OCI invoke endpoint on 127.0.0.1 with TLS from a throw-away CA.
pub struct FakeOci {
    pub addr: SocketAddr,
    /// The CA to trust (as an extra root).
    pub ca: CertificateDer<'static>,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Connections accepted.
    pub connections: Arc<Mutex<usize>>,
    task: JoinHandle<()>,
}

impl Drop for FakeOci {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOci {
    /// `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Starts the endpoint; `public_key_der` is what signatures are verified with.
    pub async fn start(
        public_key_der: Vec<u8>,
    ) -> Result<FakeOci, Box<dyn std::error::Error + Send + Sync>> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gateway OCI test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
        let leaf_key = rcgen::KeyPair::generate()?;
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?
            .signed_by(&leaf_key, &ca)?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let connections: Arc<Mutex<usize>> = Arc::default();
        let public_key = Arc::new(public_key_der);

        let task = {
            let requests = requests.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    if let Ok(mut n) = connections.lock() {
                        *n += 1;
                    }
                    let acceptor = acceptor.clone();
                    let requests = requests.clone();
                    let public_key = public_key.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                            let requests = requests.clone();
                            let public_key = public_key.clone();
                            async move { Ok::<_, Infallible>(handle(req, &requests, &public_key).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            })
        };
        Ok(FakeOci {
            addr,
            ca: ca.der().clone(),
            requests,
            connections,
            task,
        })
    }
}

async fn handle(
    req: Request<Incoming>,
    requests: &Mutex<Vec<Recorded>>,
    public_key: &[u8],
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let method = parts.method.as_str().to_string();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let (verified, key_id) = verify_signature(&method, &target, &parts.headers, &body, public_key);
    let recorded = Recorded {
        method,
        target: target.clone(),
        headers: parts.headers,
        body,
        verified,
        key_id,
    };
    if let Ok(mut list) = requests.lock() {
        list.push(recorded.clone());
    }
    // /{version}/functions/{id}/actions/invoke
    let segments: Vec<&str> = target.split('?').next().unwrap_or("").split('/').collect();
    let function_id = match segments.as_slice() {
        ["", _, "functions", id, "actions", "invoke"] => *id,
        _ => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Full::new(Bytes::from_static(b"{\"code\":\"NotFound\"}")))
                .unwrap_or_default();
        }
    };
    if function_id.ends_with(".hang") {
        // Longer than any test deadline; the task is aborted with the server.
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    answer(function_id, &recorded).unwrap_or_default()
}

/// A config file path and its directory, with the vectors' key as `key.pem` beside it.
pub fn config_dir(config: &str, extra: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let key = vector_key_pem();
    let mut files: Vec<(&str, &str)> = vec![("config", config), ("key.pem", key.as_str())];
    files.extend_from_slice(extra);
    let dir = temp_dir_with(&files);
    let path = dir.path().join("config");
    (dir, path)
}

/// Captures this thread's log lines (the tests run on tokio's current-thread runtime, so the
/// invoker's lines are emitted on the test's thread).
#[derive(Clone, Default)]
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    /// Routes this thread's `tracing` output here until the guard is dropped.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(self.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        self.buffer
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.buffer.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
