//! A deployment's authentication, compiled once at load time: its server(s), each with an
//! authenticator and a failure response, and for `dynamicAuthentication` the selection rules.

use std::sync::Arc;

use http::request::Parts;
use http::Response;

use super::failure::{unauthorized, FailureResponse};
use super::select::Branches;
use super::{Authenticator, AuthenticatorFactory, Rejection, Sessions};
use crate::body::Body;
use crate::context::RequestContext;
use crate::diagnostics::{Diagnostics, Kind, Severity};
use crate::error::GatewayError;
use crate::function::FunctionRegistry;
use crate::spec::{
    ApiSpecification, Authentication as AuthenticationSpec, ValidationFailurePolicy,
};
use crate::vars::{Selector, Table, TableSet};

/// How a deployment authenticates, as the route stacks need to know it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DeploymentAuth {
    /// No `authentication` and no `dynamicAuthentication`: routes are open (reference 4.2).
    Open,
    /// Enforced by this policy: wrap every route in the authentication and authorization
    /// layers.
    Enforced(Arc<AuthPolicy>),
    /// The spec authenticates, but the policy could not be built (the reasons are in the
    /// diagnostics). Never serve such routes without it: refuse them.
    Unusable,
}

/// One authentication server: the `authentication` policy itself, or one entry of
/// `dynamicAuthentication.authenticationServers`.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    /// `isAnonymousAccessAllowed`.
    pub(crate) anonymous: bool,
    /// `MODIFY_RESPONSE`; `None` means OCI's 401 with `WWW-Authenticate`.
    pub(crate) failure: Option<FailureResponse>,
}

impl Server {
    /// The response for missing or refused credentials.
    pub(crate) fn failure_response(
        &self,
        parts: &Parts,
        ctx: &RequestContext,
        rejection: Option<Rejection>,
    ) -> Result<Response<Body>, GatewayError> {
        let (www_authenticate, context, reason) = match rejection {
            Some(r) => (r.www_authenticate, r.context, r.reason),
            None => (None, None, "no credentials".to_owned()),
        };
        let challenge = www_authenticate.or_else(|| self.authenticator.challenge());
        match &self.failure {
            None => Err(unauthorized(challenge, reason)),
            Some(failure) => Ok(match context {
                // The authorizer's `context` is what `request.auth[...]` reads in the policy.
                Some(context) => {
                    let mut ctx = ctx.clone();
                    ctx.set_auth(context);
                    failure.respond(&ctx.vars(&parts.headers), challenge)
                }
                None => failure.respond(&ctx.vars(&parts.headers), challenge),
            }),
        }
    }
}

/// How a `dynamicAuthentication` policy picks its server.
#[derive(Debug)]
struct Selection {
    selector: Selector,
    branches: Branches,
}

/// A deployment's compiled authentication.
#[derive(Debug)]
pub struct AuthPolicy {
    /// One server for `authentication`; every server, in spec order, for
    /// `dynamicAuthentication`.
    servers: Vec<Server>,
    selection: Option<Selection>,
}

/// The server chosen for one request, or why there is none.
pub(crate) enum Choice<'a> {
    Server(&'a Server),
    /// `dynamicAuthentication` found no rule and no default: 401 (reference 4.1.4).
    NoServer,
}

impl AuthPolicy {
    /// Whether some server allows anonymous access (what `ANONYMOUS` routes need).
    pub fn allows_anonymous(&self) -> bool {
        self.servers.iter().any(|s| s.anonymous)
    }

    /// The browser sessions of the deployment's `OAUTH2` failure policy, if it has one: what
    /// an `OAUTH2_LOGOUT_BACKEND` ends.
    pub fn sessions(&self) -> Option<Arc<dyn Sessions>> {
        self.servers.iter().find_map(|s| s.authenticator.sessions())
    }

    /// Whether the policy is a `dynamicAuthentication` one.
    pub fn is_dynamic(&self) -> bool {
        self.selection.is_some()
    }

    /// Picks the server for a request.
    pub(crate) fn choose(&self, parts: &Parts, ctx: &RequestContext) -> Choice<'_> {
        let Some(selection) = &self.selection else {
            return match self.servers.first() {
                Some(server) => Choice::Server(server),
                None => Choice::NoServer,
            };
        };
        let value: Option<String> = match selection.selector.table() {
            // The claim of the token before it is validated: every server reads the token
            // from the same place (the loader checks), so any one of them can read it.
            Table::Auth => {
                let claim = selection.selector.var().key().unwrap_or_default();
                self.servers
                    .first()
                    .and_then(|s| s.authenticator.unverified_claim(parts, claim))
            }
            _ => selection
                .selector
                .value(&ctx.vars(&parts.headers))
                .map(str::to_owned),
        };
        match selection
            .branches
            .select(value.as_deref())
            .and_then(|i| self.servers.get(i))
        {
            Some(server) => Choice::Server(server),
            None => Choice::NoServer,
        }
    }

    /// The 401 when no server applies: no failure policy to follow, no challenge to offer
    /// but the plain scheme.
    pub(crate) fn no_server_error(&self) -> GatewayError {
        let challenge = self
            .servers
            .first()
            .and_then(|s| s.authenticator.challenge());
        unauthorized(
            challenge,
            "dynamicAuthentication: no authentication server matches the request".to_owned(),
        )
    }
}

/// The tables a `dynamicAuthentication` selector may read (reference 4.1.4).
const SELECTOR_TABLES: TableSet = TableSet::AUTH
    .union(TableSet::HEADERS)
    .union(TableSet::HOST)
    .union(TableSet::PATH)
    .union(TableSet::QUERY)
    .union(TableSet::SUBDOMAIN);

/// Compiles the deployment's `authentication` or `dynamicAuthentication` with `factory`.
/// Every problem lands in `diags`; the result says whether routes are open, guarded, or must
/// be refused.
pub fn compile_authentication(
    spec: &ApiSpecification,
    factory: &dyn AuthenticatorFactory,
    functions: &FunctionRegistry,
    diags: &mut Diagnostics,
) -> DeploymentAuth {
    if let Some(auth) = spec.authentication() {
        let path = "requestPolicies.authentication";
        return match compile_server(auth, path, factory, functions, diags) {
            Some(server) => DeploymentAuth::Enforced(Arc::new(AuthPolicy {
                servers: vec![server],
                selection: None,
            })),
            None => DeploymentAuth::Unusable,
        };
    }
    let Some(dynamic) = spec.dynamic_authentication() else {
        return DeploymentAuth::Open;
    };
    let base = "requestPolicies.dynamicAuthentication";
    let selector = match Selector::parse(dynamic.selection_source.selector(), SELECTOR_TABLES) {
        Ok(s) => Some(s),
        Err(e) => {
            diags.error(format!("{base}.selectionSource.selector"), e.to_string());
            None
        }
    };
    let mut servers = Vec::with_capacity(dynamic.authentication_servers.len());
    let mut complete = true;
    for (i, s) in dynamic.authentication_servers.iter().enumerate() {
        let path = format!("{base}.authenticationServers[{i}].authenticationServerDetail");
        match compile_server(
            &s.authentication_server_detail,
            &path,
            factory,
            functions,
            diags,
        ) {
            Some(server) => servers.push(server),
            None => complete = false,
        }
    }
    match selector {
        Some(selector) if complete && !servers.is_empty() => {
            let branches = Branches::new(dynamic.authentication_servers.iter().map(|s| &s.key));
            DeploymentAuth::Enforced(Arc::new(AuthPolicy {
                servers,
                selection: Some(Selection { selector, branches }),
            }))
        }
        _ => DeploymentAuth::Unusable,
    }
}

fn compile_server(
    auth: &AuthenticationSpec,
    path: &str,
    factory: &dyn AuthenticatorFactory,
    functions: &FunctionRegistry,
    diags: &mut Diagnostics,
) -> Option<Server> {
    let failure_policy = match auth {
        AuthenticationSpec::Custom(c) => c.validation_failure_policy.as_ref(),
        AuthenticationSpec::Token(t) => t.validation_failure_policy.as_ref(),
        AuthenticationSpec::Jwt(_) => None,
    };
    let failure_path = format!("{path}.validationFailurePolicy");
    let failure = match failure_policy {
        Some(ValidationFailurePolicy::ModifyResponse(m)) => {
            Some(FailureResponse::compile(m, &failure_path, diags)?)
        }
        // The login flow belongs to the authenticator, which must say it runs one: an OpenID
        // Connect login is never silently replaced by a 401.
        Some(ValidationFailurePolicy::OAuth2(_)) => {
            let authenticator = factory.build(auth, functions, path, diags)?;
            if authenticator.sessions().is_none() {
                diags.push(
                    Severity::Error,
                    Kind::Unsupported,
                    failure_path,
                    "the OAUTH2 validation failure policy (OpenID Connect login flow) is not supported by this authenticator",
                );
                return None;
            }
            return Some(Server {
                authenticator,
                anonymous: auth.is_anonymous_access_allowed(),
                failure: None,
            });
        }
        None => None,
    };
    let authenticator = factory.build(auth, functions, path, diags)?;
    Some(Server {
        authenticator,
        anonymous: auth.is_anonymous_access_allowed(),
        failure,
    })
}
