//! Compiled query-parameter transformations: they rewrite the request's query string.

use std::borrow::Cow;

use smallvec::SmallVec;

use super::parse_value;
use crate::diagnostics::Diagnostics;
use crate::policy::query::{encode, encode_into, pairs, Pair};
use crate::spec::{FilterType, IfExists, QueryParameterTransformations};
use crate::vars::{Template, VarSource};

/// One policy's query transformations, ready to apply.
#[derive(Debug, Default)]
pub(super) struct QueryRules {
    renames: Vec<Rename>,
    sets: Vec<Set>,
    filter: Option<(FilterType, Vec<Box<str>>)>,
}

#[derive(Debug)]
struct Rename {
    from: Box<str>,
    to: Box<str>,
    /// `to`, encoded for the query string.
    encoded_to: Box<str>,
}

#[derive(Debug)]
struct Set {
    name: Box<str>,
    /// `name`, encoded for the query string.
    encoded_name: Box<str>,
    values: Vec<SetValue>,
    if_exists: IfExists,
}

#[derive(Debug)]
enum SetValue {
    /// The whole `name=value` piece, encoded once.
    Literal(Box<str>),
    Template(Template),
}

/// One parameter of the query being rebuilt: its decoded name and its text.
type Entry<'a> = (Cow<'a, str>, Cow<'a, str>);

impl QueryRules {
    /// Compiles `spec` found at JSON path `path`; `None` when nothing is left to do.
    pub(super) fn compile(
        spec: &QueryParameterTransformations,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<QueryRules> {
        let mut rules = QueryRules::default();
        let renames = spec.rename_query_parameters.iter().flat_map(|r| &r.items);
        for item in renames {
            rules.renames.push(Rename {
                from: item.from.as_str().into(),
                to: item.to.as_str().into(),
                encoded_to: encode(&item.to, true).into(),
            });
        }
        let sets = spec
            .set_query_parameters
            .iter()
            .flat_map(|s| s.items.iter().enumerate());
        for (i, item) in sets {
            let encoded_name: Box<str> = encode(&item.name, true).into();
            let values: Vec<SetValue> = (item.values.iter().enumerate())
                .filter_map(|(j, text)| {
                    let at = format!("{path}.setQueryParameters.items[{i}].values[{j}]");
                    let template = parse_value(text, &at, diags)?;
                    Some(match template.as_literal() {
                        Some(literal) => SetValue::Literal(
                            format!("{encoded_name}={}", encode(literal, false)).into(),
                        ),
                        None => SetValue::Template(template),
                    })
                })
                .collect();
            if !values.is_empty() {
                rules.sets.push(Set {
                    name: item.name.as_str().into(),
                    encoded_name,
                    values,
                    if_exists: item.if_exists(),
                });
            }
        }
        if let Some(filter) = &spec.filter_query_parameters {
            let names = filter
                .items
                .iter()
                .map(|i| i.name.as_str().into())
                .collect();
            rules.filter = Some((filter.filter_type, names));
        }
        let empty = rules.renames.is_empty() && rules.sets.is_empty() && rules.filter.is_none();
        (!empty).then_some(rules)
    }

    /// The transformed query string (empty: no query at all), or `None` when the rules leave
    /// `query` as it is.
    pub(super) fn apply(&self, query: Option<&str>, vars: &dyn VarSource) -> Option<String> {
        let original: SmallVec<[Pair<'_>; 8]> = query.map(pairs).into_iter().flatten().collect();
        let (mut entries, mut changed) = self.rename(&original);
        changed |= self.set(&mut entries, vars);
        changed |= self.filter(&mut entries);
        if !changed {
            return None;
        }
        let len = entries.iter().map(|(_, text)| text.len() + 1).sum();
        let mut out = String::with_capacity(len);
        for (i, (_, text)) in entries.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(text);
        }
        Some(out)
    }

    /// Renames in place, in one pass over the original parameters; a `to` already present is
    /// replaced when its rename applies.
    fn rename<'a>(&'a self, original: &[Pair<'a>]) -> (Vec<Entry<'a>>, bool) {
        let applies: SmallVec<[bool; 4]> = (self.renames.iter())
            .map(|r| original.iter().any(|p| *p.name == *r.from))
            .collect();
        let mut changed = false;
        let mut entries = Vec::with_capacity(original.len() + self.sets.len());
        for pair in original {
            if let Some(rule) = self.renames.iter().find(|r| *r.from == *pair.name) {
                let mut text = String::from(&*rule.encoded_to);
                if let Some(value) = pair.raw_value() {
                    text.push('=');
                    text.push_str(value);
                }
                entries.push((Cow::Borrowed(&*rule.to), Cow::Owned(text)));
                changed = true;
            } else if (self.renames.iter().zip(&applies)).any(|(r, &a)| a && *r.to == *pair.name) {
                changed = true; // overwritten by the rename
            } else {
                entries.push((pair.name.clone(), Cow::Borrowed(pair.raw)));
            }
        }
        (entries, changed)
    }

    fn set<'a>(&'a self, entries: &mut Vec<Entry<'a>>, vars: &dyn VarSource) -> bool {
        let mut changed = false;
        for rule in &self.sets {
            let exists = entries.iter().any(|(name, _)| **name == *rule.name);
            match (exists, rule.if_exists) {
                (true, IfExists::Skip) => continue,
                (true, IfExists::Overwrite) => entries.retain(|(name, _)| **name != *rule.name),
                _ => {}
            }
            for value in &rule.values {
                let text = match value {
                    SetValue::Literal(text) => Cow::Borrowed(&**text),
                    SetValue::Template(template) => {
                        let rendered = template.render(vars);
                        let mut text =
                            String::with_capacity(rule.encoded_name.len() + 1 + rendered.len());
                        text.push_str(&rule.encoded_name);
                        text.push('=');
                        encode_into(&mut text, &rendered, false);
                        Cow::Owned(text)
                    }
                };
                entries.push((Cow::Borrowed(&*rule.name), text));
            }
            changed = true;
        }
        changed
    }

    fn filter(&self, entries: &mut Vec<Entry<'_>>) -> bool {
        let Some((filter_type, names)) = &self.filter else {
            return false;
        };
        let before = entries.len();
        let listed = |name: &str| names.iter().any(|n| **n == *name);
        match filter_type {
            FilterType::Block => entries.retain(|(name, _)| !listed(name)),
            FilterType::Allow => entries.retain(|(name, _)| listed(name)),
        }
        entries.len() != before
    }
}
