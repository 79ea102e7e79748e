//! Compiled header transformations, shared by the request and the response side.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;
use tracing::warn;

use super::parse_value;
use crate::diagnostics::Diagnostics;
use crate::spec::{
    FilterType, HeaderTransformations, IfExists, PROTECTED_REQUEST_HEADERS,
    PROTECTED_RESPONSE_HEADERS,
};
use crate::vars::{Template, VarSource};

/// Which message the rules apply to: the protected headers differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Message {
    Request,
    Response,
}

impl Message {
    fn protected(self) -> &'static [&'static str] {
        match self {
            Message::Request => PROTECTED_REQUEST_HEADERS,
            Message::Response => PROTECTED_RESPONSE_HEADERS,
        }
    }
}

/// One policy's header transformations, ready to apply.
#[derive(Debug, Default)]
pub(super) struct HeaderRules {
    renames: Vec<Rename>,
    sets: Vec<Set>,
    filter: Option<Filter>,
    /// Whether any set value has variables, i.e. whether [`HeaderRules::render`] has work.
    templated: bool,
}

#[derive(Debug)]
struct Rename {
    from: HeaderName,
    to: HeaderName,
}

#[derive(Debug)]
struct Set {
    name: HeaderName,
    values: Vec<SetValue>,
    if_exists: IfExists,
}

/// A literal is built once; a template is rendered per request.
#[derive(Debug)]
enum SetValue {
    Literal(HeaderValue),
    Template(Template),
}

#[derive(Debug)]
enum Filter {
    Block(Vec<HeaderName>),
    /// The listed names plus every protected header, which a filter never removes.
    Allow(Vec<HeaderName>),
}

/// The templated set values of one request, rendered in rule order; `None` where the
/// rendered text is not a valid header value.
#[derive(Debug, Default)]
pub(super) struct Rendered(Vec<Option<HeaderValue>>);

impl HeaderRules {
    /// Compiles `spec` found at JSON path `path`; `None` when nothing is left to do.
    pub(super) fn compile(
        spec: &HeaderTransformations,
        message: Message,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<HeaderRules> {
        let mut rules = HeaderRules::default();
        let name =
            |name: &str, at: &str, diags: &mut Diagnostics| header_name(name, message, at, diags);
        for (i, item) in spec
            .rename_headers
            .iter()
            .flat_map(|r| r.items.iter().enumerate())
        {
            let at = format!("{path}.renameHeaders.items[{i}]");
            let from = name(&item.from, &format!("{at}.from"), diags);
            let to = name(&item.to, &format!("{at}.to"), diags);
            if let (Some(from), Some(to)) = (from, to) {
                rules.renames.push(Rename { from, to });
            }
        }
        for (i, item) in spec
            .set_headers
            .iter()
            .flat_map(|s| s.items.iter().enumerate())
        {
            let at = format!("{path}.setHeaders.items[{i}]");
            let Some(header) = name(&item.name, &format!("{at}.name"), diags) else {
                continue;
            };
            let values: Vec<SetValue> = item
                .values
                .iter()
                .enumerate()
                .filter_map(|(j, v)| set_value(v, &format!("{at}.values[{j}]"), diags))
                .collect();
            rules.templated |= values.iter().any(|v| matches!(v, SetValue::Template(_)));
            if !values.is_empty() {
                rules.sets.push(Set {
                    name: header,
                    values,
                    if_exists: item.if_exists(),
                });
            }
        }
        if let Some(filter) = &spec.filter_headers {
            let at = format!("{path}.filterHeaders.items");
            rules.filter = Some(match filter.filter_type {
                FilterType::Block => Filter::Block(
                    (filter.items.iter().enumerate())
                        .filter_map(|(i, item)| name(&item.name, &format!("{at}[{i}].name"), diags))
                        .collect(),
                ),
                // Listing a protected header in an ALLOW list changes nothing, so it is not
                // reported; the protected ones are added because ALLOW must never drop them.
                FilterType::Allow => Filter::Allow(
                    (filter.items.iter().map(|item| item.name.as_str()))
                        .chain(message.protected().iter().copied())
                        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                        .collect(),
                ),
            });
        }
        let empty = rules.renames.is_empty() && rules.sets.is_empty() && rules.filter.is_none();
        (!empty).then_some(rules)
    }

    /// Renders the templated values against the request's variables.
    pub(super) fn render(&self, vars: &dyn VarSource) -> Rendered {
        if !self.templated {
            return Rendered::default();
        }
        let templates = self
            .sets
            .iter()
            .flat_map(|s| &s.values)
            .filter_map(|v| match v {
                SetValue::Template(t) => Some(t),
                SetValue::Literal(_) => None,
            });
        Rendered(templates.map(|t| render_value(t, vars)).collect())
    }

    /// Applies renames, then sets (with the values from [`HeaderRules::render`]), then the
    /// filter.
    pub(super) fn apply(&self, headers: &mut HeaderMap, rendered: Rendered) {
        self.rename(headers);
        self.set(headers, rendered);
        match &self.filter {
            Some(Filter::Block(names)) => {
                for name in names {
                    headers.remove(name);
                }
            }
            Some(Filter::Allow(keep)) => {
                let drop: SmallVec<[HeaderName; 8]> = headers
                    .keys()
                    .filter(|k| !keep.contains(k))
                    .cloned()
                    .collect();
                for name in &drop {
                    headers.remove(name);
                }
            }
            None => {}
        }
    }

    fn rename(&self, headers: &mut HeaderMap) {
        if self.renames.is_empty() {
            return;
        }
        // Every original value is read before anything changes, so renames never see each
        // other's results.
        let originals: SmallVec<[SmallVec<[HeaderValue; 1]>; 4]> = (self.renames.iter())
            .map(|r| headers.get_all(&r.from).iter().cloned().collect())
            .collect();
        for (rule, values) in self.renames.iter().zip(&originals) {
            if !values.is_empty() {
                headers.remove(&rule.from);
            }
        }
        for (rule, values) in self.renames.iter().zip(originals) {
            if values.is_empty() {
                continue;
            }
            headers.remove(&rule.to);
            for value in values {
                headers.append(rule.to.clone(), value);
            }
        }
    }

    fn set(&self, headers: &mut HeaderMap, rendered: Rendered) {
        let mut rendered = rendered.0.into_iter();
        for rule in &self.sets {
            // Every template takes its rendered value, in order, even when it was dropped.
            let values: SmallVec<[HeaderValue; 2]> = (rule.values.iter())
                .filter_map(|v| match v {
                    SetValue::Literal(value) => Some(value.clone()),
                    SetValue::Template(_) => rendered.next().flatten(),
                })
                .collect();
            if values.is_empty() {
                continue;
            }
            if headers.contains_key(&rule.name) {
                match rule.if_exists {
                    IfExists::Skip => continue,
                    IfExists::Overwrite => {
                        headers.remove(&rule.name);
                    }
                    IfExists::Append => {}
                }
            }
            for value in values {
                headers.append(rule.name.clone(), value);
            }
        }
    }
}

/// A header name from the spec, or `None` (and a log line) for a protected one.
fn header_name(
    name: &str,
    message: Message,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<HeaderName> {
    let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
        diags.error(path, format!("invalid header name \"{name}\""));
        return None;
    };
    if message.protected().contains(&header.as_str()) {
        warn!(
            code = "headerTransformation.protectedHeaderTransformed",
            at = path,
            header = %header,
            "protected header: the transformation is not applied"
        );
        return None;
    }
    Some(header)
}

fn set_value(text: &str, path: &str, diags: &mut Diagnostics) -> Option<SetValue> {
    let template = parse_value(text, path, diags)?;
    let Some(literal) = template.as_literal() else {
        return Some(SetValue::Template(template));
    };
    match HeaderValue::from_str(literal) {
        Ok(value) => Some(SetValue::Literal(value)),
        Err(_) => {
            diags.error(path, "invalid header value");
            None
        }
    }
}

fn render_value(template: &Template, vars: &dyn VarSource) -> Option<HeaderValue> {
    let text = template.render(vars);
    // `Bytes` from a `String` takes its buffer: the rendering is the only allocation.
    match HeaderValue::from_maybe_shared(Bytes::from(text)) {
        Ok(value) => Some(value),
        Err(_) => {
            warn!(
                code = "headerTransformation.badHeaderValue",
                template = %template,
                "the rendered value is not a valid header value; it is left out"
            );
            None
        }
    }
}
