//! The TLS listener and the `mutualTls` policy behind the real binary: certificates generated
//! here, a rustls client speaking HTTP/1.1 or HTTP/2 as ALPN decides.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use gateway_tests::pki::{ca, ServerPki};
use gateway_tests::{run_gateway, Gateway, TempDir};
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{date_time_ymd, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, KeyPair};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A client certificate and its key.
struct ClientCert {
    der: CertificateDer<'static>,
    key: KeyPair,
}

/// A client certificate for `dns` signed by `issuer`, shaped by `tweak`.
fn client_cert(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    dns: &str,
    tweak: impl FnOnce(&mut CertificateParams),
) -> ClientCert {
    let mut params = CertificateParams::new(vec![dns.to_owned()]).expect("params");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    tweak(&mut params);
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("client certificate");
    ClientCert {
        der: cert.der().clone(),
        key,
    }
}

/// The certificates of a test: the gateway's CA and server certificate, and clients.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    good: ClientCert,
    expired: ClientCert,
    wrong_ca: ClientCert,
    wrong_san: ClientCert,
}

impl Pki {
    /// Generates everything and writes `ca.pem`, `server.pem` and `server.key` into `dir`.
    fn new(dir: &TempDir) -> Pki {
        let ca = ca("gateway test CA");
        ServerPki::signed_by(&ca, dir, "server");
        dir.write("ca.pem", &ca.pem());
        let good = client_cert(&ca, "app.clients.example.com", |_| {});
        let expired = client_cert(&ca, "old.clients.example.com", |p| {
            p.not_before = date_time_ymd(2020, 1, 1);
            p.not_after = date_time_ymd(2021, 1, 1);
        });
        let wrong_ca = client_cert(&self::ca("someone else"), "app.clients.example.com", |_| {});
        let wrong_san = client_cert(&ca, "intruder.example.org", |_| {});
        Pki {
            ca,
            good,
            expired,
            wrong_ca,
            wrong_san,
        }
    }
}

const SECURE: &str = r#"{
  "requestPolicies": {
    "mutualTls": { "isVerifiedCertificateRequired": true, "allowedSans": ["*.clients.example.com"] }
  },
  "routes": [
    { "path": "/hello", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "secure" },
      "responsePolicies": { "headerTransformations": { "setHeaders": { "items": [
        { "name": "X-Client-Cert", "values": ["${request.cert[client_base64]}"] } ] } } } }
  ]
}"#;

const OPTIONAL: &str = r#"{
  "requestPolicies": { "mutualTls": { "isVerifiedCertificateRequired": false } },
  "routes": [
    { "path": "/hello", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "optional" } }
  ]
}"#;

const OPEN: &str = r#"{ "routes": [
  { "path": "/hello", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "open" } } ] }"#;

/// A config with `[tls]` (client CAs when `client_ca`) and the three deployments.
fn write_config(dir: &TempDir, client_ca: bool) -> String {
    dir.write("secure.json", SECURE);
    dir.write("optional.json", OPTIONAL);
    dir.write("open.json", OPEN);
    let client_ca = if client_ca {
        "client_ca = [\"ca.pem\"]\n"
    } else {
        ""
    };
    let mut config = format!("[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n{client_ca}");
    for name in ["secure", "optional", "open"] {
        config.push_str(&format!(
            "\n[[deployment]]\nname = \"{name}\"\npath_prefix = \"/{name}\"\nspecification = \"{name}.json\"\n"
        ));
    }
    dir.write("gateway.toml", &config)
}

/// What a request over TLS came back with.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    version: Version,
    headers: http::HeaderMap,
    body: String,
}

/// GETs `path` from the gateway over TLS, offering `alpn`, presenting `cert` when given.
async fn get(
    addr: SocketAddr,
    pki: &Pki,
    path: &str,
    cert: Option<&ClientCert>,
    alpn: &[&[u8]],
) -> Answer {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).expect("CA");
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let mut config = match cert {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::Pkcs8(c.key.serialize_der().into()),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let req = Request::get(format!("https://localhost:{}{path}", addr.port()))
        .header("host", format!("localhost:{}", addr.port()))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let io = TokioIo::new(tls);
    let res = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .expect("HTTP/2 handshake");
        tokio::spawn(conn);
        sender.send_request(req).await.expect("response")
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        sender.send_request(req).await.expect("response")
    };
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A gateway with `[tls]`, client CAs and the three deployments, and its certificates.
fn start(tag: &str) -> (TempDir, Pki, Gateway) {
    let dir = TempDir::new(tag);
    let pki = Pki::new(&dir);
    let config = write_config(&dir, true);
    let gw = Gateway::serve(&["--config", &config]);
    (dir, pki, gw)
}

const H1: &[&[u8]] = &[b"http/1.1"];
const H2_FIRST: &[&[u8]] = &[b"h2", b"http/1.1"];

#[tokio::test]
async fn http1_and_http2_are_served_over_tls() {
    let (_dir, pki, gw) = start("tls");

    let res = get(gw.addr, &pki, "/open/hello", None, H1).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.version, Version::HTTP_11);
    assert_eq!(res.body, "open");

    let res = get(gw.addr, &pki, "/open/hello", None, H2_FIRST).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.version, Version::HTTP_2, "h2 negotiated by ALPN");
    assert_eq!(res.body, "open");

    // Without client_ca the listener asks for no certificate; a client that has one connects
    // all the same.
    let plain_dir = TempDir::new("tls-no-client-ca");
    let other = Pki::new(&plain_dir);
    plain_dir.write("open.json", OPEN);
    let config = plain_dir.write(
        "gateway.toml",
        "[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n\n[[deployment]]\nname = \"open\"\npath_prefix = \"/open\"\nspecification = \"open.json\"\n",
    );
    let gw = Gateway::serve(&["--config", &config]);
    let res = get(gw.addr, &other, "/open/hello", Some(&other.good), H2_FIRST).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn mutual_tls_admits_only_verified_certificates_with_allowed_sans() {
    let (_dir, pki, gw) = start("mtls");

    for alpn in [H1, H2_FIRST] {
        let res = get(gw.addr, &pki, "/secure/hello", Some(&pki.good), alpn).await;
        assert_eq!(res.status, 200, "{res:?}");
        assert_eq!(res.body, "secure");
        // request.cert[client_base64] is the Base64 of the certificate the client sent.
        let expected = base64::engine::general_purpose::STANDARD.encode(&pki.good.der);
        assert_eq!(
            res.headers
                .get("x-client-cert")
                .and_then(|v| v.to_str().ok()),
            Some(expected.as_str())
        );
    }

    let refused = [
        ("no certificate", None),
        ("expired", Some(&pki.expired)),
        ("signed by another CA", Some(&pki.wrong_ca)),
        ("SAN not allowed", Some(&pki.wrong_san)),
    ];
    for (case, cert) in refused {
        let res = get(gw.addr, &pki, "/secure/hello", cert, H1).await;
        assert_eq!(res.status, 401, "{case}: {res:?}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&res.body).expect("JSON body"),
            serde_json::json!({"code": 401, "message": "Unauthorized"}),
            "{case}"
        );
        assert!(res.headers.get("x-client-cert").is_none(), "{case}");
    }

    // isVerifiedCertificateRequired: false lets a request without a certificate through, but
    // not one with a certificate that fails verification.
    let res = get(gw.addr, &pki, "/optional/hello", None, H1).await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (StatusCode::OK, "optional")
    );
    let res = get(gw.addr, &pki, "/optional/hello", Some(&pki.wrong_ca), H1).await;
    assert_eq!(res.status, 401);

    // A deployment without mutualTls ignores whatever certificate comes.
    for cert in [&pki.good, &pki.expired, &pki.wrong_ca] {
        let res = get(gw.addr, &pki, "/open/hello", Some(cert), H2_FIRST).await;
        assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "open"));
    }
}

#[tokio::test]
async fn clients_that_do_not_speak_tls_disturb_no_one() {
    let (_dir, pki, gw) = start("tls-bad-clients");

    // A client that connects and says nothing, held open for the whole test.
    let _silent = std::net::TcpStream::connect(gw.addr).expect("connect");
    // Plain HTTP to the TLS port: the gateway answers with a TLS alert at most, and closes.
    let mut plain = std::net::TcpStream::connect(gw.addr).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    plain
        .write_all(b"GET /open/hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no HTTP answer in plain text"
    );

    let res = get(gw.addr, &pki, "/secure/hello", Some(&pki.good), H2_FIRST).await;
    assert_eq!(res.status, 200);
    let res = get(gw.addr, &pki, "/open/hello", None, H1).await;
    assert_eq!(res.status, 200);
}

#[test]
fn unusable_tls_settings_are_startup_errors_naming_the_file() {
    let dir = TempDir::new("tls-bad-files");
    let _pki = Pki::new(&dir);
    dir.write("open.json", OPEN);
    let deployment = "\n[[deployment]]\nname = \"open\"\npath_prefix = \"/open\"\nspecification = \"open.json\"\n";
    let serve = |tls: &str| {
        let config = dir.write("gateway.toml", &format!("[tls]\n{tls}{deployment}"));
        Gateway::try_serve(&["--config", &config]).expect_err("refused")
    };

    let err = serve("cert = \"server.pem\"\nkey = \"missing.key\"\n");
    assert!(err.contains("missing.key"), "{err}");
    // `gateway validate` reports the same.
    let (code, out, _) = run_gateway(&[
        "validate",
        "--config",
        &dir.path().join("gateway.toml").to_string_lossy(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("tls: cannot read the TLS private key"),
        "{out}"
    );

    dir.write("garbage.pem", "not a certificate\n");
    let err = serve("cert = \"garbage.pem\"\nkey = \"server.key\"\n");
    assert!(err.contains("garbage.pem"), "{err}");
    assert!(err.contains("no PEM certificate"), "{err}");

    let err = serve("cert = \"server.pem\"\nkey = \"server.pem\"\n");
    assert!(err.contains("server.pem"), "{err}");
    assert!(err.contains("no PEM private key"), "{err}");

    dir.write(
        "other.key",
        &KeyPair::generate().expect("key").serialize_pem(),
    );
    let err = serve("cert = \"server.pem\"\nkey = \"other.key\"\n");
    assert!(err.contains("cannot be used together"), "{err}");

    let err = serve("cert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = [\"garbage.pem\"]\n");
    assert!(err.contains("tls.client_ca"), "{err}");
    assert!(err.contains("garbage.pem"), "{err}");
}

#[test]
fn mutual_tls_needs_client_cas_and_is_listed_among_the_policies() {
    let dir = TempDir::new("mtls-config");
    let _pki = Pki::new(&dir);
    let without = write_config(&dir, false);
    let (code, out, err) = run_gateway(&["validate", "--config", &without]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("requestPolicies.mutualTls"), "{out}");
    assert!(out.contains("client_ca"), "{out}");

    let with = write_config(&dir, true);
    let (code, out, err) = run_gateway(&["routes", "--config", &with]);
    assert_eq!(code, 0, "{out}{err}");
    let secure = out
        .lines()
        .find(|l| l.contains("/secure/hello"))
        .expect("the secure route");
    assert!(secure.contains("requestPolicies.mutualTls"), "{out}");
    assert!(!secure.contains("501"), "{out}");
}
