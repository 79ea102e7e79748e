//! The typed model of an OCI `ApiSpecification`, in SDK spelling.
//!
//! Every type serializes to the canonical SDK JSON (camelCase keys, `key_ops`, `type` /
//! `format` / `validationType` discriminators, absent optionals skipped), so a loaded spec can
//! be written back out unchanged in meaning. Optional scalars stay `Option` rather than being
//! replaced by their defaults, so what was written is what is served back; accessors such as
//! [`HttpBackend::connect_timeout`] apply the documented defaults.

mod auth;
mod backend;
mod enums;
mod policies;
mod route;
mod route_checks;
mod selection;
mod transform;

pub use auth::*;
pub use backend::*;
pub use enums::*;
pub use policies::*;
pub use route::*;
pub use selection::*;
pub use transform::{
    FilterItem, FilterPolicy, HeaderTransformations, QueryParameterTransformations, RenameItem,
    RenamePolicy, SetItem, SetPolicy, PROTECTED_REQUEST_HEADERS, PROTECTED_RESPONSE_HEADERS,
};

use serde::Serialize;
use serde_json::Value;

use crate::diagnostics::{Diagnostics, Kind};
use crate::spec::decode::{decode_items, has_errors_under, limit_count, FromJson, Obj};

/// An OCI API Gateway deployment specification (reference 1.2): what a deployment's
/// `specification` holds, and what a spec file contains.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiSpecification {
    /// Deployment-wide request policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_policies: Option<DeploymentRequestPolicies>,
    /// Deployment-wide logging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_policies: Option<LoggingPolicies>,
    /// The routes; at most 50.
    pub routes: Vec<Route>,
}

impl ApiSpecification {
    /// The deployment authentication policy, if any.
    pub fn authentication(&self) -> Option<&Authentication> {
        self.request_policies.as_ref()?.authentication.as_ref()
    }

    /// The deployment dynamic authentication policy, if any.
    pub fn dynamic_authentication(&self) -> Option<&DynamicAuthentication> {
        self.request_policies
            .as_ref()?
            .dynamic_authentication
            .as_ref()
    }
}

impl FromJson for ApiSpecification {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut o = Obj::new(value, path, d)?;
        let request_policies = o.optional::<DeploymentRequestPolicies>("requestPolicies");
        let logging_policies = o.optional("loggingPolicies");
        let has_routes = o.has("routes");
        let routes_path = o.at("routes");
        let routes = o
            .optional_with("routes", |v, p, d| decode_items(v, p, d, Route::from_json))
            .unwrap_or_default();
        o.finish();
        if !has_routes {
            d.warning(
                Kind::Invalid,
                path,
                "no routes: every request to the deployment gets 404",
            );
        }
        limit_count(d, &routes_path, routes.len(), 50, "routes");
        // Checks relating routes to the deployment's authentication would report false
        // problems if that authentication failed to load; they wait until it is fixed.
        let auth_known = ![
            "requestPolicies.authentication",
            "requestPolicies.dynamicAuthentication",
        ]
        .iter()
        .any(|p| has_errors_under(d, p))
            && !d.errors().any(|e| e.path == "requestPolicies");
        route_checks::check_routes(d, request_policies.as_ref(), auth_known, &routes);
        Some(ApiSpecification {
            request_policies,
            logging_policies,
            routes: routes.into_iter().collect::<Option<Vec<_>>>()?,
        })
    }
}
