//! End-to-end tests: build from config-shaped input, decide, and check the explanation.

use super::*;

const TENANCY: &str = "ocid1.tenancy.oc1..t";
const APPS: &str = "ocid1.compartment.oc1..apps";
const PROD: &str = "ocid1.compartment.oc1..prod";
/// The gateway's compartment. `WRONG` differs in the last character, as in the article.
const GW_COMP: &str = "ocid1.compartment.oc1..abd";
const WRONG: &str = "ocid1.compartment.oc1..abc";
const OTHER: &str = "ocid1.compartment.oc1..other";
const GW: &str = "ocid1.apigateway.oc1..gw";

fn compartments() -> Vec<Compartment> {
    let c = |name: &str, id: &str, parent: Option<&str>| Compartment {
        name: name.into(),
        id: id.into(),
        parent: parent.map(Into::into),
    };
    vec![
        c("fn-apps", APPS, None),
        c("prod", PROD, Some("fn-apps")),
        c("gateways", GW_COMP, None),
        c("other", OTHER, None),
        c("wrong", WRONG, None),
    ]
}

fn groups(gs: &[(&str, &[&str])]) -> Vec<DynamicGroupSpec> {
    gs.iter()
        .map(|(n, rules)| DynamicGroupSpec {
            name: n.to_string(),
            matching_rules: rules.iter().map(|r| r.to_string()).collect(),
        })
        .collect()
}

fn policy(name: &str, at: Option<&str>, statements: &[&str]) -> PolicySpec {
    PolicySpec {
        name: name.into(),
        compartment: at.map(Into::into),
        statements: statements.iter().map(|s| s.to_string()).collect(),
    }
}

fn build(gs: &[(&str, &[&str])], ps: &[PolicySpec]) -> Iam {
    match Iam::build(TENANCY, &compartments(), &groups(gs), ps) {
        Ok(iam) => iam,
        Err(errs) => panic!(
            "build failed:\n{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn build_err(gs: &[(&str, &[&str])], ps: &[PolicySpec]) -> Vec<IamError> {
    match Iam::build(TENANCY, &compartments(), &groups(gs), ps) {
        Ok(_) => panic!("build unexpectedly succeeded"),
        Err(errs) => errs,
    }
}

fn target(comp: &str) -> InvokeTarget {
    InvokeTarget {
        function_id: "ocid1.fnfunc.oc1..hello".into(),
        function_name: "hello".into(),
        compartment_id: comp.into(),
    }
}

fn gateway() -> Principal {
    Principal::api_gateway(GW, GW_COMP)
}

fn decide(gs: &[(&str, &[&str])], ps: &[PolicySpec], comp: &str) -> Decision {
    build(gs, ps).may_invoke(&gateway(), &target(comp))
}

/// Allowed? for a single root-attached statement and one dynamic group `gw` matching the gateway.
fn allows(statement: &str, comp: &str) -> bool {
    decide(
        &[("gw", &["ALL {resource.type = 'ApiGateway'}"])],
        &[policy("p", None, &[statement])],
        comp,
    )
    .allowed
}

fn rule_all(id: &str) -> String {
    format!("ALL {{resource.type = 'ApiGateway', resource.compartment.id = '{id}'}}")
}

const DG_STATEMENT: &str =
    "Allow dynamic-group apigw-dg to use functions-family in compartment fn-apps";

// ---------------------------------------------------------------------------------------------
// The article's story.

#[test]
fn article_all_with_wrong_id_denies_any_allows_all_with_right_id_allows() {
    let p = [policy("fn-policy", None, &[DG_STATEMENT])];
    let all_wrong = rule_all(WRONG);
    let any_wrong = all_wrong.replacen("ALL", "ANY", 1);
    let all_right = rule_all(GW_COMP);

    let d = decide(&[("apigw-dg", &[&all_wrong])], &p, APPS);
    assert!(!d.allowed);
    let g = &d.trace.dynamic_groups[0];
    assert!(!g.matched);
    let CondTrace::Group {
        op,
        result,
        items,
        note,
    } = &g.rules[0].condition
    else {
        panic!("expected a group");
    };
    assert_eq!((*op, *result), (GroupKind::All, false));
    assert!(note.as_deref().is_some_and(|n| n.contains("#2")));
    assert!(items[0].result());
    let CondTrace::Compare {
        actual,
        result,
        notes,
        ..
    } = &items[1]
    else {
        panic!("expected a comparison");
    };
    assert_eq!((actual.as_deref(), *result), (Some(GW_COMP), false));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("compartment wrong") && n.contains("gateways")),
        "{notes:?}"
    );

    let d = decide(&[("apigw-dg", &[&any_wrong])], &p, APPS);
    assert!(d.allowed);
    let CondTrace::Group { note, .. } = &d.trace.dynamic_groups[0].rules[0].condition else {
        panic!("expected a group");
    };
    assert!(note
        .as_deref()
        .is_some_and(|n| n.contains("under ALL this would be false")));

    assert!(decide(&[("apigw-dg", &[&all_right])], &p, APPS).allowed);
}

#[test]
fn article_human_trace_key_lines() {
    let d = decide(
        &[("apigw-dg", &[&rule_all(WRONG)])],
        &[policy("fn-policy", None, &[DG_STATEMENT])],
        APPS,
    );
    let text = d.trace.to_string();
    let expect = [
        format!("DENIED: ApiGateway {GW} may not invoke function \"hello\" (ocid1.fnfunc.oc1..hello) in compartment fn-apps: none of the 1 policy statement(s) applies; closest is policy \"fn-policy\" statement 0, which fails on subject"),
        format!("principal: ApiGateway {GW}"),
        format!("  compartment: {GW_COMP} (gateways)"),
        "target: function \"hello\" ocid1.fnfunc.oc1..hello".to_string(),
        format!("  compartment: {APPS} (fn-apps)"),
        "  \"apigw-dg\": the gateway is NOT a member".to_string(),
        "      ALL: false - every condition must hold; 1 of 2 false (#2)".to_string(),
        "        #1 resource.type = 'ApiGateway' vs the gateway's type 'ApiGateway': true".to_string(),
        format!("        #2 resource.compartment.id = '{WRONG}' vs the gateway's compartment '{GW_COMP}': false"),
        format!("           note: '{WRONG}' is the id of compartment wrong, but the gateway's compartment is gateways"),
        "  \"fn-policy\" (attached to tenancy (root)):".to_string(),
        "    statement 0: does not apply (subject failed)".to_string(),
        "      subject:   no  - dynamic group \"apigw-dg\" does not match the gateway (see its rules above)".to_string(),
        "      verb:      yes - use includes use".to_string(),
        "      resource:  yes - functions-family includes fn-app, fn-function and fn-invocation".to_string(),
        "      location:  yes - the function is in compartment fn-apps".to_string(),
        "      condition: yes - no where-clause".to_string(),
        "decision: DENIED".to_string(),
    ];
    let lines: Vec<&str> = text.lines().collect();
    for e in &expect {
        assert!(
            lines.contains(&e.as_str()),
            "missing line {e:?} in:\n{text}"
        );
    }
    assert!(d.reason().contains("\"hello\""));
}

#[test]
fn json_trace_has_the_same_structure() {
    let d = decide(
        &[("apigw-dg", &[&rule_all(GW_COMP)])],
        &[policy("fn-policy", None, &[DG_STATEMENT])],
        APPS,
    );
    let v: serde_json::Value = serde_json::from_str(&d.trace.to_json()).unwrap_or_default();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["allowed_by"]["policy"], "fn-policy");
    let cond = &v["dynamic_groups"][0]["rules"][0]["condition"];
    assert_eq!(cond["kind"], "group");
    assert_eq!(cond["op"], "ALL");
    assert_eq!(cond["items"][1]["kind"], "compare");
    assert_eq!(cond["items"][1]["operator"], "=");
    assert_eq!(cond["items"][1]["actual"], GW_COMP);
    assert_eq!(v["policies"][0]["statements"][0]["verb"]["ok"], true);
    assert!(d
        .trace
        .to_string()
        .ends_with("decision: ALLOWED by policy \"fn-policy\" statement 0"));
}

// ---------------------------------------------------------------------------------------------
// Oracle's any-user form and the wild variants.

#[test]
fn oracle_any_user_statement() {
    let st = |comp: &str| {
        format!(
            "ALLOW any-user to use functions-family in compartment fn-apps where ALL {{request.principal.type= 'ApiGateway', request.resource.compartment.id = '{comp}'}}"
        )
    };
    assert!(allows(&st(GW_COMP), APPS));
    assert!(
        !allows(&st(APPS), APPS),
        "functions' compartment is the classic mistake"
    );
    let d = decide(&[], &[policy("p", None, &[&st(APPS)])], APPS);
    let text = d.trace.to_string();
    assert!(
        text.contains("note: that is the function's compartment"),
        "{text}"
    );
    assert!(allows(
        "Allow any-user to use functions-family in compartment fn-apps where ALL {request.principal.type='ApiGateway'}",
        APPS
    ));
    assert!(!allows(
        "Allow any-user to use functions-family in compartment fn-apps where ALL {request.principal.type='fnfunc'}",
        APPS
    ));
}

#[test]
fn constructed_reference_example_with_line_breaks_and_case() {
    let d = decide(
        &[("apigw-dg", &["all {Resource.Type = 'apigateway',\n resource.compartment.id = 'OCID1.COMPARTMENT.OC1..ABD'}"])],
        &[policy(
            "p",
            Some("fn-apps"),
            &["allow DYNAMIC-GROUP APIGW-DG to USE functions-family IN compartment fn-apps", "ALLOW any-user\n to use functions-family\n in compartment fn-apps\n where ALL {request.principal.type = 'ApiGateway',\n request.resource.compartment.id = 'ocid1.compartment.oc1..abd'}"],
        )],
        APPS,
    );
    assert!(d.allowed);
    assert!(d.trace.policies[0].statements.iter().all(|s| s.applies));
}

#[test]
fn nested_any_all_rules_and_several_rules() {
    let nested_fn = "Any {ALL {resource.type = 'fnfunc', resource.compartment.id = 'ocid1.compartment.oc1..abd'}}";
    let nested_gw = "Any {ALL {resource.type = 'ApiGateway', resource.compartment.id = 'ocid1.compartment.oc1..abd'}}";
    let p = [policy("p", None, &[DG_STATEMENT])];
    assert!(!decide(&[("apigw-dg", &[nested_fn])], &p, APPS).allowed);
    assert!(decide(&[("apigw-dg", &[nested_gw])], &p, APPS).allowed);
    let d = decide(&[("apigw-dg", &[nested_fn, nested_gw])], &p, APPS);
    assert!(d.allowed);
    let rules: Vec<bool> = d.trace.dynamic_groups[0]
        .rules
        .iter()
        .map(|r| r.matched)
        .collect();
    assert_eq!(rules, vec![false, true]);
    assert!(d.trace.policies[0].statements[0]
        .subject
        .detail
        .contains("(rule 1)"));
    // resource.id rules, and instance.* rules that never match a gateway.
    assert!(
        decide(
            &[("apigw-dg", &[&format!("resource.id = '{GW}'")])],
            &p,
            APPS
        )
        .allowed
    );
    assert!(
        !decide(
            &[(
                "apigw-dg",
                &[&format!("instance.compartment.id = '{GW_COMP}'")]
            )],
            &p,
            APPS
        )
        .allowed
    );
}

// ---------------------------------------------------------------------------------------------
// Tables.

#[test]
fn verbs() {
    for (verb, ok) in [
        ("inspect", false),
        ("read", false),
        ("use", true),
        ("manage", true),
    ] {
        let s = format!("Allow dynamic-group gw to {verb} fn-invocation in tenancy");
        assert_eq!(allows(&s, APPS), ok, "{verb}");
    }
}

#[test]
fn resource_types_and_families() {
    for (res, ok) in [
        ("fn-invocation", true),
        ("functions-family", true),
        ("all-resources", true),
        ("fn-app", false),
        ("fn-function", false),
        ("object-family", false),
    ] {
        let s = format!("Allow dynamic-group gw to manage {res} in tenancy");
        assert_eq!(allows(&s, APPS), ok, "{res}");
    }
}

#[test]
fn inheritance_down_the_tree_only() {
    let s = |loc: &str| format!("Allow dynamic-group gw to use fn-invocation in {loc}");
    assert!(
        allows(&s("compartment fn-apps"), PROD),
        "parent covers child"
    );
    assert!(allows(&s("compartment fn-apps:prod"), PROD));
    assert!(
        !allows(&s("compartment fn-apps:prod"), APPS),
        "child does not cover parent"
    );
    assert!(!allows(&s("compartment fn-apps"), OTHER), "sibling");
    assert!(allows(&s("tenancy"), OTHER));
    assert!(allows(&s(&format!("compartment id {APPS}")), PROD));
    // A policy attached to fn-apps, written relative to it (and OCI's self-named style).
    let gw = [("gw", &["resource.type = 'ApiGateway'"][..])];
    for loc in [
        "compartment prod",
        "compartment fn-apps:prod",
        "compartment fn-apps",
    ] {
        let d = decide(&gw, &[policy("p", Some("fn-apps"), &[&s(loc)])], PROD);
        assert!(d.allowed, "{loc}");
    }
    // A function whose compartment is not configured is covered only by `in tenancy`.
    assert!(allows(&s("tenancy"), "ocid1.compartment.oc1..unknown"));
    assert!(!allows(
        &s("compartment fn-apps"),
        "ocid1.compartment.oc1..unknown"
    ));
}

#[test]
fn not_equal_and_patterns() {
    let w = |cond: &str| format!("Allow any-user to use fn-invocation in tenancy where {cond}");
    for (cond, ok) in [
        ("request.principal.type != 'fnfunc'", true),
        ("request.principal.type != 'ApiGateway'", false),
        ("request.principal.id = /ocid1.apigateway.*/", true),
        ("request.principal.id = /*..gw/", true),
        ("request.principal.id = /*APIGATEWAY*/", true),
        ("request.principal.id = /*nomatch*/", false),
        ("request.principal.id != /*nomatch*/", true),
        ("target.compartment.name = /fn-*/", true),
        ("target.compartment.name = 'FN-APPS'", true),
        ("target.compartment.id = 'ocid1.compartment.oc1..apps'", true),
        ("request.principal.compartment.id = 'ocid1.compartment.oc1..abd'", true),
        ("request.permission = 'fn_invocation'", true),
        ("request.operation = 'InvokeFunction'", true),
        ("request.principal.type = '*'", false),
        ("ANY {request.principal.type = 'fnfunc', ALL {request.principal.type = 'ApiGateway', target.compartment.name = 'fn-apps'}}", true),
    ] {
        assert_eq!(allows(&w(cond), APPS), ok, "{cond}");
    }
}

#[test]
fn absent_variables_are_false_even_with_not_equal() {
    let d = decide(
        &[],
        &[policy(
            "p",
            None,
            &["Allow any-user to use fn-invocation in tenancy where request.user.id != 'x'"],
        )],
        APPS,
    );
    assert!(!d.allowed);
    let Some(CondTrace::Compare { actual, notes, .. }) =
        &d.trace.policies[0].statements[0].condition_trace
    else {
        panic!("expected a comparison");
    };
    assert_eq!(actual, &None);
    assert!(notes.iter().any(|n| n.contains("not a user")));
    assert!(d
        .trace
        .to_string()
        .contains("vs the request (no value): false"));
}

#[test]
fn group_subject_never_applies_but_any_group_follows_dynamic_groups() {
    let d = decide(
        &[("gw", &["resource.type = 'ApiGateway'"])],
        &[policy(
            "p",
            None,
            &["Allow group Administrators to manage all-resources in tenancy"],
        )],
        APPS,
    );
    assert!(!d.allowed);
    assert!(d.trace.policies[0].statements[0]
        .subject
        .detail
        .contains("not a user"));
    let any_group = [policy(
        "p",
        None,
        &["Allow any-group to use fn-invocation in tenancy"],
    )];
    assert!(
        decide(
            &[("gw", &["resource.type = 'ApiGateway'"])],
            &any_group,
            APPS
        )
        .allowed
    );
    assert!(!decide(&[("fns", &["resource.type = 'fnfunc'"])], &any_group, APPS).allowed);
}

#[test]
fn no_statements_denies_with_a_clear_reason() {
    let d = decide(&[], &[], APPS);
    assert!(!d.allowed);
    assert!(d.reason().contains("function \"hello\""));
    assert!(d.reason().contains("no policy statements are configured"));
    assert!(d.trace.to_string().contains("policies: none configured"));
}

#[test]
fn first_applying_statement_is_reported() {
    let d = decide(
        &[("gw", &["resource.type = 'ApiGateway'"])],
        &[
            policy(
                "a",
                None,
                &["Allow dynamic-group gw to read fn-invocation in tenancy"],
            ),
            policy(
                "b",
                None,
                &[
                    "Allow dynamic-group gw to use fn-function in tenancy",
                    "Allow dynamic-group gw to use fn-invocation in tenancy",
                ],
            ),
        ],
        APPS,
    );
    assert!(d.allowed);
    let r = d
        .trace
        .allowed_by
        .as_ref()
        .map(|r| (r.policy.as_str(), r.statement));
    assert_eq!(r, Some(("b", 1)));
}

// ---------------------------------------------------------------------------------------------
// Build errors and warnings.

fn one_error(statement: &str) -> IamError {
    let errs = build_err(
        &[("gw", &["resource.type = 'ApiGateway'"])],
        &[policy(
            "fn-policy",
            None,
            &["Allow any-user to use fn-invocation in tenancy", statement],
        )],
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter()
        .next()
        .unwrap_or_else(|| IamError::new("", "", 0, "", None))
}

#[test]
fn error_usee_renders_with_caret() {
    let e = one_error("Allow dynamic-group gw to usee functions-family in compartment fn-apps");
    assert_eq!(e.location, "iam.policy[0] \"fn-policy\" statement 1");
    assert_eq!(e.column, 27);
    assert_eq!(
        e.to_string(),
        "iam.policy[0] \"fn-policy\" statement 1: unknown verb \"usee\" (hint: did you mean \"use\"? verbs: inspect, read, use, manage)\n  Allow dynamic-group gw to usee functions-family in compartment fn-apps\n                            ^"
    );
}

#[test]
fn error_columns_and_hints() {
    let cases: &[(&str, usize, &str, &str)] = &[
        ("Allow dynamic-grop gw to use functions-family in compartment fn-apps", 7, "unknown subject", "did you mean \"dynamic-group\"?"),
        ("Allow any-user to use fn-invocation in compartmnt x", 40, "expected \"tenancy\" or \"compartment\"", "did you mean \"compartment\"?"),
        ("Allow any-user to use fn-invocation in compartment fn-aps", 52, "unknown compartment \"fn-aps\"", "did you mean \"fn-apps\"?"),
        ("Allow any-user to use fn-invocation in compartment fn-apps:prd", 60, "unknown compartment \"prd\" under fn-apps", "did you mean \"prod\"?"),
        ("Allow any-user to use fn-invocation in tenancy where request.principal.type = 'ApiGateway", 79, "unterminated quoted value", "close the value"),
        ("Allow any-user to use fn-invocation in tenancy where ALL {request.principal.type = 'ApiGateway'", 96, "missing `}` to close the ALL { opened at column 58", "add `}`"),
        ("Allow dynamic-group gw1 to use fn-invocation in tenancy", 21, "unknown dynamic group \"gw1\"", "did you mean \"gw\"?"),
        ("Allow any-user to use fn-invocation in tenancy where request.principal.typ = 'ApiGateway'", 54, "unknown variable", "did you mean \"request.principal.type\"?"),
        ("Allow any-user to use fn-invocation in tenancy where resource.type = 'ApiGateway'", 54, "matching-rule variable", "request.principal.type"),
        ("Allow any-user to use fn-invocation in compartment prod", 52, "must be written relative", "fn-apps:prod"),
        ("Allow any-user to use fn-invocation in compartment id ocid1.compartment.oc1..appz", 55, "unknown compartment id", "ocid1.compartment.oc1..apps"),
    ];
    for (s, col, msg, hint) in cases {
        let e = one_error(s);
        assert_eq!(e.column, *col, "{s}\n{e}");
        assert!(e.message.contains(msg), "{s}\n{e}");
        assert!(
            e.hint.as_deref().is_some_and(|h| h.contains(hint)),
            "{s}\n{e}"
        );
        assert_eq!(e.text, *s);
    }
}

#[test]
fn location_rules_for_attached_policies() {
    let gw = [("gw", &["resource.type = 'ApiGateway'"][..])];
    let errs = build_err(
        &gw,
        &[policy(
            "p",
            Some("fn-apps"),
            &["Allow any-user to use fn-invocation in tenancy"],
        )],
    );
    assert_eq!((errs.len(), errs[0].column), (1, 40));
    assert!(errs[0]
        .message
        .contains("needs a policy attached to the tenancy"));
    let errs = build_err(
        &gw,
        &[policy(
            "p",
            Some("prod"),
            &[
                "Allow any-user to use fn-invocation in compartment other",
                &format!("Allow any-user to use fn-invocation in compartment id {APPS}"),
            ],
        )],
    );
    assert_eq!(errs.len(), 2);
    assert!(
        errs.iter()
            .all(|e| e.message.contains("outside fn-apps:prod")),
        "{errs:?}"
    );
    let errs = build_err(
        &gw,
        &[policy(
            "p",
            Some("fn-aps"),
            &["Allow any-user to use fn-invocation in compartment prod"],
        )],
    );
    assert_eq!(
        errs.len(),
        1,
        "statement locations are not checked against a broken attachment"
    );
    assert_eq!(errs[0].location, "iam.policy[0] \"p\"");
    assert!(errs[0]
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("fn-apps")));
}

#[test]
fn every_problem_is_reported() {
    let errs = build_err(
        &[
            (
                "gw",
                &["ALL {resource.type = 'ApiGateway'", "resource.tpye = 'x'"],
            ),
            ("GW", &[]),
        ],
        &[
            policy(
                "a",
                None,
                &[
                    "Allow dynamic-group gw to usee fn-invocation in tenancy",
                    "Allow any-user to use fn-invocation in compartment fn-aps",
                ],
            ),
            policy(
                "b",
                None,
                &["Allow group x to use fn-invocation in tenancy wher"],
            ),
        ],
    );
    let locs: Vec<&str> = errs.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(
        locs,
        vec![
            "iam.dynamic_group[0] \"gw\" rule 0",
            "iam.dynamic_group[0] \"gw\" rule 1",
            "iam.dynamic_group[1] \"GW\"",
            "iam.dynamic_group[1] \"GW\"",
            "iam.policy[0] \"a\" statement 0",
            "iam.policy[0] \"a\" statement 1",
            "iam.policy[1] \"b\" statement 0",
        ]
    );
}

#[test]
fn near_miss_type_values_warn_and_are_flagged_in_the_trace() {
    let iam = build(
        &[("gw", &["ALL {resource.type = 'ApiGatway', resource.compartment.id = 'ocid1.compartment.oc1..abd'}"])],
        &[policy(
            "p",
            None,
            &[
                "Allow dynamic-group gw to use fn-invocation in tenancy",
                "Allow any-user to use fn-invocation in tenancy where request.principal.type = 'apigatewy'",
                &format!("Allow dynamic-group id ocid1.dynamicgroup.oc1..x to use fn-invocation in compartment id {APPS}"),
            ],
        )],
    );
    let w: Vec<(&str, usize, &str)> = iam
        .warnings()
        .iter()
        .map(|w| (w.location.as_str(), w.column, w.message.as_str()))
        .collect();
    assert_eq!(
        w,
        vec![
            (
                "iam.dynamic_group[0] \"gw\" rule 0",
                22,
                "'ApiGatway' looks like a misspelling of 'ApiGateway'"
            ),
            (
                "iam.policy[0] \"p\" statement 1",
                79,
                "'apigatewy' looks like a misspelling of 'ApiGateway'"
            ),
            (
                "iam.policy[0] \"p\" statement 2",
                24,
                "dynamic-group id ocid1.dynamicgroup.oc1..x can never match locally"
            ),
        ]
    );
    let d = iam.may_invoke(&gateway(), &target(APPS));
    assert!(!d.allowed);
    let text = d.trace.to_string();
    assert!(
        text.contains("note: 'ApiGatway' looks like a misspelling of 'ApiGateway'"),
        "{text}"
    );
    assert!(
        text.contains("note: 'apigatewy' looks like a misspelling of 'ApiGateway'"),
        "{text}"
    );
}

#[test]
fn compartment_lookup_api() {
    let iam = build(&[], &[]);
    assert_eq!(iam.compartment_id("fn-apps"), Some(APPS));
    assert_eq!(iam.compartment_id("FN-APPS:prod"), Some(PROD));
    assert_eq!(iam.compartment_id(PROD), Some(PROD));
    assert_eq!(iam.compartment_id("tenancy"), Some(TENANCY));
    assert_eq!(iam.compartment_id("nope"), None);
    assert_eq!(iam.compartment_path(PROD).as_deref(), Some("fn-apps:prod"));
}

// ---------------------------------------------------------------------------------------------
// Robustness: no input makes the parsers or the builder panic.

mod props {
    use super::super::{rule::parse_rule, statement::parse_statement};
    use super::*;
    use proptest::prelude::*;

    /// Fragments that reach deep into the grammar when glued together at random.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Allow ".to_string()),
            Just("any-user ".to_string()),
            Just("dynamic-group gw".to_string()),
            Just("group 'D'/'x'".to_string()),
            Just(", id ".to_string()),
            Just(" to use ".to_string()),
            Just("functions-family ".to_string()),
            Just(" in compartment ".to_string()),
            Just("fn-apps:prod".to_string()),
            Just(" in tenancy ".to_string()),
            Just(" where ".to_string()),
            Just("ALL {".to_string()),
            Just("Any {".to_string()),
            Just("}".to_string()),
            Just(",".to_string()),
            Just("request.principal.type".to_string()),
            Just("resource.type".to_string()),
            Just("tag.a.b.value".to_string()),
            Just(" = ".to_string()),
            Just("!=".to_string()),
            Just("'ApiGateway'".to_string()),
            Just("/*x*/".to_string()),
            Just("/".to_string()),
            Just("'".to_string()),
            Just("*".to_string()),
            Just("\n".to_string()),
            "[\\PC]{0,3}",
        ]
    }

    fn glued() -> impl Strategy<Value = String> {
        prop::collection::vec(fragment(), 0..16).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_text(s in "\\PC*") {
            let _ = parse_statement(&s);
            let _ = parse_rule(&s);
        }

        #[test]
        fn parsers_never_panic_on_grammar_soup(s in glued()) {
            if let Err(e) = parse_statement(&s) {
                prop_assert!(e.col >= 1 && e.col <= s.chars().count() + 1);
            }
            if let Err(e) = parse_rule(&s) {
                prop_assert!(e.col >= 1 && e.col <= s.chars().count() + 1);
            }
        }

        #[test]
        fn build_and_decide_never_panic(rule in glued(), st in glued(), at in prop::option::of("[a-z:-]{0,12}")) {
            let gs = [DynamicGroupSpec { name: "gw".into(), matching_rules: vec![rule] }];
            let ps = [PolicySpec { name: "p".into(), compartment: at, statements: vec![st] }];
            match Iam::build(TENANCY, &compartments(), &gs, &ps) {
                Ok(iam) => {
                    let d = iam.may_invoke(&gateway(), &target(PROD));
                    let _ = d.trace.to_string();
                    let _ = d.trace.to_json();
                }
                Err(errs) => {
                    for e in errs {
                        let _ = e.to_string();
                    }
                }
            }
        }
    }
}
