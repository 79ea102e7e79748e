//! `gateway.toml`: where things are. The specifications say what a deployment does.
//!
//! Paths in the file are relative to the file. Unknown keys are errors, reported with their
//! line and column.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use gateway_auth::{AuthorizerCacheConfig, SecretConfig};
use gateway_core::cache::ResponseCacheConfig;
use gateway_core::gateway::MethodMismatch;
use gateway_core::limit::{RateLimitConfig, SubscriberConfig, UsagePlanConfig};
use gateway_core::request_limits::{RequestLimits, DEFAULT_MAX_BUFFERED_BODY_BYTES};

/// Address used when the config does not name one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Seconds in-flight requests get to finish after SIGINT/SIGTERM, unless configured.
const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
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
pub struct Config {
    #[serde(default)]
    pub gateway: GatewaySection,
    #[serde(default, rename = "deployment")]
    pub deployments: Vec<DeploymentSection>,
    #[serde(default, rename = "application")]
    pub applications: Vec<ApplicationSection>,
    #[serde(default, rename = "compartment")]
    pub compartments: Vec<CompartmentSection>,
    /// IAM as in OCI: when present, the gateway may invoke only what its policies allow.
    pub iam: Option<IamSection>,
    /// Where rate limits and quotas are counted; in memory when absent.
    pub rate_limit: Option<RateLimitConfig>,
    /// Where responses are cached; in memory when absent.
    pub response_cache: Option<ResponseCacheConfig>,
    /// Authorizer results shared by replicas through Redis; per replica when absent.
    pub authorizer_cache: Option<AuthorizerCacheConfig>,
    /// What OCI keeps in Vault (client secrets), by OCID.
    #[serde(default, rename = "secret")]
    pub secrets: Vec<SecretConfig>,
    #[serde(default)]
    pub usage_plan: Vec<UsagePlanConfig>,
    #[serde(default)]
    pub subscriber: Vec<SubscriberConfig>,
    /// The public listener speaks TLS when present.
    pub tls: Option<TlsSection>,
}

/// `[tls]`: the public listener's certificate, and the CAs of client certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The server certificate chain (PEM, leaf first), relative to this file.
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1), relative to this file.
    pub key: PathBuf,
    /// CA bundles (PEM) that `mutualTls` deployments verify client certificates against;
    /// when present the listener asks clients for a certificate. Relative to this file.
    #[serde(default)]
    pub client_ca: Vec<PathBuf>,
}

/// `[[compartment]]`: the compartment tree under the tenancy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompartmentSection {
    pub name: String,
    pub id: String,
    /// The parent compartment's name or id; absent: directly under the tenancy.
    pub parent: Option<String>,
}

/// `[iam]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamSection {
    /// The tenancy's OCID (the root compartment).
    #[serde(default = "default_tenancy")]
    pub tenancy: String,
    #[serde(default)]
    pub dynamic_group: Vec<DynamicGroupSection>,
    #[serde(default)]
    pub policy: Vec<PolicySection>,
}

/// `[[iam.dynamic_group]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicGroupSection {
    pub name: String,
    pub matching_rules: Vec<String>,
}

/// `[[iam.policy]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub name: String,
    /// The compartment the policy is attached to (name or id); absent: the tenancy.
    pub compartment: Option<String>,
    pub statements: Vec<String>,
}

/// `[gateway]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Address of the public listener.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Address of the admin listener (`/metrics`, `/health`, `/ready`); none when absent.
    pub admin_listen: Option<SocketAddr>,
    /// Status for a path that matches a route whose methods do not include the request's:
    /// 404 as OCI answers, or 405 with an `Allow` header.
    #[serde(default = "default_mismatch_status")]
    pub method_mismatch_status: MismatchStatus,
    /// Seconds to let in-flight requests finish on shutdown.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// Threads that serve connections, each a single-threaded runtime that accepts from the
    /// listener and keeps a connection, its requests and their upstream connections on one
    /// thread; default the number of CPUs.
    pub workers: Option<NonZeroUsize>,
    /// Seconds to keep serving after SIGTERM with `/ready` answering 503, so that a load
    /// balancer's health checks take the replica out before it stops accepting; default 0.
    #[serde(default)]
    pub drain_seconds: u64,
    /// Where prepared functions (venvs, node_modules) are cached; relative to this file.
    /// Default: `.gateway/functions` beside it.
    pub cache_dir: Option<PathBuf>,
    /// The gateway's OCID, as IAM sees it (`resource.id`, `request.principal.id`).
    #[serde(default = "default_gateway_id")]
    pub id: String,
    /// The gateway's compartment (name or id); absent: the tenancy.
    pub compartment: Option<String>,
    /// Reload when the config, a specification or a function's source changes (SIGHUP always
    /// reloads). `gateway serve --no-watch` turns it off whatever the file says.
    #[serde(default = "default_watch")]
    pub watch: bool,
    /// The gateway's name in logs (`gatewayDisplayName`).
    #[serde(default = "default_display_name")]
    pub display_name: String,
    /// This replica's name in logs and metrics (`node`); default the host name. Replicas of one
    /// gateway share `id` and differ in `node`.
    pub node: Option<String>,
    /// PEM files of CAs trusted beside the system's roots: HTTPS to HTTP backends, functions
    /// in OCI and identity providers (discovery documents, JWKS, introspection).
    #[serde(default)]
    pub ca_bundles: Vec<PathBuf>,
    /// `[gateway.log]`
    #[serde(default)]
    pub log: LogSection,
    /// `[gateway.limits]`
    #[serde(default)]
    pub limits: LimitsSection,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_listen: None,
            method_mismatch_status: default_mismatch_status(),
            shutdown_grace_seconds: default_grace(),
            workers: None,
            drain_seconds: 0,
            cache_dir: None,
            id: default_gateway_id(),
            compartment: None,
            watch: default_watch(),
            display_name: default_display_name(),
            node: None,
            ca_bundles: Vec::new(),
            log: LogSection::default(),
            limits: LimitsSection::default(),
        }
    }
}

/// `[gateway.log]`: where the access log goes and how the execution log is written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `"off"` (default), `"stdout"`, `"stderr"` or a file (relative to this file), appended.
    #[serde(default)]
    pub access: Destination,
    /// The execution log on stderr: `"text"` (default) or `"json"`.
    #[serde(default)]
    pub format: LogFormat,
}

/// Where access-log lines go (`[gateway.log] access`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum Destination {
    #[default]
    Off,
    Stdout,
    Stderr,
    File(PathBuf),
}

impl From<String> for Destination {
    fn from(value: String) -> Self {
        match value.as_str() {
            "off" | "" => Destination::Off,
            "stdout" | "-" => Destination::Stdout,
            "stderr" => Destination::Stderr,
            _ => Destination::File(PathBuf::from(value)),
        }
    }
}

/// How the execution log is written (`[gateway.log] format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: `time`, `level`, `code`, `message`, `opcRequestId`,
    /// `deploymentId`, `route`, `gatewayId`, and the event's own fields.
    Json,
}

/// `[gateway.limits]`: what a client may send and how many connections it may hold. The
/// defaults are OCI's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Largest request body for HTTP, stock and dynamic-routing routes.
    pub max_body_bytes: u64,
    /// Largest request body for function routes.
    pub max_function_body_bytes: u64,
    /// Largest request head (request line and headers): larger gets 431.
    pub max_header_bytes: usize,
    /// Seconds a client may take to send a request head: slower gets 408.
    pub header_read_timeout_seconds: u64,
    /// Longest pause, in seconds, while a client sends a request body: longer gets 408.
    pub body_read_timeout_seconds: u64,
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    pub idle_timeout_seconds: u64,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Connections served at once per client address (IPv6: per /64); more get 503.
    pub max_connections_per_client: usize,
    /// Bytes of request bodies held whole at once, across every request (signed OCI invokes,
    /// in-process functions, authorizers reading the body); a body that does not fit gets 503.
    pub max_buffered_body_bytes: u64,
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
    pub fn request(&self) -> RequestLimits {
        let mut limits = RequestLimits::default();
        limits.max_body_bytes = self.max_body_bytes;
        limits.max_function_body_bytes = self.max_function_body_bytes;
        limits.max_header_bytes = self.max_header_bytes;
        limits.body_read_timeout = Duration::from_secs(self.body_read_timeout_seconds);
        limits
    }
}

/// 404 or 405; any other number is a config error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u16")]
pub struct MismatchStatus(MethodMismatch);

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
    pub fn get(self) -> MethodMismatch {
        self.0
    }
}

/// `[[deployment]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSection {
    pub name: String,
    pub path_prefix: String,
    /// The specification file, relative to the config file.
    pub specification: PathBuf,
}

/// `[[application]]`: a group of functions sharing configuration, as in Fn and OCI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationSection {
    pub name: String,
    /// The application's OCID; defaults to a local one made from the name.
    pub id: Option<String>,
    /// The compartment (name or id) the application and its functions are in; absent: the
    /// tenancy.
    pub compartment: Option<String>,
    /// Configuration passed to every function of the application as environment variables.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default, rename = "function")]
    pub functions: Vec<FunctionSection>,
}

/// `[[application.function]]`. Equality is part of a function's identity: a reload keeps a
/// running function whose section is unchanged (see the binary's `identity` module).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSection {
    pub name: String,
    /// What specifications put in `functionId`.
    pub id: String,
    /// A directory with `func.yaml` and the function's code, relative to this file: the
    /// function runs here as local processes.
    pub source: Option<PathBuf>,
    /// The OCI Functions invoke endpoint (`https://….functions.oci.oraclecloud.com`): the
    /// function runs in OCI and is invoked with signed requests. Exclusive with `source`.
    pub invoke_endpoint: Option<String>,
    /// The OCI config file for signing (default `~/.oci/config`), relative to this file.
    pub oci_config: Option<PathBuf>,
    /// The profile in the OCI config file (default `DEFAULT`).
    pub oci_profile: Option<String>,
    /// Sign as a resource principal (the `OCI_RESOURCE_PRINCIPAL_*` environment variables)
    /// instead of with the OCI config file.
    #[serde(default)]
    pub resource_principal: bool,
    /// The Functions API version (default 20181201).
    pub api_version: Option<String>,
    /// Seconds a call may take (default: func.yaml's `timeout`, else 30).
    pub timeout: Option<u64>,
    /// Memory in MB passed as FN_MEMORY (default: func.yaml's `memory`, else 128).
    pub memory: Option<u64>,
    /// Seconds an idle process is kept (default: func.yaml's `idle_timeout`, else 30).
    pub idle_timeout: Option<u64>,
    /// Most processes run at once.
    pub max_concurrency: Option<usize>,
    /// Processes kept warm even when idle.
    pub min_idle: Option<usize>,
    /// Calls that may wait for a process before 503.
    pub queue_size: Option<usize>,
    /// Run the local function under a debugger on `127.0.0.1:PORT` (Python: debugpy; Node:
    /// `--inspect`), as one process kept started, for an IDE to attach to.
    pub debug_port: Option<u16>,
    /// Configuration for this function; overrides the application's.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
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
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text`, the contents of the config file at `path`, and resolves the paths in it
    /// against the file's directory; nothing is read. Errors name `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
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
        let ca_files = [
            config.rate_limit.as_mut().and_then(|c| c.ca_file.as_mut()),
            config
                .response_cache
                .as_mut()
                .and_then(|c| c.ca_file.as_mut()),
            config
                .authorizer_cache
                .as_mut()
                .and_then(|c| c.ca_file.as_mut()),
        ];
        for ca in ca_files.into_iter().flatten() {
            *ca = base.join(&*ca);
        }
        for ca in &mut config.gateway.ca_bundles {
            *ca = base.join(&*ca);
        }
        for secret in &mut config.secrets {
            secret.file = secret.file.as_ref().map(|f| base.join(f));
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
