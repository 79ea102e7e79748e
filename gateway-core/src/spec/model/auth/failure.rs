//! Validation failure policies (reference 4.1.1, 4.1.3): `MODIFY_RESPONSE` and `OAUTH2`.

use serde::Serialize;
use serde_json::Value;

use super::{ClientAppDetails, SourceUriDetails};
use crate::diagnostics::Diagnostics;
use crate::spec::decode::Obj;
use crate::spec::model::enums::ResponseType;
use crate::spec::model::transform::{decode_header_transformations, HeaderTransformations, Side};
use crate::spec::vars_check::{self, VarField};

/// `validationFailurePolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ValidationFailurePolicy {
    /// Answer with a configured status, body and headers.
    #[serde(rename = "MODIFY_RESPONSE")]
    ModifyResponse(ModifyResponseValidationFailurePolicy),
    /// Start an OpenID Connect code flow (TOKEN + REMOTE_DISCOVERY only).
    #[serde(rename = "OAUTH2")]
    OAuth2(OAuth2ResponseValidationFailurePolicy),
}

/// `MODIFY_RESPONSE` (reference 4.1.1).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyResponseValidationFailurePolicy {
    /// A **string**: a status such as `"302"`, or a bare context variable such as
    /// `request.auth[responseCode]` (a value the authorizer returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
    /// The body; may contain `${…}` variables except `request.body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_message: Option<String>,
    /// Header transformations applied to the failure response (doc spellings
    /// `headerTransformations` / `responseTransformations`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_header_transformations: Option<HeaderTransformations>,
}

/// `OAUTH2` failure policy (reference 4.1.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2ResponseValidationFailurePolicy {
    /// The gateway's OAuth2 client (often `VALIDATION_BLOCK`).
    pub client_details: ClientAppDetails,
    /// The discovery document (often `VALIDATION_BLOCK`).
    pub source_uri_details: SourceUriDetails,
    /// Requested scopes; must include `openid`.
    pub scopes: Vec<String>,
    /// `CODE` (doc spelling `code`).
    pub response_type: ResponseType,
    /// How long the session lasts, in hours (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_expiry_duration_in_hours: Option<u32>,
    /// Keep the session in a cookie (plus `X-CSRF-TOKEN`) instead of `X-APIGW-TOKEN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_cookies_for_session: Option<bool>,
    /// Keep the flow's intermediate state in cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_cookies_for_intermediate_steps: Option<bool>,
    /// Use PKCE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_pkce: Option<bool>,
    /// Where to go after the flow when the original URL is unusable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_redirect_path: Option<String>,
    /// The logout path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logout_path: Option<String>,
}

/// Decodes a `validationFailurePolicy`; `OAUTH2` is reported unless `oauth2_allowed`
/// (TOKEN authentication with a REMOTE_DISCOVERY validation policy).
pub(super) fn decode_failure_policy(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    oauth2_allowed: bool,
) -> Option<ValidationFailurePolicy> {
    let mut o = Obj::new(value, path, d)?;
    let tag = o.tag(
        "type",
        "validation failure policy type",
        "validation failure policy types",
        &["MODIFY_RESPONSE", "OAUTH2"],
        &[],
    )?;
    let policy = if tag == "MODIFY_RESPONSE" {
        let response_code = o.optional::<String>("responseCode");
        if let Some(code) = &response_code {
            let p = o.at("responseCode");
            vars_check::check_response_code(o.d(), &p, code);
        }
        let response_message = o.optional::<String>("responseMessage");
        if let Some(message) = &response_message {
            let p = o.at("responseMessage");
            vars_check::check(o.d(), &p, VarField::ResponseMessage, message);
        }
        let response_header_transformations = o.optional_alias_with(
            "responseHeaderTransformations",
            &["headerTransformations", "responseTransformations"],
            |v, p, d| decode_header_transformations(v, p, d, Side::Response),
        );
        Some(ValidationFailurePolicy::ModifyResponse(
            ModifyResponseValidationFailurePolicy {
                response_code,
                response_message,
                response_header_transformations,
            },
        ))
    } else {
        if !oauth2_allowed {
            let p = o.at("type");
            o.d()
                .error(p, "an OAUTH2 validation failure policy needs TOKEN_AUTHENTICATION with a REMOTE_DISCOVERY validation policy")
                .hint("use MODIFY_RESPONSE, or switch to TOKEN_AUTHENTICATION with REMOTE_DISCOVERY");
        }
        decode_oauth2(&mut o).map(ValidationFailurePolicy::OAuth2)
    };
    o.finish();
    policy
}

fn decode_oauth2(o: &mut Obj<'_, '_>) -> Option<OAuth2ResponseValidationFailurePolicy> {
    let client_details = o.required::<ClientAppDetails>("clientDetails");
    let source_uri_details = o.required::<SourceUriDetails>("sourceUriDetails");
    let scopes = o.required::<Vec<String>>("scopes");
    if let Some(scopes) = &scopes {
        if !scopes.iter().any(|s| s == "openid") {
            let p = o.at("scopes");
            o.d()
                .error(p, "scopes must include \"openid\"")
                .hint("OpenID Connect needs the openid scope");
        }
    }
    let response_type = o.required::<ResponseType>("responseType");
    let max_expiry_duration_in_hours = o.optional::<u32>("maxExpiryDurationInHours");
    if max_expiry_duration_in_hours == Some(0) {
        let p = o.at("maxExpiryDurationInHours");
        o.d().error(p, "must be at least 1, found 0");
    }
    let use_cookies_for_session = o.optional("useCookiesForSession");
    let use_cookies_for_intermediate_steps = o.optional("useCookiesForIntermediateSteps");
    let use_pkce = o.optional("usePkce");
    let fallback_redirect_path = o.optional("fallbackRedirectPath");
    let logout_path = o.optional("logoutPath");
    Some(OAuth2ResponseValidationFailurePolicy {
        client_details: client_details?,
        source_uri_details: source_uri_details?,
        scopes: scopes?,
        response_type: response_type?,
        max_expiry_duration_in_hours,
        use_cookies_for_session,
        use_cookies_for_intermediate_steps,
        use_pkce,
        fallback_redirect_path,
        logout_path,
    })
}
