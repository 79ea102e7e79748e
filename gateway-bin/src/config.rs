//! `gateway.toml`: where things are. The specifications say what a deployment does.
//!
//! Paths in the file are relative to the file. Unknown keys are errors, reported with their
//! line and column.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use gateway_core::gateway::MethodMismatch;

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
}

/// `[gateway]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewaySection {
    /// Address of the public listener.
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    /// Status for a path that matches a route whose methods do not include the request's:
    /// 404 as OCI answers, or 405 with an `Allow` header.
    #[serde(default = "default_mismatch_status")]
    pub(crate) method_mismatch_status: MismatchStatus,
    /// Seconds to let in-flight requests finish on shutdown.
    #[serde(default = "default_grace")]
    pub(crate) shutdown_grace_seconds: u64,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            method_mismatch_status: default_mismatch_status(),
            shutdown_grace_seconds: default_grace(),
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
        let base = path.parent().unwrap_or(Path::new("."));
        for d in &mut config.deployments {
            d.specification = base.join(&d.specification);
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
    fn bad_values_are_errors() {
        let err = parse("[gateway]\nmethod_mismatch_status = 403\n").expect_err("bad status");
        assert!(err.contains("must be 404 or 405"), "{err}");
        let err = parse("[gateway]\nlisten = \"localhost\"\n").expect_err("bad address");
        assert!(err.contains("listen") || err.contains("address"), "{err}");
    }
}
