//! Evaluation (reference §9.2 "Evaluation model"): may the gateway `use` `fn-invocation` in the
//! function's compartment? Every part of every statement is evaluated — no short-circuit — so
//! the trace can show all the reasons, not just the first.

use super::condition::{Cond, GroupKind, Op, Value, Var};
use super::rule::{near_miss_type, normalize_type};
use super::statement::{Subject, SubjectKind, Verb};
use super::trace::{
    one_line, Check, CondTrace, GroupTrace, PolicyTrace, PrincipalInfo, RuleTrace, StatementRef,
    StatementTrace, TargetInfo, Trace,
};
use super::{CompiledStatement, Decision, Iam, InvokeTarget, Principal};
use gateway_core::diagnostics::did_you_mean;

/// The request being decided, with its compartments located in the tree.
struct Env<'a> {
    iam: &'a Iam,
    principal: &'a Principal,
    target: &'a InvokeTarget,
    /// The function's compartment; `None` when it is not in the configured tree.
    target_node: Option<usize>,
    principal_node: Option<usize>,
}

/// A variable's value for this request, or why it has none.
enum Resolved {
    Value {
        actual: String,
        source: &'static str,
    },
    Absent(&'static str),
}

pub(crate) fn evaluate(iam: &Iam, principal: &Principal, target: &InvokeTarget) -> Decision {
    let env = Env {
        iam,
        principal,
        target,
        target_node: iam.tree.by_id(&target.compartment_id),
        principal_node: iam.tree.by_id(&principal.compartment_id),
    };

    let dynamic_groups: Vec<GroupTrace> = iam
        .groups
        .iter()
        .map(|g| {
            let rules: Vec<RuleTrace> = g
                .rules
                .iter()
                .enumerate()
                .map(|(index, (text, cond))| {
                    let condition = env.cond(cond);
                    RuleTrace {
                        index,
                        text: text.clone(),
                        matched: condition.result(),
                        condition,
                    }
                })
                .collect();
            GroupTrace {
                name: g.name.clone(),
                matched: rules.iter().any(|r| r.matched),
                rules,
            }
        })
        .collect();

    let mut allowed_by = None;
    // (failed parts, policy, statement) of the statement that came closest, for the summary.
    let mut closest: Option<(usize, String, usize, Vec<&'static str>)> = None;
    let mut total = 0;
    let policies: Vec<PolicyTrace> = iam
        .policies
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let statements = p
                .statements
                .iter()
                .enumerate()
                .map(|(si, s)| {
                    total += 1;
                    let (st, failed) = env.statement(si, s, &dynamic_groups);
                    if st.applies && allowed_by.is_none() {
                        allowed_by = Some(StatementRef {
                            policy: p.name.clone(),
                            policy_index: pi,
                            statement: si,
                            text: one_line(&s.text),
                        });
                    }
                    if !st.applies && closest.as_ref().is_none_or(|c| failed.len() < c.0) {
                        closest = Some((failed.len(), p.name.clone(), si, failed));
                    }
                    st
                })
                .collect();
            PolicyTrace {
                name: p.name.clone(),
                attached_to: iam.tree.path(p.attached),
                statements,
            }
        })
        .collect();

    let target_where = env
        .target_node
        .map(|n| iam.tree.path(n))
        .unwrap_or_else(|| target.compartment_id.clone());
    let who = format!(
        "{} {} {} function {:?} ({}) in compartment {target_where}",
        principal.resource_type,
        principal.id,
        if allowed_by.is_some() {
            "may invoke"
        } else {
            "may not invoke"
        },
        target.function_name,
        target.function_id,
    );
    let summary = match (&allowed_by, total, &closest) {
        (Some(r), _, _) => format!(
            "{who}: policy {:?} statement {} allows it",
            r.policy, r.statement
        ),
        (None, 0, _) => format!(
            "{who}: no policy statements are configured, and IAM denies whatever no statement allows"
        ),
        (None, n, Some((_, policy, si, failed))) => format!(
            "{who}: none of the {n} policy statement(s) applies; closest is policy {policy:?} statement {si}, which fails on {}",
            failed.join(", ")
        ),
        (None, n, None) => format!("{who}: none of the {n} policy statement(s) applies"),
    };

    let trace = Trace {
        allowed: allowed_by.is_some(),
        summary,
        principal: PrincipalInfo {
            resource_type: principal.resource_type.clone(),
            id: principal.id.clone(),
            compartment_id: principal.compartment_id.clone(),
            compartment: env.principal_node.map(|n| iam.tree.path(n)),
        },
        target: TargetInfo {
            function_name: target.function_name.clone(),
            function_id: target.function_id.clone(),
            compartment_id: target.compartment_id.clone(),
            compartment: env.target_node.map(|n| iam.tree.path(n)),
            needs: "use fn-invocation (request.permission FN_INVOCATION, request.operation InvokeFunction)".into(),
        },
        dynamic_groups,
        policies,
        allowed_by,
    };
    Decision {
        allowed: trace.allowed,
        trace,
    }
}

impl Env<'_> {
    fn resolve(&self, var: &Var) -> Resolved {
        let p = self.principal;
        let v = |actual: &str, source| Resolved::Value {
            actual: actual.to_string(),
            source,
        };
        match var {
            Var::ResourceType => v(&p.resource_type, "the gateway's type"),
            Var::ResourceId => v(&p.id, "the gateway's id"),
            Var::ResourceCompartmentId => v(&p.compartment_id, "the gateway's compartment"),
            Var::InstanceId | Var::InstanceCompartmentId => {
                Resolved::Absent("the gateway is not a compute instance")
            }
            Var::Tag(_) => Resolved::Absent("the local model gives gateways no defined tags"),
            Var::PrincipalType => v(&p.resource_type, "the caller's type"),
            Var::PrincipalId => v(&p.id, "the caller's id"),
            Var::PrincipalCompartmentId => v(&p.compartment_id, "the gateway's compartment"),
            Var::RequestResourceCompartmentId => v(&p.compartment_id, "the gateway's compartment"),
            Var::TargetCompartmentId => {
                v(&self.target.compartment_id, "the function's compartment")
            }
            Var::TargetCompartmentName => {
                match self.target_node.and_then(|n| self.iam.tree.node(n)) {
                    Some(n) => Resolved::Value {
                        actual: n.name.clone(),
                        source: "the function's compartment name",
                    },
                    None => {
                        Resolved::Absent("the function's compartment is not in the configured tree")
                    }
                }
            }
            Var::Permission => v("FN_INVOCATION", "the request's permission"),
            Var::Operation => v("InvokeFunction", "the request's operation"),
            Var::Absent(why) => Resolved::Absent(why),
        }
    }

    /// Describe a compartment OCID for notes: its path, or that it is not configured.
    fn describe_compartment(&self, id: &str) -> Option<String> {
        self.iam.tree.by_id(id).map(|i| self.iam.tree.path(i))
    }

    /// Notes for a failed `=` on a compartment OCID: which compartments the two ids are, and the
    /// classic mix-up of gateway and function compartments.
    fn compartment_notes(
        &self,
        var: &Var,
        var_text: &str,
        expected: &str,
        actual: &str,
        source: &str,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        let actual_is = self
            .describe_compartment(actual)
            .unwrap_or_else(|| "not a configured compartment".into());
        match self.describe_compartment(expected) {
            Some(c) => notes.push(format!(
                "'{expected}' is the id of compartment {c}, but {source} is {actual_is}"
            )),
            None => {
                notes.push(format!(
                    "'{expected}' is not the id of any configured compartment; {source} is {actual_is}"
                ));
                let ids = (0..self.iam.tree.len()).map(|i| self.iam.tree.id(i));
                if let Some(g) = did_you_mean(expected, ids) {
                    let name = self.describe_compartment(g).unwrap_or_default();
                    notes.push(format!("did you mean '{g}' ({name})?"));
                }
            }
        }
        let gateway_side = !matches!(var, Var::TargetCompartmentId);
        if gateway_side && expected.to_lowercase() == self.target.compartment_id.to_lowercase() {
            notes.push(format!(
                "that is the function's compartment; {var_text} means the gateway's compartment, so write the id of the compartment the gateway is in"
            ));
        }
        notes
    }

    fn cond(&self, c: &Cond) -> CondTrace {
        match c {
            Cond::Group { kind, items, .. } => {
                let items: Vec<CondTrace> = items.iter().map(|i| self.cond(i)).collect();
                let t: Vec<usize> = (1..=items.len())
                    .filter(|i| items[i - 1].result())
                    .collect();
                let f: Vec<usize> = (1..=items.len())
                    .filter(|i| !items[i - 1].result())
                    .collect();
                let list = |v: &[usize]| {
                    v.iter()
                        .map(|i| format!("#{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let n = items.len();
                let (result, note) = match kind {
                    GroupKind::All if f.is_empty() => (true, None),
                    GroupKind::All => (
                        false,
                        Some(format!(
                            "every condition must hold; {} of {n} false ({})",
                            f.len(),
                            list(&f)
                        )),
                    ),
                    GroupKind::Any if t.is_empty() => {
                        (false, Some(format!("none of the {n} conditions holds")))
                    }
                    GroupKind::Any if f.is_empty() => (true, None),
                    GroupKind::Any => (
                        true,
                        Some(format!(
                            "true because of {} alone; {} false, so under ALL this would be false",
                            list(&t),
                            list(&f)
                        )),
                    ),
                };
                CondTrace::Group {
                    op: *kind,
                    result,
                    items,
                    note,
                }
            }
            Cond::TagExists { var_text, .. } => CondTrace::TagExists {
                variable: var_text.clone(),
                result: false,
                notes: vec![
                    "no value: the local model gives gateways no defined tags, so this is false"
                        .into(),
                ],
            },
            Cond::Compare {
                var,
                var_text,
                op,
                value,
                ..
            } => self.compare(var, var_text, *op, value),
        }
    }

    fn compare(&self, var: &Var, var_text: &str, op: Op, value: &Value) -> CondTrace {
        let mut notes = Vec::new();
        if let (true, Value::Literal(v)) = (var.is_type(), value) {
            if let Some(k) = near_miss_type(v) {
                notes.push(format!("'{v}' looks like a misspelling of '{k}'"));
            }
        }
        let (actual, source, result) = match self.resolve(var) {
            Resolved::Absent(why) => {
                notes.push(format!(
                    "no value: {why}; a condition on a variable the request does not have is false"
                ));
                (None, "the request", false)
            }
            Resolved::Value { actual, source } => {
                let matched = match value {
                    Value::Literal(v) if var.is_type() => {
                        normalize_type(v) == normalize_type(&actual)
                    }
                    Value::Literal(v) => v.to_lowercase() == actual.to_lowercase(),
                    Value::Pattern(p) => p.matches(&actual),
                };
                let result = match op {
                    Op::Eq => matched,
                    Op::Ne => !matched,
                };
                if let (true, Value::Literal(v), false) = (var.is_compartment_id(), value, matched)
                {
                    notes.extend(self.compartment_notes(var, var_text, v, &actual, source));
                }
                (Some(actual), source, result)
            }
        };
        CondTrace::Compare {
            variable: var_text.to_string(),
            operator: op,
            expected: value.written(),
            actual,
            source: source.to_string(),
            result,
            notes,
        }
    }

    /// Evaluate one statement; also returns the names of the failed parts.
    fn statement(
        &self,
        index: usize,
        s: &CompiledStatement,
        groups: &[GroupTrace],
    ) -> (StatementTrace, Vec<&'static str>) {
        let subject = self.subject(s, groups);
        let verb = if s.st.verb >= Verb::Use {
            Check {
                ok: true,
                detail: format!("{} includes use", s.st.verb),
            }
        } else {
            Check {
                ok: false,
                detail: format!(
                    "{} is below use; invoking a function needs use (verbs: inspect < read < use < manage)",
                    s.st.verb
                ),
            }
        };
        let resource = resource_check(&s.st.resource);
        let location = self.location(s);
        let condition_trace = s.st.condition.as_ref().map(|c| self.cond(c));
        let condition = match &condition_trace {
            None => Check {
                ok: true,
                detail: "no where-clause".into(),
            },
            Some(c) if c.result() => Check {
                ok: true,
                detail: "the where-clause is true".into(),
            },
            Some(_) => Check {
                ok: false,
                detail: "the where-clause is false (details below)".into(),
            },
        };
        let failed: Vec<&'static str> = [
            ("subject", &subject),
            ("verb", &verb),
            ("resource", &resource),
            ("location", &location),
            ("condition", &condition),
        ]
        .into_iter()
        .filter(|(_, c)| !c.ok)
        .map(|(n, _)| n)
        .collect();
        let applies = failed.is_empty();
        let reason = if applies {
            "applies: grants use of fn-invocation here".to_string()
        } else {
            format!("does not apply ({} failed)", failed.join(", "))
        };
        (
            StatementTrace {
                index,
                text: one_line(&s.text),
                applies,
                subject,
                verb,
                resource,
                location,
                condition,
                condition_trace,
                reason,
            },
            failed,
        )
    }

    fn subject(&self, s: &CompiledStatement, groups: &[GroupTrace]) -> Check {
        match &s.st.subject {
            Subject::AnyUser => Check {
                ok: true,
                detail: "any-user covers every principal, including a gateway acting as resource principal".into(),
            },
            Subject::AnyGroup => {
                let member: Vec<String> = groups
                    .iter()
                    .filter(|g| g.matched)
                    .map(|g| format!("{:?}", g.name))
                    .collect();
                if member.is_empty() {
                    Check {
                        ok: false,
                        detail: "any-group covers members of groups and dynamic groups; the gateway matches no dynamic group".into(),
                    }
                } else {
                    Check {
                        ok: true,
                        detail: format!(
                            "any-group covers members of groups and dynamic groups; the gateway is in {}",
                            member.join(", ")
                        ),
                    }
                }
            }
            Subject::List(SubjectKind::Group, items) => Check {
                ok: false,
                detail: format!(
                    "{}: a gateway acting as resource principal is not a user and is never in an IAM group (use dynamic-group or any-user)",
                    items
                        .iter()
                        .map(|i| i.written(SubjectKind::Group))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            Subject::List(SubjectKind::DynamicGroup, items) => {
                let mut ok = false;
                let parts: Vec<String> = items
                    .iter()
                    .zip(s.groups.iter().chain(std::iter::repeat(&None)))
                    .map(|(item, gi)| {
                        let written = item.written(SubjectKind::DynamicGroup);
                        if item.by_id {
                            return format!(
                                "{written}: configured dynamic groups have no OCIDs, so it never matches"
                            );
                        }
                        match gi.and_then(|g| groups.get(g)) {
                            Some(g) if g.matched => {
                                ok = true;
                                let rules: Vec<String> = g
                                    .rules
                                    .iter()
                                    .filter(|r| r.matched)
                                    .map(|r| r.index.to_string())
                                    .collect();
                                format!(
                                    "dynamic group {:?} matches the gateway (rule {})",
                                    g.name,
                                    rules.join(", ")
                                )
                            }
                            Some(g) => format!(
                                "dynamic group {:?} does not match the gateway (see its rules above)",
                                g.name
                            ),
                            None => format!("{written}: unknown dynamic group"),
                        }
                    })
                    .collect();
                Check {
                    ok,
                    detail: parts.join("; "),
                }
            }
        }
    }

    fn location(&self, s: &CompiledStatement) -> Check {
        let tree = &self.iam.tree;
        let fn_where = match self.target_node {
            Some(n) => tree.path(n),
            None => format!(
                "{} (not in the configured tree)",
                self.target.compartment_id
            ),
        };
        match (s.location, self.target_node) {
            (None, _) => Check {
                ok: true,
                detail: format!("tenancy covers every compartment, including the function's ({fn_where})"),
            },
            (Some(c), Some(t)) if c == t => Check {
                ok: true,
                detail: format!("the function is in compartment {fn_where}"),
            },
            (Some(c), Some(t)) if tree.contains(c, t) => Check {
                ok: true,
                detail: format!(
                    "{} contains the function's compartment {fn_where} (inherited down the tree)",
                    tree.path(c)
                ),
            },
            (Some(c), Some(_)) => Check {
                ok: false,
                detail: format!(
                    "the function's compartment {fn_where} is not {} or below it",
                    tree.path(c)
                ),
            },
            (Some(c), None) => Check {
                ok: false,
                detail: format!(
                    "the function's compartment {fn_where} is unknown, so only `in tenancy` covers it, not {}",
                    tree.path(c)
                ),
            },
        }
    }
}

fn resource_check(resource: &str) -> Check {
    let (ok, detail) = match resource {
        "all-resources" => (true, "all-resources includes fn-invocation".to_string()),
        "functions-family" => (
            true,
            "functions-family includes fn-app, fn-function and fn-invocation".to_string(),
        ),
        "fn-invocation" => (true, "fn-invocation is what invoking needs".to_string()),
        "fn-app" | "fn-function" => (
            false,
            format!("{resource} does not include fn-invocation; invoking needs fn-invocation (or functions-family)"),
        ),
        other => (false, format!("{other} does not include fn-invocation")),
    };
    Check { ok, detail }
}
