//! JWT key sets (reference 4.1.2): `REMOTE_JWKS`, `STATIC_KEYS` with JSON web keys or PEM
//! keys, and `verifyClaims`.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::diagnostics::Diagnostics;
use crate::spec::decode::{check_range, index_path, limit_count, require_non_empty, FromJson, Obj};
use crate::spec::model::enums::{KeyOperation, KeyType, KeyUse};

/// JWT `publicKeys`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum PublicKeySet {
    /// Keys fetched from a JWKS URI.
    #[serde(rename = "REMOTE_JWKS")]
    RemoteJwks(RemoteJsonWebKeySet),
    /// Keys written into the spec.
    #[serde(rename = "STATIC_KEYS")]
    StaticKeys(StaticPublicKeySet),
}

/// A JWKS fetched from `uri` (reachable without authentication). If it cannot be fetched,
/// every request to the deployment gets 500.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJsonWebKeySet {
    /// The JWKS URI.
    pub uri: String,
    /// Skip verifying the JWKS server's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_ssl_verify_disabled: Option<bool>,
    /// How long fetched keys are cached, 1–24 hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cache_duration_in_hours: Option<u32>,
}

/// Keys written into the spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaticPublicKeySet {
    /// At most 10; the token's `kid` selects one.
    pub keys: Vec<StaticKey>,
}

/// One static key, polymorphic on **`format`**.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "format")]
pub enum StaticKey {
    /// A JSON web key (RSA).
    #[serde(rename = "JSON_WEB_KEY")]
    JsonWebKey(JsonWebKey),
    /// A PEM-encoded public key.
    #[serde(rename = "PEM")]
    Pem(PemEncodedPublicKey),
}

impl StaticKey {
    /// The key id matched against the token header's `kid`.
    pub fn kid(&self) -> &str {
        match self {
            StaticKey::JsonWebKey(k) => &k.kid,
            StaticKey::Pem(k) => &k.kid,
        }
    }
}

/// An RSA JSON web key. Note the snake-case `key_ops`, as in RFC 7517 and the SDK.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonWebKey {
    /// Key id.
    pub kid: String,
    /// Key type: `RSA`.
    pub kty: KeyType,
    /// Intended use; if present, `sig`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub key_use: Option<KeyUse>,
    /// Permitted operations; if present, includes `verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<KeyOperation>>,
    /// Signing algorithm, e.g. `RS256`.
    pub alg: String,
    /// RSA modulus, base64url.
    pub n: String,
    /// RSA exponent, base64url.
    pub e: String,
}

/// A PEM public key (with its `-----BEGIN PUBLIC KEY-----` markers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PemEncodedPublicKey {
    /// Key id.
    pub kid: String,
    /// The PEM text.
    pub key: String,
}

/// One `verifyClaims` entry: plain string equality, no patterns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonWebTokenClaim {
    /// Claim name.
    pub key: String,
    /// Accepted values; empty means "any value".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Whether the claim must be present; when false, values are checked only if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_required: Option<bool>,
}

/// A JWKS or discovery URI: an absolute http(s) URL.
fn check_fetch_uri(d: &mut Diagnostics, path: &str, uri: &str) {
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) || uri.len() <= 8 {
        d.error(
            path,
            format!("\"{uri}\" is not an absolute http or https URL"),
        );
    }
}

/// `maxCacheDurationInHours`: 1–24 (reference 4.1.2, 4.1.3).
pub(super) fn cache_hours(o: &mut Obj<'_, '_>) -> Option<u32> {
    let hours = o.optional::<u32>("maxCacheDurationInHours");
    if let Some(h) = hours {
        let path = o.at("maxCacheDurationInHours");
        check_range(o.d(), &path, h, 1, 24);
    }
    hours
}

pub(super) fn required_uri(o: &mut Obj<'_, '_>) -> Option<String> {
    let uri = o.required::<String>("uri");
    if let Some(uri) = &uri {
        let path = o.at("uri");
        check_fetch_uri(o.d(), &path, uri);
    }
    uri
}

impl FromJson for PublicKeySet {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "public key set type",
            "public key set types",
            &["REMOTE_JWKS", "STATIC_KEYS"],
            &[],
        )?;
        let set = if tag == "REMOTE_JWKS" {
            let uri = required_uri(&mut o);
            let is_ssl_verify_disabled =
                o.optional_alias("isSslVerifyDisabled", &["isSSLVerifyDisabled"]);
            let max_cache_duration_in_hours = cache_hours(&mut o);
            uri.map(|uri| {
                PublicKeySet::RemoteJwks(RemoteJsonWebKeySet {
                    uri,
                    is_ssl_verify_disabled,
                    max_cache_duration_in_hours,
                })
            })
        } else {
            static_keys(&mut o).map(|keys| PublicKeySet::StaticKeys(StaticPublicKeySet { keys }))
        };
        o.finish();
        set
    }
}

/// `keys`: at least one, at most 10, unique `kid`s (the token's `kid` picks one).
pub(super) fn static_keys(o: &mut Obj<'_, '_>) -> Option<Vec<StaticKey>> {
    let keys = o.optional::<Vec<StaticKey>>("keys");
    let keys_path = o.at("keys");
    let obj_path = o.path().to_owned();
    let present = o.has("keys");
    let d = o.d();
    match &keys {
        Some(keys) => {
            require_non_empty(d, &keys_path, keys, "no token could be verified");
            limit_count(d, &keys_path, keys.len(), 10, "keys");
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, key) in keys.iter().enumerate() {
                if let Some(first) = seen.insert(key.kid(), i) {
                    d.error(
                        format!("{}.kid", index_path(&keys_path, i)),
                        format!("the kid \"{}\" is already used by keys[{first}]", key.kid()),
                    )
                    .hint("the token's kid selects the key, so kids must be unique");
                }
            }
        }
        None if !present => {
            d.error(obj_path, "missing required key \"keys\"")
                .hint("STATIC_KEYS lists the verification keys in keys");
        }
        None => {}
    }
    keys
}

impl FromJson for StaticKey {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "format",
            "key format",
            "key formats",
            &["JSON_WEB_KEY", "PEM"],
            &[],
        )?;
        let kid = o.required::<String>("kid");
        let key = if tag == "JSON_WEB_KEY" {
            let kty = o.required::<KeyType>("kty");
            let key_use = o.optional::<KeyUse>("use");
            let key_ops = o.optional::<Vec<KeyOperation>>("key_ops");
            if key_ops
                .as_ref()
                .is_some_and(|ops| !ops.contains(&KeyOperation::Verify))
            {
                let p = o.at("key_ops");
                o.d().error(p, "key_ops must contain \"verify\"");
            }
            let alg = o.required::<String>("alg");
            if let Some(alg) = &alg {
                if !matches!(alg.as_str(), "RS256" | "RS384" | "RS512") {
                    let p = o.at("alg");
                    o.d()
                        .error(p, format!("unsupported algorithm \"{alg}\""))
                        .hint("RSA keys verify RS256, RS384 or RS512");
                }
            }
            let n = o.required::<String>("n");
            let e = o.required::<String>("e");
            (|| {
                Some(StaticKey::JsonWebKey(JsonWebKey {
                    kid: kid?,
                    kty: kty?,
                    key_use,
                    key_ops,
                    alg: alg?,
                    n: n?,
                    e: e?,
                }))
            })()
        } else {
            let pem = o.required::<String>("key");
            if let Some(pem) = &pem {
                if !pem.contains("-----BEGIN PUBLIC KEY-----")
                    || !pem.contains("-----END PUBLIC KEY-----")
                {
                    let p = o.at("key");
                    o.d()
                        .error(p, "not a PEM public key")
                        .hint("include the -----BEGIN PUBLIC KEY----- and -----END PUBLIC KEY----- markers");
                }
            }
            kid.zip(pem)
                .map(|(kid, key)| StaticKey::Pem(PemEncodedPublicKey { kid, key }))
        };
        o.finish();
        key
    }
}

impl FromJson for JsonWebTokenClaim {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let key = o.required::<String>("key");
        let values = o.optional::<Vec<String>>("values").unwrap_or_default();
        let is_required = o.optional("isRequired");
        o.finish();
        Some(JsonWebTokenClaim {
            key: key?,
            values,
            is_required,
        })
    }
}
