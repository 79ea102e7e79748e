//! Choosing a `dynamicAuthentication` server from a selector value (reference 4.1.4, with the
//! algorithm of 3.4): an `ANY_OF` value (case-insensitive), else the first matching `WILDCARD`
//! in spec order (case-sensitive), else the default.

use std::collections::HashMap;

use crate::spec::SelectionKey;

/// The compiled keys of a branch list; selects a branch index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Branches {
    /// Lower-cased `ANY_OF` values to branch index.
    exact: HashMap<String, usize>,
    /// `WILDCARD` patterns in spec order.
    wildcards: Vec<(Wildcard, usize)>,
    default: Option<usize>,
}

impl Branches {
    /// Compiles the keys, in list order.
    pub(crate) fn new<'a>(keys: impl IntoIterator<Item = &'a SelectionKey>) -> Self {
        let mut branches = Branches::default();
        for (index, key) in keys.into_iter().enumerate() {
            match key {
                SelectionKey::AnyOf(k) => {
                    for value in &k.values {
                        // The loader rejects duplicates; the first one wins regardless.
                        branches.exact.entry(value.to_lowercase()).or_insert(index);
                    }
                }
                SelectionKey::Wildcard(k) => {
                    branches
                        .wildcards
                        .push((Wildcard::parse(&k.expression), index));
                }
            }
            if key.is_default() && branches.default.is_none() {
                branches.default = Some(index);
            }
        }
        branches
    }

    /// The branch for `value` (`None` when the selector had no value: only the default applies).
    pub(crate) fn select(&self, value: Option<&str>) -> Option<usize> {
        if let Some(value) = value {
            if let Some(&i) = self.exact.get(&value.to_lowercase()) {
                return Some(i);
            }
            if let Some((_, i)) = self.wildcards.iter().find(|(w, _)| w.matches(value)) {
                return Some(*i);
            }
        }
        self.default
    }
}

/// One `*` (zero or more characters) or `+` (one or more) at the start or the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wildcard {
    /// `*suffix` / `+suffix`: the value ends with the literal.
    Leading { literal: String, non_empty: bool },
    /// `prefix*` / `prefix+`: the value starts with the literal.
    Trailing { literal: String, non_empty: bool },
    /// An expression the loader refuses (no wildcard, or one in the middle): compared whole,
    /// so it can only ever match less than its author meant, never more.
    Exact(String),
}

impl Wildcard {
    pub(crate) fn parse(expression: &str) -> Self {
        let is_wildcard = |c: char| c == '*' || c == '+';
        let mut chars = expression.chars();
        let (first, last) = (chars.next(), expression.chars().next_back());
        let leading = first.filter(|&c| is_wildcard(c));
        let trailing = last.filter(|&c| is_wildcard(c));
        let pattern = match (leading, trailing) {
            (Some(w), _) => {
                let literal = &expression[w.len_utf8()..];
                (!literal.contains(is_wildcard)).then(|| Wildcard::Leading {
                    literal: literal.to_owned(),
                    non_empty: w == '+',
                })
            }
            (None, Some(w)) => {
                let literal = &expression[..expression.len() - w.len_utf8()];
                (!literal.contains(is_wildcard)).then(|| Wildcard::Trailing {
                    literal: literal.to_owned(),
                    non_empty: w == '+',
                })
            }
            (None, None) => None,
        };
        pattern.unwrap_or_else(|| Wildcard::Exact(expression.to_owned()))
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        let (rest, non_empty) = match self {
            Wildcard::Exact(text) => return value == text,
            Wildcard::Leading { literal, non_empty } => {
                (value.strip_suffix(literal.as_str()), *non_empty)
            }
            Wildcard::Trailing { literal, non_empty } => {
                (value.strip_prefix(literal.as_str()), *non_empty)
            }
        };
        rest.is_some_and(|rest| !non_empty || !rest.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{AnyOfSelectionKey, WildcardSelectionKey};

    fn any_of(name: &str, values: &[&str], default: bool) -> SelectionKey {
        SelectionKey::AnyOf(AnyOfSelectionKey {
            name: name.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            is_default: Some(default),
        })
    }

    fn wildcard(name: &str, expression: &str) -> SelectionKey {
        SelectionKey::Wildcard(WildcardSelectionKey {
            name: name.into(),
            expression: expression.into(),
            is_default: None,
        })
    }

    #[test]
    fn any_of_is_case_insensitive_and_beats_wildcards() {
        let keys = [
            wildcard("w", "ac*"),
            any_of("a", &["Acme"], false),
            any_of("d", &[], true),
        ];
        let b = Branches::new(&keys);
        assert_eq!(b.select(Some("ACME")), Some(1));
        assert_eq!(b.select(Some("acorn")), Some(0));
        assert_eq!(b.select(Some("zeta")), Some(2));
        assert_eq!(b.select(None), Some(2));
    }

    #[test]
    fn wildcards_are_case_sensitive_and_plus_needs_a_character() {
        assert!(Wildcard::parse("truck*").matches("truck"));
        assert!(Wildcard::parse("truck*").matches("trucks"));
        assert!(!Wildcard::parse("truck*").matches("Trucks"));
        assert!(!Wildcard::parse("truck+").matches("truck"));
        assert!(Wildcard::parse("truck+").matches("truckX"));
        assert!(Wildcard::parse("+.example.com").matches("a.example.com"));
        assert!(!Wildcard::parse("+.example.com").matches(".example.com"));
        assert!(Wildcard::parse("*.example.com").matches(".example.com"));
        // Expressions the loader refuses never match more than their text.
        assert!(Wildcard::parse("a*b").matches("a*b"));
        assert!(!Wildcard::parse("a*b").matches("axb"));
        assert!(Wildcard::parse("plain").matches("plain"));
        assert!(!Wildcard::parse("plain").matches("plainer"));
    }

    #[test]
    fn no_match_and_no_default_selects_nothing() {
        let keys = [any_of("a", &["x"], false)];
        let b = Branches::new(&keys);
        assert_eq!(b.select(Some("y")), None);
        assert_eq!(b.select(None), None);
    }
}
