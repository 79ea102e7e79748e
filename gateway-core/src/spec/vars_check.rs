//! Context-variable checks for the fields that hold them (reference 6 "Where allowed", 3.4,
//! 4.1.1, 4.1.4, 4.5, 4.9). The model keeps the raw strings; the assembly compiles them later.
//! Checking them here means a typo in `${request.heders[x]}` is a load error, not a silent
//! empty string at run time.

use crate::diagnostics::Diagnostics;
use crate::spec::decode::check_range;
use crate::vars::{Selector, TableSet, Template, VarError};

/// Which field is being checked; decides the form (bare / embedded) and the allowed tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarField {
    /// HTTP back-end `url`: embedded, every table but `request.body`.
    Url,
    /// Header / query transformation `values`: embedded, no `request.body`.
    TransformValue,
    /// `MODIFY_RESPONSE` `responseMessage`: embedded, no `request.body`.
    ResponseMessage,
    /// Dynamic-routing `selector`: bare.
    RoutingSelector,
    /// Dynamic-authentication `selector`: bare, no usage plan.
    AuthSelector,
    /// Multi-argument authorizer `parameters` values: bare; query, headers, cert, host, body.
    AuthorizerParameter,
    /// Usage-plan `tokenLocations`: bare.
    TokenLocation,
    /// `cacheKeyAdditions`: bare or wrapped whole in `${…}`.
    CacheKey,
    /// Logout `postLogoutState`: bare or wrapped whole in `${…}`.
    LogoutState,
    /// Logout `allowedPostLogoutUris`: embedded.
    LogoutUri,
}

/// How a field writes its variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `${…}` inside literal text.
    Embedded,
    /// The whole field is one variable.
    Bare,
    /// Bare, or one variable wrapped whole in `${…}` (docs and SDK disagree, reference 4.9).
    Either,
}

/// A dynamic-authentication selector: the routing selector's tables but the usage plan
/// (reference 4.1.4), which is only known after authentication.
const AUTH_SELECTOR: TableSet = TableSet::PATH
    .union(TableSet::QUERY)
    .union(TableSet::HEADERS)
    .union(TableSet::AUTH)
    .union(TableSet::HOST)
    .union(TableSet::SUBDOMAIN);

impl VarField {
    fn rules(self) -> (Form, TableSet) {
        match self {
            VarField::Url
            | VarField::TransformValue
            | VarField::ResponseMessage
            | VarField::LogoutUri => (Form::Embedded, TableSet::REQUEST),
            VarField::RoutingSelector => (Form::Bare, TableSet::SELECTOR),
            VarField::AuthSelector => (Form::Bare, AUTH_SELECTOR),
            VarField::AuthorizerParameter => (Form::Bare, TableSet::AUTHORIZER_PARAMETERS),
            VarField::TokenLocation => (Form::Bare, TableSet::TOKEN_LOCATIONS),
            VarField::CacheKey => (Form::Either, TableSet::CACHE_KEY),
            VarField::LogoutState => (Form::Either, TableSet::REQUEST),
        }
    }
}

/// Checks `text` for `field`, reporting a syntax error or a table not allowed there.
pub(crate) fn check(d: &mut Diagnostics, path: &str, field: VarField, text: &str) {
    let (form, allowed) = field.rules();
    let result = match form {
        Form::Embedded => Template::parse(text, allowed).map(drop),
        Form::Bare => Selector::parse(text, allowed).map(drop),
        Form::Either => Selector::parse_either(text, allowed).map(drop),
    };
    if let Err(e) = result {
        report(d, path, e);
    }
}

/// `MODIFY_RESPONSE` `responseCode`: a literal status (100–599) or a bare variable such as
/// `request.auth[responseCode]`.
pub(crate) fn check_response_code(d: &mut Diagnostics, path: &str, text: &str) {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        match text.parse::<u16>() {
            Ok(code) => check_range(d, path, code, 100, 599),
            Err(_) => {
                d.error(path, format!("must be between 100 and 599, found {text}"));
            }
        }
    } else if let Err(e) = Selector::parse(text, TableSet::REQUEST) {
        report(d, path, e);
    }
}

fn report(d: &mut Diagnostics, path: &str, e: VarError) {
    let diag = d.error(path, e.to_string());
    if let Some(hint) = e.hint {
        diag.hint(hint);
    }
}
