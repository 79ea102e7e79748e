//! OCI request signing: "Signature version 1", draft-cavage-http-signatures-08 with
//! RSA-PKCS1-v1_5-SHA256 (fn-protocols §4.2–4.5).
//!
//! - Signed headers: `date (request-target) host` for every method, plus `content-length
//!   content-type x-content-sha256` for POST, PUT and PATCH (the SDKs' defaults; the invoke
//!   operation does not use the "exclude body" variant).
//! - Signing string: one `name: value` line per signed header, joined by `\n`, no trailing
//!   newline; `(request-target)` is the lower-case method, a space and the path with its query
//!   exactly as sent; `host` is the URL authority as written (`:port` included when explicit).
//! - `Authorization: Signature algorithm="rsa-sha256",headers="…",keyId="…",signature="…",
//!   version="1"` — attribute order is not significant to OCI; this is the Python SDK's order,
//!   so the output can be compared byte-for-byte with vectors made by that SDK.
//!
//! PKCS#1 v1.5 is deterministic: the same key and signing string always give the same
//! signature, which is what makes the vector tests possible.

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use md5::Md5;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use sha2::{Digest, Sha256};

/// `x-content-sha256`: base64 of the SHA-256 of the body, signed for body methods.
pub const X_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-content-sha256");

/// The pseudo-header for the request line.
pub const REQUEST_TARGET: &str = "(request-target)";

/// Headers signed for GET, HEAD, DELETE (and any other method without a body).
pub const GENERIC_HEADERS: &[&str] = &["date", REQUEST_TARGET, "host"];

/// Headers signed for POST, PUT and PATCH, in signing order.
pub const BODY_HEADERS: &[&str] = &[
    "date",
    REQUEST_TARGET,
    "host",
    "content-length",
    "content-type",
    "x-content-sha256",
];

/// The headers signed for `method`, in signing order.
pub fn signed_header_names(method: &Method) -> &'static [&'static str] {
    if has_signed_body(method) {
        BODY_HEADERS
    } else {
        GENERIC_HEADERS
    }
}

/// Whether the body is covered by the signature (POST, PUT, PATCH).
pub fn has_signed_body(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PUT || *method == Method::PATCH
}

/// Base64 (standard, padded) of the SHA-256 of `body`: the `x-content-sha256` value.
pub fn content_sha256(body: &[u8]) -> String {
    BASE64.encode(Sha256::digest(body))
}

/// The `(request-target)` value: lower-case method, space, path and query as sent.
pub fn request_target(method: &Method, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.is_empty() { "/" } else { path };
    format!("{} {path}", method.as_str().to_ascii_lowercase())
}

/// Why a request cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// A header that must be signed is absent (for a body method, `content-type`, which the
    /// caller must set).
    #[error("the header `{0}` must be present to sign the request")]
    MissingHeader(&'static str),
    /// A header that must be signed has a value that is not visible ASCII.
    #[error("the header `{0}` is not visible ASCII and cannot be signed")]
    InvalidHeader(&'static str),
    /// The request has no `host` header and its URI no authority to take one from.
    #[error("the request URI has no host and no Host header was given")]
    NoHost,
    /// The key id is empty, or has a `"` or a character outside printable ASCII.
    #[error("the key id contains a character that cannot appear in the Authorization header")]
    InvalidKeyId,
    /// aws-lc-rs failed to compute the signature.
    #[error("RSA signing failed")]
    Crypto,
}

/// The signing string for a request whose headers are complete (see the module doc).
/// `target` is the path with its query, as on the request line.
pub fn signing_string(
    method: &Method,
    target: &str,
    headers: &HeaderMap,
) -> Result<String, SignError> {
    let names = signed_header_names(method);
    let mut lines: Vec<String> = Vec::with_capacity(names.len());
    for &name in names {
        if name == REQUEST_TARGET {
            let target = if target.is_empty() { "/" } else { target };
            lines.push(format!(
                "{REQUEST_TARGET}: {} {target}",
                method.as_str().to_ascii_lowercase()
            ));
            continue;
        }
        // Several values of one header are joined with ", " (draft-cavage §2.3).
        let mut values = Vec::new();
        for value in headers.get_all(name) {
            values.push(value.to_str().map_err(|_| SignError::InvalidHeader(name))?);
        }
        if values.is_empty() {
            return Err(SignError::MissingHeader(name));
        }
        lines.push(format!("{name}: {}", values.join(", ")));
    }
    Ok(lines.join("\n"))
}

/// The `Authorization` header value for a computed signature.
pub fn authorization_value(key_id: &str, header_names: &[&str], signature_b64: &str) -> String {
    format!(
        "Signature algorithm=\"rsa-sha256\",headers=\"{}\",keyId=\"{key_id}\",signature=\"{signature_b64}\",version=\"1\"",
        header_names.join(" ")
    )
}

/// Why a private key cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// aws-lc-rs has no API to decrypt PKCS#8 (`ENCRYPTED PRIVATE KEY`) or legacy OpenSSL
    /// (`Proc-Type: 4,ENCRYPTED`) keys, and a home-made PBES2 implementation is not worth the
    /// risk for a gateway key: decrypt the key file once instead.
    #[error(
        "the private key is encrypted with a passphrase, which is not supported: write a \
         decrypted copy (`openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.plain.pem`) and point \
         key_file at it"
    )]
    Encrypted,
    /// The input holds no readable PEM private key; the message says why.
    #[error("no PEM private key found ({0})")]
    NoPem(String),
    /// The PEM block is a key format of another algorithm (`EC PRIVATE KEY`). A PKCS#8 key of
    /// another algorithm is [`KeyError::Rejected`] instead.
    #[error("the private key is not an RSA key (OCI API keys are RSA)")]
    NotRsa,
    /// aws-lc-rs refused the key (malformed, outside 2048–8192 bits, or a PKCS#8 key of
    /// another algorithm), with its message.
    #[error("the RSA private key was rejected: {0}")]
    Rejected(String),
}

/// An RSA private key for signing. `Debug` shows only the key size and fingerprint.
pub struct PrivateKey {
    pair: KeyPair,
    fingerprint: String,
}

impl PrivateKey {
    /// A PEM key: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`), unencrypted.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        if is_encrypted_pem(pem) {
            return Err(KeyError::Encrypted);
        }
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| KeyError::NoPem(e.to_string()))?;
        let pair = match &der {
            PrivateKeyDer::Pkcs8(der) => KeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => KeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err(KeyError::NotRsa),
        }
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Self::from_key_pair(pair)
    }

    fn from_key_pair(pair: KeyPair) -> Result<Self, KeyError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        let fingerprint = md5_fingerprint(spki.as_ref());
        Ok(PrivateKey { pair, fingerprint })
    }

    /// OCI's key fingerprint: MD5 of the DER SubjectPublicKeyInfo as lower-case hex pairs
    /// joined by `:` (what the console shows next to an API key).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The public key as DER SubjectPublicKeyInfo (to upload, or to verify signatures).
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        self.pair
            .public_key()
            .as_der()
            .map(|der| der.as_ref().to_vec())
            .map_err(|e| KeyError::Rejected(e.to_string()))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        // aws-lc-rs ignores the RNG for PKCS#1 v1.5 (deterministic); the API still wants one.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .map_err(|_| SignError::Crypto)?;
        Ok(signature)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("bits", &(self.pair.public_modulus_len() * 8))
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

fn is_encrypted_pem(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

fn md5_fingerprint(der: &[u8]) -> String {
    Md5::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What [`RequestSigner::sign`] computed. Holds the key id (a security token, for token
/// identities): `Debug` leaves it out, do not log [`Signature::authorization`].
#[derive(Clone)]
pub struct Signature {
    /// The signed header names, in order.
    pub headers: &'static [&'static str],
    /// The exact bytes that were signed (no secrets: header values and the request line).
    pub signing_string: String,
    /// The signature, base64.
    pub signature: String,
    /// The `Authorization` header value (also inserted into the request's headers).
    pub authorization: HeaderValue,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("headers", &self.headers)
            .field("signing_string", &self.signing_string)
            .finish_non_exhaustive()
    }
}

/// A key id with its private key: signs requests.
#[derive(Clone)]
pub struct RequestSigner {
    key_id: String,
    key: std::sync::Arc<PrivateKey>,
}

impl RequestSigner {
    /// `key_id` is `tenancy/user/fingerprint` for an API key or `ST$<token>` for a security
    /// token (see [`api_key_id`], [`security_token_key_id`]).
    pub fn new(
        key_id: impl Into<String>,
        key: std::sync::Arc<PrivateKey>,
    ) -> Result<Self, SignError> {
        let key_id = key_id.into();
        if key_id.is_empty()
            || key_id
                .bytes()
                .any(|b| b == b'"' || !(0x20..0x7f).contains(&b))
        {
            return Err(SignError::InvalidKeyId);
        }
        Ok(RequestSigner { key_id, key })
    }

    /// The key id (contains the token for token identities: do not log it).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Signs a request in place.
    ///
    /// Fills in what the signature needs and the request must then carry: `host` (from the
    /// URI's authority, if absent), `date` (now, if absent), and for body methods
    /// `content-length` and `x-content-sha256`, both computed from `body` (always replaced: the
    /// signature must cover the exact bytes sent). `content-type` must be present for body
    /// methods. Then inserts `authorization`.
    pub fn sign(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<Signature, SignError> {
        if !headers.contains_key(header::HOST) {
            let authority = uri.authority().ok_or(SignError::NoHost)?;
            let value = HeaderValue::from_str(authority.as_str()).map_err(|_| SignError::NoHost)?;
            headers.insert(header::HOST, value);
        }
        if !headers.contains_key(header::DATE) {
            let now = httpdate::fmt_http_date(SystemTime::now());
            let value =
                HeaderValue::from_str(&now).map_err(|_| SignError::InvalidHeader("date"))?;
            headers.insert(header::DATE, value);
        }
        if has_signed_body(method) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            let hash = HeaderValue::from_str(&content_sha256(body))
                .map_err(|_| SignError::InvalidHeader("x-content-sha256"))?;
            headers.insert(X_CONTENT_SHA256, hash);
        }
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let signing_string = signing_string(method, target, headers)?;
        let raw = self.key.sign_sha256(signing_string.as_bytes())?;
        let signature = BASE64.encode(raw);
        let names = signed_header_names(method);
        let authorization =
            HeaderValue::from_str(&authorization_value(&self.key_id, names, &signature))
                .map_err(|_| SignError::InvalidKeyId)?;
        headers.insert(header::AUTHORIZATION, authorization.clone());
        Ok(Signature {
            headers: names,
            signing_string,
            signature,
            authorization,
        })
    }
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_id = if self.key_id.starts_with("ST$") {
            "ST$<token>"
        } else {
            self.key_id.as_str()
        };
        f.debug_struct("RequestSigner")
            .field("key_id", &key_id)
            .field("key", &self.key)
            .finish()
    }
}

/// `<tenancy OCID>/<user OCID>/<fingerprint>`: the key id of a user's API key.
pub fn api_key_id(tenancy: &str, user: &str, fingerprint: &str) -> String {
    format!("{tenancy}/{user}/{fingerprint}")
}

/// `ST$<token>`: the key id of a security token (session token, resource principal).
pub fn security_token_key_id(token: &str) -> String {
    format!("ST${token}")
}
