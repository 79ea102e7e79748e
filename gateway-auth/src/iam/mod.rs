//! A local model of OCI IAM, just large enough to answer — and explain — one question:
//! **may this API gateway invoke this function?**
//!
//! In OCI a gateway calls a function as a *resource principal*. The call is allowed only when a
//! policy statement lets the gateway `use` `fn-invocation` in the function's compartment: either
//! `Allow dynamic-group X …` where one of X's matching rules matches the gateway, or
//! `Allow any-user … where …` with conditions on the request. Getting this wrong in the cloud
//! yields a bare 500 and no explanation; this module parses the same statements and rules,
//! evaluates them the same way, and returns a [`Trace`] showing every rule, condition (with the
//! value it actually compared) and statement. See the reference, section 9.
//!
//! ```text
//! config ──► Iam::build ──► Iam ──► may_invoke(principal, target) ──► Decision { allowed, trace }
//!             (parse + resolve names; every error)        (Display: human, serde: JSON)
//! ```
//!
//! # Decisions where the reference is silent
//!
//! * **Indices** in error locations are 0-based (`statement 0` is the first statement).
//! * **Columns** are 1-based character columns into the text as configured; a line break is one
//!   character. [`IamError`]'s `Display` flattens line breaks so the caret lines up.
//! * **Names** (dynamic groups, compartments) compare case-insensitively, like keywords and
//!   condition values. An identity-domain prefix (`Default/gw`) is accepted and ignored: the local
//!   model has one domain.
//! * **`dynamic-group id OCID`** parses, but configured dynamic groups have no OCIDs, so it never
//!   matches; a warning says so.
//! * **`any-group`** covers "all groups and all dynamic groups" (OCI doc), so it covers the
//!   gateway exactly when the gateway matches some configured dynamic group.
//! * **`group`** subjects never cover a gateway (it is not a user); the trace says so.
//! * **Subject lists**: `group A, B` and `group A, group B` are accepted; mixing `group` and
//!   `dynamic-group` in one statement is an error, as in OCI ("one type of principal").
//! * **Resource types**: any well-formed type is accepted (OCI has hundreds); only
//!   `all-resources`, `functions-family` and `fn-invocation` cover invoking. A near miss of one of
//!   the function types (`functions-famly`) is an error, since it would silently deny.
//! * **Locations** resolve relative to the policy's compartment (see `compartments.rs`);
//!   `compartment id` must name a configured compartment; a target compartment missing from the
//!   tree is covered only by `in tenancy`.
//! * **Variables**: `request.resource.compartment.id` is the *gateway's* compartment (the
//!   reference's reading of Oracle's statement). `request.permission` is `FN_INVOCATION`,
//!   `request.operation` is `InvokeFunction`. User, group, region, network and time variables
//!   parse but have no value for a gateway, so their conditions are false (even with `!=`).
//! * **Values**: quoted values compare literally (a `*` in quotes is a `*`); only `/…/` patterns
//!   have wildcards. Matching rules take quoted values only.
//! * **Near-miss type values** (`'ApiGatway'`) are not errors — OCI accepts any string — but are
//!   returned by [`Iam::warnings`] and flagged in the trace.

mod compartments;
mod condition;
mod error;
mod eval;
mod lexer;
mod rule;
mod statement;
mod trace;

#[cfg(test)]
mod tests;

use serde::Serialize;

use compartments::{Tree, ROOT};
use condition::Cond;
use gateway_core::diagnostics::did_you_mean;
use lexer::SyntaxError;
use statement::{LocationSpec, Statement, Subject, SubjectKind};

pub use condition::{GroupKind, Op};
pub use error::IamError;
pub use statement::Verb;
pub use trace::{
    Check, CondTrace, GroupTrace, PolicyTrace, PrincipalInfo, RuleTrace, StatementRef,
    StatementTrace, TargetInfo, Trace,
};

/// A compartment in config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compartment {
    /// The name used in policy locations (`in compartment apps`) and `A:B` paths; unique
    /// among its siblings, compared case-insensitively.
    pub name: String,
    /// The compartment's OCID.
    pub id: String,
    /// Parent compartment name or id; `None` = directly under the tenancy.
    pub parent: Option<String>,
}

/// The root compartment. Only the id is needed; the name appears in traces and may be used as a
/// `parent` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    /// The tenancy's OCID.
    pub id: String,
    /// The name shown in traces; `tenancy` by default.
    pub name: String,
}

impl Tenancy {
    /// A tenancy whose name is shown as `tenancy`.
    pub fn new(id: impl Into<String>) -> Self {
        Tenancy {
            id: id.into(),
            name: "tenancy".into(),
        }
    }
}

/// A dynamic group as written in config. The gateway is a member if any rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicGroupSpec {
    /// The name statements refer to (`Allow dynamic-group <name> …`); compared
    /// case-insensitively.
    pub name: String,
    /// The matching rules as written, e.g.
    /// `ALL {resource.type = 'ApiGateway', resource.compartment.id = '…'}`.
    pub matching_rules: Vec<String>,
}

/// A policy as written in config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// The policy's name, used in error locations and traces.
    pub name: String,
    /// Where the policy is attached (compartment name, id or `A:B` path); `None` = the tenancy.
    pub compartment: Option<String>,
    /// The statements as written (`Allow … to use fn-invocation in …`), one per entry.
    pub statements: Vec<String>,
}

/// The caller: a gateway acting as resource principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// `ApiGateway` for a gateway.
    pub resource_type: String,
    /// The gateway's OCID (`resource.id`).
    pub id: String,
    /// The OCID of the compartment the gateway is in (`resource.compartment.id`).
    pub compartment_id: String,
}

impl Principal {
    /// A gateway (`resource.type` `ApiGateway`).
    pub fn api_gateway(id: impl Into<String>, compartment_id: impl Into<String>) -> Self {
        Principal {
            resource_type: "ApiGateway".into(),
            id: id.into(),
            compartment_id: compartment_id.into(),
        }
    }
}

/// The function to invoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvokeTarget {
    /// The function's OCID.
    pub function_id: String,
    /// The function's name, for traces and messages.
    pub function_name: String,
    /// The compartment of the function's application.
    pub compartment_id: String,
}

/// The answer and its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Whether the invocation is allowed (the same as `trace.allowed`).
    pub allowed: bool,
    /// How the decision was reached.
    pub trace: Trace,
}

impl Decision {
    /// One sentence naming the function and why it was allowed or denied (for error messages
    /// and logs; the full story is in `trace`).
    pub fn reason(&self) -> &str {
        &self.trace.summary
    }
}

/// The compiled IAM model.
#[derive(Debug, Clone)]
pub struct Iam {
    pub(crate) tree: Tree,
    pub(crate) groups: Vec<Group>,
    pub(crate) policies: Vec<Policy>,
    warnings: Vec<IamError>,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) rules: Vec<(String, Cond)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) name: String,
    pub(crate) attached: usize,
    pub(crate) statements: Vec<CompiledStatement>,
}

/// A statement with its names resolved.
#[derive(Debug, Clone)]
pub(crate) struct CompiledStatement {
    pub(crate) text: String,
    pub(crate) st: Statement,
    /// `None` = tenancy; otherwise the compartment index in the tree.
    pub(crate) location: Option<usize>,
    /// For `dynamic-group` subjects: the group index of each item (`None` for `id` items).
    pub(crate) groups: Vec<Option<usize>>,
}

impl Iam {
    /// Parse and resolve everything, reporting every problem (not just the first).
    pub fn build(
        tenancy_id: &str,
        compartments: &[Compartment],
        groups: &[DynamicGroupSpec],
        policies: &[PolicySpec],
    ) -> Result<Iam, Vec<IamError>> {
        Self::build_with_tenancy(&Tenancy::new(tenancy_id), compartments, groups, policies)
    }

    /// [`Iam::build`] with a tenancy name for traces.
    pub fn build_with_tenancy(
        tenancy: &Tenancy,
        compartments: &[Compartment],
        groups: &[DynamicGroupSpec],
        policies: &[PolicySpec],
    ) -> Result<Iam, Vec<IamError>> {
        let (tree, mut errors) = Tree::build(&tenancy.id, &tenancy.name, compartments);
        let mut warnings = Vec::new();
        let groups = compile_groups(groups, &mut errors, &mut warnings);
        let policies = compile_policies(&tree, &groups, policies, &mut errors, &mut warnings);
        if errors.is_empty() {
            Ok(Iam {
                tree,
                groups,
                policies,
                warnings,
            })
        } else {
            Err(errors)
        }
    }

    /// Problems that do not stop the model from working but probably are mistakes: type values
    /// one or two edits away from a real type, `dynamic-group id` subjects that cannot match.
    pub fn warnings(&self) -> &[IamError] {
        &self.warnings
    }

    /// May `principal` `use` `fn-invocation` in the target's compartment? Always explained.
    pub fn may_invoke(&self, principal: &Principal, target: &InvokeTarget) -> Decision {
        eval::evaluate(self, principal, target)
    }

    /// Resolve a compartment name, id or root-relative path (`A:B`) used in config to its id.
    /// A bare name must be unambiguous; the tenancy's id and name resolve to the tenancy id.
    pub fn compartment_id(&self, name_or_id: &str) -> Option<&str> {
        self.tree.lookup(name_or_id).map(|i| self.tree.id(i))
    }

    /// The display path of a compartment id (`fn-apps:prod`, or `tenancy (root)`).
    pub fn compartment_path(&self, id: &str) -> Option<String> {
        self.tree.by_id(id).map(|i| self.tree.path(i))
    }
}

fn compile_groups(
    specs: &[DynamicGroupSpec],
    errors: &mut Vec<IamError>,
    warnings: &mut Vec<IamError>,
) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (gi, g) in specs.iter().enumerate() {
        let loc = format!("iam.dynamic_group[{gi}] {:?}", g.name);
        if g.name.trim().is_empty() {
            errors.push(IamError::new(
                &loc,
                "",
                1,
                "dynamic group name is empty",
                None,
            ));
        } else if let Some(j) = specs[..gi]
            .iter()
            .position(|o| o.name.to_lowercase() == g.name.to_lowercase())
        {
            errors.push(IamError::new(
                &loc,
                &g.name,
                1,
                format!("duplicate dynamic group name (also iam.dynamic_group[{j}])"),
                Some("names compare case-insensitively".into()),
            ));
        }
        if g.matching_rules.is_empty() {
            errors.push(IamError::new(
                &loc,
                "",
                1,
                "dynamic group has no matching rules",
                Some("e.g. ALL {resource.type = 'ApiGateway', resource.compartment.id = 'ocid1.compartment…'}".into()),
            ));
        }
        let mut rules = Vec::new();
        for (ri, text) in g.matching_rules.iter().enumerate() {
            let rloc = format!("{loc} rule {ri}");
            match rule::parse_rule(text) {
                Ok(c) => {
                    type_warnings(&c, &rloc, text, warnings);
                    rules.push((text.clone(), c));
                }
                Err(e) => errors.push(IamError::from_syntax(&rloc, text, e)),
            }
        }
        out.push(Group {
            name: g.name.clone(),
            rules,
        });
    }
    out
}

fn type_warnings(c: &Cond, loc: &str, text: &str, warnings: &mut Vec<IamError>) {
    for (value, col) in rule::type_values(c) {
        if let Some(k) = rule::near_miss_type(value) {
            warnings.push(IamError::new(
                loc,
                text,
                col,
                format!("'{value}' looks like a misspelling of '{k}'"),
                Some(format!(
                    "as written this comparison never matches a {k}; write '{k}'"
                )),
            ));
        }
    }
}

fn compile_policies(
    tree: &Tree,
    groups: &[Group],
    specs: &[PolicySpec],
    errors: &mut Vec<IamError>,
    warnings: &mut Vec<IamError>,
) -> Vec<Policy> {
    let mut out = Vec::new();
    for (pi, p) in specs.iter().enumerate() {
        let loc = format!("iam.policy[{pi}] {:?}", p.name);
        // `None` when the attachment itself is broken: location checks are skipped then, since
        // they would only repeat the same mistake once per statement.
        let attached = match &p.compartment {
            None => Some(ROOT),
            Some(c) => match tree.lookup(c) {
                Some(i) => Some(i),
                None => {
                    let hint = tree.lookup_hint(c).or_else(|| {
                        Some("use a compartment name, id or path A:B from the tenancy".into())
                    });
                    errors.push(IamError::new(
                        &loc,
                        c,
                        1,
                        format!("policy attached to unknown compartment {c:?}"),
                        hint,
                    ));
                    None
                }
            },
        };
        let mut statements = Vec::new();
        for (si, text) in p.statements.iter().enumerate() {
            let sloc = format!("{loc} statement {si}");
            let st = match statement::parse_statement(text) {
                Ok(st) => st,
                Err(e) => {
                    errors.push(IamError::from_syntax(&sloc, text, e));
                    continue;
                }
            };
            let mut fail = |e: SyntaxError| errors.push(IamError::from_syntax(&sloc, text, e));
            let resolved_groups =
                resolve_subjects(&st, groups, &mut fail, &mut |col, msg, hint| {
                    warnings.push(IamError::new(&sloc, text, col, msg, Some(hint)));
                });
            let location = attached.and_then(|a| resolve_location(tree, a, &st, &mut fail));
            if let Some(c) = &st.condition {
                type_warnings(c, &sloc, text, warnings);
            }
            statements.push(CompiledStatement {
                text: text.clone(),
                location: location.unwrap_or(None),
                groups: resolved_groups,
                st,
            });
        }
        out.push(Policy {
            name: p.name.clone(),
            attached: attached.unwrap_or(ROOT),
            statements,
        });
    }
    out
}

fn resolve_subjects(
    st: &Statement,
    groups: &[Group],
    fail: &mut impl FnMut(SyntaxError),
    warn: &mut impl FnMut(usize, String, String),
) -> Vec<Option<usize>> {
    let Subject::List(SubjectKind::DynamicGroup, items) = &st.subject else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| {
            if item.by_id {
                warn(
                    item.col,
                    format!("dynamic-group id {} can never match locally", item.name),
                    "configured dynamic groups have no OCIDs; refer to the group by name".into(),
                );
                return None;
            }
            let found = groups
                .iter()
                .position(|g| g.name.to_lowercase() == item.name.to_lowercase());
            if found.is_none() {
                let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
                let listing = if names.is_empty() {
                    "no dynamic groups are configured".to_string()
                } else {
                    format!("dynamic groups: {}", names.join(", "))
                };
                let hint = match did_you_mean(&item.name, names.iter().copied()) {
                    Some(g) => format!("did you mean {g:?}? {listing}"),
                    None => listing,
                };
                fail(
                    SyntaxError::new(item.col, format!("unknown dynamic group {:?}", item.name))
                        .hint(hint),
                );
            }
            found
        })
        .collect()
}

/// `Some(None)` = tenancy, `Some(Some(i))` = compartment `i`, `None` = error reported.
fn resolve_location(
    tree: &Tree,
    attach: usize,
    st: &Statement,
    fail: &mut impl FnMut(SyntaxError),
) -> Option<Option<usize>> {
    let col = st.location_col;
    let r = match &st.location {
        LocationSpec::Tenancy if attach == ROOT => return Some(None),
        LocationSpec::Tenancy => Err(SyntaxError::new(
            col,
            format!(
                "`in tenancy` needs a policy attached to the tenancy; this one is attached to {}",
                tree.path(attach)
            ),
        )
        .hint(format!(
            "attach the policy to the tenancy, or write `in compartment {}`",
            tree.node(attach).map_or("", |n| n.name.as_str())
        ))),
        LocationSpec::CompartmentId(id, id_col) => tree.resolve_id(attach, id, *id_col),
        LocationSpec::CompartmentPath(path) => tree.resolve_path(attach, path),
    };
    match r {
        Ok(i) if i == ROOT => Some(None),
        Ok(i) => Some(Some(i)),
        Err(e) => {
            fail(e);
            None
        }
    }
}
