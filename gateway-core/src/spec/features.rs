//! What a specification uses, feature by feature, with the JSON path of each use.
//!
//! Another module compares this list with what the build enforces, so a deployment never
//! silently ignores a policy. The walk therefore covers *everything* a spec can hold: every
//! back end (nested routing back ends included), authentication type and its key / validation
//! / failure policies, authorization, every request and response policy, and logging.

use serde::Serialize;

use crate::spec::model::{
    ApiSpecification, Authentication, Backend, HeaderTransformations, LoggingPolicies,
    PublicKeySet, QueryParameterTransformations, RouteAuthorization, TokenValidationPolicy,
    ValidationFailurePolicy,
};

/// One feature of the OCI specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Feature {
    /// `HTTP_BACKEND`.
    HttpBackend,
    /// `ORACLE_FUNCTIONS_BACKEND`.
    OracleFunctionsBackend,
    /// `STOCK_RESPONSE_BACKEND`.
    StockResponseBackend,
    /// `DYNAMIC_ROUTING_BACKEND`.
    DynamicRoutingBackend,
    /// `OAUTH2_LOGOUT_BACKEND`.
    OAuth2LogoutBackend,
    /// `CUSTOM_AUTHENTICATION` with `tokenHeader` / `tokenQueryParam` (or neither).
    CustomAuthenticationSingleArgument,
    /// `CUSTOM_AUTHENTICATION` with `parameters`.
    CustomAuthenticationMultiArgument,
    /// `JWT_AUTHENTICATION`.
    JwtAuthentication,
    /// `TOKEN_AUTHENTICATION`.
    TokenAuthentication,
    /// `requestPolicies.dynamicAuthentication`.
    DynamicAuthentication,
    /// Keys from a JWKS URI (JWT `publicKeys` or TOKEN `validationPolicy`).
    RemoteJwks,
    /// Keys in the spec (JWT `publicKeys` or TOKEN `validationPolicy`).
    StaticKeys,
    /// TOKEN `validationPolicy` `REMOTE_DISCOVERY` (OAuth2 introspection).
    RemoteDiscovery,
    /// `validationFailurePolicy` `MODIFY_RESPONSE`.
    ModifyResponseFailurePolicy,
    /// `validationFailurePolicy` `OAUTH2` (OpenID Connect code flow).
    OAuth2FailurePolicy,
    /// Route `authorization` `ANONYMOUS`.
    AnonymousAuthorization,
    /// Route `authorization` `AUTHENTICATION_ONLY`.
    AuthenticationOnlyAuthorization,
    /// Route `authorization` `ANY_OF`.
    AnyOfAuthorization,
    /// `cors` (deployment or route).
    Cors,
    /// `rateLimiting`.
    RateLimiting,
    /// `usagePlans`.
    UsagePlans,
    /// `mutualTls`.
    MutualTls,
    /// `headerValidations`.
    HeaderValidations,
    /// `queryParameterValidations`.
    QueryParameterValidations,
    /// `bodyValidation`.
    BodyValidation,
    /// Request `headerTransformations.setHeaders`.
    SetHeaders,
    /// Request `headerTransformations.renameHeaders`.
    RenameHeaders,
    /// Request `headerTransformations.filterHeaders`.
    FilterHeaders,
    /// `queryParameterTransformations.setQueryParameters`.
    SetQueryParameters,
    /// `queryParameterTransformations.renameQueryParameters`.
    RenameQueryParameters,
    /// `queryParameterTransformations.filterQueryParameters`.
    FilterQueryParameters,
    /// Response `headerTransformations.setHeaders`.
    ResponseSetHeaders,
    /// Response `headerTransformations.renameHeaders`.
    ResponseRenameHeaders,
    /// Response `headerTransformations.filterHeaders`.
    ResponseFilterHeaders,
    /// `responseCacheLookup`.
    ResponseCacheLookup,
    /// `responseCacheStore`.
    ResponseCacheStore,
    /// `loggingPolicies.accessLog` (deployment or route).
    AccessLog,
    /// `loggingPolicies.executionLog` (deployment or route).
    ExecutionLog,
}

impl Feature {
    /// Every feature, in declaration order.
    pub const ALL: &'static [Feature] = &[
        Feature::HttpBackend,
        Feature::OracleFunctionsBackend,
        Feature::StockResponseBackend,
        Feature::DynamicRoutingBackend,
        Feature::OAuth2LogoutBackend,
        Feature::CustomAuthenticationSingleArgument,
        Feature::CustomAuthenticationMultiArgument,
        Feature::JwtAuthentication,
        Feature::TokenAuthentication,
        Feature::DynamicAuthentication,
        Feature::RemoteJwks,
        Feature::StaticKeys,
        Feature::RemoteDiscovery,
        Feature::ModifyResponseFailurePolicy,
        Feature::OAuth2FailurePolicy,
        Feature::AnonymousAuthorization,
        Feature::AuthenticationOnlyAuthorization,
        Feature::AnyOfAuthorization,
        Feature::Cors,
        Feature::RateLimiting,
        Feature::UsagePlans,
        Feature::MutualTls,
        Feature::HeaderValidations,
        Feature::QueryParameterValidations,
        Feature::BodyValidation,
        Feature::SetHeaders,
        Feature::RenameHeaders,
        Feature::FilterHeaders,
        Feature::SetQueryParameters,
        Feature::RenameQueryParameters,
        Feature::FilterQueryParameters,
        Feature::ResponseSetHeaders,
        Feature::ResponseRenameHeaders,
        Feature::ResponseFilterHeaders,
        Feature::ResponseCacheLookup,
        Feature::ResponseCacheStore,
        Feature::AccessLog,
        Feature::ExecutionLog,
    ];

    /// A stable name: the SDK discriminator, or the policy's place in the spec.
    pub const fn name(&self) -> &'static str {
        match self {
            Feature::HttpBackend => "HTTP_BACKEND",
            Feature::OracleFunctionsBackend => "ORACLE_FUNCTIONS_BACKEND",
            Feature::StockResponseBackend => "STOCK_RESPONSE_BACKEND",
            Feature::DynamicRoutingBackend => "DYNAMIC_ROUTING_BACKEND",
            Feature::OAuth2LogoutBackend => "OAUTH2_LOGOUT_BACKEND",
            Feature::CustomAuthenticationSingleArgument => {
                "CUSTOM_AUTHENTICATION (single-argument)"
            }
            Feature::CustomAuthenticationMultiArgument => "CUSTOM_AUTHENTICATION (multi-argument)",
            Feature::JwtAuthentication => "JWT_AUTHENTICATION",
            Feature::TokenAuthentication => "TOKEN_AUTHENTICATION",
            Feature::DynamicAuthentication => "requestPolicies.dynamicAuthentication",
            Feature::RemoteJwks => "REMOTE_JWKS",
            Feature::StaticKeys => "STATIC_KEYS",
            Feature::RemoteDiscovery => "REMOTE_DISCOVERY",
            Feature::ModifyResponseFailurePolicy => "validationFailurePolicy.MODIFY_RESPONSE",
            Feature::OAuth2FailurePolicy => "validationFailurePolicy.OAUTH2",
            Feature::AnonymousAuthorization => "authorization.ANONYMOUS",
            Feature::AuthenticationOnlyAuthorization => "authorization.AUTHENTICATION_ONLY",
            Feature::AnyOfAuthorization => "authorization.ANY_OF",
            Feature::Cors => "requestPolicies.cors",
            Feature::RateLimiting => "requestPolicies.rateLimiting",
            Feature::UsagePlans => "requestPolicies.usagePlans",
            Feature::MutualTls => "requestPolicies.mutualTls",
            Feature::HeaderValidations => "requestPolicies.headerValidations",
            Feature::QueryParameterValidations => "requestPolicies.queryParameterValidations",
            Feature::BodyValidation => "requestPolicies.bodyValidation",
            Feature::SetHeaders => "requestPolicies.headerTransformations.setHeaders",
            Feature::RenameHeaders => "requestPolicies.headerTransformations.renameHeaders",
            Feature::FilterHeaders => "requestPolicies.headerTransformations.filterHeaders",
            Feature::SetQueryParameters => {
                "requestPolicies.queryParameterTransformations.setQueryParameters"
            }
            Feature::RenameQueryParameters => {
                "requestPolicies.queryParameterTransformations.renameQueryParameters"
            }
            Feature::FilterQueryParameters => {
                "requestPolicies.queryParameterTransformations.filterQueryParameters"
            }
            Feature::ResponseSetHeaders => "responsePolicies.headerTransformations.setHeaders",
            Feature::ResponseRenameHeaders => {
                "responsePolicies.headerTransformations.renameHeaders"
            }
            Feature::ResponseFilterHeaders => {
                "responsePolicies.headerTransformations.filterHeaders"
            }
            Feature::ResponseCacheLookup => "requestPolicies.responseCacheLookup",
            Feature::ResponseCacheStore => "responsePolicies.responseCacheStore",
            Feature::AccessLog => "loggingPolicies.accessLog",
            Feature::ExecutionLog => "loggingPolicies.executionLog",
        }
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One use of a feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureUse {
    /// JSON path of the object using the feature, e.g. `routes[2].backend`.
    pub path: String,
    /// The route index, for route-level uses.
    pub route: Option<usize>,
    /// The feature.
    pub feature: Feature,
}

impl ApiSpecification {
    /// Every feature the specification uses, in document order, one entry per use.
    pub fn features(&self) -> Vec<FeatureUse> {
        let mut w = Walk {
            out: Vec::new(),
            route: None,
        };
        if let Some(logging) = &self.logging_policies {
            w.logging("loggingPolicies", logging);
        }
        if let Some(p) = &self.request_policies {
            if let Some(auth) = &p.authentication {
                w.authentication("requestPolicies.authentication", auth);
            }
            if let Some(dynamic) = &p.dynamic_authentication {
                let path = "requestPolicies.dynamicAuthentication";
                w.push(path.to_owned(), Feature::DynamicAuthentication);
                for (i, server) in dynamic.authentication_servers.iter().enumerate() {
                    let at =
                        format!("{path}.authenticationServers[{i}].authenticationServerDetail");
                    w.authentication(&at, &server.authentication_server_detail);
                }
            }
            let deployment = [
                (
                    p.rate_limiting.is_some(),
                    "rateLimiting",
                    Feature::RateLimiting,
                ),
                (p.cors.is_some(), "cors", Feature::Cors),
                (p.mutual_tls.is_some(), "mutualTls", Feature::MutualTls),
                (p.usage_plans.is_some(), "usagePlans", Feature::UsagePlans),
            ];
            for (present, key, feature) in deployment {
                if present {
                    w.push(format!("requestPolicies.{key}"), feature);
                }
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            w.route = Some(i);
            let base = format!("routes[{i}]");
            w.backend(&format!("{base}.backend"), &route.backend);
            if let Some(p) = &route.request_policies {
                let at = |key: &str| format!("{base}.requestPolicies.{key}");
                if let Some(authorization) = &p.authorization {
                    let feature = match authorization {
                        RouteAuthorization::Anonymous => Feature::AnonymousAuthorization,
                        RouteAuthorization::AuthenticationOnly => {
                            Feature::AuthenticationOnlyAuthorization
                        }
                        RouteAuthorization::AnyOf(_) => Feature::AnyOfAuthorization,
                    };
                    w.push(at("authorization"), feature);
                }
                let simple = [
                    (p.cors.is_some(), "cors", Feature::Cors),
                    (
                        p.header_validations.is_some(),
                        "headerValidations",
                        Feature::HeaderValidations,
                    ),
                    (
                        p.query_parameter_validations.is_some(),
                        "queryParameterValidations",
                        Feature::QueryParameterValidations,
                    ),
                    (
                        p.body_validation.is_some(),
                        "bodyValidation",
                        Feature::BodyValidation,
                    ),
                ];
                for (present, key, feature) in simple {
                    if present {
                        w.push(at(key), feature);
                    }
                }
                if let Some(t) = &p.header_transformations {
                    let features = [
                        Feature::SetHeaders,
                        Feature::RenameHeaders,
                        Feature::FilterHeaders,
                    ];
                    w.headers(&at("headerTransformations"), t, features);
                }
                if let Some(t) = &p.query_parameter_transformations {
                    w.query(&at("queryParameterTransformations"), t);
                }
                if p.response_cache_lookup.is_some() {
                    w.push(at("responseCacheLookup"), Feature::ResponseCacheLookup);
                }
            }
            if let Some(p) = &route.response_policies {
                if let Some(t) = &p.header_transformations {
                    let features = [
                        Feature::ResponseSetHeaders,
                        Feature::ResponseRenameHeaders,
                        Feature::ResponseFilterHeaders,
                    ];
                    w.headers(
                        &format!("{base}.responsePolicies.headerTransformations"),
                        t,
                        features,
                    );
                }
                if p.response_cache_store.is_some() {
                    w.push(
                        format!("{base}.responsePolicies.responseCacheStore"),
                        Feature::ResponseCacheStore,
                    );
                }
            }
            if let Some(logging) = &route.logging_policies {
                w.logging(&format!("{base}.loggingPolicies"), logging);
            }
        }
        w.out
    }
}

/// The walk's state: the output and the route being walked.
struct Walk {
    out: Vec<FeatureUse>,
    route: Option<usize>,
}

impl Walk {
    fn push(&mut self, path: String, feature: Feature) {
        self.out.push(FeatureUse {
            path,
            route: self.route,
            feature,
        });
    }

    fn logging(&mut self, path: &str, logging: &LoggingPolicies) {
        if logging.access_log.is_some() {
            self.push(format!("{path}.accessLog"), Feature::AccessLog);
        }
        if logging.execution_log.is_some() {
            self.push(format!("{path}.executionLog"), Feature::ExecutionLog);
        }
    }

    fn authentication(&mut self, path: &str, auth: &Authentication) {
        let failure = match auth {
            Authentication::Custom(c) => {
                let feature = if c.is_multi_argument() {
                    Feature::CustomAuthenticationMultiArgument
                } else {
                    Feature::CustomAuthenticationSingleArgument
                };
                self.push(path.to_owned(), feature);
                c.validation_failure_policy.as_ref()
            }
            Authentication::Jwt(j) => {
                self.push(path.to_owned(), Feature::JwtAuthentication);
                let keys = match j.public_keys {
                    PublicKeySet::RemoteJwks(_) => Feature::RemoteJwks,
                    PublicKeySet::StaticKeys(_) => Feature::StaticKeys,
                };
                self.push(format!("{path}.publicKeys"), keys);
                None
            }
            Authentication::Token(t) => {
                self.push(path.to_owned(), Feature::TokenAuthentication);
                let validation = match t.validation_policy {
                    TokenValidationPolicy::RemoteJwks(_) => Feature::RemoteJwks,
                    TokenValidationPolicy::StaticKeys(_) => Feature::StaticKeys,
                    TokenValidationPolicy::RemoteDiscovery(_) => Feature::RemoteDiscovery,
                };
                self.push(format!("{path}.validationPolicy"), validation);
                t.validation_failure_policy.as_ref()
            }
        };
        if let Some(policy) = failure {
            let feature = match policy {
                ValidationFailurePolicy::ModifyResponse(_) => Feature::ModifyResponseFailurePolicy,
                ValidationFailurePolicy::OAuth2(_) => Feature::OAuth2FailurePolicy,
            };
            self.push(format!("{path}.validationFailurePolicy"), feature);
        }
    }

    fn backend(&mut self, path: &str, backend: &Backend) {
        let feature = match backend {
            Backend::Http(_) => Feature::HttpBackend,
            Backend::OracleFunctions(_) => Feature::OracleFunctionsBackend,
            Backend::StockResponse(_) => Feature::StockResponseBackend,
            Backend::DynamicRouting(_) => Feature::DynamicRoutingBackend,
            Backend::OAuth2Logout(_) => Feature::OAuth2LogoutBackend,
        };
        self.push(path.to_owned(), feature);
        if let Backend::DynamicRouting(dynamic) = backend {
            for (i, branch) in dynamic.routing_backends.iter().enumerate() {
                self.backend(
                    &format!("{path}.routingBackends[{i}].backend"),
                    &branch.backend,
                );
            }
        }
    }

    fn headers(
        &mut self,
        path: &str,
        t: &HeaderTransformations,
        [set, rename, filter]: [Feature; 3],
    ) {
        if t.set_headers.is_some() {
            self.push(format!("{path}.setHeaders"), set);
        }
        if t.rename_headers.is_some() {
            self.push(format!("{path}.renameHeaders"), rename);
        }
        if t.filter_headers.is_some() {
            self.push(format!("{path}.filterHeaders"), filter);
        }
    }

    fn query(&mut self, path: &str, t: &QueryParameterTransformations) {
        if t.set_query_parameters.is_some() {
            self.push(
                format!("{path}.setQueryParameters"),
                Feature::SetQueryParameters,
            );
        }
        if t.rename_query_parameters.is_some() {
            self.push(
                format!("{path}.renameQueryParameters"),
                Feature::RenameQueryParameters,
            );
        }
        if t.filter_query_parameters.is_some() {
            self.push(
                format!("{path}.filterQueryParameters"),
                Feature::FilterQueryParameters,
            );
        }
    }
}
