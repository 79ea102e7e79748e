//! Policy statements (reference §9.2):
//!
//! ```text
//! statement = "allow" subject "to" verb resource "in" location [ "where" condition ] ;
//! ```
//!
//! This module only checks syntax; names (dynamic groups, compartments) are resolved against the
//! configuration in [`super::Iam::build`], which knows the policy's attachment point.

use std::fmt;

use serde::Serialize;

use super::condition::{parse_condition, Cond, Ctx};
use super::lexer::{lex, Cursor, SyntaxError, Tok, Token};
use gateway_core::diagnostics::did_you_mean;

/// Verbs in increasing order of power: granting one grants every lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// `inspect`: list resources.
    Inspect,
    /// `read`: `inspect`, plus reading the resources.
    Read,
    /// `use`: `read`, plus working with existing resources; the least that invoking a
    /// function needs.
    Use,
    /// `manage`: every permission on the resources.
    Manage,
}

impl Verb {
    const ALL: [(&'static str, Verb); 4] = [
        ("inspect", Verb::Inspect),
        ("read", Verb::Read),
        ("use", Verb::Use),
        ("manage", Verb::Manage),
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Inspect => "inspect",
            Verb::Read => "read",
            Verb::Use => "use",
            Verb::Manage => "manage",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of principal a subject list names. OCI allows one kind per statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectKind {
    Group,
    DynamicGroup,
}

impl SubjectKind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            SubjectKind::Group => "group",
            SubjectKind::DynamicGroup => "dynamic-group",
        }
    }
}

/// One `group X` / `dynamic-group id OCID` / `dynamic-group 'Domain'/'X'` item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubjectItem {
    pub(crate) by_id: bool,
    /// Identity domain prefix; the local model has a single domain, so it is recorded, not used.
    pub(crate) domain: Option<String>,
    pub(crate) name: String,
    pub(crate) col: usize,
}

impl SubjectItem {
    /// The item as it would be written (for traces).
    pub(crate) fn written(&self, kind: SubjectKind) -> String {
        let id = if self.by_id { "id " } else { "" };
        match &self.domain {
            Some(d) => format!("{} {id}{d}/{}", kind.keyword(), self.name),
            None => format!("{} {id}{}", kind.keyword(), self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Subject {
    AnyUser,
    AnyGroup,
    List(SubjectKind, Vec<SubjectItem>),
}

/// `in tenancy` / `in compartment id OCID` / `in compartment A:B:C`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LocationSpec {
    Tenancy,
    /// The OCID and its column.
    CompartmentId(String, usize),
    /// Names with their columns, relative to the policy's attachment compartment.
    CompartmentPath(Vec<(String, usize)>),
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) subject: Subject,
    pub(crate) verb: Verb,
    /// Resource type, lower-cased (OCI resource types are lower-case; we accept any case).
    pub(crate) resource: String,
    pub(crate) resource_col: usize,
    pub(crate) location: LocationSpec,
    pub(crate) location_col: usize,
    pub(crate) condition: Option<Cond>,
}

/// Resource types and families accepted without comment. Unknown types are accepted too
/// (OCI has hundreds; they simply never cover `fn-invocation`), unless they are a near miss of
/// one of [`FN_RESOURCES`], which is almost certainly a typo that would silently deny.
const KNOWN_RESOURCES: &[&str] = &[
    "all-resources",
    "functions-family",
    "fn-app",
    "fn-function",
    "fn-invocation",
    "api-gateway-family",
    "api-gateways",
    "api-deployments",
    "api-certificates",
    "api-workrequests",
    "object-family",
    "buckets",
    "objects",
    "virtual-network-family",
    "instance-family",
    "compute-management-family",
    "volume-family",
    "database-family",
    "autonomous-database-family",
    "secret-family",
    "vaults",
    "keys",
    "secret-bundles",
    "repos",
    "logging-family",
    "log-groups",
    "log-content",
    "metrics",
    "alarms",
    "ons-topics",
    "stream-family",
    "cluster-family",
    "users",
    "groups",
    "dynamic-groups",
    "policies",
    "compartments",
    "tenancies",
];

/// The types relevant to invoking a function; near misses of these are errors.
pub(crate) const FN_RESOURCES: &[&str] = &[
    "all-resources",
    "functions-family",
    "fn-app",
    "fn-function",
    "fn-invocation",
];

/// Parse one statement (syntax only).
pub(crate) fn parse_statement(text: &str) -> Result<Statement, SyntaxError> {
    let mut cur = Cursor::new(lex(text)?);

    let first = cur.bump();
    if !first.is_kw("allow") {
        return Err(match first.word() {
            Some(w) if ["endorse", "admit", "define"].iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                SyntaxError::new(first.col, format!("{w:?} statements are not supported"))
                    .hint("only Allow statements are evaluated locally (cross-tenancy policies are out of scope)")
            }
            Some(w) if did_you_mean(w, ["allow"]).is_some() => {
                SyntaxError::new(first.col, format!("unknown statement keyword {w:?}"))
                    .hint("did you mean \"Allow\"? every statement starts with Allow")
            }
            _ => SyntaxError::new(
                first.col,
                format!("expected \"Allow\", found {}", first.tok.describe()),
            )
            .hint("statements read: Allow <subject> to <verb> <resource> in <location> [where <conditions>]"),
        });
    }

    let subject = parse_subject(&mut cur)?;

    let to = cur.bump();
    if to.tok == Tok::Comma && matches!(subject, Subject::AnyUser | Subject::AnyGroup) {
        return Err(SyntaxError::new(
            to.col,
            "any-user and any-group cannot be combined with other subjects",
        )
        .hint("they already cover the others; write a separate statement if needed"));
    }
    if !to.is_kw("to") {
        let hint = match to.word() {
            Some(w) if did_you_mean(w, ["to"]).is_some() => "did you mean \"to\"?".to_string(),
            _ => "separate several subjects with commas; then write `to <verb>`".to_string(),
        };
        return Err(SyntaxError::new(
            to.col,
            format!(
                "expected \"to\" after the subject, found {}",
                to.tok.describe()
            ),
        )
        .hint(hint));
    }

    let verb = parse_verb(&mut cur)?;

    let res = cur.bump();
    let resource = match res.word() {
        Some(w) if w.eq_ignore_ascii_case("in") => {
            return Err(
                SyntaxError::new(res.col, "missing resource type before \"in\"")
                    .hint("e.g. functions-family, fn-invocation or all-resources"),
            );
        }
        Some(w) => w.to_ascii_lowercase(),
        None if res.tok == Tok::LBrace => {
            return Err(
                SyntaxError::new(res.col, "permission lists {…} are not supported")
                    .hint("grant a verb on a resource type, e.g. use fn-invocation"),
            );
        }
        None => {
            return Err(SyntaxError::new(
                res.col,
                format!("expected a resource type, found {}", res.tok.describe()),
            )
            .hint("e.g. functions-family, fn-invocation or all-resources"));
        }
    };
    if !KNOWN_RESOURCES.contains(&resource.as_str()) {
        if let Some(guess) = did_you_mean(&resource, FN_RESOURCES.iter().copied()) {
            return Err(
                SyntaxError::new(res.col, format!("unknown resource type {resource:?}"))
                    .hint(format!("did you mean {guess:?}?")),
            );
        }
    }

    let kw_in = cur.bump();
    if !kw_in.is_kw("in") {
        let hint = match kw_in.word() {
            Some(w) if did_you_mean(w, ["in"]).is_some() => "did you mean \"in\"?",
            _ => "a statement needs a location: `in tenancy` or `in compartment NAME`",
        };
        return Err(SyntaxError::new(
            kw_in.col,
            format!(
                "expected \"in\" after the resource type, found {}",
                kw_in.tok.describe()
            ),
        )
        .hint(hint));
    }

    let loc_tok = cur.peek().clone();
    let location = parse_location(&mut cur)?;

    let condition = {
        let t = cur.bump();
        match &t.tok {
            Tok::End => None,
            Tok::Word(w) if w.eq_ignore_ascii_case("where") => {
                if cur.peek().tok == Tok::End {
                    return Err(SyntaxError::new(
                        cur.peek().col,
                        "missing condition after \"where\"",
                    )
                    .hint("e.g. where request.principal.type = 'ApiGateway'"));
                }
                let c = parse_condition(&mut cur, Ctx::Statement)?;
                let rest = cur.peek().clone();
                if rest.tok != Tok::End {
                    return Err(unexpected_after(&rest, "the condition")
                        .hint("combine several conditions with ALL {a, b} or ANY {a, b}"));
                }
                Some(c)
            }
            Tok::Word(w) if did_you_mean(w, ["where"]).is_some() => {
                return Err(SyntaxError::new(t.col, format!("unexpected {w:?}"))
                    .hint("did you mean \"where\"?"));
            }
            _ => {
                return Err(unexpected_after(&t, "the location")
                    .hint("only `where <conditions>` may follow the location"));
            }
        }
    };

    Ok(Statement {
        subject,
        verb,
        resource,
        resource_col: res.col,
        location,
        location_col: loc_tok.col,
        condition,
    })
}

fn unexpected_after(t: &Token, what: &str) -> SyntaxError {
    SyntaxError::new(
        t.col,
        format!("unexpected {} after {what}", t.tok.describe()),
    )
}

const SUBJECTS: [&str; 4] = ["any-user", "any-group", "group", "dynamic-group"];

fn subject_kind(t: &Token) -> Option<SubjectKind> {
    if t.is_kw("group") {
        Some(SubjectKind::Group)
    } else if t.is_kw("dynamic-group") {
        Some(SubjectKind::DynamicGroup)
    } else {
        None
    }
}

fn parse_subject(cur: &mut Cursor) -> Result<Subject, SyntaxError> {
    let t = cur.bump();
    if t.is_kw("any-user") {
        return Ok(Subject::AnyUser);
    }
    if t.is_kw("any-group") {
        return Ok(Subject::AnyGroup);
    }
    let Some(kind) = subject_kind(&t) else {
        let list = "subjects: any-user, any-group, group NAME, dynamic-group NAME";
        return Err(match t.word() {
            Some(w) if w.eq_ignore_ascii_case("service") => {
                SyntaxError::new(t.col, "service subjects are not supported").hint(list)
            }
            Some(w) => {
                let hint = match did_you_mean(w, SUBJECTS) {
                    Some(s) => format!("did you mean {s:?}? {list}"),
                    None => list.to_string(),
                };
                SyntaxError::new(t.col, format!("unknown subject {w:?}")).hint(hint)
            }
            None => SyntaxError::new(
                t.col,
                format!(
                    "expected a subject after \"Allow\", found {}",
                    t.tok.describe()
                ),
            )
            .hint(list),
        });
    };
    let mut items = vec![parse_subject_item(cur, kind)?];
    while cur.eat(&Tok::Comma) {
        // `group A, B` and `group A, group B` are both accepted; OCI allows one principal kind
        // per statement, so `group A, dynamic-group B` is an error.
        let t = cur.peek().clone();
        if let Some(k) = subject_kind(&t) {
            if k != kind {
                return Err(SyntaxError::new(
                    t.col,
                    format!(
                        "cannot mix {} and {} in one statement",
                        kind.keyword(),
                        k.keyword()
                    ),
                )
                .hint("OCI allows one kind of principal per statement; write two statements"));
            }
            cur.bump();
        } else if t.is_kw("any-user") || t.is_kw("any-group") {
            return Err(SyntaxError::new(
                t.col,
                format!(
                    "{} cannot be combined with other subjects",
                    t.tok.describe()
                ),
            )
            .hint("write it as its own statement"));
        }
        items.push(parse_subject_item(cur, kind)?);
    }
    Ok(Subject::List(kind, items))
}

/// `[id] OCID` or `[domain /] name`, where each part may be quoted.
fn parse_subject_item(cur: &mut Cursor, kind: SubjectKind) -> Result<SubjectItem, SyntaxError> {
    let by_id = cur.peek().is_kw("id") && !matches!(cur.peek_at(1).tok, Tok::Slash);
    if by_id {
        cur.bump();
    }
    let t = cur.bump();
    let first = name_part(&t, kind)?;
    let mut item = SubjectItem {
        by_id,
        domain: None,
        name: first,
        col: t.col,
    };
    if !by_id && cur.eat(&Tok::Slash) {
        let n = cur.bump();
        item.domain = Some(std::mem::take(&mut item.name));
        item.name = name_part(&n, kind)?;
    }
    Ok(item)
}

fn name_part(t: &Token, kind: SubjectKind) -> Result<String, SyntaxError> {
    match &t.tok {
        Tok::Word(w) if w.eq_ignore_ascii_case("to") => Err(SyntaxError::new(
            t.col,
            format!("missing {} name", kind.keyword()),
        )
        .hint(format!("write {} NAME", kind.keyword()))),
        Tok::Word(w) | Tok::Str(w) if !w.is_empty() => Ok(w.clone()),
        other => Err(SyntaxError::new(
            t.col,
            format!(
                "expected a {} name, found {}",
                kind.keyword(),
                other.describe()
            ),
        )
        .hint(format!("write {} NAME", kind.keyword()))),
    }
}

fn parse_verb(cur: &mut Cursor) -> Result<Verb, SyntaxError> {
    let t = cur.bump();
    let list = "verbs: inspect, read, use, manage";
    let Some(w) = t.word() else {
        return Err(SyntaxError::new(
            t.col,
            format!("expected a verb after \"to\", found {}", t.tok.describe()),
        )
        .hint(list));
    };
    if let Some((_, v)) = Verb::ALL.iter().find(|(n, _)| n.eq_ignore_ascii_case(w)) {
        return Ok(*v);
    }
    let hint = match did_you_mean(w, Verb::ALL.iter().map(|(n, _)| *n)) {
        Some(s) => format!("did you mean {s:?}? {list}"),
        None => list.to_string(),
    };
    Err(SyntaxError::new(t.col, format!("unknown verb {w:?}")).hint(hint))
}

fn parse_location(cur: &mut Cursor) -> Result<LocationSpec, SyntaxError> {
    let t = cur.bump();
    if t.is_kw("tenancy") {
        return Ok(LocationSpec::Tenancy);
    }
    if !t.is_kw("compartment") {
        let list = "locations: tenancy, compartment NAME[:NAME…], compartment id OCID";
        let hint = match t
            .word()
            .and_then(|w| did_you_mean(w, ["tenancy", "compartment"]))
        {
            Some(s) => format!("did you mean {s:?}? {list}"),
            None => list.to_string(),
        };
        return Err(SyntaxError::new(
            t.col,
            format!(
                "expected \"tenancy\" or \"compartment\" after \"in\", found {}",
                t.tok.describe()
            ),
        )
        .hint(hint));
    }
    // `compartment id OCID`, unless `id` is the first name of a path (`compartment id:sub`).
    if cur.peek().is_kw("id") && !matches!(cur.peek_at(1).tok, Tok::Colon) {
        let id_kw = cur.bump();
        let o = cur.bump();
        return match &o.tok {
            Tok::Word(w) | Tok::Str(w) if !w.eq_ignore_ascii_case("where") => {
                Ok(LocationSpec::CompartmentId(w.clone(), o.col))
            }
            other => Err(SyntaxError::new(
                o.col,
                format!(
                    "expected a compartment OCID after \"id\", found {}",
                    other.describe()
                ),
            )
            .hint(format!(
                "e.g. compartment id ocid1.compartment.oc1..xxxx (\"id\" at column {})",
                id_kw.col
            ))),
        };
    }
    let mut path = Vec::new();
    loop {
        let n = cur.bump();
        match &n.tok {
            Tok::Word(w) | Tok::Str(w) if !w.is_empty() && !w.eq_ignore_ascii_case("where") => {
                path.push((w.clone(), n.col));
            }
            other => {
                return Err(SyntaxError::new(
                    n.col,
                    format!("expected a compartment name, found {}", other.describe()),
                )
                .hint("write compartment NAME or a path PARENT:CHILD"));
            }
        }
        if !cur.eat(&Tok::Colon) {
            break;
        }
    }
    Ok(LocationSpec::CompartmentPath(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Statement {
        match parse_statement(s) {
            Ok(st) => st,
            Err(e) => panic!(
                "{s:?} failed at column {}: {} ({:?})",
                e.col, e.message, e.hint
            ),
        }
    }

    fn err(s: &str) -> SyntaxError {
        match parse_statement(s) {
            Ok(st) => panic!("{s:?} parsed unexpectedly: {st:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn oracle_sample_dynamic_group_statement() {
        let s = ok("Allow dynamic-group apigw-dg to use functions-family in compartment fn-apps");
        assert_eq!(
            s.subject,
            Subject::List(
                SubjectKind::DynamicGroup,
                vec![SubjectItem {
                    by_id: false,
                    domain: None,
                    name: "apigw-dg".into(),
                    col: 21
                }]
            )
        );
        assert_eq!(s.verb, Verb::Use);
        assert_eq!(s.resource, "functions-family");
        assert_eq!(
            s.location,
            LocationSpec::CompartmentPath(vec![("fn-apps".into(), 69)])
        );
        assert_eq!(s.condition, None);
    }

    #[test]
    fn oracle_documented_any_user_statement_with_line_breaks() {
        let s = ok("ALLOW any-user to use functions-family in compartment fn-apps\n  where ALL {request.principal.type= 'ApiGateway',\n   request.resource.compartment.id = 'ocid1.compartment.oc1..aaa'}");
        assert_eq!(s.subject, Subject::AnyUser);
        assert!(matches!(s.condition, Some(Cond::Group { ref items, .. }) if items.len() == 2));
    }

    #[test]
    fn mixed_case_keywords_and_paths() {
        let s = ok("aLLoW Dynamic-Group Default/gw TO Manage ALL-RESOURCES IN Compartment a:b:c WHERE request.principal.type='apigateway'");
        assert_eq!(s.verb, Verb::Manage);
        assert_eq!(s.resource, "all-resources");
        assert!(matches!(s.location, LocationSpec::CompartmentPath(ref p) if p.len() == 3));
        assert!(
            matches!(s.subject, Subject::List(_, ref i) if i[0].domain.as_deref() == Some("Default"))
        );
    }

    #[test]
    fn subject_lists_ids_and_quoted_names() {
        let s = ok("Allow group A-Admins, B-Admins to read fn-app in tenancy");
        assert!(matches!(s.subject, Subject::List(SubjectKind::Group, ref i) if i.len() == 2));
        let s = ok(
            "Allow group id ocid1.group.oc1..a, id ocid1.group.oc1..b to read fn-app in tenancy",
        );
        assert!(matches!(s.subject, Subject::List(_, ref i) if i.iter().all(|i| i.by_id)));
        let s = ok("Allow dynamic-group 'Default'/'gw' to use fn-invocation in compartment id ocid1.compartment.oc1..x");
        assert_eq!(
            s.location,
            LocationSpec::CompartmentId("ocid1.compartment.oc1..x".into(), 75)
        );
        assert!(matches!(s.subject, Subject::List(_, ref i) if i[0].name == "gw"));
        assert_eq!(
            ok("Allow any-group to inspect users in tenancy").subject,
            Subject::AnyGroup
        );
    }

    #[test]
    fn wild_statement_with_single_condition_group() {
        let s = ok("Allow any-user to use functions-family in tenancy where ALL {request.principal.type='ApiGateway'}");
        assert_eq!(s.location, LocationSpec::Tenancy);
        assert!(s.condition.is_some());
    }

    #[test]
    fn bad_verb_points_at_it() {
        let e = err("Allow dynamic-group gw to usee functions-family in compartment apps");
        assert_eq!(e.col, 27);
        assert_eq!(e.message, "unknown verb \"usee\"");
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean \"use\"? verbs: inspect, read, use, manage")
        );
    }

    #[test]
    fn bad_subject_points_at_it() {
        let e = err("Allow dynamic-grop gw to use functions-family in compartment apps");
        assert_eq!(e.col, 7);
        assert!(e
            .hint
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean \"dynamic-group\"?")));
    }

    #[test]
    fn bad_location_keyword() {
        let e = err("Allow any-user to use fn-invocation in compartmnt x");
        assert_eq!(e.col, 40);
        assert!(e
            .hint
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean \"compartment\"?")));
    }

    #[test]
    fn unterminated_quote_and_missing_brace() {
        let s = "Allow any-user to use fn-invocation in tenancy where request.principal.type = 'ApiGateway";
        assert_eq!(err(s).col, 79);
        let s = "Allow any-user to use fn-invocation in tenancy where ALL {request.principal.type = 'ApiGateway'";
        let e = err(s);
        assert_eq!(e.col, s.chars().count() + 1);
        assert!(e.message.contains("missing `}`") && e.message.contains("column 58"));
    }

    #[test]
    fn other_errors() {
        assert_eq!(err("Alow any-user to use fn-app in tenancy").col, 1);
        assert_eq!(
            err("Allow any-user to use functions-famly in tenancy").col,
            23
        );
        assert_eq!(err("Allow any-user to use functions-family").col, 39);
        assert_eq!(
            err("Allow any-user to use functions-family in tenancy wher x").col,
            51
        );
        assert_eq!(
            err("Allow group a, dynamic-group b to use fn-app in tenancy").col,
            16
        );
        assert_eq!(
            err("Allow any-user to use fn-app in tenancy where request.region = 'x' c").col,
            68
        );
        assert_eq!(
            err("Allow any-user to use fn-app in compartment <fn-compartment>").col,
            45
        );
        // unknown but well-formed resource types are accepted (they never cover fn-invocation)
        assert_eq!(
            ok("Allow any-user to read objectstorage-namespaces in tenancy").resource,
            "objectstorage-namespaces"
        );
    }
}
