//! The gateway-level `responseCacheDetails` (reference 4.9). It is not part of a spec — OCI
//! keeps it on the gateway — but the response-cache policies of a spec need it, and the docs
//! write its TLS flag as `isSSLEnabled`, so it is decoded here with the same machinery and the
//! same alias handling as the spec, for the gateway configuration to use.

use serde::Serialize;
use serde_json::Value;

use crate::diagnostics::Diagnostics;
use crate::spec::decode::{decode_list, limit_count, FromJson, Obj};

/// `responseCacheDetails`, polymorphic on `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ResponseCacheDetails {
    /// A RESP (Redis-protocol) server.
    #[serde(rename = "EXTERNAL_RESP_CACHE")]
    ExternalRespCache(ExternalRespCache),
    /// No cache: the routes' cache policies do nothing.
    #[serde(rename = "NONE")]
    None,
}

/// `EXTERNAL_RESP_CACHE`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRespCache {
    /// The cache servers; OCI allows exactly one.
    pub servers: Vec<RespServer>,
    /// OCID of the Vault secret holding the cache password.
    pub authentication_secret_id: String,
    /// Version of that secret.
    pub authentication_secret_version_number: i64,
    /// Use TLS (doc spelling `isSSLEnabled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_ssl_enabled: Option<bool>,
    /// Skip verifying the server certificate (doc spelling `isSSLVerifyDisabled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_ssl_verify_disabled: Option<bool>,
    /// Milliseconds, default 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_in_ms: Option<u32>,
    /// Milliseconds, default 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout_in_ms: Option<u32>,
    /// Milliseconds, default 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_timeout_in_ms: Option<u32>,
}

/// One cache server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RespServer {
    /// Host name or IP.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Decodes a gateway's `responseCacheDetails`, reporting every problem; the value is `Some`
/// exactly when no diagnostic is an error.
pub fn load_response_cache_details(value: &Value) -> (Option<ResponseCacheDetails>, Diagnostics) {
    let mut d = Diagnostics::new();
    let details = ResponseCacheDetails::from_json(value, "", &mut d);
    let details = if d.has_errors() { None } else { details };
    (details, d)
}

impl FromJson for ResponseCacheDetails {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "response cache type",
            "response cache types",
            &["EXTERNAL_RESP_CACHE", "NONE"],
            &[],
        )?;
        if tag == "NONE" {
            o.finish();
            return Some(ResponseCacheDetails::None);
        }
        let servers = o.required_with("servers", |v, p, d| {
            let servers = decode_list(v, p, d, |v, p, d| {
                let mut s = Obj::new(v, p, d)?;
                let host = s.required::<String>("host");
                let port = s.required::<u16>("port");
                s.finish();
                Some(RespServer {
                    host: host?,
                    port: port?,
                })
            })?;
            if servers.is_empty() {
                d.error(p, "must not be empty: name the cache server");
            }
            limit_count(d, p, servers.len(), 1, "cache servers");
            Some(servers)
        });
        let secret_id = o.required::<String>("authenticationSecretId");
        let secret_version = o.required::<i64>("authenticationSecretVersionNumber");
        let is_ssl_enabled = o.optional_alias("isSslEnabled", &["isSSLEnabled"]);
        let is_ssl_verify_disabled =
            o.optional_alias("isSslVerifyDisabled", &["isSSLVerifyDisabled"]);
        let connect_timeout_in_ms = o.optional("connectTimeoutInMs");
        let read_timeout_in_ms = o.optional("readTimeoutInMs");
        let send_timeout_in_ms = o.optional("sendTimeoutInMs");
        o.finish();
        Some(ResponseCacheDetails::ExternalRespCache(ExternalRespCache {
            servers: servers?,
            authentication_secret_id: secret_id?,
            authentication_secret_version_number: secret_version?,
            is_ssl_enabled,
            is_ssl_verify_disabled,
            connect_timeout_in_ms,
            read_timeout_in_ms,
            send_timeout_in_ms,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn decodes_with_the_doc_spelling_of_the_tls_flag() {
        let (details, d) = load_response_cache_details(&json!({
            "type": "EXTERNAL_RESP_CACHE", "servers": [ { "host": "redis.internal", "port": 6379 } ],
            "authenticationSecretId": "ocid1.vaultsecret.oc1..x", "authenticationSecretVersionNumber": 1,
            "isSSLEnabled": true, "connectTimeoutInMs": 500 }));
        let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["warning: isSSLEnabled: \"isSSLEnabled\" is the documentation's spelling of \"isSslEnabled\" (hint: write isSslEnabled)"]);
        let details = details.expect("loads");
        let sdk = serde_json::to_value(&details).expect("serializes");
        assert_eq!(sdk["isSslEnabled"], true);
        assert_eq!(sdk["servers"][0]["port"], 6379);
        assert_eq!(
            load_response_cache_details(&sdk),
            (Some(details), Diagnostics::new())
        );
    }

    #[test]
    fn reports_every_problem() {
        let (details, d) = load_response_cache_details(&json!({
            "type": "EXTERNAL_RESP_CACHE", "servers": [ { "host": "a", "port": 70000 } ],
            "authenticationSecretVersionNumber": "1" }));
        let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(lines, [
            "error: servers[0].port: expected an integer between 0 and 65535, found 70000",
            "error: (document): missing required key \"authenticationSecretId\"",
            "error: authenticationSecretVersionNumber: expected an integer, found a string (hint: write 1 without quotes)",
        ]);
        assert!(details.is_none());
        let (none, d) = load_response_cache_details(&json!({ "type": "NONE" }));
        assert_eq!(none, Some(ResponseCacheDetails::None));
        assert!(d.is_empty());
    }
}
