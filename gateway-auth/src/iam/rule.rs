//! Dynamic-group matching rules (reference §9.3) and the resource-principal type names they
//! compare against.
//!
//! ```text
//! rule = cond | group ;     group = ( "any" | "all" ) "{" rule { "," rule } "}" ;
//! cond = variable ( "=" | "!=" ) "'" value "'" | tag.<ns>.<key>.value ;
//! ```

use super::condition::{parse_condition, Cond, Ctx};
use super::lexer::{edit_distance, lex, Cursor, SyntaxError, Tok};

/// Parse one matching rule. The whole text must be a single condition (usually `ALL {…}` or
/// `ANY {…}`); several alternatives are several rules, or an `ANY {…}`.
pub(crate) fn parse_rule(text: &str) -> Result<Cond, SyntaxError> {
    let mut cur = Cursor::new(lex(text)?);
    if cur.peek().tok == Tok::End {
        return Err(SyntaxError::new(cur.peek().col, "empty matching rule")
            .hint("e.g. ALL {resource.type = 'ApiGateway', resource.compartment.id = 'ocid1.compartment…'}"));
    }
    let c = parse_condition(&mut cur, Ctx::Rule)?;
    let rest = cur.peek();
    if rest.tok != Tok::End {
        return Err(SyntaxError::new(
            rest.col,
            format!("unexpected {} after the rule", rest.tok.describe()),
        )
        .hint("combine several conditions with ALL {a, b} or ANY {a, b}"));
    }
    Ok(c)
}

/// Resource-principal types (the type segment of an OCID, as `resource.type` and
/// `request.principal.type` see them), in the spelling we suggest.
pub(crate) const KNOWN_TYPES: &[&str] = &[
    "ApiGateway",
    "fnfunc",
    "fnfunction",
    "instance",
    "autonomousdatabase",
    "datasciencenotebooksession",
    "datasciencejob",
    "datasciencemodeldeployment",
    "dataflowrun",
    "devopsbuildpipeline",
    "devopsdeploypipeline",
    "devopsrepository",
    "disworkspace",
    "integrationinstance",
    "cluster",
];

/// Canonical form for type comparison: lower-case, with `fnfunction` folded into `fnfunc`
/// (the doc's example uses the long form, OCIDs and most samples the short one).
pub(crate) fn normalize_type(t: &str) -> String {
    let lower = t.to_lowercase();
    if lower == "fnfunction" {
        "fnfunc".to_string()
    } else {
        lower
    }
}

/// If `value` is within edit distance 2 of a known type without being one, the type it
/// probably meant. Not an error (OCI accepts any string and the rule silently never matches),
/// which is exactly why it is worth a warning.
pub(crate) fn near_miss_type(value: &str) -> Option<&'static str> {
    let lower = value.to_lowercase();
    if KNOWN_TYPES.iter().any(|k| k.to_lowercase() == lower) {
        return None;
    }
    KNOWN_TYPES
        .iter()
        .map(|k| (edit_distance(&lower, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Parsed conditions of a rule that compare a type, for build-time warnings.
pub(crate) fn type_values(c: &Cond) -> Vec<(&str, usize)> {
    super::condition::comparisons(c)
        .into_iter()
        .filter_map(|c| match c {
            Cond::Compare {
                var,
                value: super::condition::Value::Literal(v),
                value_col,
                ..
            } if var.is_type() => Some((v.as_str(), *value_col)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::condition::{GroupKind, Var};
    use super::*;

    #[test]
    fn oracle_sample_rule() {
        let c = parse_rule(
            "ALL {resource.type = 'ApiGateway', resource.compartment.id = 'ocid1.compartment.oc1..aaaaaxxxxx'}",
        );
        assert!(
            matches!(c, Ok(Cond::Group { kind: GroupKind::All, ref items, .. }) if items.len() == 2)
        );
    }

    #[test]
    fn wild_nested_rule_and_single_condition() {
        assert!(parse_rule(
            "Any {ALL {resource.type = 'fnfunc', resource.compartment.id = '...'}}"
        )
        .is_ok());
        assert!(matches!(
            parse_rule("resource.id = 'ocid1.apigateway.oc1..x'"),
            Ok(Cond::Compare {
                var: Var::ResourceId,
                ..
            })
        ));
        assert!(parse_rule("instance.compartment.id = 'ocid1.compartment.oc1..x'").is_ok());
        assert!(parse_rule("any { resource.type != 'fnfunc' ,\n tag.ops.team.value }").is_ok());
    }

    #[test]
    fn rule_errors() {
        let e = parse_rule("ALL {resource.typ = 'ApiGateway'}").err();
        assert_eq!(e.as_ref().map(|e| e.col), Some(6));
        assert!(e
            .and_then(|e| e.hint)
            .is_some_and(|h| h.starts_with("did you mean \"resource.type\"?")));
        assert_eq!(
            parse_rule("ALL {resource.type = /Api*/}")
                .err()
                .map(|e| e.col),
            Some(22)
        );
        assert_eq!(parse_rule("").err().map(|e| e.col), Some(1));
        assert_eq!(
            parse_rule("resource.type = 'a' resource.id = 'b'")
                .err()
                .map(|e| e.col),
            Some(21)
        );
    }

    #[test]
    fn near_miss_types() {
        assert_eq!(near_miss_type("ApiGatway"), Some("ApiGateway"));
        assert_eq!(near_miss_type("apigateway"), None);
        assert_eq!(near_miss_type("fnfunction"), None);
        assert_eq!(near_miss_type("fnfnc"), Some("fnfunc"));
        assert_eq!(near_miss_type("something-else"), None);
        assert_eq!(normalize_type("FnFunction"), "fnfunc");
    }
}
