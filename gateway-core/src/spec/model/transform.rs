//! Header and query-parameter transformations (reference 4.7): route request policies, route
//! response policies, and the `responseHeaderTransformations` of a `MODIFY_RESPONSE` failure
//! policy. The header and query forms have identical inner shapes in the SDK, so they share the
//! item types here.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::enums::{FilterType, IfExists};
use crate::diagnostics::{join_path, Diagnostics, Kind};
use crate::spec::checks::{check_header_name, check_header_value};
use crate::spec::decode::{decode_list, index_path, limit_count, Obj};
use crate::spec::vars_check::{self, VarField};

/// Request headers OCI never lets a transformation touch (reference 4.7; lower case).
pub const PROTECTED_REQUEST_HEADERS: &[&str] = &[
    "cdn-loop",
    "connection",
    "content-length",
    "cookie",
    "except",
    "keep-alive",
    "opc-request-id",
    "origin",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "x-real-ip",
];

/// Response headers OCI never lets a transformation touch (reference 4.7; lower case).
pub const PROTECTED_RESPONSE_HEADERS: &[&str] = &[
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-allow-credentials",
    "access-control-max-age",
    "connection",
    "content-length",
    "except",
    "keep-alive",
    "opc-request-id",
    "proxy-authenticate",
    "public-key-pins",
    "retry-after",
    "strict-transport-security",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "x-content-type-options",
    "x-frame-options",
];

/// `headerTransformations`: set, rename and filter headers. Filters run last (reference 4.7).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderTransformations {
    /// Headers to add or change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_headers: Option<SetPolicy>,
    /// Headers to rename; the value is copied from the original request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rename_headers: Option<RenamePolicy>,
    /// Headers to remove (`BLOCK`) or keep (`ALLOW`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_headers: Option<FilterPolicy>,
}

/// `queryParameterTransformations`: the query-parameter form; names are case-sensitive.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryParameterTransformations {
    /// Parameters to add or change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_query_parameters: Option<SetPolicy>,
    /// Parameters to rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rename_query_parameters: Option<RenamePolicy>,
    /// Parameters to remove (`BLOCK`) or keep (`ALLOW`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_query_parameters: Option<FilterPolicy>,
}

/// `setHeaders` / `setQueryParameters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetPolicy {
    /// At most 20 (reference 11).
    pub items: Vec<SetItem>,
}

/// One name to set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetItem {
    /// Header (case-insensitive) or query parameter (case-sensitive) name.
    pub name: String,
    /// One header / parameter per value; each a literal or a `${…}` template; at most 10.
    pub values: Vec<String>,
    /// What to do when the name already exists; `OVERWRITE` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_exists: Option<IfExists>,
}

impl SetItem {
    /// `ifExists` with its documented default.
    pub fn if_exists(&self) -> IfExists {
        self.if_exists.unwrap_or(IfExists::Overwrite)
    }
}

/// `renameHeaders` / `renameQueryParameters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenamePolicy {
    /// At most 20 (reference 11).
    pub items: Vec<RenameItem>,
}

/// One rename: the original value moves from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenameItem {
    /// The header or query parameter to rename; nothing happens when it is absent.
    pub from: String,
    /// The new name; values already under it are replaced.
    pub to: String,
}

/// `filterHeaders` / `filterQueryParameters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterPolicy {
    /// `BLOCK` removes the listed names, `ALLOW` keeps only them.
    #[serde(rename = "type")]
    pub filter_type: FilterType,
    /// At most 50 on requests, 20 on responses (reference 11).
    pub items: Vec<FilterItem>,
}

/// One filtered name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterItem {
    /// Header (case-insensitive) or query parameter (case-sensitive) name.
    pub name: String,
}

/// Which message a transformation applies to: limits, protected headers and allowed context
/// variables differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// Headers or query parameters, with the three keys of each form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Header,
    Query,
}

impl Target {
    fn keys(self) -> [&'static str; 3] {
        match self {
            Target::Header => ["setHeaders", "renameHeaders", "filterHeaders"],
            Target::Query => [
                "setQueryParameters",
                "renameQueryParameters",
                "filterQueryParameters",
            ],
        }
    }

    /// Checks a name and reports a protected header; returns the key used for the "one
    /// transformation per name" rule (header names compare case-insensitively).
    fn check_name(self, d: &mut Diagnostics, path: &str, name: &str, side: Side) -> String {
        match self {
            Target::Header => {
                check_header_name(d, path, name);
                let lower = name.to_ascii_lowercase();
                let (list, what) = match side {
                    Side::Request => (PROTECTED_REQUEST_HEADERS, "request"),
                    Side::Response => (PROTECTED_RESPONSE_HEADERS, "response"),
                };
                if list.contains(&lower.as_str()) {
                    d.warning(
                        Kind::Invalid,
                        path,
                        format!("{name} is a protected {what} header: this transformation will not be applied"),
                    );
                }
                lower
            }
            Target::Query => {
                if name.is_empty() {
                    d.error(path, "must not be empty");
                }
                name.to_owned()
            }
        }
    }
}

/// The three optional parts of a transformation policy, decoded with the given keys.
type Parts = (
    Option<SetPolicy>,
    Option<RenamePolicy>,
    Option<FilterPolicy>,
);

fn decode_parts(o: &mut Obj<'_, '_>, target: Target, side: Side) -> Parts {
    let [set, rename, filter] = target.keys();
    (
        o.optional_with(set, |v, p, d| decode_set(v, p, d, target, side)),
        o.optional_with(rename, |v, p, d| decode_rename(v, p, d, target, side)),
        o.optional_with(filter, |v, p, d| decode_filter(v, p, d, target, side)),
    )
}

/// Decodes a `headerTransformations` object for one side of the exchange.
pub(crate) fn decode_header_transformations(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    side: Side,
) -> Option<HeaderTransformations> {
    let mut o = Obj::new(value, path, d)?;
    let (set, rename, filter) = decode_parts(&mut o, Target::Header, side);
    o.finish();
    check_one_transformation_per_name(d, path, Target::Header, (&set, &rename, &filter));
    Some(HeaderTransformations {
        set_headers: set,
        rename_headers: rename,
        filter_headers: filter,
    })
}

/// Decodes a `queryParameterTransformations` object (request side only).
pub(crate) fn decode_query_transformations(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
) -> Option<QueryParameterTransformations> {
    let mut o = Obj::new(value, path, d)?;
    let (set, rename, filter) = decode_parts(&mut o, Target::Query, Side::Request);
    o.finish();
    let parts = (&set, &rename, &filter);
    check_one_transformation_per_name(d, path, Target::Query, parts);
    Some(QueryParameterTransformations {
        set_query_parameters: set,
        rename_query_parameters: rename,
        filter_query_parameters: filter,
    })
}

fn decode_set(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    target: Target,
    side: Side,
) -> Option<SetPolicy> {
    let mut o = Obj::new(value, path, d)?;
    let items = o.required_with("items", |v, p, d| {
        decode_list(v, p, d, |v, p, d| decode_set_item(v, p, d, target, side))
    });
    let items_path = o.at("items");
    o.finish();
    let items = items?;
    limit_count(d, &items_path, items.len(), 20, "items to set");
    Some(SetPolicy { items })
}

fn decode_set_item(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    target: Target,
    side: Side,
) -> Option<SetItem> {
    let mut o = Obj::new(value, path, d)?;
    let name = o.required::<String>("name");
    let values = o.required::<Vec<String>>("values");
    let if_exists = o.optional("ifExists");
    let (name_path, values_path) = (o.at("name"), o.at("values"));
    o.finish();
    if let Some(name) = &name {
        target.check_name(d, &name_path, name, side);
    }
    if let Some(values) = &values {
        if values.is_empty() {
            d.error(
                values_path.as_str(),
                "must not be empty: list at least one value",
            );
        }
        limit_count(d, &values_path, values.len(), 10, "values");
        for (i, v) in values.iter().enumerate() {
            let p = index_path(&values_path, i);
            if target == Target::Header {
                check_header_value(d, &p, v);
            }
            vars_check::check(d, &p, VarField::TransformValue, v);
        }
    }
    Some(SetItem {
        name: name?,
        values: values?,
        if_exists,
    })
}

fn decode_rename(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    target: Target,
    side: Side,
) -> Option<RenamePolicy> {
    let mut o = Obj::new(value, path, d)?;
    let items = o.required_with("items", |v, p, d| {
        decode_list(v, p, d, |v, p, d| {
            let mut o = Obj::new(v, p, d)?;
            let from = o.required::<String>("from");
            let to = o.required::<String>("to");
            let (from_path, to_path) = (o.at("from"), o.at("to"));
            o.finish();
            if let Some(from) = &from {
                target.check_name(d, &from_path, from, side);
            }
            if let Some(to) = &to {
                target.check_name(d, &to_path, to, side);
            }
            Some(RenameItem {
                from: from?,
                to: to?,
            })
        })
    });
    let items_path = o.at("items");
    o.finish();
    let items = items?;
    limit_count(d, &items_path, items.len(), 20, "items to rename");
    Some(RenamePolicy { items })
}

fn decode_filter(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    target: Target,
    side: Side,
) -> Option<FilterPolicy> {
    let mut o = Obj::new(value, path, d)?;
    let filter_type = o.required::<FilterType>("type");
    let names = o.required_with("items", |v, p, d| {
        decode_list(v, p, d, |v, p, d| {
            let mut o = Obj::new(v, p, d)?;
            let name = o.required::<String>("name");
            let name_path = o.at("name");
            o.finish();
            Some((name?, name_path))
        })
    });
    let items_path = o.at("items");
    o.finish();
    let names = names?;
    for (name, p) in &names {
        // An ALLOW list only keeps names, so a protected one there changes nothing.
        if filter_type == Some(FilterType::Allow) && target == Target::Header {
            check_header_name(d, p, name);
        } else {
            target.check_name(d, p, name, side);
        }
    }
    let max = match side {
        Side::Request => 50,
        Side::Response => 20,
    };
    limit_count(d, &items_path, names.len(), max, "items to filter");
    Some(FilterPolicy {
        filter_type: filter_type?,
        items: names
            .into_iter()
            .map(|(name, _)| FilterItem { name })
            .collect(),
    })
}

/// "A name may appear in only one transformation of the route (except inside ALLOW lists)"
/// (reference 4.7): two transformations of one name would depend on an order OCI does not
/// define.
fn check_one_transformation_per_name(
    d: &mut Diagnostics,
    path: &str,
    target: Target,
    (set, rename, filter): (
        &Option<SetPolicy>,
        &Option<RenamePolicy>,
        &Option<FilterPolicy>,
    ),
) {
    let [set_key, rename_key, filter_key] = target.keys();
    let mut uses: Vec<(String, String)> = Vec::new();
    for (i, item) in set.iter().flat_map(|s| s.items.iter().enumerate()) {
        uses.push((item.name.clone(), format!("{set_key}.items[{i}].name")));
    }
    for (i, item) in rename.iter().flat_map(|r| r.items.iter().enumerate()) {
        uses.push((item.from.clone(), format!("{rename_key}.items[{i}].from")));
        uses.push((item.to.clone(), format!("{rename_key}.items[{i}].to")));
    }
    for (i, item) in filter
        .iter()
        .filter(|f| f.filter_type == FilterType::Block)
        .flat_map(|f| f.items.iter().enumerate())
    {
        uses.push((item.name.clone(), format!("{filter_key}.items[{i}].name")));
    }
    let mut first: HashMap<String, String> = HashMap::new();
    let what = match target {
        Target::Header => "header",
        Target::Query => "query parameter",
    };
    for (name, rel) in uses {
        let key = match target {
            Target::Header => name.to_ascii_lowercase(),
            Target::Query => name.clone(),
        };
        match first.get(&key) {
            Some(earlier) => {
                d.error(
                    join_path(path, &rel),
                    format!("{name} already appears in {earlier}"),
                )
                .hint(format!(
                    "a {what} may appear in only one transformation of a route (ALLOW filter lists excepted)"
                ));
            }
            None => {
                first.insert(key, rel);
            }
        }
    }
}
