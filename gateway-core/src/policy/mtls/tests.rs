use std::sync::Arc;

use base64::Engine as _;
use http::{Method, Request, Response};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, UnixTime};
use tower::{service_fn, Layer};

use super::san::SanPattern;
use super::{ClientCaBundles, MutualTlsLayer};
use crate::body::Body;
use crate::context::{ClientCertificate, RequestContext};
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::policy::testing::{body_text, context, request};
use crate::spec::MutualTlsDetails;
use crate::testing::answer;

#[test]
fn san_patterns_match_case_insensitively_with_stars_at_the_ends() {
    let cases = [
        ("client.example.com", "client.example.com", true),
        ("client.example.com", "CLIENT.Example.COM", true),
        ("client.example.com", "other.example.com", false),
        ("client.example.com", "client.example.com.evil", false),
        ("*.example.com", "a.example.com", true),
        ("*.example.com", "a.b.example.com", true),
        ("*.example.com", "A.EXAMPLE.COM", true),
        ("*.example.com", "example.com", false),
        ("*.example.com", ".example.com", false),
        ("*.example.com", "a.example.org", false),
        ("server.example.*", "server.example.org", true),
        ("server.example.*", "Server.Example.Net", true),
        ("server.example.*", "server.example.", false),
        ("server.example.*", "xserver.example.org", false),
        ("*.internal.*", "db.internal.example", true),
        ("*.internal.*", ".internal.", false),
        ("*.internal.*", "internal.example", false),
        ("*@example.com", "ada@example.com", true),
        ("spiffe://cluster/*", "spiffe://cluster/ns/app", true),
        ("*", "anything", true),
    ];
    for (pattern, name, expected) in cases {
        assert_eq!(
            SanPattern::new(pattern).matches(name),
            expected,
            "{pattern} vs {name}"
        );
    }
}

/// A CA, and what it signs.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// The parameters of a CA certificate named `name`.
fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        Ca {
            issuer: CertifiedIssuer::self_signed(ca_params(name), key).expect("CA certificate"),
        }
    }

    fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        Ca {
            issuer: CertifiedIssuer::signed_by(ca_params(name), key, &self.issuer)
                .expect("intermediate"),
        }
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    fn bundle(&self) -> Arc<ClientCaBundles> {
        let mut bundles = ClientCaBundles::default();
        bundles.add(self.der()).expect("anchor");
        Arc::new(bundles)
    }

    /// A client certificate with `sans` (DNS names, or `email:`/`uri:` prefixed), shaped by
    /// `tweak`.
    fn client(&self, sans: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = sans
            .iter()
            .map(|s| {
                let ia5 = |v: &str| v.to_owned().try_into().expect("IA5 string");
                match s.split_once(':') {
                    Some(("email", v)) => SanType::Rfc822Name(ia5(v)),
                    Some(("uri", v)) => SanType::URI(ia5(v)),
                    _ => SanType::DnsName(ia5(s)),
                }
            })
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        tweak(&mut params);
        let key = KeyPair::generate().expect("key");
        params
            .signed_by(&key, &self.issuer)
            .expect("client certificate")
            .der()
            .to_vec()
    }
}

fn chain(certs: &[&[u8]]) -> ClientCertificate {
    ClientCertificate::new(
        certs
            .iter()
            .map(|c| CertificateDer::from(c.to_vec()))
            .collect(),
    )
    .expect("a leaf")
}

fn verify(cas: &ClientCaBundles, cert: &ClientCertificate) -> Result<(), String> {
    let algorithms =
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
    cas.verify(cert, &algorithms, UnixTime::now())
}

#[test]
fn chains_verify_only_to_the_configured_cas() {
    let ca = Ca::new("ca");
    let cas = ca.bundle();
    let good = ca.client(&["client.example.com"], |_| {});
    assert_eq!(verify(&cas, &chain(&[&good])), Ok(()));

    let other = Ca::new("other");
    let foreign = other.client(&["client.example.com"], |_| {});
    let err = verify(&cas, &chain(&[&foreign])).expect_err("unknown issuer");
    assert!(err.contains("UnknownIssuer"), "{err}");

    let expired = ca.client(&["client.example.com"], |p| {
        p.not_before = date_time_ymd(2020, 1, 1);
        p.not_after = date_time_ymd(2021, 1, 1);
    });
    let err = verify(&cas, &chain(&[&expired])).expect_err("expired");
    assert!(err.contains("Expired"), "{err}");

    let server_only = ca.client(&["client.example.com"], |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let err = verify(&cas, &chain(&[&server_only])).expect_err("EKU");
    assert!(err.contains("Eku"), "{err}");

    let err = verify(&cas, &chain(&[b"not a certificate"])).expect_err("garbage");
    assert!(err.contains("cannot be parsed"), "{err}");
}

#[test]
fn intermediates_count_towards_a_depth_of_three() {
    let root = Ca::new("root");
    let cas = root.bundle();
    let one = root.intermediate("one");
    let two = one.intermediate("two");
    let leaf = two.client(&["deep.example.com"], |_| {});
    assert_eq!(
        verify(&cas, &chain(&[&leaf, &two.der(), &one.der()])),
        Ok(())
    );
    // Without the intermediates the chain cannot be built.
    assert!(verify(&cas, &chain(&[&leaf])).is_err());

    let three = two.intermediate("three");
    let leaf = three.client(&["deeper.example.com"], |_| {});
    let err =
        verify(&cas, &chain(&[&leaf, &three.der(), &two.der(), &one.der()])).expect_err("too deep");
    assert!(err.contains("at most 3"), "{err}");
}

fn layer(details: MutualTlsDetails, cas: &Arc<ClientCaBundles>) -> MutualTlsLayer {
    let mut diags = Diagnostics::new();
    let layer = MutualTlsLayer::compile(&details, cas, "requestPolicies.mutualTls", &mut diags);
    assert!(!diags.has_errors(), "{diags:?}");
    layer.expect("a layer")
}

fn details(required: bool, sans: &[&str]) -> MutualTlsDetails {
    MutualTlsDetails {
        is_verified_certificate_required: Some(required),
        allowed_sans: sans.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Sends a routed request with `cert` through `layer` to an inner service that answers with
/// `request.cert[client_base64]` as its body.
async fn call(layer: &MutualTlsLayer, cert: Option<ClientCertificate>) -> (u16, String) {
    let inner = service_fn(|req: Request<Body>| async move {
        let seen = req
            .extensions()
            .get::<RequestContext>()
            .and_then(|ctx| ctx.client_cert_base64().map(str::to_owned))
            .unwrap_or_default();
        Ok::<_, GatewayError>(Response::new(Body::full(seen)))
    });
    let mut req = request(
        Method::GET,
        "/hello",
        &[],
        Some(context("/hello", "/hello", &[])),
        Body::empty(),
    );
    if let Some(cert) = cert {
        req.extensions_mut().insert(cert);
    }
    let res = answer(&mut layer.layer(inner), req).await;
    let status = res.status().as_u16();
    (status, body_text(res).await)
}

#[tokio::test]
async fn required_certificates_are_verified_and_exposed() {
    let ca = Ca::new("ca");
    let cas = ca.bundle();
    let required = layer(details(true, &[]), &cas);
    let good = ca.client(&["client.example.com"], |_| {});

    let (status, body) = call(&required, Some(chain(&[&good]))).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        base64::engine::general_purpose::STANDARD.encode(&good)
    );

    let (status, body) = call(&required, None).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json"),
        serde_json::json!({"code": 401, "message": "Unauthorized"})
    );

    let foreign = Ca::new("other").client(&["client.example.com"], |_| {});
    assert_eq!(call(&required, Some(chain(&[&foreign]))).await.0, 401);
}

#[tokio::test]
async fn optional_certificates_may_be_absent_but_not_bad() {
    let ca = Ca::new("ca");
    let optional = layer(details(false, &[]), &ca.bundle());
    assert_eq!(call(&optional, None).await, (200, String::new()));

    let foreign = Ca::new("other").client(&["client.example.com"], |_| {});
    assert_eq!(call(&optional, Some(chain(&[&foreign]))).await.0, 401);

    let good = ca.client(&["client.example.com"], |_| {});
    let (status, body) = call(&optional, Some(chain(&[&good]))).await;
    assert_eq!(status, 200);
    assert!(!body.is_empty());
}

#[tokio::test]
async fn allowed_sans_admit_dns_uri_and_email_names() {
    let ca = Ca::new("ca");
    let cas = ca.bundle();
    let sans = layer(
        details(
            true,
            &["*.clients.example.com", "ops@example.*", "spiffe://prod/*"],
        ),
        &cas,
    );
    for names in [
        &["a.clients.example.com"][..],
        &["email:OPS@example.org"],
        &["uri:spiffe://prod/ns/app"],
        &["unrelated.example.com", "b.CLIENTS.example.com"],
    ] {
        let cert = ca.client(names, |_| {});
        assert_eq!(call(&sans, Some(chain(&[&cert]))).await.0, 200, "{names:?}");
    }
    for names in [
        &["clients.example.com"][..],
        &["email:dev@example.org"],
        &["uri:spiffe://staging/app"],
        &[],
    ] {
        let cert = ca.client(names, |_| {});
        assert_eq!(call(&sans, Some(chain(&[&cert]))).await.0, 401, "{names:?}");
    }
}

#[tokio::test]
async fn certificates_too_large_for_the_variable_pass_without_it() {
    let ca = Ca::new("ca");
    let required = layer(details(true, &[]), &ca.bundle());
    // Enough SANs to push the Base64 of the certificate past 8 KB.
    let names: Vec<String> = (0..300)
        .map(|i| format!("host-{i:04}.clients.example.com"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let big = ca.client(&names, |_| {});
    assert!(base64::engine::general_purpose::STANDARD.encode(&big).len() > 8 * 1024);
    assert_eq!(
        call(&required, Some(chain(&[&big]))).await,
        (200, String::new())
    );
}

#[test]
fn a_policy_without_cas_is_a_load_error() {
    let mut diags = Diagnostics::new();
    let layer = MutualTlsLayer::compile(
        &details(true, &[]),
        &Arc::new(ClientCaBundles::default()),
        "requestPolicies.mutualTls",
        &mut diags,
    );
    assert!(layer.is_none());
    let text = format!("{diags:?}");
    assert!(diags.has_errors(), "{text}");
    assert!(text.contains("client_ca"), "{text}");
}

#[test]
fn bundles_that_cannot_be_used_are_errors_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("mtls-bundles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let missing = dir.join("missing.pem");
    let err = ClientCaBundles::load(std::slice::from_ref(&missing)).expect_err("missing");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").expect("write");
    let err = ClientCaBundles::load(std::slice::from_ref(&empty)).expect_err("empty");
    assert!(err.to_string().contains("empty.pem"), "{err}");
    assert!(err.to_string().contains("no PEM certificate"), "{err}");

    let good = dir.join("ca.pem");
    std::fs::write(&good, Ca::new("ca").issuer.pem()).expect("write");
    let bundles = ClientCaBundles::load(&[good]).expect("a bundle");
    assert_eq!(bundles.subjects().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
