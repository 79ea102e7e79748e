//! IAM from `[iam]`, `[[compartment]]` and the compartments of the gateway and applications:
//! may the gateway invoke a function, and why.

use gateway_auth::iam::{
    Compartment, Decision, DynamicGroupSpec, Iam, IamError, InvokeTarget, PolicySpec, Principal,
};
use gateway_core::diagnostics::{Diagnostics, Kind};

use crate::config::{ApplicationSection, Config, FunctionSection};

/// The compiled IAM model and the gateway as its principal.
#[derive(Debug)]
pub(crate) struct Permissions {
    iam: Iam,
    tenancy: String,
    principal: Principal,
}

impl Permissions {
    /// Builds the model; `None` when the config has no `[iam]` (nothing is enforced). Every
    /// problem goes to `problems`.
    pub(crate) fn build(config: &Config, problems: &mut Diagnostics) -> Option<Permissions> {
        let iam_section = config.iam.as_ref()?;
        let compartments: Vec<Compartment> = config
            .compartments
            .iter()
            .map(|c| Compartment {
                name: c.name.clone(),
                id: c.id.clone(),
                parent: c.parent.clone(),
            })
            .collect();
        let groups: Vec<DynamicGroupSpec> = iam_section
            .dynamic_group
            .iter()
            .map(|g| DynamicGroupSpec {
                name: g.name.clone(),
                matching_rules: g.matching_rules.clone(),
            })
            .collect();
        let policies: Vec<PolicySpec> = iam_section
            .policy
            .iter()
            .map(|p| PolicySpec {
                name: p.name.clone(),
                compartment: p.compartment.clone(),
                statements: p.statements.clone(),
            })
            .collect();
        let iam = match Iam::build(&iam_section.tenancy, &compartments, &groups, &policies) {
            Ok(iam) => iam,
            Err(errors) => {
                for e in &errors {
                    report(problems, e, true);
                }
                return None;
            }
        };
        for w in iam.warnings() {
            report(problems, w, false);
        }
        let tenancy = iam_section.tenancy.clone();
        let compartment = resolve(
            &iam,
            &tenancy,
            config.gateway.compartment.as_deref(),
            "gateway.compartment",
            problems,
        )?;
        let principal = Principal::api_gateway(config.gateway.id.clone(), compartment);
        Some(Permissions {
            iam,
            tenancy,
            principal,
        })
    }

    /// May the gateway invoke `function` of `app`? `None` when the application's compartment
    /// is unknown (reported to `problems`).
    pub(crate) fn decide(
        &self,
        app: &ApplicationSection,
        app_index: usize,
        function: &FunctionSection,
        problems: &mut Diagnostics,
    ) -> Option<Decision> {
        let at = format!("application[{app_index}].compartment");
        let compartment_id = resolve(
            &self.iam,
            &self.tenancy,
            app.compartment.as_deref(),
            &at,
            problems,
        )?;
        let target = InvokeTarget {
            function_id: function.id.clone(),
            function_name: format!("{}/{}", app.name, function.name),
            compartment_id,
        };
        Some(self.iam.may_invoke(&self.principal, &target))
    }
}

/// The id of a compartment given by name or id; absent means the tenancy (root).
fn resolve(
    iam: &Iam,
    tenancy: &str,
    name: Option<&str>,
    at: &str,
    problems: &mut Diagnostics,
) -> Option<String> {
    let Some(wanted) = name else {
        return Some(tenancy.to_owned());
    };
    match iam.compartment_id(wanted) {
        Some(id) => Some(id.to_owned()),
        None => {
            problems
                .error(at, format!("unknown compartment {wanted:?}"))
                .hint("declare it with [[compartment]] (name, id, parent)");
            None
        }
    }
}

/// Adds an IAM problem, with the statement or rule and a caret under the column.
fn report(problems: &mut Diagnostics, e: &IamError, error: bool) {
    let text = e.text.replace(['\n', '\r'], " ");
    let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
    let message = format!(
        "{} (column {})\n      {text}\n      {caret}",
        e.message, e.column
    );
    let d = if error {
        problems.error(e.location.clone(), message)
    } else {
        problems.warning(Kind::Permission, e.location.clone(), message)
    };
    if let Some(hint) = &e.hint {
        d.hint(hint.clone());
    }
}
