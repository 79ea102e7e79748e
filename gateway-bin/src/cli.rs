//! Command-line interface.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Serve OCI API Gateway deployment specifications locally or in production.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the deployments of a config file, or one specification.
    Serve(ServeArgs),
    /// Check a config file or a specification and report every problem; exit 1 on any error.
    Validate(ValidateArgs),
    /// Print the public route table: method, path, backend, policies.
    Routes(RoutesArgs),
    /// Call a function directly, as `fn invoke` does; its answer goes to stdout.
    Invoke(InvokeArgs),
    /// Say whether IAM lets the gateway invoke a function, and why; exit 1 when denied.
    Explain(ExplainArgs),
    /// Create a runnable project: gateway.toml, a deployment specification and a function.
    Init(InitArgs),
    /// Turn an OpenAPI 3 or Swagger 2.0 description (JSON or YAML) into a deployment
    /// specification.
    Import(ImportArgs),
}

/// Where the deployments come from: a config file, or one specification file.
#[derive(Debug, Clone, Args)]
pub(crate) struct Source {
    /// The gateway's config file (TOML). Default: gateway.toml in the current directory.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "spec")]
    pub(crate) config: Option<PathBuf>,

    /// A deployment specification (JSON) to use without a config file.
    #[arg(value_name = "SPEC.json")]
    pub(crate) spec: Option<PathBuf>,

    /// The path prefix for SPEC.json.
    #[arg(long, value_name = "PREFIX", default_value = "/", requires = "spec")]
    pub(crate) path_prefix: String,

    /// Treat OCI's service limits as errors, not warnings.
    #[arg(long)]
    pub(crate) strict: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) source: Source,

    /// Listen on this address instead of the config's (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,

    /// Serve `/metrics`, `/health` and `/ready` on this address (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub(crate) admin_listen: Option<SocketAddr>,

    /// Serve with this many worker threads instead of the config's `workers`.
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<NonZeroUsize>,

    /// Do not watch the config, specifications and function sources; reload on SIGHUP only
    /// (overrides `[gateway] watch`).
    #[arg(long)]
    pub(crate) no_watch: bool,

    /// Log warnings and errors only (unless RUST_LOG says otherwise), and no per-request lines
    /// on a terminal.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    pub(crate) source: Source,

    /// Print the diagnostics as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RoutesArgs {
    #[command(flatten)]
    pub(crate) source: Source,

    /// Print the table as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InvokeArgs {
    /// The gateway's config file (TOML). Default: gateway.toml in the current directory.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The function's id (what specifications put in `functionId`) or `application/name`.
    #[arg(value_name = "FUNCTION")]
    pub(crate) function: String,

    /// The input: text, or @FILE to read a file. Without it, standard input is read when it is
    /// not a terminal.
    #[arg(long, short = 'd', value_name = "DATA")]
    pub(crate) data: Option<String>,

    /// The input's content type.
    #[arg(long, value_name = "TYPE", default_value = "application/json")]
    pub(crate) content_type: String,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["function", "all"]))]
pub(crate) struct ExplainArgs {
    /// The gateway's config file (TOML). Default: gateway.toml in the current directory.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The function's id or `application/name`.
    #[arg(long, value_name = "FUNCTION")]
    pub(crate) function: Option<String>,

    /// Every function of the config.
    #[arg(long)]
    pub(crate) all: bool,

    /// Print the traces as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The directory to create (or an empty one to fill).
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,

    /// The function's language.
    #[arg(long, value_enum, default_value = "python")]
    pub(crate) runtime: Runtime,
}

/// The languages `init` makes a function in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Runtime {
    /// Python with the `fdk` package.
    Python,
    /// Node.js with `@fnproject/fdk`.
    Node,
}

impl Runtime {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Node => "node",
        }
    }
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").args(["backend", "function"]))]
pub(crate) struct ImportArgs {
    /// The API description: OpenAPI 3.0 or 3.1, or Swagger 2.0, in JSON or YAML.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,

    /// Write the specification here instead of to standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// Send every route to this base URL (the route's path appended) instead of the
    /// description's first server.
    #[arg(long, value_name = "URL")]
    pub(crate) backend: Option<String>,

    /// Send every route to this function (its OCID, as in functionId).
    #[arg(long, value_name = "ID")]
    pub(crate) function: Option<String>,
}
