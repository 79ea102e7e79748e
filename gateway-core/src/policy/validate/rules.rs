//! The compiled validations and the checks they make.

use http::header::CONTENT_TYPE;
use http::{Extensions, HeaderMap, HeaderName, Request};
use tracing::info;

use super::media::{MediaRange, MediaRanges, MediaType};
use super::peek::{presence, Presence};
use crate::body::Body;
use crate::context::RequestContext;
use crate::diagnostics::Diagnostics;
use crate::policy::query::pairs;
use crate::spec::{
    BodyValidationPolicy, HeaderValidationPolicy, QueryParameterValidationPolicy,
    RouteRequestPolicies, ValidationItem, ValidationMode,
};

/// How a failed check is handled; `DISABLED` policies are not compiled at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Enforcing,
    Permissive,
}

impl Mode {
    fn of(mode: Option<ValidationMode>) -> Option<Mode> {
        match mode.unwrap_or(ValidationMode::Enforcing) {
            ValidationMode::Enforcing => Some(Mode::Enforcing),
            ValidationMode::Permissive => Some(Mode::Permissive),
            ValidationMode::Disabled => None,
        }
    }
}

/// A route's validations, ready to check.
#[derive(Debug)]
pub(super) struct Rules {
    headers: Option<Required<RequiredHeader>>,
    /// Required query parameters, compared case-insensitively.
    query: Option<Required<Box<str>>>,
    body: Option<BodyRule>,
}

/// The required items of one policy, with its mode.
#[derive(Debug)]
struct Required<T> {
    mode: Mode,
    items: Vec<T>,
}

#[derive(Debug)]
struct RequiredHeader {
    name: HeaderName,
    /// The name as the spec wrote it, for messages.
    shown: Box<str>,
}

#[derive(Debug)]
struct BodyRule {
    mode: Mode,
    required: bool,
    ranges: MediaRanges,
    /// The accepted ranges, listed in messages.
    expected: Box<str>,
}

/// What the request's head decided.
#[derive(Debug)]
pub(super) enum Step {
    Pass,
    /// An enforced check failed: the message after `Bad Request: `.
    Reject(String),
    /// Whether the body is empty decides; the content-type failure, if any, comes with it.
    Peek(Option<String>),
}

impl Rules {
    /// Compiles the validations of a route's `requestPolicies` found at JSON path `path`;
    /// `None` when no check can fail.
    pub(super) fn compile(
        policies: &RouteRequestPolicies,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Rules> {
        let rules = Rules {
            headers: policies
                .header_validations
                .as_ref()
                .and_then(|p| compile_headers(p, &format!("{path}.headerValidations"), diags)),
            query: policies
                .query_parameter_validations
                .as_ref()
                .and_then(compile_query),
            body: policies
                .body_validation
                .as_ref()
                .and_then(|p| compile_body(p, &format!("{path}.bodyValidation"), diags)),
        };
        (rules.headers.is_some() || rules.query.is_some() || rules.body.is_some()).then_some(rules)
    }

    /// Checks headers, then query parameters, then as much of the body as the head tells.
    /// Permissive failures are logged here and let through.
    pub(super) fn check(&self, req: &Request<Body>) -> Step {
        let extensions = req.extensions();
        if let Some(Required { mode, items }) = &self.headers {
            let missing = items.iter().find(|h| !has_value(req.headers(), &h.name));
            if let Some(header) = missing {
                let reason = format!("missing required header {}", header.shown);
                if let Some(reason) = settle(*mode, reason, extensions) {
                    return Step::Reject(reason);
                }
            }
        }
        if let Some(Required { mode, items }) = &self.query {
            let query = req.uri().query().unwrap_or_default();
            let missing = items.iter().find(|name| !has_param(query, name));
            if let Some(name) = missing {
                let reason = format!("missing required query parameter {name}");
                if let Some(reason) = settle(*mode, reason, extensions) {
                    return Step::Reject(reason);
                }
            }
        }
        let Some(body) = &self.body else {
            return Step::Pass;
        };
        let content = body.check_content_type(req.headers());
        if content.is_none() && !body.required {
            return Step::Pass;
        }
        match presence(req.headers(), req.body()) {
            Presence::Unknown => Step::Peek(content),
            known => match self.after_peek(known == Presence::NonEmpty, content, extensions) {
                Some(reason) => Step::Reject(reason),
                None => Step::Pass,
            },
        }
    }

    /// The body verdict once its emptiness is known: the rejection message, if enforced.
    pub(super) fn after_peek(
        &self,
        non_empty: bool,
        content: Option<String>,
        extensions: &Extensions,
    ) -> Option<String> {
        let body = self.body.as_ref()?;
        let failure = match (non_empty, body.required) {
            (false, true) => Some("missing required request body".to_owned()),
            // An absent body has no type to check.
            (false, false) => None,
            (true, _) => content,
        };
        settle(body.mode, failure?, extensions)
    }
}

impl BodyRule {
    /// `None` when the `Content-Type` is accepted, else why not.
    fn check_content_type(&self, headers: &HeaderMap) -> Option<String> {
        if self.ranges.accepts_all() {
            return None;
        }
        let Some(value) = headers.get(CONTENT_TYPE) else {
            return Some(format!(
                "request body has no Content-Type (expected {})",
                self.expected
            ));
        };
        let media = value.to_str().ok().and_then(MediaType::parse);
        match media {
            Some(media) if self.ranges.best_match(&media).is_some() => None,
            Some(media) => {
                let mut shown = media.to_string();
                shown.truncate(MAX_SHOWN);
                Some(format!(
                    "Content-Type {shown} is not accepted (expected {})",
                    self.expected
                ))
            }
            None => Some(format!(
                "Content-Type is not a media type (expected {})",
                self.expected
            )),
        }
    }
}

/// Longest client-supplied media type repeated in an error message.
const MAX_SHOWN: usize = 100;

/// Logs a failure; the message to reject with when the mode enforces it.
fn settle(mode: Mode, reason: String, extensions: &Extensions) -> Option<String> {
    let ctx = extensions.get::<RequestContext>();
    let route = ctx.map(|c| c.route().to_string()).unwrap_or_default();
    let request_id = ctx.map_or("", |c| c.request_id().as_str());
    match mode {
        Mode::Enforcing => {
            info!(code = "requestValidation.validationError", %route, request_id, %reason, "request rejected");
            Some(reason)
        }
        Mode::Permissive => {
            info!(code = "requestValidation.validationPermitted", %route, request_id, %reason, "validation failed; permitted");
            None
        }
    }
}

/// A required header counts as present when one of its values is not blank: an empty value
/// carries nothing a backend could use.
fn has_value(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| v.as_bytes().iter().any(|b| !matches!(b, b' ' | b'\t')))
}

/// A required query parameter counts as present when it appears with a non-empty value
/// (`?state=x`; not `?state` or `?state=`), its name compared case-insensitively as OCI
/// documents.
fn has_param(query: &str, name: &str) -> bool {
    pairs(query)
        .any(|p| p.name.eq_ignore_ascii_case(name) && p.raw_value().is_some_and(|v| !v.is_empty()))
}

fn required(items: &[ValidationItem]) -> impl Iterator<Item = &ValidationItem> {
    items.iter().filter(|i| i.required == Some(true))
}

fn compile_headers(
    policy: &HeaderValidationPolicy,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<Required<RequiredHeader>> {
    let mode = Mode::of(policy.validation_mode)?;
    let mut names = Vec::new();
    for (i, item) in policy.headers.iter().enumerate() {
        if item.required != Some(true) {
            continue;
        }
        match HeaderName::from_bytes(item.name.as_bytes()) {
            Ok(name) => names.push(RequiredHeader {
                name,
                shown: item.name.as_str().into(),
            }),
            Err(_) => {
                diags.error(
                    format!("{path}.headers[{i}].name"),
                    format!("invalid header name \"{}\"", item.name),
                );
            }
        }
    }
    (!names.is_empty()).then_some(Required { mode, items: names })
}

fn compile_query(policy: &QueryParameterValidationPolicy) -> Option<Required<Box<str>>> {
    let mode = Mode::of(policy.validation_mode)?;
    let names: Vec<Box<str>> = required(&policy.parameters)
        .map(|i| i.name.as_str().into())
        .collect();
    (!names.is_empty()).then_some(Required { mode, items: names })
}

fn compile_body(
    policy: &BodyValidationPolicy,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<BodyRule> {
    let mode = Mode::of(policy.validation_mode)?;
    let mut ranges = Vec::new();
    for key in policy.content.keys() {
        match MediaRange::parse(key) {
            Some(range) => ranges.push(range),
            None => {
                diags.error(
                    format!("{path}.content[\"{key}\"]"),
                    format!("invalid media range \"{key}\""),
                );
            }
        }
    }
    let ranges = MediaRanges::new(ranges);
    let required = policy.required == Some(true);
    if !required && ranges.accepts_all() {
        return None;
    }
    let expected = ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Some(BodyRule {
        mode,
        required,
        ranges,
        expected: expected.into(),
    })
}
