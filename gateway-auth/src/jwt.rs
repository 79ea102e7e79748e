//! `JWT_AUTHENTICATION` and `TOKEN_AUTHENTICATION` with JWTs (reference 4.1.2, 4.1.3).
//!
//! A token is accepted when, in this order: it is found where the policy says (with the
//! scheme, at most 16 KB); its header names an asymmetric algorithm (`none` does not parse,
//! HS* is refused outright); a key with its `kid` exists whose **type** allows that algorithm;
//! the signature verifies; `exp` is present and not past, `nbf` (when present) is reached, both
//! with `maxClockSkewInSeconds`; `iss` and `aud` are among the allowed ones (when the policy
//! lists any; `JWT_AUTHENTICATION` always does); and every `verifyClaims` rule holds.
//!
//! Every claim becomes `request.auth[claim]`; `scope` (a space-separated string or an array)
//! becomes the caller's scopes for `ANY_OF` authorization.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, AlgorithmFamily, Validation};
use serde_json::{Map, Value};

use gateway_core::auth::{AuthOutcome, Authenticator, Rejection};
use gateway_core::spec::JsonWebTokenClaim;
use gateway_core::BoxFuture;
use gateway_core::{AuthContext, RequestContext};

use crate::jwks::RemoteKeys;
use crate::keys::{KeySet, VerifyKey};
use crate::token::{Extracted, TokenLocation};

/// Where the verification keys are.
#[derive(Debug, Clone)]
pub enum Keys {
    /// `STATIC_KEYS`.
    Static(Arc<KeySet>),
    /// `REMOTE_JWKS` or `REMOTE_DISCOVERY`.
    Remote(Arc<RemoteKeys>),
}

/// The claim checks of a policy.
#[derive(Debug, Clone, Default)]
pub struct ClaimChecks {
    /// Allowed `iss`; empty means not checked (TOKEN_AUTHENTICATION without issuers).
    pub issuers: Vec<String>,
    /// Allowed `aud`; empty means not checked.
    pub audiences: Vec<String>,
    /// `verifyClaims`.
    pub verify_claims: Vec<JsonWebTokenClaim>,
    /// `maxClockSkewInSeconds`, whole seconds.
    pub leeway: u64,
}

/// Validates JWTs for one policy.
#[derive(Debug)]
pub struct JwtAuthenticator {
    location: TokenLocation,
    keys: Keys,
    checks: Arc<ClaimChecks>,
    challenge: HeaderValue,
    invalid_token: HeaderValue,
}

impl JwtAuthenticator {
    pub(crate) fn new(location: TokenLocation, keys: Keys, checks: ClaimChecks) -> Self {
        let (challenge, invalid_token) = location.challenges();
        Self {
            location,
            keys,
            checks: Arc::new(checks),
            challenge,
            invalid_token,
        }
    }

    fn reject(&self, reason: impl Into<String>) -> AuthOutcome {
        AuthOutcome::Rejected(Rejection {
            www_authenticate: Some(self.invalid_token.clone()),
            ..Rejection::new(reason)
        })
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(
        &self,
        req: &Parts,
        _ctx: &RequestContext,
        _body: Option<&Bytes>,
    ) -> BoxFuture<'static, AuthOutcome> {
        match self.location.extract(req) {
            Extracted::Missing => ready(AuthOutcome::NoCredentials),
            Extracted::Invalid(reason) => ready(self.reject(reason)),
            Extracted::Token(token) => self.authenticate_token(token),
        }
    }

    fn challenge(&self) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }

    fn unverified_claim(&self, req: &Parts, claim: &str) -> Option<String> {
        let Extracted::Token(token) = self.location.extract(req) else {
            return None;
        };
        let claims: Map<String, Value> =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).ok()?;
        claims.get(claim).map(claim_text)
    }
}

impl JwtAuthenticator {
    /// Validates `token`, already taken from the request.
    pub(crate) fn authenticate_token(&self, token: String) -> BoxFuture<'static, AuthOutcome> {
        let header = match jsonwebtoken::decode_header(&token) {
            Ok(h) => h,
            // Includes `alg: none` and unknown algorithms: jsonwebtoken has no such variant.
            Err(e) => return ready(self.reject(format!("malformed token header: {e}"))),
        };
        if header.alg.family() == AlgorithmFamily::Hmac {
            return ready(self.reject(format!("{:?} tokens are never accepted", header.alg)));
        }
        // RFC 7515 §4.1.11: extensions a recipient must understand, and this one implements
        // none.
        if let Some(crit) = &header.crit {
            return ready(self.reject(format!(
                "critical header parameters {crit:?} are not understood"
            )));
        }

        let (alg, kid) = (header.alg, header.kid);
        let keys = self.keys.clone();
        let checks = self.checks.clone();
        let invalid_token = self.invalid_token.clone();
        Box::pin(async move {
            let key = match &keys {
                Keys::Static(set) => set.find(kid.as_deref(), alg),
                Keys::Remote(remote) => match remote.find(kid.as_deref(), alg).await {
                    Ok(key) => key,
                    Err(e) => {
                        return AuthOutcome::Unavailable(format!("keys unavailable from {e}"))
                    }
                },
            };
            let Some(key) = key else {
                return rejected(invalid_token, format!("no key for kid {kid:?} and {alg:?}"));
            };
            match verify(&token, alg, &key, &checks) {
                Ok(claims) => AuthOutcome::Authenticated(Arc::new(auth_context(claims))),
                Err(reason) => rejected(invalid_token, reason),
            }
        })
    }
}

fn ready(outcome: AuthOutcome) -> BoxFuture<'static, AuthOutcome> {
    Box::pin(std::future::ready(outcome))
}

pub(crate) fn rejected(www_authenticate: HeaderValue, reason: String) -> AuthOutcome {
    AuthOutcome::Rejected(Rejection {
        www_authenticate: Some(www_authenticate),
        ..Rejection::new(reason)
    })
}

/// Verifies the signature and the claims; the claims on success, the reason otherwise.
fn verify(
    token: &str,
    alg: Algorithm,
    key: &VerifyKey,
    checks: &ClaimChecks,
) -> Result<Map<String, Value>, String> {
    if !key.algorithms().contains(&alg) {
        return Err(format!("the key for this kid does not verify {alg:?}"));
    }
    let mut validation = Validation::new(alg);
    validation.leeway = checks.leeway;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if checks.issuers.is_empty() {
        validation.iss = None;
    } else {
        validation.set_issuer(&checks.issuers);
        required.push("iss");
    }
    if checks.audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&checks.audiences);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, key.decoding_key(), &validation)
        .map_err(|e| format!("invalid token: {e}"))?;
    // RFC 7519 makes `iss` one string; jsonwebtoken also accepts an array that merely
    // contains an allowed issuer, which would let a token name several issuers at once.
    if data.claims.get("iss").is_some_and(|iss| !iss.is_string()) {
        return Err("the iss claim is not a string".to_owned());
    }
    check_claims(&data.claims, &checks.verify_claims)?;
    Ok(data.claims)
}

/// `verifyClaims` (reference 4.1.2): required with no values → present; with values → present
/// and equal to one; not required → values checked only when present. Equality is on the
/// claim's text; an array claim matches when one of its elements does.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    rules: &[JsonWebTokenClaim],
) -> Result<(), String> {
    for rule in rules {
        match claims.get(&rule.key).filter(|v| !v.is_null()) {
            None if rule.is_required.unwrap_or(false) => {
                return Err(format!("claim {} is required", rule.key));
            }
            None => {}
            Some(_) if rule.values.is_empty() => {}
            Some(value) => {
                let matches = |v: &Value| rule.values.contains(&claim_text(v));
                let ok = match value {
                    Value::Array(items) => items.iter().any(matches),
                    other => matches(other),
                };
                if !ok {
                    return Err(format!(
                        "claim {} has a value that is not allowed",
                        rule.key
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A claim as `request.auth` shows it: strings as they are, anything else as JSON text.
fn claim_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The caller a valid token describes.
pub(crate) fn auth_context(claims: Map<String, Value>) -> AuthContext {
    let scopes = match claims.get("scope") {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let principal = text("sub");
    let client_id = text("client_id").or_else(|| text("azp"));
    let claims: BTreeMap<String, String> = claims
        .iter()
        .map(|(k, v)| (k.clone(), claim_text(v)))
        .collect();
    AuthContext {
        principal,
        client_id,
        scopes,
        claims,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(key: &str, values: &[&str], required: bool) -> JsonWebTokenClaim {
        JsonWebTokenClaim {
            key: key.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            is_required: Some(required),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn verify_claims_semantics() {
        let c = claims(json!({"role": "admin", "groups": ["a", "b"], "n": 5}));
        assert!(check_claims(&c, &[rule("role", &[], true)]).is_ok());
        assert!(check_claims(&c, &[rule("missing", &[], true)]).is_err());
        assert!(check_claims(&c, &[rule("missing", &["x"], false)]).is_ok());
        assert!(check_claims(&c, &[rule("role", &["admin", "root"], true)]).is_ok());
        assert!(check_claims(&c, &[rule("role", &["Admin"], false)]).is_err());
        assert!(check_claims(&c, &[rule("groups", &["b"], true)]).is_ok());
        assert!(check_claims(&c, &[rule("groups", &["c"], true)]).is_err());
        assert!(check_claims(&c, &[rule("n", &["5"], true)]).is_ok());
    }

    #[test]
    fn claims_become_auth_values_and_scopes() {
        let ctx = auth_context(claims(json!({
            "sub": "jdoe", "scope": "read:a  write:b", "azp": "app",
            "n": 5, "obj": {"k": true}
        })));
        assert_eq!(ctx.principal.as_deref(), Some("jdoe"));
        assert_eq!(ctx.client_id.as_deref(), Some("app"));
        assert_eq!(ctx.scopes, ["read:a", "write:b"]);
        assert_eq!(ctx.claims["n"], "5");
        assert_eq!(ctx.claims["obj"], r#"{"k":true}"#);
        assert_eq!(ctx.claims["sub"], "jdoe");
        let ctx = auth_context(claims(json!({"scope": ["x", 1, "y"]})));
        assert_eq!(ctx.scopes, ["x", "y"]);
    }
}
