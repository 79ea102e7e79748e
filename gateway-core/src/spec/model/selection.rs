//! Selection by a context variable, shared by `DYNAMIC_ROUTING_BACKEND` (reference 3.4) and
//! `dynamicAuthentication` (4.1.4): a `selectionSource` naming the variable and a list of
//! branches, each with an `ANY_OF` or `WILDCARD` key.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::diagnostics::{join_path, Diagnostics};
use crate::spec::checks::check_wildcard_expression;
use crate::spec::decode::{index_path, lenient_bool, limit_count, FromJson, Obj};
use crate::spec::vars_check::{self, VarField};

/// Where the value that selects a branch comes from. `SINGLE` is the only SDK type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum SelectionSource {
    /// One context variable.
    #[serde(rename = "SINGLE")]
    Single(SingleSelectionSource),
}

impl SelectionSource {
    /// The bare context variable, e.g. `request.headers[X-Tenant]`.
    pub fn selector(&self) -> &str {
        match self {
            SelectionSource::Single(s) => &s.selector,
        }
    }
}

/// A `SINGLE` selection source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleSelectionSource {
    /// A bare context variable (no `${}`); of several values only the first is used.
    pub selector: String,
}

/// Decodes a `selectionSource`; `field` says which tables its selector may use.
pub(crate) fn decode_selection_source(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    field: VarField,
) -> Option<SelectionSource> {
    let mut o = Obj::new(value, path, d)?;
    o.tag(
        "type",
        "selection source type",
        "selection source types",
        &["SINGLE"],
        &[],
    )?;
    let selector = o.required::<String>("selector");
    let selector_path = o.at("selector");
    o.finish();
    let selector = selector?;
    vars_check::check(d, &selector_path, field, &selector);
    Some(SelectionSource::Single(SingleSelectionSource { selector }))
}

/// The key of one branch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum SelectionKey {
    /// Exact values, compared case-insensitively; tried first.
    #[serde(rename = "ANY_OF")]
    AnyOf(AnyOfSelectionKey),
    /// One `*` or `+` pattern, case-sensitive; tried in spec order after every `ANY_OF`.
    #[serde(rename = "WILDCARD")]
    Wildcard(WildcardSelectionKey),
}

impl SelectionKey {
    /// The branch name that logs and metrics report.
    pub fn name(&self) -> &str {
        match self {
            SelectionKey::AnyOf(k) => &k.name,
            SelectionKey::Wildcard(k) => &k.name,
        }
    }

    /// Whether this branch is the fallback when nothing matches.
    pub fn is_default(&self) -> bool {
        match self {
            SelectionKey::AnyOf(k) => k.is_default,
            SelectionKey::Wildcard(k) => k.is_default,
        }
        .unwrap_or(false)
    }
}

/// An `ANY_OF` key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyOfSelectionKey {
    /// Branch name, unique in its list.
    pub name: String,
    /// Values selecting this branch (case-insensitive); at most 100, unique across branches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The fallback branch; at most one per list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

/// A `WILDCARD` key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WildcardSelectionKey {
    /// Branch name, unique in its list.
    pub name: String,
    /// Exactly one `*` (zero or more characters) or `+` (one or more), at the start or end.
    pub expression: String,
    /// The fallback branch; at most one per list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

impl FromJson for SelectionKey {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let tag = o.tag(
            "type",
            "selection key type",
            "selection key types",
            &["ANY_OF", "WILDCARD"],
            &[],
        )?;
        let name = o.required::<String>("name");
        // The docs write the flag as a quoted placeholder; accepted with a warning.
        let is_default = o.optional_with("isDefault", lenient_bool);
        let key = if tag == "ANY_OF" {
            let values = o.optional::<Vec<String>>("values").unwrap_or_default();
            let values_path = o.at("values");
            limit_count(o.d(), &values_path, values.len(), 100, "key values");
            name.map(|name| {
                SelectionKey::AnyOf(AnyOfSelectionKey {
                    name,
                    values,
                    is_default,
                })
            })
        } else {
            let expression = o.required::<String>("expression");
            let expression_path = o.at("expression");
            if let Some(e) = &expression {
                check_wildcard_expression(o.d(), &expression_path, e);
            }
            name.zip(expression).map(|(name, expression)| {
                SelectionKey::Wildcard(WildcardSelectionKey {
                    name,
                    expression,
                    is_default,
                })
            })
        };
        o.finish();
        key
    }
}

/// The rules every branch list follows: unique names, at most one default, and `ANY_OF`
/// values unique across the whole list (compared case-insensitively, as matching is).
/// `keys` holds each decoded branch's index in `list` (`routingBackends`,
/// `authenticationServers`) under `parent`.
pub(crate) fn check_branches(
    d: &mut Diagnostics,
    parent: &str,
    list: &str,
    keys: &[(usize, &SelectionKey)],
) {
    let branch = |i: usize| index_path(list, i);
    let key_path = |i: usize, rest: &str| join_path(parent, &format!("{}.key.{rest}", branch(i)));
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut default: Option<usize> = None;
    let mut values: HashMap<String, usize> = HashMap::new();
    for &(i, key) in keys {
        if let Some(&first) = names.get(key.name()) {
            d.error(
                key_path(i, "name"),
                format!(
                    "the name \"{}\" is already used by {}",
                    key.name(),
                    branch(first)
                ),
            )
            .hint("branch names must be unique: logs and metrics report them");
        } else {
            names.insert(key.name(), i);
        }
        if key.is_default() {
            match default {
                Some(first) => {
                    d.error(
                        key_path(i, "isDefault"),
                        format!(
                            "{} is already the default; only one default is allowed",
                            branch(first)
                        ),
                    );
                }
                None => default = Some(i),
            }
        }
        if let SelectionKey::AnyOf(k) = key {
            for (j, value) in k.values.iter().enumerate() {
                match values.get(&value.to_lowercase()) {
                    Some(&first) => {
                        d.error(
                            key_path(i, &format!("values[{j}]")),
                            format!("the value \"{value}\" already selects {}", branch(first)),
                        )
                        .hint("values are compared case-insensitively and must be unique across all branches");
                    }
                    None => {
                        values.insert(value.to_lowercase(), i);
                    }
                }
            }
        }
    }
}
