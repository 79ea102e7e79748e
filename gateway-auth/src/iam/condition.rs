//! The condition grammar shared by policy `where` clauses and dynamic-group matching rules:
//!
//! ```text
//! condition = simple | group ;
//! group     = ( "any" | "all" ) "{" condition { "," condition } "}" ;
//! simple    = variable ( "=" | "!=" ) value | tag-variable ;
//! value     = "'" chars "'" | "/" pattern "/" ;
//! ```
//!
//! The two contexts differ only in which variables exist (and matching rules take quoted values
//! only, no patterns, no bare tag tests in statements), so one parser with a [`Ctx`] flag keeps the
//! nesting rules — where the article's `ALL`/`ANY` confusion lives — identical in both places.

use serde::Serialize;

use super::lexer::{Cursor, SyntaxError, Tok, Token};
use gateway_core::diagnostics::did_you_mean;

/// Which grammar a condition belongs to; decides the variable set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// A `where` clause of a policy statement.
    Statement,
    /// A dynamic-group matching rule.
    Rule,
}

/// `ALL { … }` (AND) or `ANY { … }` (OR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupKind {
    /// `ALL { … }`: true when every condition is.
    All,
    /// `ANY { … }`: true when at least one condition is.
    Any,
}

impl GroupKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GroupKind::All => "ALL",
            GroupKind::Any => "ANY",
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `=`: the value matches.
    #[serde(rename = "=")]
    Eq,
    /// `!=`: the value does not match (still false when the variable has no value).
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
        }
    }
}

/// The variables the evaluator knows. Each has one canonical spelling (see [`VARIABLES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    // ---- matching rules (the resource being matched: the gateway) ----
    ResourceType,
    ResourceId,
    ResourceCompartmentId,
    /// `instance.*`: parsed because real rules use them; a gateway is never a compute instance.
    InstanceId,
    InstanceCompartmentId,
    /// `tag.<ns>.<key>.value`: defined tags; the local model gives gateways no tags.
    Tag(String),
    // ---- policy conditions ----
    PrincipalType,
    PrincipalId,
    PrincipalCompartmentId,
    /// `request.resource.compartment.id`: per the reference (Oracle's documented gateway
    /// statement) this is the *gateway's* compartment.
    RequestResourceCompartmentId,
    TargetCompartmentId,
    TargetCompartmentName,
    Permission,
    Operation,
    /// A general variable that a gateway request does not carry; the string says why.
    Absent(&'static str),
}

impl Var {
    /// True for variables whose value is a compartment OCID (the trace names the compartment).
    pub(crate) fn is_compartment_id(&self) -> bool {
        matches!(
            self,
            Var::ResourceCompartmentId
                | Var::InstanceCompartmentId
                | Var::PrincipalCompartmentId
                | Var::RequestResourceCompartmentId
                | Var::TargetCompartmentId
        )
    }

    /// True for variables whose value is a resource-principal type (`ApiGateway`, `fnfunc`).
    pub(crate) fn is_type(&self) -> bool {
        matches!(self, Var::ResourceType | Var::PrincipalType)
    }
}

/// Why a general variable is absent for a gateway acting as resource principal.
const NOT_A_USER: &str = "the gateway is a resource principal, not a user";
const NO_GROUPS: &str = "a resource principal belongs to no IAM group";
const NO_REGION: &str = "the local model has no region or availability domain";
const NO_NETWORK: &str = "network sources are not modelled locally";
const NO_TIME: &str = "time-based conditions are out of scope for the local model";

/// Every known variable: (canonical name, context, meaning).
const VARIABLES: &[(&str, Ctx, Var)] = &[
    ("resource.type", Ctx::Rule, Var::ResourceType),
    ("resource.id", Ctx::Rule, Var::ResourceId),
    (
        "resource.compartment.id",
        Ctx::Rule,
        Var::ResourceCompartmentId,
    ),
    ("instance.id", Ctx::Rule, Var::InstanceId),
    (
        "instance.compartment.id",
        Ctx::Rule,
        Var::InstanceCompartmentId,
    ),
    ("request.principal.type", Ctx::Statement, Var::PrincipalType),
    ("request.principal.id", Ctx::Statement, Var::PrincipalId),
    (
        "request.principal.compartment.id",
        Ctx::Statement,
        Var::PrincipalCompartmentId,
    ),
    (
        "request.resource.compartment.id",
        Ctx::Statement,
        Var::RequestResourceCompartmentId,
    ),
    (
        "target.compartment.id",
        Ctx::Statement,
        Var::TargetCompartmentId,
    ),
    (
        "target.compartment.name",
        Ctx::Statement,
        Var::TargetCompartmentName,
    ),
    ("request.permission", Ctx::Statement, Var::Permission),
    ("request.operation", Ctx::Statement, Var::Operation),
    ("request.user.id", Ctx::Statement, Var::Absent(NOT_A_USER)),
    ("request.user.name", Ctx::Statement, Var::Absent(NOT_A_USER)),
    (
        "request.user.mfatotpverified",
        Ctx::Statement,
        Var::Absent(NOT_A_USER),
    ),
    ("request.groups.id", Ctx::Statement, Var::Absent(NO_GROUPS)),
    ("request.region", Ctx::Statement, Var::Absent(NO_REGION)),
    ("request.ad", Ctx::Statement, Var::Absent(NO_REGION)),
    (
        "request.ipv4.ipaddress",
        Ctx::Statement,
        Var::Absent(NO_NETWORK),
    ),
    (
        "request.networksource.name",
        Ctx::Statement,
        Var::Absent(NO_NETWORK),
    ),
    (
        "request.utc-timestamp",
        Ctx::Statement,
        Var::Absent(NO_TIME),
    ),
    (
        "request.utc-timestamp.month-of-year",
        Ctx::Statement,
        Var::Absent(NO_TIME),
    ),
    (
        "request.utc-timestamp.day-of-month",
        Ctx::Statement,
        Var::Absent(NO_TIME),
    ),
    (
        "request.utc-timestamp.day-of-week",
        Ctx::Statement,
        Var::Absent(NO_TIME),
    ),
    (
        "request.utc-timestamp.time-of-day",
        Ctx::Statement,
        Var::Absent(NO_TIME),
    ),
];

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `'text'`, compared case-insensitively and literally (a `*` inside quotes is a `*`).
    Literal(String),
    /// `/…/` with `*` at the start and/or end.
    Pattern(Pattern),
}

impl Value {
    /// The value as written (with its quotes or slashes), for traces.
    pub(crate) fn written(&self) -> String {
        match self {
            Value::Literal(s) => format!("'{s}'"),
            Value::Pattern(p) => format!("/{}/", p.raw),
        }
    }
}

/// A validated `/…/` pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    pub(crate) raw: String,
    star_start: bool,
    star_end: bool,
    /// The text between the stars, lower-cased.
    core: String,
}

impl Pattern {
    fn parse(raw: &str, col: usize) -> Result<Pattern, SyntaxError> {
        let chars: Vec<char> = raw.chars().collect();
        if chars.is_empty() {
            return Err(SyntaxError::new(col, "empty pattern `//`")
                .hint("a pattern is written /prefix*/, /*suffix/ or /*infix*/"));
        }
        let star_start = chars.first() == Some(&'*');
        let star_end = chars.len() > 1 && chars.last() == Some(&'*');
        let lo = usize::from(star_start);
        let hi = chars.len() - usize::from(star_end);
        let inner = chars.get(lo..hi).unwrap_or(&[]);
        if let Some(pos) = inner.iter().position(|c| *c == '*') {
            // +1 for the opening slash, +lo for a leading star.
            return Err(SyntaxError::new(
                col + 1 + lo + pos,
                "`*` is only allowed at the start and/or end of a pattern",
            )
            .hint("OCI patterns are /prefix*/, /*suffix/ or /*infix*/"));
        }
        Ok(Pattern {
            raw: raw.to_string(),
            star_start,
            star_end,
            core: inner.iter().collect::<String>().to_lowercase(),
        })
    }

    /// Case-insensitive wildcard match.
    pub(crate) fn matches(&self, actual: &str) -> bool {
        let a = actual.to_lowercase();
        match (self.star_start, self.star_end) {
            (true, true) => a.contains(&self.core),
            (true, false) => a.ends_with(&self.core),
            (false, true) => a.starts_with(&self.core),
            (false, false) => a == self.core,
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Group {
        kind: GroupKind,
        items: Vec<Cond>,
        col: usize,
    },
    Compare {
        var: Var,
        /// The variable as written (for traces).
        var_text: String,
        var_col: usize,
        op: Op,
        value: Value,
        value_col: usize,
    },
    /// `tag.ns.key.value` with no operator: "the resource has this tag" (matching rules only).
    TagExists { var_text: String, col: usize },
}

/// How deeply `ALL {…}`/`ANY {…}` groups may nest. Real rules and conditions use two or three
/// levels; the bound keeps the recursive parser (and every walk over the tree it builds:
/// evaluation, traces, printing) far from the stack's end, whatever a config file holds.
pub(crate) const MAX_NESTING: usize = 32;

/// Parse one condition (possibly a nested group) at the cursor.
pub(crate) fn parse_condition(cur: &mut Cursor, ctx: Ctx) -> Result<Cond, SyntaxError> {
    parse_nested(cur, ctx, 0)
}

/// [`parse_condition`] inside `depth` enclosing groups.
fn parse_nested(cur: &mut Cursor, ctx: Ctx, depth: usize) -> Result<Cond, SyntaxError> {
    let t = cur.peek().clone();
    let group = if t.is_kw("all") {
        Some(GroupKind::All)
    } else if t.is_kw("any") {
        Some(GroupKind::Any)
    } else {
        None
    };
    if let Some(kind) = group {
        if depth == MAX_NESTING {
            return Err(SyntaxError::new(
                t.col,
                format!("ALL/ANY groups nested deeper than {MAX_NESTING} levels"),
            )
            .hint("flatten the condition: ALL {a, ALL {b, c}} is ALL {a, b, c}"));
        }
        cur.bump();
        return parse_group(cur, ctx, kind, &t, depth + 1);
    }
    if let Tok::LBrace = t.tok {
        return Err(SyntaxError::new(t.col, "`{` without ALL or ANY")
            .hint("write ALL {…} (every condition must hold) or ANY {…} (one is enough)"));
    }
    parse_simple(cur, ctx)
}

fn parse_group(
    cur: &mut Cursor,
    ctx: Ctx,
    kind: GroupKind,
    kw: &Token,
    depth: usize,
) -> Result<Cond, SyntaxError> {
    let open = cur.peek().clone();
    if !cur.eat(&Tok::LBrace) {
        return Err(SyntaxError::new(
            open.col,
            format!(
                "expected `{{` after {}, found {}",
                kind.as_str(),
                open.tok.describe()
            ),
        )
        .hint(format!("write {} {{cond, cond}}", kind.as_str())));
    }
    if let Tok::RBrace = cur.peek().tok {
        return Err(
            SyntaxError::new(cur.peek().col, format!("empty {} {{}}", kind.as_str()))
                .hint("put at least one condition between the braces"),
        );
    }
    let mut items = Vec::new();
    loop {
        items.push(parse_nested(cur, ctx, depth)?);
        let t = cur.bump();
        match t.tok {
            Tok::Comma => continue,
            Tok::RBrace => break,
            Tok::End => {
                return Err(SyntaxError::new(
                    t.col,
                    format!(
                        "missing `}}` to close the {} {{ opened at column {}",
                        kind.as_str(),
                        open.col
                    ),
                )
                .hint("add `}` after the last condition"));
            }
            other => {
                return Err(SyntaxError::new(
                    t.col,
                    format!(
                        "expected `,` or `}}` in {} {{…}}, found {}",
                        kind.as_str(),
                        other.describe()
                    ),
                )
                .hint("separate conditions with commas"));
            }
        }
    }
    Ok(Cond::Group {
        kind,
        items,
        col: kw.col,
    })
}

fn parse_simple(cur: &mut Cursor, ctx: Ctx) -> Result<Cond, SyntaxError> {
    let t = cur.bump();
    let Tok::Word(name) = &t.tok else {
        return Err(SyntaxError::new(
            t.col,
            format!("expected a variable, found {}", t.tok.describe()),
        )
        .hint(variable_list(ctx)));
    };
    let var = lookup_variable(name, ctx, t.col)?;
    let op_tok = cur.peek().clone();
    let op = match &op_tok.tok {
        Tok::Eq => Op::Eq,
        Tok::Ne => Op::Ne,
        Tok::End | Tok::Comma | Tok::RBrace if matches!(var, Var::Tag(_)) => {
            // `tag.ns.key.value` on its own: a tag-exists test; the delimiter is the caller's.
            return Ok(Cond::TagExists {
                var_text: name.clone(),
                col: t.col,
            });
        }
        Tok::Word(w) if w.eq_ignore_ascii_case("in") => {
            return Err(
                SyntaxError::new(op_tok.col, "the `in` operator is not supported")
                    .hint("write ANY {var = 'a', var = 'b'} instead"),
            );
        }
        other => {
            return Err(SyntaxError::new(
                op_tok.col,
                format!(
                    "expected `=` or `!=` after {name}, found {}",
                    other.describe()
                ),
            ));
        }
    };
    cur.bump();
    let v = cur.bump();
    let value = match &v.tok {
        Tok::Str(s) => Value::Literal(s.clone()),
        Tok::Pattern(p) if ctx == Ctx::Statement => Value::Pattern(Pattern::parse(p, v.col)?),
        Tok::Pattern(_) => {
            return Err(
                SyntaxError::new(v.col, "matching rules do not take /patterns/")
                    .hint("compare with a quoted value: 'value'"),
            );
        }
        Tok::Word(w) => {
            return Err(SyntaxError::new(v.col, "value must be in single quotes")
                .hint(format!("write '{w}'")));
        }
        other => {
            return Err(SyntaxError::new(
                v.col,
                format!(
                    "expected a quoted value after `{}`, found {}",
                    op.as_str(),
                    other.describe()
                ),
            )
            .hint("values are written 'text' or /pattern*/"));
        }
    };
    Ok(Cond::Compare {
        var,
        var_text: name.clone(),
        var_col: t.col,
        op,
        value,
        value_col: v.col,
    })
}

fn variable_list(ctx: Ctx) -> String {
    let names: Vec<&str> = VARIABLES
        .iter()
        .filter(|(_, c, _)| *c == ctx)
        .map(|(n, _, _)| *n)
        .take(9)
        .collect();
    let extra = if ctx == Ctx::Rule {
        ", tag.<namespace>.<key>.value"
    } else {
        ", …"
    };
    format!("variables: {}{extra}", names.join(", "))
}

/// Resolve a variable name for `ctx`; unknown names are errors with a near-miss hint, and a
/// variable from the *other* context gets a pointed hint (a classic mix-up is writing
/// `resource.type` in a policy `where` clause).
fn lookup_variable(name: &str, ctx: Ctx, col: usize) -> Result<Var, SyntaxError> {
    let lower = name.to_ascii_lowercase();
    if ctx == Ctx::Rule {
        let parts: Vec<&str> = lower.split('.').collect();
        if parts.first() == Some(&"tag") {
            if parts.len() == 4
                && parts[3] == "value"
                && !parts[1].is_empty()
                && !parts[2].is_empty()
            {
                return Ok(Var::Tag(name.to_string()));
            }
            return Err(
                SyntaxError::new(col, format!("malformed tag variable {name:?}"))
                    .hint("write tag.<namespace>.<key>.value"),
            );
        }
    }
    if let Some((_, _, var)) = VARIABLES.iter().find(|(n, c, _)| *c == ctx && *n == lower) {
        return Ok(var.clone());
    }
    if let Some((other, _, _)) = VARIABLES.iter().find(|(n, c, _)| *c != ctx && *n == lower) {
        let msg = match ctx {
            Ctx::Statement => {
                format!("{other} is a matching-rule variable, not a policy-condition variable")
            }
            Ctx::Rule => {
                format!("{other} is a policy-condition variable, not a matching-rule variable")
            }
        };
        let hint = match (ctx, *other) {
            (Ctx::Statement, "resource.type") => "in a policy use request.principal.type".into(),
            (Ctx::Statement, "resource.compartment.id") => {
                "in a policy use request.principal.compartment.id (the gateway's compartment)"
                    .into()
            }
            (Ctx::Statement, "resource.id") => "in a policy use request.principal.id".into(),
            (Ctx::Rule, "request.principal.type") => "in a matching rule use resource.type".into(),
            _ => variable_list(ctx),
        };
        return Err(SyntaxError::new(col, msg).hint(hint));
    }
    let candidates = VARIABLES
        .iter()
        .filter(|(_, c, _)| *c == ctx)
        .map(|(n, _, _)| *n);
    let hint = match did_you_mean(&lower, candidates) {
        Some(s) => format!("did you mean {s:?}? {}", variable_list(ctx)),
        None => variable_list(ctx),
    };
    Err(SyntaxError::new(col, format!("unknown variable {name:?}")).hint(hint))
}

/// Every comparison in a condition tree, for build-time checks (near-miss type warnings).
pub(crate) fn comparisons(c: &Cond) -> Vec<&Cond> {
    let mut out = Vec::new();
    collect(c, &mut out);
    out
}

fn collect<'a>(c: &'a Cond, out: &mut Vec<&'a Cond>) {
    match c {
        Cond::Group { items, .. } => items.iter().for_each(|i| collect(i, out)),
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn parse(s: &str, ctx: Ctx) -> Result<Cond, SyntaxError> {
        let mut cur = Cursor::new(lex(s)?);
        let c = parse_condition(&mut cur, ctx)?;
        match cur.peek().tok {
            Tok::End => Ok(c),
            _ => Err(SyntaxError::new(cur.peek().col, "trailing")),
        }
    }

    #[test]
    fn patterns() {
        let p = |s: &str| Pattern::parse(s, 1).ok();
        assert!(p("HR*").is_some_and(|p| p.matches("hr-team") && !p.matches("x-hr")));
        assert!(p("*HR").is_some_and(|p| p.matches("team-hr") && !p.matches("hr-x")));
        assert!(p("*HR*").is_some_and(|p| p.matches("a-hr-b")));
        assert!(p("*").is_some_and(|p| p.matches("anything")));
        assert_eq!(Pattern::parse("a*b", 10).err().map(|e| e.col), Some(12));
        assert!(Pattern::parse("", 1).is_err());
    }

    #[test]
    fn nested_groups_parse() {
        let c = parse(
            "Any {ALL {resource.type = 'fnfunc', resource.compartment.id = 'x'}}",
            Ctx::Rule,
        );
        let Ok(Cond::Group {
            kind: GroupKind::Any,
            items,
            ..
        }) = c
        else {
            panic!("expected ANY group, got {c:?}");
        };
        assert!(
            matches!(&items[0], Cond::Group { kind: GroupKind::All, items, .. } if items.len() == 2)
        );
    }

    #[test]
    fn nesting_is_bounded_with_a_clear_error() {
        let nested = |n: usize| {
            let mut s = "ALL {".repeat(n);
            s.push_str("resource.type = 'fnfunc'");
            s.push_str(&"}".repeat(n));
            s
        };
        assert!(parse(&nested(MAX_NESTING), Ctx::Rule).is_ok());
        for n in [MAX_NESTING + 1, 9_000, 100_000] {
            let err = parse(&nested(n), Ctx::Rule).expect_err("too deep");
            assert!(err.message.contains("nested deeper than 32"), "{err:?}");
            assert_eq!(err.col, 5 * MAX_NESTING + 1);
        }
        let unclosed = "ANY {".repeat(50_000);
        assert!(parse(&unclosed, Ctx::Statement).is_err());
    }

    #[test]
    fn tag_exists_in_rules() {
        assert!(matches!(
            parse("ANY {tag.ops.team.value, resource.type='x'}", Ctx::Rule),
            Ok(Cond::Group { .. })
        ));
        assert!(parse("tag.ops.team.value", Ctx::Statement).is_err());
    }

    #[test]
    fn wrong_context_variable_gets_pointed_hint() {
        let e = parse("resource.type = 'ApiGateway'", Ctx::Statement).err();
        assert!(e
            .and_then(|e| e.hint)
            .is_some_and(|h| h.contains("request.principal.type")));
    }

    #[test]
    fn unquoted_value_and_in_operator() {
        let e = parse("request.principal.type = ApiGateway", Ctx::Statement).err();
        assert_eq!(e.as_ref().map(|e| e.col), Some(26));
        assert_eq!(e.and_then(|e| e.hint), Some("write 'ApiGateway'".into()));
        let e = parse("request.region in ('a')", Ctx::Statement).err();
        assert_eq!(e.map(|e| e.col), Some(16));
    }
}
