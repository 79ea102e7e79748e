//! From the command line's source (a config file or one spec) to a compiled gateway.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gateway_auth::JwksOptions;
use gateway_auth::{AuthOptions, Authenticators, Secrets};

use gateway_core::backend::HttpClient;
use gateway_core::diagnostics::Diagnostics;
use gateway_core::gateway::{
    compile, CompiledGateway, DeploymentSource, GatewayOptions, LoadReport, Resources,
    UnknownFunctions,
};
use gateway_core::limit::UsagePlans;
use gateway_core::policy::ClientCaBundles;
use gateway_core::request_limits::BodyBudget;
use gateway_core::server::TlsAcceptor;
use rustls::pki_types::CertificateDer;

use crate::ca;
use crate::changes::Deployments;
use crate::cli::Source;
use crate::config::ConfigError;
use crate::config::{Config, GatewaySection};
use crate::functions::{self, Readiness};
use crate::permissions::Permissions;
use crate::running::FunctionSet;

/// The config in effect and what compiling it produced.
pub(crate) struct Loaded {
    pub(crate) settings: GatewaySection,
    pub(crate) functions: FunctionSet,
    /// The deployments as configured, for telling what a reload changed.
    pub(crate) deployments: Deployments,
    /// The listener's TLS, when `[tls]` is set and usable.
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) gateway: Option<CompiledGateway>,
    pub(crate) report: LoadReport,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read the specification {path}: {source}")]
    Spec {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What lasts as long as the process, shared by every configuration it loads: the HTTP
/// backends' client (its connection pools) and the counters of the request bodies held whole
/// (what one configuration holds still counts when the next is swapped in).
#[derive(Debug, Clone, Default)]
pub(crate) struct Lasting {
    pub(crate) http: HttpClient,
    pub(crate) body_budget: BodyBudget,
}

/// Reads the config (or the single spec), makes its functions as ready as `readiness` says,
/// and compiles every deployment.
pub(crate) async fn load(
    source: &Source,
    readiness: Readiness<'_>,
    lasting: &Lasting,
) -> Result<Loaded, LoadError> {
    let mut problems = Diagnostics::new();
    let (settings, sources, config) = match &source.spec {
        Some(spec) => {
            let name = spec.file_stem().map_or_else(
                || "default".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            );
            let deployment = DeploymentSource {
                name,
                path_prefix: source.path_prefix.clone(),
                specification: read_spec(spec)?,
                origin: spec.display().to_string(),
            };
            (GatewaySection::default(), vec![deployment], None)
        }
        None => {
            let path = source
                .config
                .as_deref()
                .unwrap_or(Path::new("gateway.toml"));
            let config = Config::load(path)?;
            let sources = config
                .deployments
                .iter()
                .map(|d| {
                    Ok(DeploymentSource {
                        name: d.name.clone(),
                        path_prefix: d.path_prefix.clone(),
                        specification: read_spec(&d.specification)?,
                        origin: d.specification.display().to_string(),
                    })
                })
                .collect::<Result<Vec<_>, LoadError>>()?;
            (config.gateway.clone(), sources, Some(config))
        }
    };
    let options = GatewayOptions {
        method_mismatch: settings.method_mismatch_status.get(),
        strict: source.strict,
        // A specification on its own names functions that live in OCI; nothing here runs
        // them, but it is still valid and its other routes can be served.
        unknown_functions: if config.is_some() {
            UnknownFunctions::Error
        } else {
            UnknownFunctions::Warn
        },
    };
    let ca_roots = config
        .as_ref()
        .map(|c| ca::roots(&c.gateway.ca_bundles, &mut problems))
        .unwrap_or_default();
    // Everything is checked first; functions are prepared (which can take a while) only for a
    // configuration that is valid.
    let permissions = config
        .as_ref()
        .and_then(|c| Permissions::build(c, &mut problems));
    let mut functions = match &config {
        Some(config) => {
            functions::registry(
                config,
                permissions.as_ref(),
                &ca_roots,
                Readiness::Checked,
                &mut problems,
            )
            .await
        }
        None => FunctionSet::default(),
    };
    let registry = functions.registry();
    let auth_options = config
        .as_ref()
        .map(|c| auth_options(c, &ca_roots, &mut problems))
        .unwrap_or_default();
    // Private CAs for HTTP backends need a client of this configuration's own; without them
    // the process's client keeps its pools across reloads.
    let http = if ca_roots.is_empty() {
        lasting.http.clone()
    } else {
        let builder = ca_roots.iter().fold(HttpClient::builder(), |b, der| {
            b.add_root_certificate(der.clone())
        });
        builder.build().unwrap_or_else(|e| {
            problems.error("gateway.ca_bundles", e.to_string());
            lasting.http.clone()
        })
    };
    let mut resources = Resources {
        authenticators: Arc::new(Authenticators::new().with_options(auth_options)),
        functions: registry,
        http,
        request_limits: settings.limits.request(),
        body_budget: lasting
            .body_budget
            .with_capacity(settings.limits.max_buffered_body_bytes),
        ..Resources::default()
    };
    let mut tls = None;
    if let Some(config) = &config {
        tls = listener_tls(config, &mut resources, &mut problems);
        shared_state(config, &mut resources, &mut problems);
    }
    let (mut gateway, mut report) = compile(&sources, &options, &resources);
    if problems.has_errors() {
        gateway = None;
    }
    report.gateway.extend(problems);
    if let (Some(config), Readiness::Running(_), Some(_)) = (&config, readiness, &gateway) {
        functions = functions::registry(
            config,
            permissions.as_ref(),
            &ca_roots,
            readiness,
            &mut Diagnostics::new(),
        )
        .await;
        resources.functions = functions.registry();
        gateway = compile(&sources, &options, &resources).0;
    }
    Ok(Loaded {
        settings,
        functions,
        deployments: Deployments::new(&sources),
        tls,
        gateway,
        report,
    })
}

/// Rate-limit and cache stores and usage plans from the config; problems are reported under the
/// config keys.
fn shared_state(config: &Config, resources: &mut Resources, problems: &mut Diagnostics) {
    if let Some(limits) = &config.rate_limit {
        match limits.build() {
            Ok(settings) => resources.limits = settings,
            Err(e) => {
                problems.error("rate_limit", e.to_string());
            }
        }
    }
    if let Some(cache) = &config.response_cache {
        match cache.build() {
            Ok(store) => resources.response_cache = store,
            Err(e) => {
                problems.error("response_cache", e.to_string());
            }
        }
    }
    match UsagePlans::new(&config.usage_plan, &config.subscriber) {
        Ok(plans) => {
            let deployments: Vec<&str> =
                config.deployments.iter().map(|d| d.name.as_str()).collect();
            for target in plans.targets().filter(|t| !deployments.contains(t)) {
                problems
                    .error(
                        "usage_plan",
                        format!("an entitlement targets {target:?}, which is not a deployment"),
                    )
                    .hint(format!("deployments: {}", deployments.join(", ")));
            }
            resources.usage_plans = Arc::new(plans);
        }
        Err(errors) => {
            for e in errors {
                problems.error(e.at, e.message);
            }
        }
    }
}

/// Options for authenticators: the shared authorizer cache from `[authorizer_cache]`, the
/// secrets of `[[secret]]` and the CAs of `[gateway] ca_bundles`.
fn auth_options(
    config: &Config,
    ca_roots: &[CertificateDer<'static>],
    problems: &mut Diagnostics,
) -> AuthOptions {
    let secrets = Secrets::load(&config.secrets).unwrap_or_else(|e| {
        problems.error("secret", e.to_string());
        Secrets::default()
    });
    let mut jwks = JwksOptions::default();
    for der in ca_roots {
        if let Err(e) = jwks.trust_der(der) {
            problems.error("gateway.ca_bundles", e);
        }
    }
    let shared_results =
        config
            .authorizer_cache
            .as_ref()
            .and_then(|section| match section.build() {
                Ok(shared) => Some(shared),
                Err(e) => {
                    problems.error("authorizer_cache", e.to_string());
                    None
                }
            });
    AuthOptions {
        shared_results,
        secrets,
        jwks,
        ..AuthOptions::default()
    }
}

/// The listener's TLS from `[tls]`, and the client CAs `mutualTls` verifies against, so that
/// `gateway validate` reports unusable certificate files as `gateway serve` would.
fn listener_tls(
    config: &Config,
    resources: &mut Resources,
    problems: &mut Diagnostics,
) -> Option<TlsAcceptor> {
    let settings = config.tls.as_ref()?;
    match ClientCaBundles::load(&settings.client_ca) {
        Ok(cas) => resources.client_ca = Arc::new(cas),
        Err(e) => {
            problems.error("tls.client_ca", e.to_string());
            return None;
        }
    }
    match TlsAcceptor::from_pem_files(&settings.cert, &settings.key, &resources.client_ca) {
        Ok(acceptor) => Some(acceptor),
        Err(e) => {
            problems.error("tls", e.to_string());
            None
        }
    }
}

fn read_spec(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Spec {
        path: path.to_owned(),
        source,
    })
}
