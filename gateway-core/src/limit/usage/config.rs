//! Usage plans and subscribers: objects OCI keeps outside the deployment specification, here
//! plain configuration (`[[usage_plan]]` and `[[subscriber]]` in `gateway.toml`), in the SDK's
//! shapes with snake_case keys and OCI's enum spellings:
//!
//! ```toml
//! [[usage_plan]]
//! id = "ocid1.usageplan.oc1..free"
//! name = "Free tier"
//! [[usage_plan.entitlements]]
//! name = "basic"
//! targets = ["orders"]                 # deployment names
//! rate_limit = { value = 1, unit = "SECOND" }
//! quota = { value = 10, unit = "DAY", reset_policy = "CALENDAR", operation_on_breach = "REJECT" }
//!
//! [[subscriber]]
//! name = "acme"
//! usage_plans = ["ocid1.usageplan.oc1..free"]
//! clients = [ { name = "acme-web", token = "s3cr3t" } ]
//! ```
//!
//! [`UsagePlans::new`] checks everything at once and indexes the tokens; it is built once and
//! shared by every deployment's usage-plan layer.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

/// `[[usage_plan]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanConfig {
    /// The plan's id (an OCID in OCI); what `request.usage_plan[id]` yields.
    pub id: String,
    /// Display name, for logs and metrics.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text, not used by the gateway.
    #[serde(default)]
    pub description: Option<String>,
    /// What the plan grants; at least one, each with a name unique within the plan.
    pub entitlements: Vec<EntitlementConfig>,
}

/// One entitlement of a plan: limits shared by its target deployments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementConfig {
    /// Unique within the plan.
    pub name: String,
    /// Free text, not used by the gateway.
    #[serde(default)]
    pub description: Option<String>,
    /// No rate limit when absent.
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// No quota when absent.
    #[serde(default)]
    pub quota: Option<QuotaSpec>,
    /// Deployment names (OCI: `targets[].deploymentId`).
    pub targets: Vec<String>,
}

/// `rateLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests per `unit`; at least 1.
    pub value: u32,
    /// The period `value` counts over.
    pub unit: RateUnit,
}

/// `rateLimit.unit`: OCI has only `SECOND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RateUnit {
    /// Per second.
    #[serde(rename = "SECOND")]
    Second,
}

/// `quota`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// Requests per window; at least 1.
    pub value: u64,
    /// The calendar window the quota counts over.
    pub unit: QuotaUnit,
    /// When the count starts afresh.
    pub reset_policy: ResetPolicy,
    /// What happens to requests once the quota is used up.
    pub operation_on_breach: OperationOnBreach,
}

/// `quota.unit`: the calendar window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum QuotaUnit {
    /// A calendar minute.
    #[serde(rename = "MINUTE")]
    Minute,
    /// A calendar hour.
    #[serde(rename = "HOUR")]
    Hour,
    /// A UTC day, from 00:00.
    #[serde(rename = "DAY")]
    Day,
    /// An ISO week, from Monday 00:00 UTC.
    #[serde(rename = "WEEK")]
    Week,
    /// A calendar month, from the 1st, 00:00 UTC.
    #[serde(rename = "MONTH")]
    Month,
}

impl QuotaUnit {
    /// OCI's spelling: `MINUTE`, `HOUR`, `DAY`, `WEEK` or `MONTH`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaUnit::Minute => "MINUTE",
            QuotaUnit::Hour => "HOUR",
            QuotaUnit::Day => "DAY",
            QuotaUnit::Week => "WEEK",
            QuotaUnit::Month => "MONTH",
        }
    }
}

/// `quota.resetPolicy`: OCI has only `CALENDAR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ResetPolicy {
    /// The window is a calendar unit in UTC (see [`QuotaUnit`]).
    #[serde(rename = "CALENDAR")]
    Calendar,
}

/// `quota.operationOnBreach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OperationOnBreach {
    /// 429 once the quota is used up.
    #[serde(rename = "REJECT")]
    Reject,
    /// Keep serving, logging `usagePlans.requestBreachedButAllowed`.
    #[serde(rename = "ALLOW")]
    Allow,
}

/// `[[subscriber]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberConfig {
    /// The subscriber's id (an OCID in OCI); defaults to the name. Part of the limit keys, so
    /// renaming a subscriber without an id starts its counters afresh.
    #[serde(default)]
    pub id: Option<String>,
    /// The subscriber's name, unique among subscribers unless `id` sets them apart.
    pub name: String,
    /// The subscriber's clients; at least one.
    pub clients: Vec<ClientConfig>,
    /// Plan ids.
    pub usage_plans: Vec<String>,
}

/// One client of a subscriber and its token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client's name, unique within the subscriber; part of the limit keys.
    pub name: String,
    /// The client token requests carry at the plan's `tokenLocations`; unique across every
    /// subscriber.
    pub token: String,
}

/// The token is a secret: never printed.
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("name", &self.name)
            .field("token", &"***")
            .finish()
    }
}

/// One problem in the usage-plan configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct UsagePlanError {
    /// E.g. `usage_plan[0].entitlements[1].quota.value`.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

/// What a client token grants on one entitlement.
#[derive(Debug)]
pub struct Grant {
    /// The usage plan's id.
    pub plan_id: Arc<str>,
    /// The usage plan's display name, if it has one.
    pub plan_name: Option<Arc<str>>,
    /// The entitlement's name within the plan.
    pub entitlement: Arc<str>,
    /// The subscriber's id (its name when it has none).
    pub subscriber_id: Arc<str>,
    /// The subscriber's name.
    pub subscriber_name: Arc<str>,
    /// The client's name.
    pub client: Arc<str>,
    /// The entitlement's rate limit; `None` for none.
    pub rate_limit: Option<RateLimitSpec>,
    /// The entitlement's quota; `None` for none.
    pub quota: Option<QuotaSpec>,
}

/// A known client token.
#[derive(Debug)]
pub(crate) struct TokenEntry {
    /// `(plan, entitlement)` grants per target deployment, in the order of the subscriber's
    /// `usage_plans`: the first one entitling a deployment is the one that applies.
    pub(crate) grants: Vec<(Arc<str>, Arc<Grant>)>,
}

/// Every usage plan and subscriber, checked and indexed by token.
#[derive(Debug, Default)]
pub struct UsagePlans {
    tokens: HashMap<Box<str>, TokenEntry>,
    plan_ids: Vec<Arc<str>>,
    targets: Vec<Arc<str>>,
}

impl UsagePlans {
    /// Checks and indexes the configuration, reporting every problem found.
    pub fn new(
        plans: &[UsagePlanConfig],
        subscribers: &[SubscriberConfig],
    ) -> Result<Self, Vec<UsagePlanError>> {
        let mut errors = Vec::new();
        let mut err = |at: String, message: String| errors.push(UsagePlanError { at, message });
        let mut by_id: HashMap<&str, &UsagePlanConfig> = HashMap::new();
        let mut targets: Vec<Arc<str>> = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let at = format!("usage_plan[{i}]");
            if plan.id.is_empty() {
                err(format!("{at}.id"), "must not be empty".into());
            }
            if by_id.insert(&plan.id, plan).is_some() {
                err(
                    format!("{at}.id"),
                    format!("duplicate usage plan id {:?}", plan.id),
                );
            }
            if plan.entitlements.is_empty() {
                err(
                    format!("{at}.entitlements"),
                    "a usage plan needs at least one entitlement".into(),
                );
            }
            let mut names = HashSet::new();
            let mut targeted: HashMap<&str, &str> = HashMap::new();
            for (j, e) in plan.entitlements.iter().enumerate() {
                let at = format!("{at}.entitlements[{j}]");
                if e.name.is_empty() {
                    err(format!("{at}.name"), "must not be empty".into());
                }
                if !names.insert(e.name.as_str()) {
                    err(
                        format!("{at}.name"),
                        format!("duplicate entitlement name {:?} in the plan", e.name),
                    );
                }
                if e.targets.is_empty() {
                    err(
                        format!("{at}.targets"),
                        "name at least one deployment".into(),
                    );
                }
                for (k, target) in e.targets.iter().enumerate() {
                    if let Some(other) = targeted.insert(target, &e.name) {
                        if other != e.name {
                            err(
                                format!("{at}.targets[{k}]"),
                                format!("deployment {target:?} is already the target of entitlement {other:?} of this plan; OCI allows one entitlement per deployment in a plan"),
                            );
                        }
                    }
                    if !targets.iter().any(|t| **t == **target) {
                        targets.push(target.as_str().into());
                    }
                }
                if e.rate_limit.is_some_and(|r| r.value == 0) {
                    err(
                        format!("{at}.rate_limit.value"),
                        "must be at least 1".into(),
                    );
                }
                if e.quota.is_some_and(|q| q.value == 0) {
                    err(format!("{at}.quota.value"), "must be at least 1".into());
                }
            }
        }

        let mut tokens: HashMap<Box<str>, TokenEntry> = HashMap::new();
        let mut subscriber_ids = HashSet::new();
        for (i, sub) in subscribers.iter().enumerate() {
            let at = format!("subscriber[{i}]");
            let id = sub.id.as_deref().unwrap_or(&sub.name);
            if sub.name.is_empty() {
                err(format!("{at}.name"), "must not be empty".into());
            }
            if !subscriber_ids.insert(id) {
                err(at.clone(), format!("duplicate subscriber {id:?}"));
            }
            if sub.clients.is_empty() {
                err(
                    format!("{at}.clients"),
                    "a subscriber needs at least one client".into(),
                );
            }
            if sub.usage_plans.is_empty() {
                err(
                    format!("{at}.usage_plans"),
                    "subscribe to at least one usage plan".into(),
                );
            }
            let mut plan_refs = Vec::new();
            for (j, plan_id) in sub.usage_plans.iter().enumerate() {
                match by_id.get(plan_id.as_str()) {
                    Some(plan) => plan_refs.push(*plan),
                    None => err(
                        format!("{at}.usage_plans[{j}]"),
                        format!("unknown usage plan {plan_id:?}"),
                    ),
                }
            }
            let subscriber_id: Arc<str> = id.into();
            let subscriber_name: Arc<str> = sub.name.as_str().into();
            let mut client_names = HashSet::new();
            for (j, client) in sub.clients.iter().enumerate() {
                let at = format!("{at}.clients[{j}]");
                if !client_names.insert(client.name.as_str()) {
                    err(
                        format!("{at}.name"),
                        format!("duplicate client name {:?}", client.name),
                    );
                }
                if client.token.is_empty() {
                    err(format!("{at}.token"), "must not be empty".into());
                    continue;
                }
                let client_name: Arc<str> = client.name.as_str().into();
                let mut grants = Vec::new();
                for plan in &plan_refs {
                    let plan_id: Arc<str> = plan.id.as_str().into();
                    let plan_name: Option<Arc<str>> = plan.name.as_deref().map(Arc::from);
                    for e in &plan.entitlements {
                        let grant = Arc::new(Grant {
                            plan_id: plan_id.clone(),
                            plan_name: plan_name.clone(),
                            entitlement: e.name.as_str().into(),
                            subscriber_id: subscriber_id.clone(),
                            subscriber_name: subscriber_name.clone(),
                            client: client_name.clone(),
                            rate_limit: e.rate_limit,
                            quota: e.quota,
                        });
                        for target in &e.targets {
                            grants.push((Arc::from(target.as_str()), grant.clone()));
                        }
                    }
                }
                if tokens
                    .insert(client.token.as_str().into(), TokenEntry { grants })
                    .is_some()
                {
                    // The message does not repeat the token: it is a secret.
                    err(
                        format!("{at}.token"),
                        "this token is already used by another client".into(),
                    );
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            tokens,
            plan_ids: plans.iter().map(|p| Arc::from(p.id.as_str())).collect(),
            targets,
        })
    }

    /// Every deployment name some entitlement targets, so the caller can check they exist.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| &**t)
    }

    /// Every plan id.
    pub fn plan_ids(&self) -> impl Iterator<Item = &str> {
        self.plan_ids.iter().map(|p| &**p)
    }

    pub(crate) fn tokens(&self) -> impl Iterator<Item = (&str, &TokenEntry)> {
        self.tokens.iter().map(|(t, e)| (&**t, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans() -> Vec<UsagePlanConfig> {
        serde_json::from_value(serde_json::json!([{
            "id": "plan-free", "name": "Free",
            "entitlements": [{
                "name": "basic", "targets": ["orders", "stock"],
                "rate_limit": { "value": 1, "unit": "SECOND" },
                "quota": { "value": 10, "unit": "DAY", "reset_policy": "CALENDAR", "operation_on_breach": "REJECT" }
            }]
        }]))
        .expect("plans")
    }

    fn subscribers() -> Vec<SubscriberConfig> {
        serde_json::from_value(serde_json::json!([{
            "name": "acme", "usage_plans": ["plan-free"],
            "clients": [ { "name": "web", "token": "t-web" }, { "name": "cli", "token": "t-cli" } ]
        }]))
        .expect("subscribers")
    }

    #[test]
    fn a_valid_configuration_indexes_tokens() {
        let plans = UsagePlans::new(&plans(), &subscribers()).expect("valid");
        assert_eq!(plans.targets().collect::<Vec<_>>(), ["orders", "stock"]);
        let (_, entry) = plans.tokens().find(|(t, _)| *t == "t-web").expect("token");
        assert_eq!(entry.grants.len(), 2);
        assert_eq!(&*entry.grants[0].1.plan_id, "plan-free");
    }

    #[test]
    fn unknown_keys_and_spellings_are_refused() {
        let bad = serde_json::from_value::<Vec<UsagePlanConfig>>(serde_json::json!([{
            "id": "p", "entitlements": [], "colour": "red" }]));
        assert!(bad.is_err());
        let bad = serde_json::from_value::<QuotaSpec>(serde_json::json!({
            "value": 1, "unit": "YEAR", "reset_policy": "CALENDAR", "operation_on_breach": "REJECT" }));
        assert!(bad.is_err());
    }

    #[test]
    fn every_problem_is_reported() {
        let mut plans = plans();
        plans.push(plans[0].clone());
        plans[1].entitlements.push(EntitlementConfig {
            name: "extra".into(),
            description: None,
            rate_limit: Some(RateLimitSpec {
                value: 0,
                unit: RateUnit::Second,
            }),
            quota: None,
            targets: vec!["orders".into()],
        });
        let mut subs = subscribers();
        subs[0].usage_plans.push("nope".into());
        subs[0].clients.push(ClientConfig {
            name: "web".into(),
            token: "t-cli".into(),
        });
        let errors = UsagePlans::new(&plans, &subs).expect_err("invalid");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text, [
            "usage_plan[1].id: duplicate usage plan id \"plan-free\"",
            "usage_plan[1].entitlements[1].targets[0]: deployment \"orders\" is already the target of entitlement \"basic\" of this plan; OCI allows one entitlement per deployment in a plan",
            "usage_plan[1].entitlements[1].rate_limit.value: must be at least 1",
            "subscriber[0].usage_plans[1]: unknown usage plan \"nope\"",
            "subscriber[0].clients[2].name: duplicate client name \"web\"",
            "subscriber[0].clients[2].token: this token is already used by another client",
        ]);
        assert!(
            !format!("{:?}", subs[0].clients[0]).contains("t-web"),
            "tokens are not printed"
        );
    }
}
