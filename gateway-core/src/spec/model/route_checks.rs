//! Checks that relate several parts of a specification: route authorization against the
//! deployment's authentication (reference 4.2), logout back ends against the OAuth2 set-up
//! (3.5), and the two halves of the response cache (4.9).
//!
//! Checks local to one object run while it is decoded, where its path is at hand; these run
//! once the whole document has been read, over every route that decoded, under its real index.

use crate::diagnostics::{Diagnostics, Kind};
use crate::spec::decode::index_path;
use crate::spec::model::{
    Authentication, Backend, DeploymentRequestPolicies, HttpMethod, Route, RouteAuthorization,
    TokenValidationPolicy, ValidationFailurePolicy,
};

/// What the deployment's authentication allows, as far as routes are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeploymentAuth {
    /// No `authentication` and no `dynamicAuthentication`.
    None,
    /// Present; whether anonymous access is allowed (by at least one server, for dynamic).
    Present { anonymous: bool, oauth2: bool },
    /// Failed to load: do not judge.
    Unknown,
}

fn deployment_auth(policies: Option<&DeploymentRequestPolicies>, known: bool) -> DeploymentAuth {
    if !known {
        return DeploymentAuth::Unknown;
    }
    let servers: Vec<&Authentication> = match policies {
        Some(p) => match (&p.authentication, &p.dynamic_authentication) {
            (Some(a), _) => vec![a],
            (None, Some(dynamic)) => dynamic
                .authentication_servers
                .iter()
                .map(|s| &s.authentication_server_detail)
                .collect(),
            (None, None) => Vec::new(),
        },
        None => Vec::new(),
    };
    if servers.is_empty() {
        return DeploymentAuth::None;
    }
    DeploymentAuth::Present {
        anonymous: servers.iter().any(|a| a.is_anonymous_access_allowed()),
        oauth2: servers.iter().any(|a| is_oauth2_flow(a)),
    }
}

/// TOKEN_AUTHENTICATION with REMOTE_DISCOVERY and an OAUTH2 failure policy: the set-up a
/// logout back end belongs to.
fn is_oauth2_flow(auth: &Authentication) -> bool {
    matches!(
        auth,
        Authentication::Token(t)
            if matches!(t.validation_policy, TokenValidationPolicy::RemoteDiscovery(_))
                && matches!(t.validation_failure_policy, Some(ValidationFailurePolicy::OAuth2(_)))
    )
}

/// Runs the cross-route checks; `routes` keeps failed routes as `None` so indices stay real.
pub(crate) fn check_routes(
    d: &mut Diagnostics,
    policies: Option<&DeploymentRequestPolicies>,
    auth_known: bool,
    routes: &[Option<Route>],
) {
    let auth = deployment_auth(policies, auth_known);
    for (i, route) in routes.iter().enumerate() {
        let Some(route) = route else { continue };
        let path = index_path("routes", i);
        check_authorization(d, &path, route, auth);
        check_logout(d, &path, route, auth);
        check_cache(d, &path, route);
    }
}

fn check_authorization(d: &mut Diagnostics, path: &str, route: &Route, auth: DeploymentAuth) {
    let Some(authorization) = route
        .request_policies
        .as_ref()
        .and_then(|p| p.authorization.as_ref())
    else {
        return;
    };
    let at = format!("{path}.requestPolicies.authorization");
    match auth {
        DeploymentAuth::None => {
            d.error(
                at,
                format!("{} authorization needs an authentication policy at the deployment level", authorization.type_name()),
            )
            .hint("add requestPolicies.authentication (or dynamicAuthentication) at the top level, or remove this authorization");
        }
        DeploymentAuth::Present {
            anonymous: false, ..
        } if *authorization == RouteAuthorization::Anonymous => {
            d.error(
                format!("{at}.type"),
                "ANONYMOUS authorization needs isAnonymousAccessAllowed: true in the deployment's authentication policy",
            )
            .hint("set requestPolicies.authentication.isAnonymousAccessAllowed to true, or use AUTHENTICATION_ONLY");
        }
        _ => {}
    }
}

fn check_logout(d: &mut Diagnostics, path: &str, route: &Route, auth: DeploymentAuth) {
    if !matches!(route.backend, Backend::OAuth2Logout(_)) {
        return;
    }
    if let DeploymentAuth::None | DeploymentAuth::Present { oauth2: false, .. } = auth {
        d.warning(
            Kind::Invalid,
            format!("{path}.backend"),
            "an OAUTH2_LOGOUT_BACKEND only has a session to end with TOKEN_AUTHENTICATION using REMOTE_DISCOVERY and an OAUTH2 failure policy",
        );
    }
    if let Some(methods) = &route.methods {
        if methods.iter().any(|m| *m != HttpMethod::Get) {
            d.warning(
                Kind::Invalid,
                format!("{path}.methods"),
                "an OAUTH2_LOGOUT_BACKEND answers only GET",
            )
            .hint("write \"methods\": [\"GET\"]");
        }
    }
}

fn check_cache(d: &mut Diagnostics, path: &str, route: &Route) {
    let lookup = route
        .request_policies
        .as_ref()
        .is_some_and(|p| p.response_cache_lookup.is_some());
    let store = route
        .response_policies
        .as_ref()
        .is_some_and(|p| p.response_cache_store.is_some());
    if lookup && !store {
        d.warning(
            Kind::Invalid,
            format!("{path}.requestPolicies.responseCacheLookup"),
            "responseCacheLookup without responsePolicies.responseCacheStore: nothing is ever stored, so nothing is found",
        );
    } else if store && !lookup {
        d.warning(
            Kind::Invalid,
            format!("{path}.responsePolicies.responseCacheStore"),
            "responseCacheStore without requestPolicies.responseCacheLookup: stored responses are never served",
        );
    }
}
