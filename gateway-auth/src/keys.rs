//! Verification keys: static keys from the spec (JSON web keys and PEM) and JWKS entries.
//!
//! Each key carries the algorithms it may verify, decided by the **key's type**, never by the
//! token: RSA keys verify RS256/384/512, P-256 keys ES256, P-384 keys ES384, Ed25519 keys EdDSA.
//! A key's own `alg` narrows that set to one. Symmetric keys (`kty: oct`) and HMAC algorithms
//! are never accepted, so a token signed with HS256 "using" an RSA public key as the secret
//! finds no key that would verify it (algorithm confusion).

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use serde_json::Value;
use simple_asn1::{ASN1Block, BigUint};

use gateway_core::spec::StaticKey;

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The JWKS entry does not parse as a JSON web key; carries the parser's message.
    #[error("not a JSON web key: {0}")]
    NotAJwk(String),
    /// The key is symmetric (`kty: oct`); accepting it would allow HMAC tokens.
    #[error("symmetric (oct) keys are never accepted: tokens must be signed with a private key")]
    Symmetric,
    /// The key type or curve is none of RSA, EC P-256, EC P-384 and Ed25519.
    #[error("key type or curve not supported (RSA, EC P-256/P-384 and Ed25519 are)")]
    UnsupportedType,
    /// The key's `use` is not `sig`; carries the `use` value (`enc`, say).
    #[error("the key is for {0}, not for signatures")]
    NotForSignatures(String),
    /// The key has a `key_ops` list without `verify`.
    #[error("key_ops does not contain \"verify\"")]
    NoVerifyOperation,
    /// The key's `alg` is unknown or does not belong to the key's type (`HS256` on an RSA
    /// key, say).
    #[error("algorithm {alg} cannot be used with this key")]
    AlgorithmMismatch {
        /// The `alg` as written in the key.
        alg: String,
    },
    /// The key's parameters (modulus, exponent, coordinates) do not make a key; carries the
    /// decoder's message.
    #[error("invalid key material: {0}")]
    Material(String),
    /// A static PEM key is not an RSA, EC or Ed25519 public key.
    #[error("not a PEM public key of a supported type (RSA, EC, Ed25519)")]
    Pem,
    /// A JWKS holds more than [`MAX_JWKS_KEYS`] entries; carries how many after those were
    /// not read. A token signed with one of them does not verify.
    #[error("{0} entries past the first {MAX_JWKS_KEYS} of the key set were not read")]
    BeyondLimit(usize),
}

/// A key that can verify token signatures.
#[derive(Clone)]
pub struct VerifyKey {
    /// `kid`, matched against the token header's.
    pub kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// For an RSA key, its modulus size in bits and its public exponent (saturated at
    /// `u64::MAX`): what the loader warns about when a key is too weak to trust or too small
    /// for the verifier (which accepts 2048 to 8192 bits).
    pub fn rsa_size(&self) -> Option<(u64, u64)> {
        match self.key.kind() {
            DecodingKeyKind::RsaModulusExponent { n, e } => Some((
                BigUint::from_bytes_be(n).bits(),
                saturating_u64(&BigUint::from_bytes_be(e)),
            )),
            DecodingKeyKind::SecretOrDer(der) if self.key.family() == AlgorithmFamily::Rsa => {
                // PKCS#1 RSAPublicKey: SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
                let blocks = simple_asn1::from_der(der).ok()?;
                let [ASN1Block::Sequence(_, fields)] = blocks.as_slice() else {
                    return None;
                };
                let [ASN1Block::Integer(_, n), ASN1Block::Integer(_, e)] = fields.as_slice() else {
                    return None;
                };
                Some((n.bits(), e.to_biguint().map_or(0, |e| saturating_u64(&e))))
            }
            DecodingKeyKind::SecretOrDer(_) => None,
        }
    }

    /// A key from the spec's `STATIC_KEYS`.
    pub fn from_static(key: &StaticKey) -> Result<Self, KeyError> {
        match key {
            StaticKey::JsonWebKey(jwk) => {
                let rsa = DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
                    .map_err(|e| KeyError::Material(e.to_string()))?;
                let algorithms = narrow(RSA_ALGORITHMS, Some(&jwk.alg))?;
                Ok(VerifyKey {
                    kid: Some(jwk.kid.clone()),
                    key: rsa,
                    algorithms,
                })
            }
            StaticKey::Pem(pem) => {
                let bytes = pem.key.as_bytes();
                let (key, algorithms) = if let Ok(k) = DecodingKey::from_rsa_pem(bytes) {
                    (k, RSA_ALGORITHMS)
                } else if let Ok(k) = DecodingKey::from_ec_pem(bytes) {
                    // The PEM does not say the curve cheaply; verifying with the other
                    // curve's algorithm simply fails.
                    (k, &[Algorithm::ES256, Algorithm::ES384][..])
                } else if let Ok(k) = DecodingKey::from_ed_pem(bytes) {
                    (k, &[Algorithm::EdDSA][..])
                } else {
                    return Err(KeyError::Pem);
                };
                Ok(VerifyKey {
                    kid: Some(pem.kid.clone()),
                    key,
                    algorithms: algorithms.to_vec(),
                })
            }
        }
    }

    /// A key from one entry of a JWKS.
    pub fn from_jwk_value(value: &Value) -> Result<Self, KeyError> {
        if value.get("kty").and_then(Value::as_str) == Some("oct") {
            return Err(KeyError::Symmetric);
        }
        let jwk: Jwk =
            serde_json::from_value(value.clone()).map_err(|e| KeyError::NotAJwk(e.to_string()))?;
        match &jwk.common.public_key_use {
            None | Some(PublicKeyUse::Signature) => {}
            Some(PublicKeyUse::Encryption) => return Err(KeyError::NotForSignatures("enc".into())),
            Some(PublicKeyUse::Other(u)) => return Err(KeyError::NotForSignatures(u.clone())),
        }
        if let Some(ops) = &jwk.common.key_operations {
            if !ops.contains(&KeyOperations::Verify) {
                return Err(KeyError::NoVerifyOperation);
            }
        }
        let family: &[Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => RSA_ALGORITHMS,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => &[Algorithm::ES256],
                EllipticCurve::P384 => &[Algorithm::ES384],
                _ => return Err(KeyError::UnsupportedType),
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                &[Algorithm::EdDSA]
            }
            AlgorithmParameters::OctetKey(_) => return Err(KeyError::Symmetric),
            _ => return Err(KeyError::UnsupportedType),
        };
        // `alg` as written (jsonwebtoken's own enum also knows key-encryption algorithms).
        let alg = value.get("alg").and_then(Value::as_str);
        let algorithms = narrow(family, alg)?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| KeyError::Material(e.to_string()))?;
        Ok(VerifyKey {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        })
    }
}

fn saturating_u64(n: &BigUint) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

const RSA_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// The family's algorithms, narrowed to `alg` when the key names one.
fn narrow(family: &[Algorithm], alg: Option<&str>) -> Result<Vec<Algorithm>, KeyError> {
    match alg {
        None => Ok(family.to_vec()),
        Some(name) => name
            .parse::<Algorithm>()
            .ok()
            .filter(|a| family.contains(a))
            .map(|a| vec![a])
            .ok_or_else(|| KeyError::AlgorithmMismatch {
                alg: name.to_owned(),
            }),
    }
}

/// A set of verification keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
}

/// At most this many keys are taken from a JWKS (OCI allows 10; a little slack for rotation).
pub const MAX_JWKS_KEYS: usize = 50;

impl KeySet {
    /// A set of `keys`, in order: when two keys share a `kid`, [`KeySet::find`] returns the
    /// first that verifies the token's algorithm.
    pub fn new(keys: Vec<VerifyKey>) -> Self {
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    /// Parses a JWKS document; entries that cannot verify signatures are skipped (a JWKS may
    /// also publish encryption keys). Errors only when the document is not a JWKS at all.
    pub fn from_jwks(document: &[u8]) -> Result<(Self, Vec<KeyError>), String> {
        let value: Value =
            serde_json::from_slice(document).map_err(|e| format!("not JSON: {e}"))?;
        let Some(entries) = value.get("keys").and_then(Value::as_array) else {
            return Err("not a JWKS: no \"keys\" array".to_owned());
        };
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for entry in entries.iter().take(MAX_JWKS_KEYS) {
            match VerifyKey::from_jwk_value(entry) {
                Ok(k) => keys.push(k),
                Err(e) => skipped.push(e),
            }
        }
        if let Some(beyond) = entries.len().checked_sub(MAX_JWKS_KEYS).filter(|&n| n > 0) {
            skipped.push(KeyError::BeyondLimit(beyond));
        }
        Ok((Self::new(keys), skipped))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a token header: the one with its `kid` that verifies `alg`; without a `kid`,
    /// the only key that verifies `alg`, if there is exactly one.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<VerifyKey>> {
        let mut usable = self.keys.iter().filter(|k| k.algorithms.contains(&alg));
        match kid {
            Some(kid) => usable.find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None => {
                let mut candidates = usable;
                let first = candidates.next()?;
                candidates.next().is_none().then(|| first.clone())
            }
        }
    }

    /// Whether some key has this `kid` (whatever its algorithms).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn symmetric_and_encryption_keys_are_refused() {
        assert_eq!(
            VerifyKey::from_jwk_value(&json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"})).err(),
            Some(KeyError::Symmetric)
        );
        let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"});
        assert!(matches!(
            VerifyKey::from_jwk_value(&rsa),
            Err(KeyError::NotForSignatures(_))
        ));
        let ops = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "key_ops": ["sign"]});
        assert_eq!(
            VerifyKey::from_jwk_value(&ops).err(),
            Some(KeyError::NoVerifyOperation)
        );
    }

    #[test]
    fn a_key_alg_outside_its_family_is_refused() {
        let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "HS256"});
        assert!(matches!(
            VerifyKey::from_jwk_value(&rsa),
            Err(KeyError::AlgorithmMismatch { .. })
        ));
        let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RS384", "kid": "k"});
        let key = VerifyKey::from_jwk_value(&rsa).expect("usable");
        assert_eq!(key.algorithms(), &[Algorithm::RS384]);
    }

    #[test]
    fn keys_past_the_limit_are_reported_not_dropped_silently() {
        let keys: Vec<_> = (0..=MAX_JWKS_KEYS)
            .map(|i| json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": i.to_string()}))
            .collect();
        let doc = json!({ "keys": keys });
        let (set, skipped) = KeySet::from_jwks(doc.to_string().as_bytes()).expect("a JWKS");
        assert_eq!(set.len(), MAX_JWKS_KEYS);
        assert_eq!(skipped, [KeyError::BeyondLimit(1)]);
        let last = MAX_JWKS_KEYS.to_string();
        assert!(set.find(Some(&last), Algorithm::RS256).is_none());
    }

    #[test]
    fn jwks_documents_skip_unusable_entries() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "a"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "b"}
        ]});
        let (set, skipped) = KeySet::from_jwks(doc.to_string().as_bytes()).expect("a JWKS");
        assert_eq!((set.len(), skipped.len()), (1, 2));
        assert!(set.find(Some("a"), Algorithm::RS256).is_some());
        assert!(set.find(Some("a"), Algorithm::HS256).is_none());
        assert!(set.find(None, Algorithm::RS512).is_some());
        assert!(KeySet::from_jwks(b"[]").is_err());
        assert!(KeySet::from_jwks(b"not json").is_err());
    }
}
