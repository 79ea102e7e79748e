//! Validation and compilation of deployments into a [`CompiledGateway`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::auth::{Authenticator, AuthenticatorFactory};
use crate::backend::HttpClient;
use crate::cache::memory::{MemoryCacheStore, DEFAULT_CAPACITY};
use crate::cache::ResponseCacheStore;
use crate::diagnostics::{did_you_mean, Diagnostics, Kind, Severity};
use crate::function::{FunctionRegistry, RegisteredFunction};
use crate::limit::{LimitSettings, UsagePlans};
use crate::observe::Observer;
use crate::policy::client_ca::ClientCaBundles;
use crate::request_limits::{BodyBudget, RequestLimits};
use crate::router::{Conflict, MethodSet, PathTemplate, PrefixRouter, Router, RouterBuilder};
use crate::routes::RouteInfo;
use crate::spec::{self, ApiSpecification, Backend, Feature, FeatureUse, HttpMethod};

use super::assemble::{route_stack, DeploymentLayers, Handler, Limiters, RouteService};
use super::per_thread::PerThread;
use super::service::GatewayService;

/// OCI allows at most this many deployments on one gateway.
const MAX_DEPLOYMENTS: usize = 20;

/// One deployment to compile: where it is mounted and its specification's JSON text.
#[derive(Debug, Clone)]
pub struct DeploymentSource {
    /// The deployment's name: unique within the gateway, and the `deployment` of its logs,
    /// metrics and cache keys.
    pub name: String,
    /// The deployment's `pathPrefix` (`/v1`, say): every route's path is relative to it.
    pub path_prefix: String,
    /// The `ApiSpecification` as JSON text.
    pub specification: String,
    /// Where the specification came from (a file name), for messages.
    pub origin: String,
}

/// What the gateway answers when a route matches the path but not the method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MethodMismatch {
    /// 404 `{"code":404,"message":"Not Found"}`, as OCI answers.
    #[default]
    NotFound,
    /// 405 with an `Allow` header listing the methods the path accepts.
    MethodNotAllowed,
}

/// Gateway-wide settings that shape compilation.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// What a request gets when a route matches its path but not its method (404 by default).
    pub method_mismatch: MethodMismatch,
    /// Treat OCI's service limits as errors rather than warnings.
    pub strict: bool,
    /// What a `functionId` that names no registered function is.
    pub unknown_functions: UnknownFunctions,
}

/// How a `functionId` that names no registered function is reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownFunctions {
    /// An error, with the known ids as a hint: the functions are declared beside the
    /// specification (a config file), so an id missing there is a mistake.
    #[default]
    Error,
    /// A warning, and the route answers 500 as OCI does for a function it cannot find: a
    /// specification on its own (copied from OCI, say) is valid, and its other routes can run.
    Warn,
}

/// What compiled routes use at run time: the functions specifications name, the pooled client
/// of HTTP backends, and what builds authenticators. Kept across reloads, so that connection
/// pools and caches survive them.
#[derive(Debug, Clone)]
pub struct Resources {
    /// The functions `functionId`s name.
    pub functions: FunctionRegistry,
    /// The pooled client every HTTP backend uses.
    pub http: HttpClient,
    /// Builds authenticators for `authentication` policies; `gateway-auth`'s `Authenticators`
    /// in the gateway. Without one, a deployment that authenticates is refused.
    pub authenticators: Arc<dyn AuthenticatorFactory>,
    /// Where rate limits and usage-plan quotas are counted (in memory, or Redis shared by
    /// replicas), and who may forward client addresses.
    pub limits: LimitSettings,
    /// Usage plans, entitlements and subscribers.
    pub usage_plans: Arc<UsagePlans>,
    /// Where responses are cached (in memory, or Redis shared by replicas).
    pub response_cache: Arc<dyn ResponseCacheStore>,
    /// What a client may send: head and body sizes, body read timeout.
    pub request_limits: RequestLimits,
    /// The bytes of request bodies held whole at once, across every route and request; shared
    /// by the gateways a reload replaces, so that what one holds counts for the next.
    pub body_budget: BodyBudget,
    /// The CAs client certificates are verified against for `mutualTls`; empty by default, and
    /// then a deployment with that policy is refused.
    pub client_ca: Arc<ClientCaBundles>,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            functions: FunctionRegistry::default(),
            http: HttpClient::default(),
            authenticators: Arc::new(NoAuthenticators),
            limits: LimitSettings::default(),
            usage_plans: Arc::new(UsagePlans::default()),
            response_cache: Arc::new(MemoryCacheStore::new(DEFAULT_CAPACITY)),
            request_limits: RequestLimits::default(),
            body_budget: BodyBudget::default(),
            client_ca: Arc::new(ClientCaBundles::default()),
        }
    }
}

/// The factory of a gateway built without one: every authentication policy is refused, so that
/// no deployment that authenticates is ever served open.
#[derive(Debug)]
struct NoAuthenticators;

impl AuthenticatorFactory for NoAuthenticators {
    fn build(
        &self,
        _: &crate::spec::Authentication,
        _: &FunctionRegistry,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Arc<dyn Authenticator>> {
        diags
            .error(path, "this gateway was built without authenticators")
            .hint("give the builder an AuthenticatorFactory, such as gateway_auth::Authenticators");
        None
    }
}

/// Every problem found in one deployment.
#[derive(Debug, Clone)]
pub struct DeploymentReport {
    /// The deployment's name.
    pub name: String,
    /// Where its specification came from, as given in [`DeploymentSource::origin`].
    pub origin: String,
    /// The problems found, located by JSON paths into the specification.
    pub diagnostics: Diagnostics,
}

/// Everything compilation found, per deployment.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// One report per deployment, in the order given.
    pub deployments: Vec<DeploymentReport>,
    /// Problems of the gateway as a whole (deployment names, prefixes, counts).
    pub gateway: Diagnostics,
}

impl LoadReport {
    /// Whether any problem is an error; [`compile`] then returns no gateway.
    pub fn has_errors(&self) -> bool {
        self.gateway.has_errors() || self.deployments.iter().any(|d| d.diagnostics.has_errors())
    }

    fn all(&self) -> impl Iterator<Item = &crate::diagnostics::Diagnostic> {
        self.gateway
            .iter()
            .chain(self.deployments.iter().flat_map(|d| d.diagnostics.iter()))
    }

    /// The number of errors, across the gateway and every deployment.
    pub fn error_count(&self) -> usize {
        self.all().filter(|d| d.severity == Severity::Error).count()
    }

    /// The number of warnings, across the gateway and every deployment.
    pub fn warning_count(&self) -> usize {
        self.all()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.gateway {
            writeln!(f, "{d}")?;
        }
        for dep in self
            .deployments
            .iter()
            .filter(|d| !d.diagnostics.is_empty())
        {
            writeln!(f, "deployment {:?} ({}):", dep.name, dep.origin)?;
            for d in &dep.diagnostics {
                writeln!(f, "  {d}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for LoadReport {}

/// A compiled route: what it is and its service stack.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRoute {
    pub(crate) info: Arc<RouteInfo>,
    /// Its fixed answer, or its stack called through each thread's own clone.
    pub(crate) handler: Handler<PerThread<RouteService>>,
    /// A CORS policy applies: pre-flights for the route's methods are routed here.
    pub(crate) has_cors: bool,
    /// The largest request body the route accepts.
    pub(crate) max_body: u64,
}

/// A compiled deployment: its router.
#[derive(Debug)]
pub(crate) struct CompiledDeployment {
    pub(crate) name: Arc<str>,
    pub(crate) router: Router<CompiledRoute>,
    pub(crate) limiters: Limiters,
}

/// Every deployment compiled and ready to serve. Immutable; replaced whole on reload.
#[derive(Debug)]
pub struct CompiledGateway {
    pub(crate) deployments: PrefixRouter<CompiledDeployment>,
    pub(crate) method_mismatch: MethodMismatch,
    pub(crate) limits: RequestLimits,
    /// For its metrics.
    pub(crate) body_budget: BodyBudget,
    routes: Vec<Arc<RouteInfo>>,
}

impl CompiledGateway {
    /// The public route table, deployments in the order given, routes in spec order.
    pub fn routes(&self) -> impl Iterator<Item = &RouteInfo> {
        self.routes.iter().map(|r| &**r)
    }
}

/// Validates and compiles `sources`. The gateway is returned only when no error was found;
/// the report always lists every problem, warnings included.
pub fn compile(
    sources: &[DeploymentSource],
    options: &GatewayOptions,
    resources: &Resources,
) -> (Option<CompiledGateway>, LoadReport) {
    let mut report = LoadReport::default();
    if sources.len() > MAX_DEPLOYMENTS {
        report.gateway.warning(
            Kind::Limit,
            "deployment",
            format!(
                "{} deployments; OCI allows at most {MAX_DEPLOYMENTS} per gateway",
                sources.len()
            ),
        );
    }

    let mut prefixes = PrefixRouter::new();
    let mut names = HashSet::new();
    let mut routes = Vec::new();
    for source in sources {
        let mut diags = Diagnostics::new();
        if source.name.is_empty() {
            diags.error("name", "a deployment needs a name");
        } else if !names.insert(source.name.as_str()) {
            diags.error(
                "name",
                format!("another deployment is also named {:?}", source.name),
            );
        }
        let compiled = compile_deployment(source, options, resources, &mut diags);
        if let Some((deployment, infos)) = compiled {
            match prefixes.insert(&source.path_prefix, deployment) {
                Ok(()) => routes.extend(infos),
                Err(e) => {
                    diags.error("pathPrefix", e.to_string());
                }
            }
        }
        if options.strict {
            diags.make_limits_errors();
        }
        report.deployments.push(DeploymentReport {
            name: source.name.clone(),
            origin: source.origin.clone(),
            diagnostics: diags,
        });
    }

    if report.has_errors() {
        return (None, report);
    }
    let gateway = CompiledGateway {
        deployments: prefixes,
        method_mismatch: options.method_mismatch,
        limits: resources.request_limits,
        body_budget: resources.body_budget.clone(),
        routes,
    };
    (Some(gateway), report)
}

type Compiled = (CompiledDeployment, Vec<Arc<RouteInfo>>);

fn compile_deployment(
    source: &DeploymentSource,
    options: &GatewayOptions,
    resources: &Resources,
    diags: &mut Diagnostics,
) -> Option<Compiled> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&source.specification) else {
        // The loader words JSON syntax errors with their line and column.
        diags.extend(spec::load_spec(&source.specification).diagnostics);
        return None;
    };
    spec::report_duplicate_keys(&source.specification, diags);
    let load = spec::load_spec_value(&value);
    diags.extend(load.diagnostics);
    // Route paths and conflicts are checked even when other parts of the document are wrong,
    // so that one run reports every problem.
    let routes = check_routes(&value, diags);
    let spec = load.spec?;
    check_functions(
        &spec,
        &resources.functions,
        options.unknown_functions,
        diags,
    );

    let features = spec.features();
    let deployment_features = FeatureSummary::collect(&features, None);
    let deployment_layers = DeploymentLayers::compile(&source.name, &spec, resources, diags);
    let name: Arc<str> = Arc::from(source.name.as_str());
    let prefix: Arc<str> = Arc::from(source.path_prefix.as_str());

    let mut builder = RouterBuilder::new();
    let mut infos = Vec::new();
    for (index, route) in spec.routes.iter().enumerate() {
        let Some(Some((template, methods))) = routes.get(index) else {
            continue;
        };
        let mut info = RouteInfo::new(
            name.clone(),
            prefix.clone(),
            index,
            template.clone(),
            *methods,
            route.backend.type_name(),
        );
        if let Backend::OracleFunctions(function) = &route.backend {
            info.function_id = Some(Arc::from(function.function_id.as_str()));
        }
        info.execution_log_level = execution_log_level(route.logging_policies.as_ref())
            .or_else(|| execution_log_level(spec.logging_policies.as_ref()));
        let own = FeatureSummary::collect(&features, Some(index));
        info.policies = deployment_features
            .policies
            .iter()
            .chain(&own.policies)
            .copied()
            .collect();
        let stack = route_stack(
            route,
            template,
            &format!("routes[{index}]"),
            &deployment_layers,
            resources,
            diags,
        );
        let info = Arc::new(info);
        let limits = &resources.request_limits;
        let entry = CompiledRoute {
            info: info.clone(),
            handler: stack.handler.map(PerThread::new),
            has_cors: stack.has_cors,
            max_body: match route.backend {
                Backend::OracleFunctions(_) => limits.max_function_body_bytes,
                _ => limits.max_body_bytes,
            },
        };
        // `check_routes` has already refused every conflicting route.
        if builder.insert(template.clone(), *methods, entry).is_ok() {
            infos.push(info);
        }
    }
    Some((
        CompiledDeployment {
            name,
            router: builder.build(),
            limiters: deployment_layers.limiters(),
        },
        infos,
    ))
}

/// The `executionLog.logLevel` of a `loggingPolicies`, if it sets one.
fn execution_log_level(policies: Option<&spec::LoggingPolicies>) -> Option<spec::LogLevel> {
    policies?.execution_log.as_ref()?.log_level
}

/// Reports every `functionId` that names no registered function.
fn check_functions(
    spec: &ApiSpecification,
    functions: &FunctionRegistry,
    unknown: UnknownFunctions,
    diags: &mut Diagnostics,
) {
    for (index, route) in spec.routes.iter().enumerate() {
        let at = format!("routes[{index}].backend");
        match &route.backend {
            Backend::DynamicRouting(dynamic) => {
                for (b, branch) in dynamic.routing_backends.iter().enumerate() {
                    check_function(
                        &branch.backend,
                        &format!("{at}.routingBackends[{b}].backend"),
                        functions,
                        unknown,
                        diags,
                    );
                }
            }
            backend => check_function(backend, &at, functions, unknown, diags),
        }
    }
}

/// Reports a function backend whose `functionId` names no registered function, or one the
/// gateway may not invoke.
fn check_function(
    backend: &Backend,
    at: &str,
    functions: &FunctionRegistry,
    unknown: UnknownFunctions,
    diags: &mut Diagnostics,
) {
    let Backend::OracleFunctions(backend) = backend else {
        return;
    };
    if let Some(function) = functions.get(&backend.function_id) {
        if let Some(reason) = &function.denied {
            diags
                .warning(
                    Kind::Permission,
                    format!("{at}.functionId"),
                    format!(
                        "the gateway may not invoke {}: {reason}; the route answers 500",
                        function.name
                    ),
                )
                .hint(format!(
                    "`gateway explain --function {}` shows why",
                    function.id
                ));
        }
        return;
    }
    let path = format!("{at}.functionId");
    if unknown == UnknownFunctions::Warn {
        diags
            .warning(
                Kind::UnboundFunction,
                path,
                format!(
                    "function {:?} is not bound here; the route answers 500",
                    backend.function_id
                ),
            )
            .hint(
                "declare it in gateway.toml ([[application.function]] with this id) and serve \
                 with --config",
            );
        return;
    }
    let hint = if functions.is_empty() {
        "no functions are configured: declare them with [[application.function]] in gateway.toml"
            .to_owned()
    } else {
        let known: Vec<&str> = functions.ids().collect();
        match did_you_mean(&backend.function_id, known.iter().copied()) {
            Some(near) => format!("did you mean {near}? known functions: {}", known.join(", ")),
            None => format!("known functions: {}", known.join(", ")),
        }
    };
    diags
        .error(
            path,
            format!("unknown functionId {:?}", backend.function_id),
        )
        .hint(hint);
}

/// Parses every route's `path` template and finds conflicting routes, straight from the
/// JSON document so that it works whatever else is wrong in it. The result is indexed by
/// route: `None` where the path is invalid or conflicts with an earlier route.
fn check_routes(
    spec: &serde_json::Value,
    diags: &mut Diagnostics,
) -> Vec<Option<(PathTemplate, MethodSet)>> {
    let Some(routes) = spec.get("routes").and_then(|r| r.as_array()) else {
        return Vec::new();
    };
    let mut checked = Vec::with_capacity(routes.len());
    let mut builder = RouterBuilder::new();
    // Insertion index -> route index and description, to name the earlier route of a conflict.
    let mut inserted: Vec<(usize, String)> = Vec::new();
    for (index, route) in routes.iter().enumerate() {
        let Some(path) = route.get("path").and_then(|p| p.as_str()) else {
            checked.push(None);
            continue;
        };
        let template = match PathTemplate::parse(path) {
            Ok(t) => t,
            Err(e) => {
                let d = diags.error(format!("routes[{index}].path"), e.without_hint());
                if let Some(hint) = &e.hint {
                    d.hint(*hint);
                }
                checked.push(None);
                continue;
            }
        };
        let methods = json_methods(route.get("methods"));
        let describe = format!("routes[{index}] {path} ({methods})");
        match builder.insert(template.clone(), methods, ()) {
            Ok(()) => {
                inserted.push((index, describe));
                checked.push(Some((template, methods)));
            }
            Err(Conflict { with }) => {
                let earlier = inserted
                    .get(with)
                    .map_or("an earlier route", |(_, d)| d.as_str());
                diags
                    .error(
                        format!("routes[{index}].path"),
                        format!(
                            "{describe} conflicts with {earlier}: the same template once parameter names are erased, with overlapping methods"
                        ),
                    )
                    .hint("merge the two routes, or give them methods that do not overlap");
                checked.push(None);
            }
        }
    }
    checked
}

/// The methods of a route as written in JSON; names the loader rejects are left out here (the
/// loader reports them), and no `methods` at all means every method.
fn json_methods(methods: Option<&serde_json::Value>) -> MethodSet {
    let Some(list) = methods.and_then(|m| m.as_array()) else {
        return MethodSet::ANY;
    };
    let names: Vec<HttpMethod> = list
        .iter()
        .filter_map(|m| m.as_str())
        .filter_map(|name| HttpMethod::ALL.iter().copied().find(|h| h.as_str() == name))
        .collect();
    method_set(Some(&names))
}

/// The methods a route accepts; no `methods` at all means every method.
fn method_set(methods: Option<&[HttpMethod]>) -> MethodSet {
    let Some(methods) = methods else {
        return MethodSet::ANY;
    };
    let mut set = MethodSet::EMPTY;
    for m in methods {
        match m {
            HttpMethod::Any => set = set.union(MethodSet::ANY),
            m => {
                // Every other spec method is a standard HTTP method name.
                if let Ok(method) = m.as_str().parse::<http::Method>() {
                    set.insert(&method);
                }
            }
        }
    }
    set
}

fn is_backend(feature: Feature) -> bool {
    matches!(
        feature,
        Feature::HttpBackend
            | Feature::OracleFunctionsBackend
            | Feature::StockResponseBackend
            | Feature::DynamicRoutingBackend
            | Feature::OAuth2LogoutBackend
    )
}

/// The features that apply at one level (the deployment, or one route), sorted out.
/// The policy names that apply at one level (the deployment, or one route), for the route
/// table.
#[derive(Default)]
struct FeatureSummary {
    policies: Vec<&'static str>,
}

impl FeatureSummary {
    fn collect(features: &[FeatureUse], route: Option<usize>) -> Self {
        let policies = features
            .iter()
            .filter(|f| f.route == route && !is_backend(f.feature))
            .map(|f| f.feature.name())
            .collect();
        Self { policies }
    }
}

/// Entry point for embedding: `Gateway::builder().deployment(…).build()`.
#[derive(Debug, Clone, Copy)]
pub struct Gateway;

impl Gateway {
    /// A builder with no deployments, default options and default resources.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }
}

/// Collects deployments and options, then compiles them.
#[derive(Debug, Clone, Default)]
pub struct GatewayBuilder {
    sources: Vec<DeploymentSource>,
    options: GatewayOptions,
    resources: Resources,
    observer: Option<Observer>,
}

impl GatewayBuilder {
    /// Adds a deployment from its specification's JSON text.
    pub fn deployment(
        mut self,
        name: impl Into<String>,
        path_prefix: impl Into<String>,
        specification: impl Into<String>,
    ) -> Self {
        let name = name.into();
        self.sources.push(DeploymentSource {
            origin: format!("deployment {name}"),
            name,
            path_prefix: path_prefix.into(),
            specification: specification.into(),
        });
        self
    }

    /// Replaces every compilation option at once.
    pub fn options(mut self, options: GatewayOptions) -> Self {
        self.options = options;
        self
    }

    /// Registers a function that specifications can name by `functionId`.
    pub fn function(mut self, function: RegisteredFunction) -> Self {
        self.resources.functions.register(function);
        self
    }

    /// Uses `functions` for every `functionId`.
    pub fn functions(mut self, functions: FunctionRegistry) -> Self {
        self.resources.functions = functions;
        self
    }

    /// Uses `factory` to build authenticators (`gateway_auth::Authenticators`).
    pub fn authenticators(mut self, factory: Arc<dyn AuthenticatorFactory>) -> Self {
        self.resources.authenticators = factory;
        self
    }

    /// Uses `client` for HTTP backends (extra root certificates, pool settings).
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.resources.http = client;
        self
    }

    /// Holds request bodies that must be read whole against `budget` (by default one of
    /// [`crate::request_limits::DEFAULT_MAX_BUFFERED_BODY_BYTES`]).
    pub fn body_budget(mut self, budget: BodyBudget) -> Self {
        self.resources.body_budget = budget;
        self
    }

    /// Verifies `mutualTls` client certificates against `cas`.
    pub fn client_ca(mut self, cas: ClientCaBundles) -> Self {
        self.resources.client_ca = Arc::new(cas);
        self
    }

    /// Sets what a request gets when a route matches its path but not its method.
    pub fn method_mismatch(mut self, m: MethodMismatch) -> Self {
        self.options.method_mismatch = m;
        self
    }

    /// Counts rate limits and usage-plan quotas in `limits` (in memory by default, or Redis
    /// shared by replicas) and trusts its proxies' client addresses.
    pub fn limits(mut self, limits: LimitSettings) -> Self {
        self.resources.limits = limits;
        self
    }

    /// The usage plans, entitlements and subscribers `usagePlans` policies refer to.
    pub fn usage_plans(mut self, plans: UsagePlans) -> Self {
        self.resources.usage_plans = Arc::new(plans);
        self
    }

    /// Caches responses in `store` (in memory by default, or Redis shared by replicas).
    pub fn response_cache(mut self, store: Arc<dyn ResponseCacheStore>) -> Self {
        self.resources.response_cache = store;
        self
    }

    /// What a client may send: head and body sizes, the body read timeout.
    pub fn request_limits(mut self, limits: RequestLimits) -> Self {
        self.resources.request_limits = limits;
        self
    }

    /// Reports requests to `observer` (metrics registry, access log, the gateway's identity)
    /// instead of a default one.
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Compiles the deployments; the error lists every problem. Warnings of a configuration
    /// that compiles are logged (`tracing`, at warn level), as `gateway serve` prints them.
    pub fn compile(self) -> Result<CompiledGateway, LoadReport> {
        match compile(&self.sources, &self.options, &self.resources) {
            (Some(gateway), report) => {
                if report.warning_count() > 0 {
                    tracing::warn!("{report}");
                }
                Ok(gateway)
            }
            (None, report) => Err(report),
        }
    }

    /// Compiles the deployments into a ready service.
    pub fn build(mut self) -> Result<GatewayService, LoadReport> {
        let observer = self.observer.take().unwrap_or_default();
        self.compile()
            .map(|gateway| GatewayService::with_observer(gateway, observer))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::Gateway;

    /// Collects what a `tracing` subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn warnings_of_a_configuration_that_builds_are_logged() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let built = tracing::subscriber::with_default(subscriber, || {
            // No routes: served, with a warning that every request gets 404.
            Gateway::builder().deployment("empty", "/e", "{}").build()
        });
        assert!(built.is_ok());
        let logged = String::from_utf8_lossy(
            &captured
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned();
        assert!(logged.contains("WARN"), "{logged}");
        assert!(logged.contains("no routes"), "{logged}");
    }
}
