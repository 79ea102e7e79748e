//! TOKEN authentication validation policies (reference 4.1.3): `REMOTE_JWKS`, `STATIC_KEYS`,
//! `REMOTE_DISCOVERY`, with their client and discovery-document details.

use serde::Serialize;
use serde_json::Value;

use super::keys::{cache_hours, required_uri, static_keys};
use super::{JsonWebTokenClaim, StaticKey};
use crate::diagnostics::Diagnostics;
use crate::spec::decode::{limit_count, FromJson, Obj};

/// A TOKEN authentication `validationPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum TokenValidationPolicy {
    /// Verify a JWT with keys from a JWKS URI.
    #[serde(rename = "REMOTE_JWKS")]
    RemoteJwks(RemoteJwksValidationPolicy),
    /// Verify a JWT with keys written into the spec.
    #[serde(rename = "STATIC_KEYS")]
    StaticKeys(StaticKeysValidationPolicy),
    /// OAuth2 introspection via an OpenID discovery document (JWT or opaque tokens).
    #[serde(rename = "REMOTE_DISCOVERY")]
    RemoteDiscovery(RemoteDiscoveryValidationPolicy),
}

impl TokenValidationPolicy {
    /// The extra issuer/audience/claim checks, whatever the type.
    pub fn additional_validation_policy(&self) -> Option<&AdditionalValidationPolicy> {
        match self {
            TokenValidationPolicy::RemoteJwks(p) => p.additional_validation_policy.as_ref(),
            TokenValidationPolicy::StaticKeys(p) => p.additional_validation_policy.as_ref(),
            TokenValidationPolicy::RemoteDiscovery(p) => p.additional_validation_policy.as_ref(),
        }
    }
}

/// `REMOTE_JWKS` validation policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJwksValidationPolicy {
    /// The JWKS URI.
    pub uri: String,
    /// Skip verifying the JWKS server's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_ssl_verify_disabled: Option<bool>,
    /// How long fetched keys are cached, 1–24 hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cache_duration_in_hours: Option<u32>,
    /// Extra issuer/audience/claim checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_validation_policy: Option<AdditionalValidationPolicy>,
}

/// `STATIC_KEYS` validation policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaticKeysValidationPolicy {
    /// At most 10.
    pub keys: Vec<StaticKey>,
    /// Extra issuer/audience/claim checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_validation_policy: Option<AdditionalValidationPolicy>,
}

/// `REMOTE_DISCOVERY` validation policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteDiscoveryValidationPolicy {
    /// The gateway's OAuth2 client.
    pub client_details: ClientAppDetails,
    /// Where the discovery document is.
    pub source_uri_details: SourceUriDetails,
    /// Skip verifying the authorization server's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_ssl_verify_disabled: Option<bool>,
    /// How long the discovery document is cached, 1–24 hours (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cache_duration_in_hours: Option<u32>,
    /// Extra issuer/audience/claim checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_validation_policy: Option<AdditionalValidationPolicy>,
}

/// `additionalValidationPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalValidationPolicy {
    /// Allowed `iss` values; at most 5.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
    /// Allowed `aud` values; at most 5.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Extra claim checks; at most 10.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify_claims: Vec<JsonWebTokenClaim>,
}

/// `clientDetails`: the OAuth2 client the gateway acts as.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ClientAppDetails {
    /// A client id with its secret in a Vault.
    #[serde(rename = "CUSTOM")]
    Custom(CustomClientAppDetails),
    /// Reuse the client of the validation policy (in an `OAUTH2` failure policy).
    #[serde(rename = "VALIDATION_BLOCK")]
    ValidationBlock,
}

/// A `CUSTOM` client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomClientAppDetails {
    /// OAuth2 client id.
    pub client_id: String,
    /// OCID of the Vault secret holding the client secret.
    pub client_secret_id: String,
    /// Version of that secret.
    pub client_secret_version_number: i64,
}

/// `sourceUriDetails`: where the OpenID discovery document is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum SourceUriDetails {
    /// An explicit `.well-known/openid-configuration` URI.
    #[serde(rename = "DISCOVERY_URI")]
    DiscoveryUri(DiscoveryUriSourceUriDetails),
    /// Reuse the validation policy's (in an `OAUTH2` failure policy).
    #[serde(rename = "VALIDATION_BLOCK")]
    ValidationBlock,
}

/// A `DISCOVERY_URI` source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscoveryUriSourceUriDetails {
    /// The discovery document URI.
    pub uri: String,
}

impl FromJson for AdditionalValidationPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let issuers = o.optional::<Vec<String>>("issuers").unwrap_or_default();
        let audiences = o.optional::<Vec<String>>("audiences").unwrap_or_default();
        let verify_claims = o
            .optional::<Vec<JsonWebTokenClaim>>("verifyClaims")
            .unwrap_or_default();
        let paths = [o.at("issuers"), o.at("audiences"), o.at("verifyClaims")];
        o.finish();
        limit_count(d, &paths[0], issuers.len(), 5, "issuers");
        limit_count(d, &paths[1], audiences.len(), 5, "audiences");
        limit_count(
            d,
            &paths[2],
            verify_claims.len(),
            10,
            "verifyClaims entries",
        );
        Some(AdditionalValidationPolicy {
            issuers,
            audiences,
            verify_claims,
        })
    }
}

impl FromJson for TokenValidationPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "validation policy type",
            "validation policy types",
            &["REMOTE_JWKS", "STATIC_KEYS", "REMOTE_DISCOVERY"],
            &[],
        )?;
        let policy = match tag {
            "REMOTE_JWKS" => {
                let uri = required_uri(&mut o);
                let is_ssl_verify_disabled =
                    o.optional_alias("isSslVerifyDisabled", &["isSSLVerifyDisabled"]);
                let max_cache_duration_in_hours = cache_hours(&mut o);
                let additional_validation_policy = o.optional("additionalValidationPolicy");
                uri.map(|uri| {
                    TokenValidationPolicy::RemoteJwks(RemoteJwksValidationPolicy {
                        uri,
                        is_ssl_verify_disabled,
                        max_cache_duration_in_hours,
                        additional_validation_policy,
                    })
                })
            }
            "STATIC_KEYS" => {
                let keys = static_keys(&mut o);
                let additional_validation_policy = o.optional("additionalValidationPolicy");
                keys.map(|keys| {
                    TokenValidationPolicy::StaticKeys(StaticKeysValidationPolicy {
                        keys,
                        additional_validation_policy,
                    })
                })
            }
            _ => {
                let client_details = o.required::<ClientAppDetails>("clientDetails");
                let source_uri_details = o.required::<SourceUriDetails>("sourceUriDetails");
                // VALIDATION_BLOCK means "the validation policy's": circular here.
                if client_details == Some(ClientAppDetails::ValidationBlock) {
                    let p = format!("{}.type", o.at("clientDetails"));
                    o.d()
                        .error(p, "VALIDATION_BLOCK refers to this validation policy itself")
                        .hint("use CUSTOM client details here; VALIDATION_BLOCK belongs in an OAUTH2 failure policy");
                }
                if source_uri_details == Some(SourceUriDetails::ValidationBlock) {
                    let p = format!("{}.type", o.at("sourceUriDetails"));
                    o.d()
                        .error(p, "VALIDATION_BLOCK refers to this validation policy itself")
                        .hint("use a DISCOVERY_URI here; VALIDATION_BLOCK belongs in an OAUTH2 failure policy");
                }
                let is_ssl_verify_disabled =
                    o.optional_alias("isSslVerifyDisabled", &["isSSLVerifyDisabled"]);
                let max_cache_duration_in_hours = cache_hours(&mut o);
                let additional_validation_policy = o.optional("additionalValidationPolicy");
                client_details.zip(source_uri_details).map(
                    |(client_details, source_uri_details)| {
                        TokenValidationPolicy::RemoteDiscovery(RemoteDiscoveryValidationPolicy {
                            client_details,
                            source_uri_details,
                            is_ssl_verify_disabled,
                            max_cache_duration_in_hours,
                            additional_validation_policy,
                        })
                    },
                )
            }
        };
        o.finish();
        policy
    }
}

impl FromJson for ClientAppDetails {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "client details type",
            "client details types",
            &["CUSTOM", "VALIDATION_BLOCK"],
            &[],
        )?;
        let details = if tag == "CUSTOM" {
            let client_id = o.required::<String>("clientId");
            let client_secret_id = o.required::<String>("clientSecretId");
            let version = o.required::<i64>("clientSecretVersionNumber");
            (|| {
                Some(ClientAppDetails::Custom(CustomClientAppDetails {
                    client_id: client_id?,
                    client_secret_id: client_secret_id?,
                    client_secret_version_number: version?,
                }))
            })()
        } else {
            Some(ClientAppDetails::ValidationBlock)
        };
        o.finish();
        details
    }
}

impl FromJson for SourceUriDetails {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "source URI type",
            "source URI types",
            &["DISCOVERY_URI", "VALIDATION_BLOCK"],
            &[],
        )?;
        let details = if tag == "DISCOVERY_URI" {
            required_uri(&mut o)
                .map(|uri| SourceUriDetails::DiscoveryUri(DiscoveryUriSourceUriDetails { uri }))
        } else {
            Some(SourceUriDetails::ValidationBlock)
        };
        o.finish();
        details
    }
}
