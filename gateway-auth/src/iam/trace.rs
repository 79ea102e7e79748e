//! The explanation of a decision: serialisable for tools (`serde`), indented text for people
//! (`Display`). The structure mirrors evaluation one-to-one — every dynamic group, rule,
//! condition (with the actual value it compared), statement and check — so a wrong `ALL`
//! condition or a misspelt type shows up on its own line instead of as a bare "denied".

use std::fmt::{self, Write as _};

use serde::Serialize;

use super::condition::{GroupKind, Op};

/// Everything behind one [`super::Decision`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// Whether the gateway may invoke the function.
    pub allowed: bool,
    /// One sentence: the decision, naming the function, and why.
    pub summary: String,
    /// The caller.
    pub principal: PrincipalInfo,
    /// The function to invoke.
    pub target: TargetInfo,
    /// Every configured dynamic group, in config order, and whether the gateway is a member.
    pub dynamic_groups: Vec<GroupTrace>,
    /// Every configured policy, in config order, with each statement evaluated.
    pub policies: Vec<PolicyTrace>,
    /// The statement that allowed the call (the first one that applies), if any.
    pub allowed_by: Option<StatementRef>,
}

/// The caller as evaluated: a copy of the [`super::Principal`], with its compartment located.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalInfo {
    /// The caller's `resource.type`: `ApiGateway` for a gateway.
    pub resource_type: String,
    /// The caller's OCID.
    pub id: String,
    /// The OCID of the caller's compartment.
    pub compartment_id: String,
    /// The compartment's path in the configured tree, if it is there.
    pub compartment: Option<String>,
}

/// The function as evaluated: a copy of the [`super::InvokeTarget`], with its compartment
/// located.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetInfo {
    /// The function's name.
    pub function_name: String,
    /// The function's OCID.
    pub function_id: String,
    /// The OCID of the function's compartment.
    pub compartment_id: String,
    /// The compartment's path in the configured tree, if it is there; when it is not, only
    /// `in tenancy` statements cover the function.
    pub compartment: Option<String>,
    /// What invoking needs: always `use fn-invocation`.
    pub needs: String,
}

/// One configured dynamic group, its rules evaluated against the gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTrace {
    /// The group's name as configured.
    pub name: String,
    /// Whether the gateway is a member: at least one rule matches.
    pub matched: bool,
    /// Every matching rule, in config order.
    pub rules: Vec<RuleTrace>,
}

/// One matching rule of a dynamic group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    /// The rule's position in the group's `matching_rules`, 0-based.
    pub index: usize,
    /// The rule exactly as configured (it may span lines).
    pub text: String,
    /// Whether the rule matches the gateway: the value of `condition`.
    pub matched: bool,
    /// The rule's condition in detail.
    pub condition: CondTrace,
}

/// One evaluated condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CondTrace {
    /// `ALL {…}` / `ANY {…}`.
    Group {
        /// `ALL` or `ANY`.
        op: GroupKind,
        /// The group's value.
        result: bool,
        /// The conditions inside, in written order (numbered from `#1` in notes and in the
        /// `Display` output).
        items: Vec<CondTrace>,
        /// Why the group came out as it did (e.g. "ANY is true because of #1 alone").
        note: Option<String>,
    },
    /// `variable = value` / `variable != value`.
    Compare {
        /// The variable as written (`request.resource.compartment.id`).
        variable: String,
        /// `=` or `!=`.
        operator: Op,
        /// The value as written, with quotes or slashes.
        expected: String,
        /// The request's value; `None` when the variable does not exist for this request.
        actual: Option<String>,
        /// Where `actual` came from ("the gateway's compartment").
        source: String,
        /// The comparison's value; false when `actual` is `None`, whatever the operator.
        result: bool,
        /// Explanations and hints: absent variables, compartment names behind OCIDs, near-miss
        /// type spellings.
        notes: Vec<String>,
    },
    /// `tag.ns.key.value` with no operator.
    TagExists {
        /// The tag variable as written.
        variable: String,
        /// The test's value: always false, since the local model gives gateways no defined
        /// tags.
        result: bool,
        /// Why the test came out as it did.
        notes: Vec<String>,
    },
}

impl CondTrace {
    /// The condition's value, whatever its kind.
    pub fn result(&self) -> bool {
        match self {
            CondTrace::Group { result, .. }
            | CondTrace::Compare { result, .. }
            | CondTrace::TagExists { result, .. } => *result,
        }
    }
}

/// One configured policy, each of its statements evaluated against the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyTrace {
    /// The policy's name as configured.
    pub name: String,
    /// Path of the compartment the policy is attached to.
    pub attached_to: String,
    /// Every statement of the policy, in config order.
    pub statements: Vec<StatementTrace>,
}

/// One policy statement, evaluated part by part. Every part is evaluated even after one fails,
/// so all the reasons show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementTrace {
    /// The statement's position in the policy's `statements`, 0-based.
    pub index: usize,
    /// The statement on one line.
    pub text: String,
    /// Whether every part covers the request, so that the statement allows the call.
    pub applies: bool,
    /// Whether the subject (`dynamic-group …`, `any-user`, `any-group`, `group …`) covers the
    /// gateway.
    pub subject: Check,
    /// Whether the verb includes `use`.
    pub verb: Check,
    /// Whether the resource type includes `fn-invocation`.
    pub resource: Check,
    /// Whether the function's compartment is the statement's location or below it.
    pub location: Check,
    /// `ok` is the where-clause's value (true when there is none).
    pub condition: Check,
    /// The where-clause in detail, if there is one.
    pub condition_trace: Option<CondTrace>,
    /// "applies" or "does not apply: …" naming the failed parts.
    pub reason: String,
}

/// One part of a statement and whether it covers this request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Whether this part covers the request.
    pub ok: bool,
    /// Why, in one sentence.
    pub detail: String,
}

/// Where a statement is in the configuration: the one that allowed a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementRef {
    /// The policy's name.
    pub policy: String,
    /// The policy's position among the configured policies, 0-based.
    pub policy_index: usize,
    /// The statement's position in the policy, 0-based.
    pub statement: usize,
    /// The statement on one line.
    pub text: String,
}

impl Trace {
    /// Pretty JSON for tools (`serde_json` cannot fail on these types; an error string is
    /// returned rather than panicking, just in case).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }
}

/// Statements and rules may span lines; traces show them on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no "
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let verdict = if self.allowed { "ALLOWED" } else { "DENIED" };
        let _ = writeln!(out, "{verdict}: {}", self.summary);
        let p = &self.principal;
        let _ = writeln!(out, "principal: {} {}", p.resource_type, p.id);
        let _ = writeln!(
            out,
            "  compartment: {} ({})",
            p.compartment_id,
            p.compartment
                .as_deref()
                .unwrap_or("not in the configured compartment tree")
        );
        let t = &self.target;
        let _ = writeln!(
            out,
            "target: function {:?} {}",
            t.function_name, t.function_id
        );
        let _ = writeln!(
            out,
            "  compartment: {} ({})",
            t.compartment_id,
            t.compartment
                .as_deref()
                .unwrap_or("not in the configured compartment tree")
        );
        let _ = writeln!(out, "  needs: {}", t.needs);

        if self.dynamic_groups.is_empty() {
            let _ = writeln!(out, "dynamic groups: none configured");
        } else {
            let _ = writeln!(out, "dynamic groups:");
        }
        for g in &self.dynamic_groups {
            let m = if g.matched {
                "the gateway is a member"
            } else {
                "the gateway is NOT a member"
            };
            let _ = writeln!(out, "  {:?}: {m}", g.name);
            for r in &g.rules {
                let _ = writeln!(
                    out,
                    "    rule {}: {}  => {}",
                    r.index,
                    one_line(&r.text),
                    if r.matched {
                        "matches"
                    } else {
                        "does not match"
                    }
                );
                write_cond(&mut out, &r.condition, 6, None);
            }
        }

        if self.policies.is_empty() {
            let _ = writeln!(out, "policies: none configured");
        } else {
            let _ = writeln!(out, "policies:");
        }
        for p in &self.policies {
            let _ = writeln!(out, "  {:?} (attached to {}):", p.name, p.attached_to);
            if p.statements.is_empty() {
                let _ = writeln!(out, "    no statements");
            }
            for s in &p.statements {
                let _ = writeln!(out, "    statement {}: {}", s.index, s.reason);
                let _ = writeln!(out, "      {}", one_line(&s.text));
                for (label, c) in [
                    ("subject:  ", &s.subject),
                    ("verb:     ", &s.verb),
                    ("resource: ", &s.resource),
                    ("location: ", &s.location),
                    ("condition:", &s.condition),
                ] {
                    let _ = writeln!(out, "      {label} {} - {}", yes(c.ok), c.detail);
                }
                if let Some(c) = &s.condition_trace {
                    write_cond(&mut out, c, 8, None);
                }
            }
        }
        let _ = match &self.allowed_by {
            Some(r) => write!(
                out,
                "decision: ALLOWED by policy {:?} statement {}",
                r.policy, r.statement
            ),
            None => write!(out, "decision: DENIED"),
        };
        f.write_str(&out)
    }
}

fn write_cond(out: &mut String, c: &CondTrace, indent: usize, number: Option<usize>) {
    let pad = " ".repeat(indent);
    let num = number.map(|n| format!("#{n} ")).unwrap_or_default();
    match c {
        CondTrace::Group {
            op,
            result,
            items,
            note,
        } => {
            let _ = write!(out, "{pad}{num}{}: {result}", op.as_str());
            if let Some(n) = note {
                let _ = write!(out, " - {n}");
            }
            out.push('\n');
            for (i, item) in items.iter().enumerate() {
                write_cond(out, item, indent + 2, Some(i + 1));
            }
        }
        CondTrace::Compare {
            variable,
            operator,
            expected,
            actual,
            source,
            result,
            notes,
        } => {
            let actual = match actual {
                Some(a) => format!("'{a}'"),
                None => "(no value)".to_string(),
            };
            let _ = writeln!(
                out,
                "{pad}{num}{variable} {} {expected} vs {source} {actual}: {result}",
                operator.as_str()
            );
            for n in notes {
                let _ = writeln!(out, "{pad}   note: {n}");
            }
        }
        CondTrace::TagExists {
            variable,
            result,
            notes,
        } => {
            let _ = writeln!(out, "{pad}{num}{variable} (tag exists): {result}");
            for n in notes {
                let _ = writeln!(out, "{pad}   note: {n}");
            }
        }
    }
}
