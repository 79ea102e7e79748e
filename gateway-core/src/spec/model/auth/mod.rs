//! Deployment authentication (reference 4.1): `CUSTOM_AUTHENTICATION` (an authorizer function),
//! `JWT_AUTHENTICATION` (legacy), `TOKEN_AUTHENTICATION` (current), their key sets, validation
//! policies and failure policies, and `dynamicAuthentication` (several servers selected by a
//! context variable).

mod dynamic;
mod failure;
mod keys;
mod validation;

pub use dynamic::*;
pub use failure::*;
pub use keys::*;
pub use validation::*;

use failure::decode_failure_policy;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::diagnostics::{Diagnostics, Kind};
use crate::spec::checks::check_header_name;
use crate::spec::decode::{
    check_range, index_path, key_path, limit_count, require_non_empty, FromJson, Obj,
};
use crate::spec::vars_check::{self, VarField};

/// A deployment authentication policy, polymorphic on `type`. Also the shape of each
/// `authenticationServerDetail` of a dynamic authentication policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Authentication {
    /// An authorizer function decides (reference 4.1.1, contract in 5).
    #[serde(rename = "CUSTOM_AUTHENTICATION")]
    Custom(CustomAuthentication),
    /// A JWT checked against issuers, audiences and keys (reference 4.1.2; legacy).
    #[serde(rename = "JWT_AUTHENTICATION")]
    Jwt(JwtAuthentication),
    /// A token checked by a validation policy (reference 4.1.3; current).
    #[serde(rename = "TOKEN_AUTHENTICATION")]
    Token(TokenAuthentication),
}

/// The authentication `type` values, in SDK order.
pub const AUTHENTICATION_TYPES: &[&str] = &[
    "CUSTOM_AUTHENTICATION",
    "JWT_AUTHENTICATION",
    "TOKEN_AUTHENTICATION",
];

/// Where a token is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource<'a> {
    /// A request header (`tokenHeader`).
    Header(&'a str),
    /// A query parameter (`tokenQueryParam`).
    QueryParam(&'a str),
}

impl Authentication {
    /// The SDK `type` discriminator.
    pub fn type_name(&self) -> &'static str {
        match self {
            Authentication::Custom(_) => "CUSTOM_AUTHENTICATION",
            Authentication::Jwt(_) => "JWT_AUTHENTICATION",
            Authentication::Token(_) => "TOKEN_AUTHENTICATION",
        }
    }

    /// `isAnonymousAccessAllowed`, default false: must be true for `ANONYMOUS` routes.
    pub fn is_anonymous_access_allowed(&self) -> bool {
        match self {
            Authentication::Custom(a) => a.is_anonymous_access_allowed,
            Authentication::Jwt(a) => a.is_anonymous_access_allowed,
            Authentication::Token(a) => a.is_anonymous_access_allowed,
        }
        .unwrap_or(false)
    }

    /// Where the token is read from; `None` for a multi-argument authorizer.
    pub fn token_source(&self) -> Option<TokenSource<'_>> {
        let (header, query) = match self {
            Authentication::Custom(a) => (&a.token_header, &a.token_query_param),
            Authentication::Jwt(a) => (&a.token_header, &a.token_query_param),
            Authentication::Token(a) => (&a.token_header, &a.token_query_param),
        };
        match (header, query) {
            (Some(h), _) => Some(TokenSource::Header(h)),
            (None, Some(q)) => Some(TokenSource::QueryParam(q)),
            (None, None) => None,
        }
    }
}

/// `CUSTOM_AUTHENTICATION` (reference 4.1.1). Single-argument with `tokenHeader` or
/// `tokenQueryParam`; multi-argument with `parameters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomAuthentication {
    /// The authorizer function's OCID.
    pub function_id: String,
    /// Single-argument form: the header holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,
    /// Single-argument form: the query parameter holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_query_param: Option<String>,
    /// Multi-argument form: argument name → bare context variable; at most 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, String>>,
    /// The `parameters` names that make up the result-cache key; at most 10.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_key: Vec<String>,
    /// Lets `ANONYMOUS` routes through without credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_anonymous_access_allowed: Option<bool>,
    /// What the client gets when authentication fails (default 401 + `WWW-Authenticate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_failure_policy: Option<ValidationFailurePolicy>,
}

impl CustomAuthentication {
    /// The multi-argument form: the function receives `{"type":"USER_DEFINED","data":…}`.
    pub fn is_multi_argument(&self) -> bool {
        self.parameters.is_some()
    }
}

/// `JWT_AUTHENTICATION` (reference 4.1.2).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuthentication {
    /// Allowed `iss` values; at most 5.
    pub issuers: Vec<String>,
    /// Allowed `aud` values; at most 5.
    pub audiences: Vec<String>,
    /// Where the verification keys come from.
    pub public_keys: PublicKeySet,
    /// The header holding the token (exactly one of this and `tokenQueryParam`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,
    /// The query parameter holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_query_param: Option<String>,
    /// The scheme before the token in `tokenHeader`, e.g. `Bearer`; required with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_auth_scheme: Option<String>,
    /// Tolerance on `exp` and `nbf`, 0–120 seconds (a float in the SDK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_clock_skew_in_seconds: Option<f64>,
    /// Extra claim checks; at most 10.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify_claims: Vec<JsonWebTokenClaim>,
    /// Lets `ANONYMOUS` routes through without a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_anonymous_access_allowed: Option<bool>,
}

/// `TOKEN_AUTHENTICATION` (reference 4.1.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenAuthentication {
    /// How the token is validated.
    pub validation_policy: TokenValidationPolicy,
    /// The header holding the token (exactly one of this and `tokenQueryParam`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,
    /// The query parameter holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_query_param: Option<String>,
    /// The scheme before the token in `tokenHeader`; required with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_auth_scheme: Option<String>,
    /// Tolerance on `exp` and `nbf`, 0–120 seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_clock_skew_in_seconds: Option<f64>,
    /// Lets `ANONYMOUS` routes through without a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_anonymous_access_allowed: Option<bool>,
    /// What the client gets when validation fails: a modified response or an OAuth2 flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_failure_policy: Option<ValidationFailurePolicy>,
}

impl FromJson for Authentication {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "authentication type",
            "authentication types",
            AUTHENTICATION_TYPES,
            &[],
        )?;
        let auth = match tag {
            "CUSTOM_AUTHENTICATION" => decode_custom(&mut o).map(Authentication::Custom),
            "JWT_AUTHENTICATION" => decode_jwt(&mut o).map(Authentication::Jwt),
            _ => decode_token(&mut o).map(Authentication::Token),
        };
        o.finish();
        auth
    }
}

/// The token-location fields shared by JWT and TOKEN authentication.
struct TokenFields {
    header: Option<String>,
    query_param: Option<String>,
    auth_scheme: Option<String>,
    max_clock_skew: Option<f64>,
}

/// Reads and checks the token fields: exactly one of `tokenHeader` / `tokenQueryParam`, and
/// `tokenAuthScheme` with `tokenHeader` (reference 4.1.2).
fn decode_token_fields(o: &mut Obj<'_, '_>, type_name: &str) -> TokenFields {
    let header = o.optional::<String>("tokenHeader");
    let query_param = o.optional::<String>("tokenQueryParam");
    let auth_scheme = o.optional::<String>("tokenAuthScheme");
    let max_clock_skew = o.optional::<f64>("maxClockSkewInSeconds");
    let path = o.path().to_owned();
    let d = o.d();
    match (&header, &query_param) {
        (Some(_), Some(_)) => {
            d.error(
                path.as_str(),
                "tokenHeader and tokenQueryParam are mutually exclusive",
            )
            .hint("keep one: the token is read from a header or from a query parameter");
        }
        (None, None) if !has_key_error(d, &path) => {
            d.error(path.as_str(), "missing tokenHeader or tokenQueryParam").hint(format!(
                "{type_name} reads the token from a header (tokenHeader with tokenAuthScheme) or a query parameter (tokenQueryParam)"
            ));
        }
        _ => {}
    }
    if let Some(h) = &header {
        check_header_name(d, &key_path(&path, "tokenHeader"), h);
        if auth_scheme.is_none() {
            d.error(path.as_str(), "missing required key \"tokenAuthScheme\"")
                .hint("tokenAuthScheme is required with tokenHeader, e.g. \"Bearer\"");
        }
    } else if auth_scheme.is_some() && query_param.is_some() {
        d.warning(
            Kind::Invalid,
            key_path(&path, "tokenAuthScheme"),
            "tokenAuthScheme is only used with tokenHeader; it has no effect here",
        );
    }
    if query_param.as_deref() == Some("") {
        d.error(key_path(&path, "tokenQueryParam"), "must not be empty");
    }
    if let Some(skew) = max_clock_skew {
        check_range(
            d,
            &key_path(&path, "maxClockSkewInSeconds"),
            skew,
            0.0,
            120.0,
        );
    }
    TokenFields {
        header,
        query_param,
        auth_scheme,
        max_clock_skew,
    }
}

/// Whether a token field itself failed to decode (then "missing" would be a second, false
/// report of the same mistake).
fn has_key_error(d: &Diagnostics, path: &str) -> bool {
    ["tokenHeader", "tokenQueryParam"]
        .iter()
        .any(|k| d.errors().any(|e| e.path == key_path(path, k)))
}

fn decode_custom(o: &mut Obj<'_, '_>) -> Option<CustomAuthentication> {
    let function_id = o.required::<String>("functionId");
    let token_header = o.optional::<String>("tokenHeader");
    let token_query_param = o.optional::<String>("tokenQueryParam");
    let parameters = o.optional::<BTreeMap<String, String>>("parameters");
    let cache_key = o.optional::<Vec<String>>("cacheKey").unwrap_or_default();
    let is_anonymous_access_allowed = o.optional("isAnonymousAccessAllowed");
    let validation_failure_policy = o.optional_with("validationFailurePolicy", |v, p, d| {
        decode_failure_policy(v, p, d, false)
    });
    let path = o.path().to_owned();
    let has_parameters = o.has("parameters");
    let d = o.d();
    if function_id.as_deref() == Some("") {
        d.error(key_path(&path, "functionId"), "must not be empty");
    }
    if token_header.is_some() && token_query_param.is_some() {
        d.error(
            path.as_str(),
            "tokenHeader and tokenQueryParam are mutually exclusive",
        )
        .hint("a single-argument authorizer reads one token: keep one of them");
    }
    if has_parameters && (token_header.is_some() || token_query_param.is_some()) {
        d.error(
            key_path(&path, "parameters"),
            "parameters (multi-argument) cannot be combined with tokenHeader or tokenQueryParam (single-argument)",
        )
        .hint("pass the token as one of the parameters, e.g. \"token\": \"request.headers[Authorization]\"");
    }
    if !has_parameters && token_header.is_none() && token_query_param.is_none() {
        d.warning(
            Kind::Invalid,
            path.as_str(),
            "neither tokenHeader, tokenQueryParam nor parameters: the authorizer function receives no token",
        );
    }
    if let Some(h) = &token_header {
        check_header_name(d, &key_path(&path, "tokenHeader"), h);
    }
    if let Some(params) = &parameters {
        let params_path = key_path(&path, "parameters");
        limit_count(d, &params_path, params.len(), 10, "authorizer parameters");
        for (name, var) in params {
            let p = key_path(&params_path, name);
            if name.is_empty() {
                d.error(p.as_str(), "an argument name must not be empty");
            }
            vars_check::check(d, &p, VarField::AuthorizerParameter, var);
        }
    }
    let cache_path = key_path(&path, "cacheKey");
    limit_count(d, &cache_path, cache_key.len(), 10, "cacheKey entries");
    if !cache_key.is_empty() && !has_parameters {
        d.error(cache_path.as_str(), "cacheKey needs parameters")
            .hint("cacheKey lists names of the multi-argument parameters");
    } else if let Some(params) = &parameters {
        for (i, name) in cache_key.iter().enumerate() {
            if !params.contains_key(name) {
                let known: Vec<&str> = params.keys().map(String::as_str).collect();
                d.error(
                    index_path(&cache_path, i),
                    format!("\"{name}\" is not a name in parameters"),
                )
                .hint(format!("parameters names: {}", known.join(", ")));
            }
        }
        if !cache_key.is_empty() {
            for (name, var) in params {
                if !cache_key.contains(name) && looks_like_credential(name, var) {
                    d.warning(
                        Kind::Invalid,
                        cache_path.as_str(),
                        format!("cacheKey leaves out \"{name}\" ({var}), which looks like a credential"),
                    )
                    .hint(format!(
                        "callers that differ only in \"{name}\" would share one cached authorizer result; add it to cacheKey"
                    ));
                }
            }
        }
    }
    Some(CustomAuthentication {
        function_id: function_id?,
        token_header,
        token_query_param,
        parameters,
        cache_key,
        is_anonymous_access_allowed,
        validation_failure_policy,
    })
}

/// Whether an authorizer argument probably carries a credential, judged by its name and the
/// context variable it reads (`request.headers[Authorization]`, a `token` query parameter, …).
fn looks_like_credential(name: &str, var: &str) -> bool {
    const WORDS: [&str; 9] = [
        "auth",
        "token",
        "key",
        "secret",
        "password",
        "session",
        "cookie",
        "credential",
        "jwt",
    ];
    let (name, var) = (name.to_ascii_lowercase(), var.to_ascii_lowercase());
    WORDS.iter().any(|w| name.contains(w) || var.contains(w))
}

fn decode_jwt(o: &mut Obj<'_, '_>) -> Option<JwtAuthentication> {
    let issuers = o.required::<Vec<String>>("issuers");
    let audiences = o.required::<Vec<String>>("audiences");
    let public_keys = o.required::<PublicKeySet>("publicKeys");
    let verify_claims = o
        .optional::<Vec<JsonWebTokenClaim>>("verifyClaims")
        .unwrap_or_default();
    let is_anonymous_access_allowed = o.optional("isAnonymousAccessAllowed");
    let token = decode_token_fields(o, "JWT_AUTHENTICATION");
    let (issuers_path, audiences_path, claims_path) =
        (o.at("issuers"), o.at("audiences"), o.at("verifyClaims"));
    let d = o.d();
    if let Some(issuers) = &issuers {
        require_non_empty(d, &issuers_path, issuers, "list the allowed token issuers");
        limit_count(d, &issuers_path, issuers.len(), 5, "issuers");
    }
    if let Some(audiences) = &audiences {
        require_non_empty(
            d,
            &audiences_path,
            audiences,
            "list the allowed token audiences",
        );
        limit_count(d, &audiences_path, audiences.len(), 5, "audiences");
    }
    limit_count(
        d,
        &claims_path,
        verify_claims.len(),
        10,
        "verifyClaims entries",
    );
    Some(JwtAuthentication {
        issuers: issuers?,
        audiences: audiences?,
        public_keys: public_keys?,
        token_header: token.header,
        token_query_param: token.query_param,
        token_auth_scheme: token.auth_scheme,
        max_clock_skew_in_seconds: token.max_clock_skew,
        verify_claims,
        is_anonymous_access_allowed,
    })
}

fn decode_token(o: &mut Obj<'_, '_>) -> Option<TokenAuthentication> {
    let validation_policy = o.required::<TokenValidationPolicy>("validationPolicy");
    // OAUTH2 needs REMOTE_DISCOVERY; if the validation policy failed to load, do not guess.
    let oauth2_allowed = match &validation_policy {
        Some(TokenValidationPolicy::RemoteDiscovery(_)) | None => true,
        Some(_) => false,
    };
    let validation_failure_policy = o.optional_with("validationFailurePolicy", |v, p, d| {
        decode_failure_policy(v, p, d, oauth2_allowed)
    });
    let is_anonymous_access_allowed = o.optional("isAnonymousAccessAllowed");
    let token = decode_token_fields(o, "TOKEN_AUTHENTICATION");
    Some(TokenAuthentication {
        validation_policy: validation_policy?,
        token_header: token.header,
        token_query_param: token.query_param,
        token_auth_scheme: token.auth_scheme,
        max_clock_skew_in_seconds: token.max_clock_skew,
        is_anonymous_access_allowed,
        validation_failure_policy,
    })
}
