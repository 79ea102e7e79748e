//! The response to a failed authentication (reference 4.1.1): OCI's 401 with
//! `WWW-Authenticate`, or what a `MODIFY_RESPONSE` validation failure policy says — a status
//! (literal or a context variable such as `request.auth[responseCode]`), a body with `${…}`
//! variables, and header transformations applied to that response.
//!
//! Only the header-transformation subset a failure response needs is implemented here (set,
//! rename, filter on a response the gateway made itself, whose only headers are its own).

use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::body::Body;
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::respond::json_error;
use crate::spec::{
    FilterType, HeaderTransformations, IfExists, ModifyResponseValidationFailurePolicy,
    PROTECTED_RESPONSE_HEADERS,
};
use crate::vars::{Selector, TableSet, Template, VarSource};

/// A compiled `MODIFY_RESPONSE` policy.
#[derive(Debug, Clone)]
pub(crate) struct FailureResponse {
    code: ResponseCode,
    message: Option<Template>,
    headers: HeaderOps,
}

/// `responseCode`: a literal status or a bare context variable.
#[derive(Debug, Clone)]
enum ResponseCode {
    Literal(StatusCode),
    Var(Selector),
}

impl FailureResponse {
    /// Compiles the policy; problems the loader already reports are reported again only if
    /// they slipped through, so that nothing is served half-compiled.
    pub(crate) fn compile(
        policy: &ModifyResponseValidationFailurePolicy,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let mut ok = true;
        let code = match policy.response_code.as_deref() {
            None => ResponseCode::Literal(StatusCode::UNAUTHORIZED),
            Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                match text.parse::<u16>().ok().and_then(valid_status) {
                    Some(status) => ResponseCode::Literal(status),
                    None => {
                        diags.error(
                            format!("{path}.responseCode"),
                            format!("{text} is not an HTTP status"),
                        );
                        ok = false;
                        ResponseCode::Literal(StatusCode::UNAUTHORIZED)
                    }
                }
            }
            Some(text) => match Selector::parse(text, TableSet::REQUEST) {
                Ok(selector) => ResponseCode::Var(selector),
                Err(e) => {
                    diags.error(format!("{path}.responseCode"), e.to_string());
                    ok = false;
                    ResponseCode::Literal(StatusCode::UNAUTHORIZED)
                }
            },
        };
        let message = match policy.response_message.as_deref() {
            None => None,
            Some(text) => match Template::parse(text, TableSet::REQUEST) {
                Ok(t) => Some(t),
                Err(e) => {
                    diags.error(format!("{path}.responseMessage"), e.to_string());
                    ok = false;
                    None
                }
            },
        };
        let headers = match &policy.response_header_transformations {
            None => HeaderOps::default(),
            Some(t) => HeaderOps::compile(
                t,
                &format!("{path}.responseHeaderTransformations"),
                diags,
                &mut ok,
            ),
        };
        ok.then_some(FailureResponse {
            code,
            message,
            headers,
        })
    }

    /// The response, with variables read from `vars` (whose `request.auth` is the rejected
    /// authorizer's `context`, if it returned one). A `responseCode` variable that is absent
    /// or not a status falls back to 401, the documented default.
    pub(crate) fn respond(
        &self,
        vars: &impl VarSource,
        challenge: Option<HeaderValue>,
    ) -> Response<Body> {
        let status = match &self.code {
            ResponseCode::Literal(status) => *status,
            ResponseCode::Var(selector) => selector
                .value(vars)
                .and_then(|v| v.trim().parse::<u16>().ok())
                .and_then(valid_status)
                .unwrap_or(StatusCode::UNAUTHORIZED),
        };
        let mut res = match &self.message {
            Some(message) => {
                let mut res = Response::new(Body::full(message.render(vars)));
                res.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                res
            }
            None => json_error(status, status.canonical_reason().unwrap_or("Unauthorized")),
        };
        *res.status_mut() = status;
        self.headers.apply(res.headers_mut(), vars);
        if status == StatusCode::UNAUTHORIZED && !res.headers().contains_key(WWW_AUTHENTICATE) {
            if let Some(challenge) = challenge {
                res.headers_mut().insert(WWW_AUTHENTICATE, challenge);
            }
        }
        res
    }
}

/// OCI's default failure: 401 with the challenge, in OCI's JSON body.
pub(crate) fn unauthorized(challenge: Option<HeaderValue>, reason: String) -> GatewayError {
    GatewayError::Unauthenticated { challenge, reason }
}

fn valid_status(code: u16) -> Option<StatusCode> {
    (100..=599)
        .contains(&code)
        .then(|| StatusCode::from_u16(code).ok())
        .flatten()
}

/// Set, rename and filter, compiled: names parsed, values split into templates, protected
/// headers dropped (OCI never transforms them; the loader warns).
#[derive(Debug, Clone, Default)]
struct HeaderOps {
    set: Vec<SetOp>,
    rename: Vec<(HeaderName, HeaderName)>,
    filter: Option<(FilterType, Vec<HeaderName>)>,
}

#[derive(Debug, Clone)]
struct SetOp {
    name: HeaderName,
    values: Vec<Template>,
    if_exists: IfExists,
}

fn is_protected(name: &HeaderName) -> bool {
    PROTECTED_RESPONSE_HEADERS.contains(&name.as_str())
}

impl HeaderOps {
    fn compile(
        t: &HeaderTransformations,
        path: &str,
        diags: &mut Diagnostics,
        ok: &mut bool,
    ) -> Self {
        let before = diags.errors().count();
        let name = |text: &str, at: String, diags: &mut Diagnostics| {
            HeaderName::from_bytes(text.as_bytes())
                .map_err(|_| diags.error(at, format!("{text:?} is not a header name")))
                .ok()
        };
        let mut ops = HeaderOps::default();
        if let Some(set) = &t.set_headers {
            for (i, item) in set.items.iter().enumerate() {
                let at = format!("{path}.setHeaders.items[{i}]");
                let Some(n) = name(&item.name, format!("{at}.name"), diags) else {
                    continue;
                };
                let mut values = Vec::with_capacity(item.values.len());
                for (j, v) in item.values.iter().enumerate() {
                    match Template::parse(v, TableSet::REQUEST) {
                        Ok(t) => values.push(t),
                        Err(e) => {
                            diags.error(format!("{at}.values[{j}]"), e.to_string());
                        }
                    }
                }
                if !is_protected(&n) {
                    ops.set.push(SetOp {
                        name: n,
                        values,
                        if_exists: item.if_exists(),
                    });
                }
            }
        }
        if let Some(rename) = &t.rename_headers {
            for (i, item) in rename.items.iter().enumerate() {
                let at = format!("{path}.renameHeaders.items[{i}]");
                let from = name(&item.from, format!("{at}.from"), diags);
                let to = name(&item.to, format!("{at}.to"), diags);
                if let (Some(from), Some(to)) = (from, to) {
                    if !is_protected(&from) && !is_protected(&to) {
                        ops.rename.push((from, to));
                    }
                }
            }
        }
        if let Some(filter) = &t.filter_headers {
            let names = filter
                .items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    name(
                        &item.name,
                        format!("{path}.filterHeaders.items[{i}].name"),
                        diags,
                    )
                })
                .collect();
            ops.filter = Some((filter.filter_type, names));
        }
        *ok &= diags.errors().count() == before;
        ops
    }

    /// Set, then rename (from the values before any transformation), then filter, as OCI
    /// orders them (reference 4.7).
    fn apply(&self, headers: &mut HeaderMap, vars: &impl VarSource) {
        let original = (!self.rename.is_empty()).then(|| headers.clone());
        for op in &self.set {
            let values: Vec<HeaderValue> = op
                .values
                .iter()
                .filter_map(|t| HeaderValue::try_from(t.render(vars)).ok())
                .collect();
            let exists = headers.contains_key(&op.name);
            match op.if_exists {
                IfExists::Skip if exists => continue,
                IfExists::Append => {}
                _ => {
                    headers.remove(&op.name);
                }
            }
            for v in values {
                headers.append(op.name.clone(), v);
            }
        }
        if let Some(original) = original {
            for (from, to) in &self.rename {
                if !original.contains_key(from) {
                    continue;
                }
                headers.remove(from);
                headers.remove(to);
                for v in original.get_all(from) {
                    headers.append(to.clone(), v.clone());
                }
            }
        }
        match &self.filter {
            Some((FilterType::Block, names)) => {
                for n in names.iter().filter(|n| !is_protected(n)) {
                    headers.remove(n);
                }
            }
            Some((FilterType::Allow, names)) => {
                let drop: Vec<HeaderName> = headers
                    .keys()
                    .filter(|k| !is_protected(k) && !names.contains(k))
                    .cloned()
                    .collect();
                for n in drop {
                    headers.remove(&n);
                }
            }
            None => {}
        }
    }
}
