//! Keys generated at run time and JWTs signed by hand, so that attack tokens (`alg: none`,
//! HS256 keyed with a public key, tampered payloads) can be built exactly; JSON web keys; and a
//! JWKS server on loopback whose document and status a test changes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::upstream::TestServer;

/// The issuer the tests' tokens name (and the JWKS server's discovery document announces).
pub const ISSUER: &str = "https://issuer.example/";
/// The audience the tests' tokens name.
pub const AUDIENCE: &str = "https://api.example/";

/// Base64url without padding, as JWTs and JWKs encode bytes.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch, for `exp`, `iat` and `nbf`.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `claims` with `changes` merged in (a `null` removes the claim).
pub fn merged(mut claims: Value, changes: Value) -> Value {
    if let (Some(c), Some(changes)) = (claims.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
    }
    claims
}

/// A signing key generated for the test run: RSA (RS256), P-256 (ES256) or Ed25519 (EdDSA).
pub enum Signer {
    /// RS256 with a 2048-bit key.
    Rsa(RsaKeyPair),
    /// ES256 (P-256), fixed-length signatures.
    Ec(EcdsaKeyPair),
    /// EdDSA (Ed25519).
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Rsa(_) => "Signer::Rsa",
            Signer::Ec(_) => "Signer::Ec",
            Signer::Ed(_) => "Signer::Ed",
        })
    }
}

impl Signer {
    /// A new RSA key (slow in a debug build: prefer [`rsa`] and [`rsa2`]).
    pub fn rsa() -> Self {
        Signer::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key"))
    }

    /// A new P-256 key.
    pub fn ec() -> Self {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).expect("EC key");
        Signer::Ec(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("EC key"))
    }

    /// A new Ed25519 key.
    pub fn ed() -> Self {
        Signer::Ed(Ed25519KeyPair::generate().expect("Ed25519 key"))
    }

    /// The JWS algorithm of its tokens.
    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
            Signer::Ed(_) => "EdDSA",
        }
    }

    /// The public key as a JWK with `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Rsa(k) => {
                let public = k.public_key();
                json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": b64(public.modulus().big_endian_without_leading_zero()),
                        "e": b64(public.exponent().big_endian_without_leading_zero()) })
            }
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({ "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                        "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
            }
            Signer::Ed(k) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid,
                        "x": b64(k.public_key().as_ref()) })
            }
        }
    }

    /// The public key as a `STATIC_KEYS` entry of format `JSON_WEB_KEY`.
    pub fn static_jwk(&self, kid: &str) -> Value {
        let mut key = self.jwk(kid);
        key["format"] = json!("JSON_WEB_KEY");
        key["key_ops"] = json!(["verify"]);
        key
    }

    /// The RSA modulus (empty for other keys).
    pub fn modulus(&self) -> Vec<u8> {
        match self {
            Signer::Rsa(k) => k
                .public_key()
                .modulus()
                .big_endian_without_leading_zero()
                .to_vec(),
            Signer::Ec(_) | Signer::Ed(_) => Vec::new(),
        }
    }

    /// The DER of the public key (SubjectPublicKeyInfo), which an attacker may use as an HMAC
    /// secret.
    pub fn public_der(&self) -> Vec<u8> {
        match self {
            Signer::Rsa(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ec(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ed(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
        }
    }

    /// The public key as PEM (SubjectPublicKeyInfo).
    pub fn pem(&self) -> String {
        let body = STANDARD.encode(self.public_der());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// The signature of `message` with this key's algorithm.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("sign");
                sig
            }
            Signer::Ec(k) => k.sign(&rng, message).expect("sign").as_ref().to_vec(),
            Signer::Ed(k) => k.sign(message).as_ref().to_vec(),
        }
    }

    /// A token with this key's algorithm, `kid` and `claims`.
    pub fn token(&self, kid: &str, claims: &Value) -> String {
        let header = json!({ "alg": self.alg(), "typ": "JWT", "kid": kid });
        self.token_with_header(&header, claims)
    }

    /// A token with `header` as it is (whatever its `alg` says), signed with this key.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = signing_input(header, claims);
        let sig = self.sign(message.as_bytes());
        format!("{message}.{}", b64(&sig))
    }
}

/// `header.payload`, each base64url-encoded JSON: what a JWS signs.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// A token with `header` and `claims` and `signature` as it is (`""` for `alg: none`).
pub fn unsigned_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{signature}", signing_input(header, claims))
}

/// A token "signed" with HMAC-SHA256 using `secret` (the classic confusion attack uses the
/// RSA public key as the secret).
pub fn hs256_token(kid: &str, claims: &Value, secret: &[u8]) -> String {
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
    let message = signing_input(&header, claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", b64(tag.as_ref()))
}

/// Replaces the payload of a signed token, keeping its header and signature.
pub fn tamper(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().unwrap_or_default();
    let _payload = parts.next();
    let sig = parts.next().unwrap_or_default();
    format!("{header}.{}.{sig}", b64(claims.to_string().as_bytes()))
}

/// One RSA key for the whole test binary: generating one is slow in a debug build.
pub fn rsa() -> &'static Signer {
    static KEY: OnceLock<Signer> = OnceLock::new();
    KEY.get_or_init(Signer::rsa)
}

/// A second RSA key: rotation, and tokens signed by a key the gateway does not know.
pub fn rsa2() -> &'static Signer {
    static KEY: OnceLock<Signer> = OnceLock::new();
    KEY.get_or_init(Signer::rsa)
}

/// One P-256 key for the whole test binary.
pub fn ec() -> &'static Signer {
    static KEY: OnceLock<Signer> = OnceLock::new();
    KEY.get_or_init(Signer::ec)
}

/// A JWKS document holding `keys`.
pub fn key_set(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// An HTTP server on 127.0.0.1 serving a JWKS at every path but
/// `/.well-known/openid-configuration`, where a discovery document for [`ISSUER`] points at
/// it; the test changes the document and the status, and counts the requests.
#[derive(Debug)]
pub struct JwksServer {
    server: TestServer,
    document: Arc<Mutex<Value>>,
    status: Arc<AtomicU16>,
}

impl JwksServer {
    /// Serves `document` with status 200.
    pub fn start(document: Value) -> Self {
        let document = Arc::new(Mutex::new(document));
        let status = Arc::new(AtomicU16::new(200));
        let own_addr = Arc::new(OnceLock::<SocketAddr>::new());
        let (d, s, a) = (document.clone(), status.clone(), own_addr.clone());
        let server = TestServer::json(move |parts, _| {
            let body = if parts.uri.path() == "/.well-known/openid-configuration" {
                let addr = a.get().expect("the address is known before any request");
                json!({ "issuer": ISSUER, "jwks_uri": format!("http://{addr}/jwks.json") })
                    .to_string()
            } else {
                d.lock().map(|v| v.to_string()).unwrap_or_default()
            };
            (s.load(Ordering::SeqCst), body)
        });
        let _ = own_addr.set(server.addr);
        JwksServer {
            server,
            document,
            status,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `http://ADDR/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks.json", self.server.addr)
    }

    /// `http://ADDR/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!(
            "http://{}/.well-known/openid-configuration",
            self.server.addr
        )
    }

    /// Serves `document` from now on.
    pub fn set_jwks(&self, document: Value) {
        if let Ok(mut d) = self.document.lock() {
            *d = document;
        }
    }

    /// Answers every request with `status` from now on.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.server.hits()
    }

    /// Stops serving (listener and connections closed), as an outage would.
    pub fn stop(&self) {
        self.server.stop();
    }
}
