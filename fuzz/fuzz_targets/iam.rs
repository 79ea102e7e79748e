//! IAM policy statements and dynamic-group matching rules, parsed, resolved against a small
//! compartment tree and evaluated for a gateway invoking a function, as `gateway explain`
//! does.
//!
//! Input: a matching rule, a NUL byte, a policy statement. Without a NUL the whole text is
//! used as both, so a seed of either kind reaches both parsers.
//!
//! Checked besides "no panic": errors and traces render; a decision is explained by its
//! trace; building is deterministic.

#![no_main]

use std::sync::LazyLock;

use gateway_auth::iam::{Compartment, DynamicGroupSpec, Iam, InvokeTarget, PolicySpec, Principal};
use libfuzzer_sys::fuzz_target;

const TENANCY: &str = "ocid1.tenancy.oc1..t";

static COMPARTMENTS: LazyLock<Vec<Compartment>> = LazyLock::new(|| {
    let c = |name: &str, id: &str, parent: Option<&str>| Compartment {
        name: name.into(),
        id: id.into(),
        parent: parent.map(Into::into),
    };
    vec![
        c("fn-apps", "ocid1.compartment.oc1..apps", None),
        c("prod", "ocid1.compartment.oc1..prod", Some("fn-apps")),
        c("gateways", "ocid1.compartment.oc1..gw", None),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (rule, statement) = text.split_once('\0').unwrap_or((text, text));
    let groups = [
        DynamicGroupSpec {
            name: "gw".into(),
            matching_rules: vec![rule.into()],
        },
        // A group that matches the gateway, for statements that name it.
        DynamicGroupSpec {
            name: "apigw-dg".into(),
            matching_rules: vec!["ALL {resource.type = 'ApiGateway'}".into()],
        },
    ];
    let policies = [
        PolicySpec {
            name: "p".into(),
            compartment: None,
            statements: vec![statement.into()],
        },
        PolicySpec {
            name: "attached".into(),
            compartment: Some("fn-apps".into()),
            statements: vec![statement.into()],
        },
    ];
    let built = Iam::build(TENANCY, &COMPARTMENTS, &groups, &policies);
    let iam = match built {
        Ok(iam) => iam,
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                let _ = e.to_string();
            }
            return;
        }
    };
    for warning in iam.warnings() {
        let _ = warning.to_string();
    }
    let principal = Principal::api_gateway("ocid1.apigateway.oc1..gw", "ocid1.compartment.oc1..gw");
    for compartment in [
        "ocid1.compartment.oc1..prod",
        "ocid1.compartment.oc1..elsewhere",
    ] {
        let target = InvokeTarget {
            function_id: "ocid1.fnfunc.oc1..hello".into(),
            function_name: "hello".into(),
            compartment_id: compartment.into(),
        };
        let decision = iam.may_invoke(&principal, &target);
        assert!(!decision.reason().is_empty());
        let trace = &decision.trace;
        assert_eq!(decision.allowed, trace.allowed);
        assert_eq!(decision.allowed, trace.allowed_by.is_some());
        let applies = trace
            .policies
            .iter()
            .flat_map(|p| &p.statements)
            .any(|s| s.applies);
        assert_eq!(decision.allowed, applies, "{trace}");
        let _ = decision.trace.to_string();
        let json = decision.trace.to_json();
        serde_json::from_str::<serde_json::Value>(&json).expect("the trace is JSON");
        assert_eq!(
            iam.may_invoke(&principal, &target),
            decision,
            "a decision is deterministic"
        );
    }
});
