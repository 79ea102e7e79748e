//! Routes (reference 1.5) and their request and response policies (4.2, 4.7–4.9).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::backend::Backend;
use super::enums::{HttpMethod, ValidationMode};
use super::policies::{CorsPolicy, LoggingPolicies};
use super::transform::{
    decode_header_transformations, decode_query_transformations, HeaderTransformations,
    QueryParameterTransformations, Side,
};
use crate::diagnostics::{Diagnostics, Kind};
use crate::spec::checks::{check_header_name, check_media_range};
use crate::spec::decode::{index_path, key_path, limit_size, require_non_empty, FromJson, Obj};
use crate::spec::vars_check::{self, VarField};

/// One route: a path template, its methods, a back end and its policies.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Path template relative to the deployment's `pathPrefix` (syntax checked by the router);
    /// at most 2,000 characters.
    pub path: String,
    /// Accepted methods. Absent means every method (a warning at load; OCI leaves it
    /// undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<HttpMethod>>,
    /// What answers the route.
    pub backend: Backend,
    /// Route request policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_policies: Option<RouteRequestPolicies>,
    /// Route response policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_policies: Option<RouteResponsePolicies>,
    /// Per-route logging override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_policies: Option<LoggingPolicies>,
}

impl Route {
    /// The methods the route accepts; `ANY` when `methods` is absent.
    pub fn effective_methods(&self) -> &[HttpMethod] {
        self.methods.as_deref().unwrap_or(&[HttpMethod::Any])
    }

    /// Whether the route accepts `method` (`ANY` accepts all).
    pub fn accepts(&self, method: HttpMethod) -> bool {
        self.effective_methods()
            .iter()
            .any(|m| *m == HttpMethod::Any || *m == method)
    }
}

/// A route's `requestPolicies`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRequestPolicies {
    /// Who may call the route; `AUTHENTICATION_ONLY` when absent and the deployment
    /// authenticates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<RouteAuthorization>,
    /// Replaces the deployment's CORS policy for this route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsPolicy>,
    /// Required / validated query parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_parameter_validations: Option<QueryParameterValidationPolicy>,
    /// Required / validated headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_validations: Option<HeaderValidationPolicy>,
    /// Body presence and content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_validation: Option<BodyValidationPolicy>,
    /// Request header changes before the back end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_transformations: Option<HeaderTransformations>,
    /// Request query changes before the back end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_parameter_transformations: Option<QueryParameterTransformations>,
    /// Serve from the response cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_cache_lookup: Option<ResponseCacheLookupPolicy>,
}

/// A route's `responsePolicies`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteResponsePolicies {
    /// Response header changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_transformations: Option<HeaderTransformations>,
    /// Store responses in the cache (doc spelling `responseCacheStorage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_cache_store: Option<ResponseCacheStorePolicy>,
}

/// Route `authorization` (reference 4.2).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum RouteAuthorization {
    /// Everyone; needs `isAnonymousAccessAllowed: true` on the deployment authentication.
    #[serde(rename = "ANONYMOUS")]
    Anonymous,
    /// Any authenticated caller.
    #[serde(rename = "AUTHENTICATION_ONLY")]
    AuthenticationOnly,
    /// Authenticated with at least one listed scope (else 404, as OCI does).
    #[serde(rename = "ANY_OF")]
    AnyOf(AnyOfAuthorization),
}

impl RouteAuthorization {
    /// The SDK `type` discriminator.
    pub fn type_name(&self) -> &'static str {
        match self {
            RouteAuthorization::Anonymous => "ANONYMOUS",
            RouteAuthorization::AuthenticationOnly => "AUTHENTICATION_ONLY",
            RouteAuthorization::AnyOf(_) => "ANY_OF",
        }
    }
}

/// `ANY_OF` authorization.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyOfAuthorization {
    /// Scopes, compared case-sensitively with the caller's.
    pub allowed_scope: Vec<String>,
}

/// `headerValidations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderValidationPolicy {
    /// `ENFORCING` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_mode: Option<ValidationMode>,
    /// The headers checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ValidationItem>,
}

/// `queryParameterValidations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryParameterValidationPolicy {
    /// `ENFORCING` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_mode: Option<ValidationMode>,
    /// The parameters checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ValidationItem>,
}

/// One validated header or query parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationItem {
    /// Name; documented as case-insensitive for both headers and query parameters.
    pub name: String,
    /// Must be present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// `bodyValidation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyValidationPolicy {
    /// A body must be present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Media range (`*/*`, `type/*`, `type/subtype`) → check; the most specific key wins.
    pub content: BTreeMap<String, ContentValidation>,
    /// `ENFORCING` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_mode: Option<ValidationMode>,
}

/// A body content entry, polymorphic on **`validationType`**.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "validationType")]
pub enum ContentValidation {
    /// `NONE`: only the content type is checked, no schema.
    #[serde(rename = "NONE")]
    ContentTypeOnly,
}

/// `responseCacheLookup`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ResponseCacheLookupPolicy {
    /// The only SDK type.
    #[serde(rename = "SIMPLE_LOOKUP_POLICY")]
    Simple(SimpleLookupPolicy),
}

/// `SIMPLE_LOOKUP_POLICY` (reference 4.9).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleLookupPolicy {
    /// Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// Default false: requests carrying credentials are never cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_private_caching_enabled: Option<bool>,
    /// Context variables added to the cache key, bare or `${…}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_key_additions: Vec<String>,
}

/// `responseCacheStore`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ResponseCacheStorePolicy {
    /// The only SDK type.
    #[serde(rename = "FIXED_TTL_STORE_POLICY")]
    FixedTtl(FixedTtlStorePolicy),
}

/// `FIXED_TTL_STORE_POLICY`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedTtlStorePolicy {
    /// How long a response is kept; at least 1.
    pub time_to_live_in_seconds: u32,
}

impl FromJson for Route {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let route_path = o.required::<String>("path");
        if let Some(p) = &route_path {
            let at = o.at("path");
            limit_size(
                o.d(),
                &at,
                "the route path",
                p.chars().count(),
                2000,
                "characters",
            );
        }
        let methods = o.optional_with("methods", decode_methods);
        if !o.has("methods") {
            let p = o.path().to_owned();
            o.d()
                .warning(
                    Kind::Invalid,
                    p,
                    "no methods: the route accepts every method (treated as ANY)",
                )
                .hint("list the methods, e.g. \"methods\": [\"GET\"], or write [\"ANY\"]");
        }
        let backend = o.required::<Backend>("backend");
        let request_policies = o.optional("requestPolicies");
        let response_policies = o.optional("responsePolicies");
        let logging_policies = o.optional("loggingPolicies");
        o.finish();
        Some(Route {
            path: route_path?,
            methods,
            backend: backend?,
            request_policies,
            response_policies,
            logging_policies,
        })
    }
}

/// `methods`: not empty; duplicates and `ANY` next to other methods are reported.
fn decode_methods(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Vec<HttpMethod>> {
    let methods = Vec::<HttpMethod>::from_json(value, path, d)?;
    if methods.is_empty() {
        d.error(path, "must not be empty: the route would match no request")
            .hint("list the methods, or remove the key to accept every method");
    }
    for (i, m) in methods.iter().enumerate() {
        if methods[..i].contains(m) {
            d.warning(
                Kind::Invalid,
                index_path(path, i),
                format!("duplicate method {m}"),
            );
        }
    }
    if methods.len() > 1 && methods.contains(&HttpMethod::Any) {
        d.warning(
            Kind::Invalid,
            path,
            "ANY already covers every method; the other entries are redundant",
        );
    }
    Some(methods)
}

impl FromJson for RouteRequestPolicies {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let policies = RouteRequestPolicies {
            authorization: o.optional("authorization"),
            cors: o.optional("cors"),
            query_parameter_validations: o.optional("queryParameterValidations"),
            header_validations: o.optional("headerValidations"),
            body_validation: o.optional("bodyValidation"),
            header_transformations: o.optional_with("headerTransformations", |v, p, d| {
                decode_header_transformations(v, p, d, Side::Request)
            }),
            query_parameter_transformations: o.optional_with(
                "queryParameterTransformations",
                decode_query_transformations,
            ),
            response_cache_lookup: o.optional("responseCacheLookup"),
        };
        o.finish();
        Some(policies)
    }
}

impl FromJson for RouteResponsePolicies {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let policies = RouteResponsePolicies {
            header_transformations: o.optional_with("headerTransformations", |v, p, d| {
                decode_header_transformations(v, p, d, Side::Response)
            }),
            response_cache_store: o.optional_alias("responseCacheStore", &["responseCacheStorage"]),
        };
        o.finish();
        Some(policies)
    }
}

impl FromJson for RouteAuthorization {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "authorization type",
            "authorization types",
            &["ANONYMOUS", "AUTHENTICATION_ONLY", "ANY_OF"],
            &[],
        )?;
        let authorization = match tag {
            "ANY_OF" => {
                let scopes = o.required::<Vec<String>>("allowedScope");
                if let Some(scopes) = &scopes {
                    let p = o.at("allowedScope");
                    require_non_empty(o.d(), &p, scopes, "list the scopes that may call the route");
                }
                scopes.map(|allowed_scope| {
                    RouteAuthorization::AnyOf(AnyOfAuthorization { allowed_scope })
                })
            }
            other => {
                // The reference says allowedScope is ignored for these two types.
                o.ignore(
                    "allowedScope",
                    &format!("allowedScope is ignored for {other} authorization"),
                );
                Some(if other == "ANONYMOUS" {
                    RouteAuthorization::Anonymous
                } else {
                    RouteAuthorization::AuthenticationOnly
                })
            }
        };
        o.finish();
        authorization
    }
}

/// Decodes a validation item list and reports repeated names.
fn validation_items(o: &mut Obj<'_, '_>, key: &'static str, header: bool) -> Vec<ValidationItem> {
    let items = o.optional_with(key, |v, p, d| {
        let items = Vec::<ValidationItem>::from_json(v, p, d)?;
        for (i, item) in items.iter().enumerate() {
            let name_path = format!("{}.name", index_path(p, i));
            if header {
                check_header_name(d, &name_path, &item.name);
            } else if item.name.is_empty() {
                d.error(name_path.as_str(), "must not be empty");
            }
            if items[..i]
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&item.name))
            {
                d.warning(
                    Kind::Invalid,
                    name_path,
                    format!("{} is listed twice", item.name),
                );
            }
        }
        Some(items)
    });
    items.unwrap_or_default()
}

impl FromJson for ValidationItem {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let name = o.required::<String>("name");
        let required = o.optional("required");
        o.finish();
        Some(ValidationItem {
            name: name?,
            required,
        })
    }
}

impl FromJson for HeaderValidationPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let validation_mode = o.optional("validationMode");
        let headers = validation_items(&mut o, "headers", true);
        o.finish();
        Some(HeaderValidationPolicy {
            validation_mode,
            headers,
        })
    }
}

impl FromJson for QueryParameterValidationPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let validation_mode = o.optional("validationMode");
        let parameters = validation_items(&mut o, "parameters", false);
        o.finish();
        Some(QueryParameterValidationPolicy {
            validation_mode,
            parameters,
        })
    }
}

impl FromJson for BodyValidationPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let required = o.optional("required");
        let content = o.required_with("content", |v, p, d| {
            // Keys are checked on the raw object so a bad entry does not hide a bad key.
            if let Value::Object(map) = v {
                if map.is_empty() {
                    d.error(p, "must not be empty: list the accepted media types")
                        .hint("e.g. \"application/json\": {\"validationType\": \"NONE\"}");
                }
                for range in map.keys() {
                    check_media_range(d, &key_path(p, range), range);
                }
            }
            BTreeMap::<String, ContentValidation>::from_json(v, p, d)
        });
        let validation_mode = o.optional("validationMode");
        o.finish();
        Some(BodyValidationPolicy {
            required,
            content: content?,
            validation_mode,
        })
    }
}

impl FromJson for ContentValidation {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        o.tag(
            "validationType",
            "validation type",
            "validation types",
            &["NONE"],
            &[],
        )?;
        o.finish();
        Some(ContentValidation::ContentTypeOnly)
    }
}

impl FromJson for ResponseCacheLookupPolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        o.tag(
            "type",
            "cache lookup policy type",
            "cache lookup policy types",
            &["SIMPLE_LOOKUP_POLICY"],
            &[],
        )?;
        let is_enabled = o.optional("isEnabled");
        let is_private_caching_enabled = o.optional("isPrivateCachingEnabled");
        let additions = o
            .optional::<Vec<String>>("cacheKeyAdditions")
            .unwrap_or_default();
        let p = o.at("cacheKeyAdditions");
        o.finish();
        for (i, addition) in additions.iter().enumerate() {
            vars_check::check(d, &index_path(&p, i), VarField::CacheKey, addition);
        }
        Some(ResponseCacheLookupPolicy::Simple(SimpleLookupPolicy {
            is_enabled,
            is_private_caching_enabled,
            cache_key_additions: additions,
        }))
    }
}

impl FromJson for ResponseCacheStorePolicy {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        o.tag(
            "type",
            "cache store policy type",
            "cache store policy types",
            &["FIXED_TTL_STORE_POLICY"],
            &[],
        )?;
        let ttl = o.required::<u32>("timeToLiveInSeconds");
        if ttl == Some(0) {
            let p = o.at("timeToLiveInSeconds");
            o.d().error(p, "must be at least 1, found 0");
        }
        o.finish();
        Some(ResponseCacheStorePolicy::FixedTtl(FixedTtlStorePolicy {
            time_to_live_in_seconds: ttl?,
        }))
    }
}
