//! The public route table: what each compiled route is, for `gateway routes`, logs and
//! context lookups.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::observe::{MatchedRoute, RouteMetrics};
use crate::router::{MethodSet, PathTemplate};
use crate::spec::LogLevel;

/// One route as the gateway serves it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteInfo {
    /// Name of the deployment the route belongs to.
    pub deployment: Arc<str>,
    /// The deployment's `pathPrefix`.
    pub path_prefix: Arc<str>,
    /// Position of the route in the specification's `routes` array.
    pub index: usize,
    /// The route's `path` template, relative to the prefix.
    #[serde(serialize_with = "serialize_template")]
    pub template: PathTemplate,
    /// The methods the route answers (its `methods`; `ANY` accepts every method).
    #[serde(serialize_with = "serialize_methods")]
    pub methods: MethodSet,
    /// The backend `type`, e.g. `STOCK_RESPONSE_BACKEND`.
    pub backend: &'static str,
    /// The function a function backend calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_id: Option<Arc<str>>,
    /// Every policy that applies to the route, deployment-level ones included.
    pub policies: Vec<&'static str>,
    /// The execution-log level `loggingPolicies` sets (the route's, else the deployment's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_log_level: Option<LogLevel>,
    /// Parameter names of the template, in order, for lookups by name.
    #[serde(skip)]
    param_names: Box<[Box<str>]>,
    /// How logs name the route.
    #[serde(skip)]
    pub(crate) matched: Arc<MatchedRoute>,
    /// The route's request metrics, bound when a `GatewayService` starts serving it.
    #[serde(skip)]
    pub(crate) metrics: OnceLock<Arc<RouteMetrics>>,
}

impl RouteInfo {
    pub(crate) fn new(
        deployment: Arc<str>,
        path_prefix: Arc<str>,
        index: usize,
        template: PathTemplate,
        methods: MethodSet,
        backend: &'static str,
    ) -> Self {
        let param_names = template.param_names().map(Box::from).collect();
        let matched = Arc::new(MatchedRoute {
            deployment: deployment.clone(),
            path: join_prefix(&path_prefix, template.as_str()).into(),
            backend,
        });
        Self {
            deployment,
            path_prefix,
            index,
            template,
            methods,
            backend,
            function_id: None,
            policies: Vec::new(),
            execution_log_level: None,
            param_names,
            matched,
            metrics: OnceLock::new(),
        }
    }

    /// The path a client requests: prefix and template joined (`/fn` + `/hello`).
    pub fn public_path(&self) -> &str {
        &self.matched.path
    }

    pub(crate) fn param_index(&self, name: &str) -> Option<usize> {
        self.param_names.iter().position(|n| &**n == name)
    }

    pub(crate) fn param_names(&self) -> impl Iterator<Item = &str> {
        self.param_names.iter().map(|n| &**n)
    }
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.methods, self.public_path())
    }
}

/// Joins a deployment prefix and a route path; prefix `/` adds nothing.
pub fn join_prefix(prefix: &str, route_path: &str) -> String {
    if prefix == "/" {
        route_path.to_owned()
    } else {
        format!("{prefix}{route_path}")
    }
}

fn serialize_template<S: serde::Serializer>(t: &PathTemplate, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

fn serialize_methods<S: serde::Serializer>(m: &MethodSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(m.to_string().split(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_path_joins_without_double_slash() {
        assert_eq!(join_prefix("/", "/auth/callback"), "/auth/callback");
        assert_eq!(join_prefix("/v1", "/auth/callback"), "/v1/auth/callback");
        assert_eq!(join_prefix("/v1", "/"), "/v1/");
    }
}
