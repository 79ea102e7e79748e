//! `gateway.toml`: where things are. The specifications say what a deployment does.
//!
//! Paths in the file are relative to the file. Unknown keys are errors, reported with their
//! line and column.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use gateway_core::cache::ResponseCacheConfig;
use gateway_core::gateway::MethodMismatch;
use gateway_core::limit::{RateLimitConfig, SubscriberConfig, UsagePlanConfig};
use gateway_core::request_limits::{RequestLimits, DEFAULT_MAX_BUFFERED_BODY_BYTES};

use crate::access_log::Destination;
use crate::logging::LogFormat;

/// Address used when the config does not name one.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Seconds in-flight requests get to finish after SIGINT/SIGTERM, unless configured.
const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// The parsed config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) gateway: GatewaySection,
    #[serde(default, rename = "deployment")]
    pub(crate) deployments: Vec<DeploymentSection>,
    #[serde(default, rename = "application")]
    pub(crate) applications: Vec<ApplicationSection>,
    #[serde(default, rename = "compartment")]
    pub(crate) compartments: Vec<CompartmentSection>,
    /// IAM as in OCI: when present, the gateway may invoke only what its policies allow.
    pub(crate) iam: Option<IamSection>,
    /// Where rate limits and quotas are counted; in memory when absent.
    pub(crate) rate_limit: Option<RateLimitConfig>,
    /// Where responses are cached; in memory when absent.
    pub(crate) response_cache: Option<ResponseCacheConfig>,
    #[serde(default)]
    pub(crate) usage_plan: Vec<UsagePlanConfig>,
    #[serde(default)]
    pub(crate) subscriber: Vec<SubscriberConfig>,
    /// The public listener speaks TLS when present.
    pub(crate) tls: Option<TlsSection>,
}

/// `[tls]`: the public listener's certificate, and the CAs of client certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSection {
    /// The server certificate chain (PEM, leaf first), relative to this file.
    pub(crate) cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1), relative to this file.
    pub(crate) key: PathBuf,
    /// CA bundles (PEM) that `mutualTls` deployments verify client certificates against;
    /// when present the listener asks clients for a certificate. Relative to this file.
    #[serde(default)]
    pub(crate) client_ca: Vec<PathBuf>,
}

/// `[[compartment]]`: the compartment tree under the tenancy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompartmentSection {
    pub(crate) name: String,
    pub(crate) id: String,
    /// The parent compartment's name or id; absent: directly under the tenancy.
    pub(crate) parent: Option<String>,
}

/// `[iam]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IamSection {
    /// The tenancy's OCID (the root compartment).
    #[serde(default = "default_tenancy")]
    pub(crate) tenancy: String,
    #[serde(default)]
    pub(crate) dynamic_group: Vec<DynamicGroupSection>,
    #[serde(default)]
    pub(crate) policy: Vec<PolicySection>,
}

/// `[[iam.dynamic_group]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DynamicGroupSection {
    pub(crate) name: String,
    pub(crate) matching_rules: Vec<String>,
}

/// `[[iam.policy]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicySection {
    pub(crate) name: String,
    /// The compartment the policy is attached to (name or id); absent: the tenancy.
    pub(crate) compartment: Option<String>,
    pub(crate) statements: Vec<String>,
}

/// `[gateway]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewaySection {
    /// Address of the public listener.
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    /// Address of the admin listener (`/metrics`, `/health`, `/ready`); none when absent.
    pub(crate) admin_listen: Option<SocketAddr>,
    /// Status for a path that matches a route whose methods do not include the request's:
    /// 404 as OCI answers, or 405 with an `Allow` header.
    #[serde(default = "default_mismatch_status")]
    pub(crate) method_mismatch_status: MismatchStatus,
    /// Seconds to let in-flight requests finish on shutdown.
    #[serde(default = "default_grace")]
    pub(crate) shutdown_grace_seconds: u64,
    /// Where prepared functions (venvs, node_modules) are cached; relative to this file.
    /// Default: `.gateway/functions` beside it.
    pub(crate) cache_dir: Option<PathBuf>,
    /// The gateway's OCID, as IAM sees it (`resource.id`, `request.principal.id`).
    #[serde(default = "default_gateway_id")]
    pub(crate) id: String,
    /// The gateway's compartment (name or id); absent: the tenancy.
    pub(crate) compartment: Option<String>,
    /// Reload when the config, a specification or a function's source changes (SIGHUP always
    /// reloads). `gateway serve --no-watch` turns it off whatever the file says.
    #[serde(default = "default_watch")]
    pub(crate) watch: bool,
    /// The gateway's name in logs (`gatewayDisplayName`).
    #[serde(default = "default_display_name")]
    pub(crate) display_name: String,
    /// `[gateway.log]`
    #[serde(default)]
    pub(crate) log: LogSection,
    /// `[gateway.limits]`
    #[serde(default)]
    pub(crate) limits: LimitsSection,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_listen: None,
            method_mismatch_status: default_mismatch_status(),
            shutdown_grace_seconds: default_grace(),
            cache_dir: None,
            id: default_gateway_id(),
            compartment: None,
            watch: default_watch(),
            display_name: default_display_name(),
            log: LogSection::default(),
            limits: LimitsSection::default(),
        }
    }
}

/// `[gateway.log]`: where the access log goes and how the execution log is written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogSection {
    /// `"off"` (default), `"stdout"`, `"stderr"` or a file (relative to this file), appended.
    #[serde(default)]
    pub(crate) access: Destination,
    /// The execution log on stderr: `"text"` (default) or `"json"`.
    #[serde(default)]
    pub(crate) format: LogFormat,
}

/// `[gateway.limits]`: what a client may send and how many connections it may hold. The
/// defaults are OCI's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsSection {
    /// Largest request body for HTTP, stock and dynamic-routing routes.
    pub(crate) max_body_bytes: u64,
    /// Largest request body for function routes.
    pub(crate) max_function_body_bytes: u64,
    /// Largest request head (request line and headers): larger gets 431.
    pub(crate) max_header_bytes: usize,
    /// Seconds a client may take to send a request head: slower gets 408.
    pub(crate) header_read_timeout_seconds: u64,
    /// Longest pause, in seconds, while a client sends a request body: longer gets 408.
    pub(crate) body_read_timeout_seconds: u64,
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    pub(crate) idle_timeout_seconds: u64,
    /// Connections served at once; more are answered 503 and closed.
    pub(crate) max_connections: usize,
    /// Connections served at once per client address (IPv6: per /64); more get 503.
    pub(crate) max_connections_per_client: usize,
    /// Bytes of request bodies held whole at once, across every request (signed OCI invokes,
    /// in-process functions, authorizers reading the body); a body that does not fit gets 503.
    pub(crate) max_buffered_body_bytes: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let request = RequestLimits::default();
        Self {
            max_body_bytes: request.max_body_bytes,
            max_function_body_bytes: request.max_function_body_bytes,
            max_header_bytes: request.max_header_bytes,
            header_read_timeout_seconds: 15,
            body_read_timeout_seconds: request.body_read_timeout.as_secs(),
            idle_timeout_seconds: 60,
            max_connections: 10_000,
            max_connections_per_client: 1_000,
            max_buffered_body_bytes: DEFAULT_MAX_BUFFERED_BODY_BYTES,
        }
    }
}

impl LimitsSection {
    /// The limits the gateway enforces on each request.
    pub(crate) fn request(&self) -> RequestLimits {
        RequestLimits {
            max_body_bytes: self.max_body_bytes,
            max_function_body_bytes: self.max_function_body_bytes,
            max_header_bytes: self.max_header_bytes,
            body_read_timeout: Duration::from_secs(self.body_read_timeout_seconds),
        }
    }
}

/// 404 or 405; any other number is a config error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u16")]
pub(crate) struct MismatchStatus(MethodMismatch);

impl TryFrom<u16> for MismatchStatus {
    type Error = String;
    fn try_from(status: u16) -> Result<Self, String> {
        match status {
            404 => Ok(Self(MethodMismatch::NotFound)),
            405 => Ok(Self(MethodMismatch::MethodNotAllowed)),
            other => Err(format!(
                "method_mismatch_status must be 404 or 405, not {other}"
            )),
        }
    }
}

impl MismatchStatus {
    pub(crate) fn get(self) -> MethodMismatch {
        self.0
    }
}

/// `[[deployment]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeploymentSection {
    pub(crate) name: String,
    pub(crate) path_prefix: String,
    /// The specification file, relative to the config file.
    pub(crate) specification: PathBuf,
}

/// `[[application]]`: a group of functions sharing configuration, as in Fn and OCI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplicationSection {
    pub(crate) name: String,
    /// The application's OCID; defaults to a local one made from the name.
    pub(crate) id: Option<String>,
    /// The compartment (name or id) the application and its functions are in; absent: the
    /// tenancy.
    pub(crate) compartment: Option<String>,
    /// Configuration passed to every function of the application as environment variables.
    #[serde(default)]
    pub(crate) config: BTreeMap<String, String>,
    #[serde(default, rename = "function")]
    pub(crate) functions: Vec<FunctionSection>,
}

/// `[[application.function]]`. Equality is part of a function's identity: a reload keeps a
/// running function whose section is unchanged (see [`crate::identity`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FunctionSection {
    pub(crate) name: String,
    /// What specifications put in `functionId`.
    pub(crate) id: String,
    /// A directory with `func.yaml` and the function's code, relative to this file: the
    /// function runs here as local processes.
    pub(crate) source: Option<PathBuf>,
    /// The OCI Functions invoke endpoint (`https://….functions.oci.oraclecloud.com`): the
    /// function runs in OCI and is invoked with signed requests. Exclusive with `source`.
    pub(crate) invoke_endpoint: Option<String>,
    /// The OCI config file for signing (default `~/.oci/config`), relative to this file.
    pub(crate) oci_config: Option<PathBuf>,
    /// The profile in the OCI config file (default `DEFAULT`).
    pub(crate) oci_profile: Option<String>,
    /// Sign as a resource principal (the `OCI_RESOURCE_PRINCIPAL_*` environment variables)
    /// instead of with the OCI config file.
    #[serde(default)]
    pub(crate) resource_principal: bool,
    /// The Functions API version (default 20181201).
    pub(crate) api_version: Option<String>,
    /// Seconds a call may take (default: func.yaml's `timeout`, else 30).
    pub(crate) timeout: Option<u64>,
    /// Memory in MB passed as FN_MEMORY (default: func.yaml's `memory`, else 128).
    pub(crate) memory: Option<u64>,
    /// Seconds an idle process is kept (default: func.yaml's `idle_timeout`, else 30).
    pub(crate) idle_timeout: Option<u64>,
    /// Most processes run at once.
    pub(crate) max_concurrency: Option<usize>,
    /// Processes kept warm even when idle.
    pub(crate) min_idle: Option<usize>,
    /// Calls that may wait for a process before 503.
    pub(crate) queue_size: Option<usize>,
    /// Configuration for this function; overrides the application's.
    #[serde(default)]
    pub(crate) config: BTreeMap<String, String>,
}

fn default_gateway_id() -> String {
    "ocid1.apigateway.oc1..local".to_owned()
}

fn default_watch() -> bool {
    true
}

fn default_display_name() -> String {
    "gateway".to_owned()
}

fn default_tenancy() -> String {
    "ocid1.tenancy.oc1..local".to_owned()
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("the default address parses")
}

fn default_mismatch_status() -> MismatchStatus {
    MismatchStatus(MethodMismatch::NotFound)
}

fn default_grace() -> u64 {
    DEFAULT_SHUTDOWN_GRACE_SECONDS
}

impl Config {
    /// Reads and parses `path`, resolving the paths in it against the file's directory.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        // Absolute, so that nothing depends on the working directory of whatever later uses a
        // path (function processes run in their own directories).
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let base = std::path::absolute(dir.unwrap_or(Path::new("."))).map_err(|source| {
            ConfigError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        config.gateway.cache_dir = Some(
            base.join(
                config
                    .gateway
                    .cache_dir
                    .take()
                    .unwrap_or_else(|| PathBuf::from(".gateway/functions")),
            ),
        );
        for d in &mut config.deployments {
            d.specification = base.join(&d.specification);
        }
        if let Destination::File(file) = &mut config.gateway.log.access {
            *file = base.join(&*file);
        }
        if let Some(tls) = &mut config.tls {
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
            for ca in &mut tls.client_ca {
                *ca = base.join(&*ca);
            }
        }
        for f in config
            .applications
            .iter_mut()
            .flat_map(|a| &mut a.functions)
        {
            f.source = f.source.as_ref().map(|s| base.join(s));
            f.oci_config = f.oci_config.as_ref().map(|c| base.join(c));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = parse(
            r#"
            [gateway]
            listen = "127.0.0.1:9000"

            [[deployment]]
            name = "fn"
            path_prefix = "/fn"
            specification = "deployment.json"
            "#,
        )
        .expect("valid config");
        assert_eq!(c.gateway.listen.port(), 9000);
        assert_eq!(
            c.gateway.method_mismatch_status.get(),
            MethodMismatch::NotFound
        );
        assert_eq!(c.deployments[0].name, "fn");
    }

    #[test]
    fn unknown_keys_are_errors_with_their_location() {
        let err =
            parse("[gateway]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n").expect_err("unknown key");
        assert!(err.contains("unknown field `lisen`"), "{err}");
        assert!(err.contains("line 3"), "{err}");

        let err = parse("[[deployment]]\nname = \"a\"\npath_prefix = \"/a\"\nspecification = \"a.json\"\nprefix = 1\n")
            .expect_err("unknown key");
        assert!(err.contains("unknown field `prefix`"), "{err}");
    }

    #[test]
    fn applications_and_functions_parse() {
        let c = parse(
            r#"
            [[application]]
            name = "lab-app"
            config = { GREETING = "Hello" }

            [[application.function]]
            name = "hello"
            id = "ocid1.fnfunc.oc1..hello"
            source = "functions/hello"
            timeout = 10
            config = { GREETING = "Hi" }
            "#,
        )
        .expect("valid config");
        let app = &c.applications[0];
        assert_eq!(app.config["GREETING"], "Hello");
        assert_eq!(app.functions[0].id, "ocid1.fnfunc.oc1..hello");
        assert_eq!(app.functions[0].timeout, Some(10));
        assert_eq!(app.functions[0].config["GREETING"], "Hi");

        let err = parse("[[application]]\nname = \"a\"\n[[application.function]]\nname = \"f\"\nid = \"x\"\nsource = \"s\"\ntimout = 3\n")
            .expect_err("typo");
        assert!(err.contains("unknown field `timout`"), "{err}");
    }

    #[test]
    fn watching_is_on_unless_turned_off() {
        let c = parse("").expect("empty config");
        assert!(c.gateway.watch);
        let c = parse("[gateway]\nwatch = false\n").expect("valid config");
        assert!(!c.gateway.watch);
        let err = parse("[gateway]\nwatch = \"no\"\n").expect_err("not a boolean");
        assert!(err.contains("watch"), "{err}");
    }

    #[test]
    fn tls_parses_and_refuses_unknown_keys() {
        let c =
            parse("[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = [\"ca.pem\"]\n")
                .expect("valid config");
        let tls = c.tls.expect("a [tls] section");
        assert_eq!(tls.cert, Path::new("server.pem"));
        assert_eq!(tls.client_ca, [PathBuf::from("ca.pem")]);
        let err = parse("[tls]\ncert = \"a\"\n").expect_err("no key");
        assert!(err.contains("missing field `key`"), "{err}");
        let err = parse("[tls]\ncert = \"a\"\nkey = \"b\"\nclient_cas = []\n").expect_err("typo");
        assert!(err.contains("unknown field `client_cas`"), "{err}");
    }

    #[test]
    fn bad_values_are_errors() {
        let err = parse("[gateway]\nmethod_mismatch_status = 403\n").expect_err("bad status");
        assert!(err.contains("must be 404 or 405"), "{err}");
        let err = parse("[gateway]\nlisten = \"localhost\"\n").expect_err("bad address");
        assert!(err.contains("listen") || err.contains("address"), "{err}");
    }
}
