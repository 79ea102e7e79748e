//! Deployment-level request policies (reference 1.3, 4.3–4.6) and logging policies (1.4).

use serde::Serialize;
use serde_json::Value;

use super::auth::{Authentication, DynamicAuthentication};
use super::enums::{LogLevel, RateKey};
use crate::diagnostics::Diagnostics;
use crate::spec::checks::{check_cors_header, check_cors_method, check_cors_origin, check_san};
use crate::spec::decode::{index_path, limit_count, require_non_empty, FromJson, Obj};
use crate::spec::vars_check::{self, VarField};

/// The deployment's `requestPolicies`: applied to every route.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRequestPolicies {
    /// Who the caller is; routes narrow it with `authorization`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// Requests per second, per client or in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimitingPolicy>,
    /// CORS for every route without its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsPolicy>,
    /// Client-certificate requirements (doc spelling `mutualTLS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutual_tls: Option<MutualTlsDetails>,
    /// Where the usage-plan client token is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_plans: Option<UsagePlansPolicy>,
    /// Several authentication servers chosen per request; excludes `authentication`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_authentication: Option<DynamicAuthentication>,
}

/// `rateLimiting` (reference 4.4); rejected requests get 429 with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitingPolicy {
    /// At least 1.
    pub rate_in_requests_per_second: u32,
    /// Per client IP or for all clients together.
    pub rate_key: RateKey,
}

/// `cors` (reference 4.3), at deployment or route level; a route's replaces the deployment's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    /// `*`, `null` or `scheme://host[:port]`; the best match is echoed back.
    pub allowed_origins: Vec<String>,
    /// `Access-Control-Allow-Methods` (pre-flight); `*` means all; at most 50.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_methods: Vec<String>,
    /// `Access-Control-Allow-Headers` (pre-flight); `*` means all; at most 50.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    /// `Access-Control-Expose-Headers` (actual responses); at most 50.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exposed_headers: Vec<String>,
    /// `Access-Control-Allow-Credentials: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_allow_credentials_enabled: Option<bool>,
    /// `Access-Control-Max-Age`; 0 or absent omits the header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_in_seconds: Option<u32>,
}

/// `mutualTls` (reference 4.6). CA bundles live in the gateway configuration, not here.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MutualTlsDetails {
    /// Reject requests without a verified client certificate (401).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_verified_certificate_required: Option<bool>,
    /// Accepted email / URL / DNS SANs, case-insensitive, `*` at the start and/or end; at most 10.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_sans: Vec<String>,
}

/// `usagePlans` (reference 4.5). Plans and subscribers live outside the spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePlansPolicy {
    /// Bare context variables holding the client token, tried in order.
    pub token_locations: Vec<String>,
}

/// `loggingPolicies` at deployment or route level (reference 1.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingPolicies {
    /// Access log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogPolicy>,
    /// Execution log; a route's level overrides the deployment's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_log: Option<ExecutionLogPolicy>,
}

/// `accessLog`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogPolicy {
    /// Only switches OCI's deprecated Object Storage archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
}

/// `executionLog`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionLogPolicy {
    /// Only switches OCI's deprecated Object Storage archive; the level is what matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// Verbosity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

impl FromJson for DeploymentRequestPolicies {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        if o.has("authentication") && o.has("dynamicAuthentication") {
            let p = o.at("dynamicAuthentication");
            o.d()
                .error(p, "authentication and dynamicAuthentication cannot both be used")
                .hint("keep one: dynamicAuthentication already chooses an authentication server per request");
        }
        let policies = DeploymentRequestPolicies {
            authentication: o.optional("authentication"),
            rate_limiting: o.optional("rateLimiting"),
            cors: o.optional("cors"),
            mutual_tls: o.optional_alias("mutualTls", &["mutualTLS"]),
            usage_plans: o.optional("usagePlans"),
            dynamic_authentication: o.optional("dynamicAuthentication"),
        };
        o.finish();
        Some(policies)
    }
}

impl FromJson for RateLimitingPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let rate = o.required::<u32>("rateInRequestsPerSecond");
        if rate == Some(0) {
            let p = o.at("rateInRequestsPerSecond");
            o.d().error(p, "must be at least 1, found 0");
        }
        let rate_key = o.required::<RateKey>("rateKey");
        o.finish();
        Some(RateLimitingPolicy {
            rate_in_requests_per_second: rate?,
            rate_key: rate_key?,
        })
    }
}

impl FromJson for CorsPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let mut list =
            |key: &'static str, required: bool, check: fn(&mut Diagnostics, &str, &str)| {
                let items = if required {
                    o.required::<Vec<String>>(key)
                } else {
                    Some(o.optional::<Vec<String>>(key).unwrap_or_default())
                };
                let p = o.at(key);
                if let Some(items) = &items {
                    limit_count(o.d(), &p, items.len(), 50, key);
                    for (i, item) in items.iter().enumerate() {
                        check(o.d(), &index_path(&p, i), item);
                    }
                }
                items
            };
        let origins = list("allowedOrigins", true, check_cors_origin);
        let methods = list("allowedMethods", false, check_cors_method);
        let headers = list("allowedHeaders", false, check_cors_header);
        let exposed = list("exposedHeaders", false, check_cors_header);
        let is_allow_credentials_enabled = o.optional("isAllowCredentialsEnabled");
        let max_age_in_seconds = o.optional("maxAgeInSeconds");
        let origins_path = o.at("allowedOrigins");
        o.finish();
        if let Some(origins) = &origins {
            require_non_empty(
                d,
                &origins_path,
                origins,
                "list the allowed origins, or \"*\"",
            );
        }
        Some(CorsPolicy {
            allowed_origins: origins?,
            allowed_methods: methods.unwrap_or_default(),
            allowed_headers: headers.unwrap_or_default(),
            exposed_headers: exposed.unwrap_or_default(),
            is_allow_credentials_enabled,
            max_age_in_seconds,
        })
    }
}

impl FromJson for MutualTlsDetails {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let is_verified_certificate_required = o.optional("isVerifiedCertificateRequired");
        let allowed_sans = o.optional::<Vec<String>>("allowedSans").unwrap_or_default();
        let p = o.at("allowedSans");
        o.finish();
        limit_count(d, &p, allowed_sans.len(), 10, "allowedSans entries");
        for (i, san) in allowed_sans.iter().enumerate() {
            check_san(d, &index_path(&p, i), san);
        }
        Some(MutualTlsDetails {
            is_verified_certificate_required,
            allowed_sans,
        })
    }
}

impl FromJson for UsagePlansPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let token_locations = o.required::<Vec<String>>("tokenLocations");
        let p = o.at("tokenLocations");
        o.finish();
        let token_locations = token_locations?;
        require_non_empty(
            d,
            &p,
            &token_locations,
            "name where the client token is read",
        );
        for (i, location) in token_locations.iter().enumerate() {
            vars_check::check(d, &index_path(&p, i), VarField::TokenLocation, location);
        }
        Some(UsagePlansPolicy { token_locations })
    }
}

impl FromJson for LoggingPolicies {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let access_log = o.optional_with("accessLog", |v, p, d| {
            let mut o = Obj::new(v, p, d)?;
            let is_enabled = o.optional("isEnabled");
            o.finish();
            Some(AccessLogPolicy { is_enabled })
        });
        let execution_log = o.optional_with("executionLog", |v, p, d| {
            let mut o = Obj::new(v, p, d)?;
            let is_enabled = o.optional("isEnabled");
            let log_level = o.optional("logLevel");
            o.finish();
            Some(ExecutionLogPolicy {
                is_enabled,
                log_level,
            })
        });
        o.finish();
        Some(LoggingPolicies {
            access_log,
            execution_log,
        })
    }
}
