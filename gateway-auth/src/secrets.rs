//! What OCI keeps in Vault: secrets a specification names by OCID (`clientSecretId`), given to
//! the gateway in `gateway.toml`.
//!
//! ```toml
//! [[secret]]
//! id = "ocid1.vaultsecret.oc1..gwsecret"
//! value = "gw-secret"          # or env = "NAME", or file = "path" (exactly one)
//! version = 1                  # optional; matched against clientSecretVersionNumber
//! ```
//!
//! A secret's value is never printed: [`Secret`]'s `Debug` shows `***`, and errors name the
//! secret's id, never its value.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

/// A secret value; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[[secret]]` in `gateway.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// The OCID specifications use.
    pub id: String,
    /// The value itself.
    pub value: Option<String>,
    /// The name of an environment variable holding it.
    pub env: Option<String>,
    /// A file holding it (one trailing newline is dropped); relative to `gateway.toml`.
    pub file: Option<PathBuf>,
    /// The version specifications may ask for; any when absent.
    pub version: Option<u32>,
}

/// Why a secret cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not configured at all.
    #[error("secret {0} is not configured (add a [[secret]] with this id)")]
    Missing(String),
    /// Configured with another version.
    #[error("secret {id} is configured as version {configured}, the specification asks for version {wanted}")]
    Version {
        /// The secret's OCID.
        id: String,
        /// `version` in `gateway.toml`.
        configured: u32,
        /// `clientSecretVersionNumber`.
        wanted: u32,
    },
    /// A `[[secret]]` that does not say where its value is, or cannot be read.
    #[error("secret {id}: {reason}")]
    Unreadable {
        /// The secret's OCID.
        id: String,
        /// Why.
        reason: String,
    },
}

/// The configured secrets, by OCID.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    by_id: HashMap<String, (Option<u32>, Secret)>,
}

impl Secrets {
    /// Reads every `[[secret]]`: from the configuration, the environment or a file.
    pub fn load(configs: &[SecretConfig]) -> Result<Self, SecretError> {
        let mut secrets = Self::default();
        for config in configs {
            let unreadable = |reason: String| SecretError::Unreadable {
                id: config.id.clone(),
                reason,
            };
            let value = match (&config.value, &config.env, &config.file) {
                (Some(value), None, None) => value.clone(),
                (None, Some(name), None) => std::env::var(name).map_err(|_| {
                    unreadable(format!("the environment variable {name} is not set"))
                })?,
                (None, None, Some(path)) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| unreadable(format!("cannot read {}: {e}", path.display())))?;
                    text.strip_suffix('\n').unwrap_or(&text).to_owned()
                }
                _ => return Err(unreadable("give exactly one of value, env and file".into())),
            };
            if secrets.by_id.contains_key(&config.id) {
                return Err(unreadable("configured twice".into()));
            }
            secrets.insert(&config.id, config.version, &value);
        }
        Ok(secrets)
    }

    /// Adds (or replaces) the secret `id`.
    pub fn insert(&mut self, id: &str, version: Option<u32>, value: &str) {
        self.by_id
            .insert(id.to_owned(), (version, Secret(value.into())));
    }

    /// The secret `id`, in `version` when the specification asks for one.
    pub fn get(&self, id: &str, version: Option<u32>) -> Result<Secret, SecretError> {
        let (configured, secret) = self
            .by_id
            .get(id)
            .ok_or_else(|| SecretError::Missing(id.to_owned()))?;
        match (configured, version) {
            (Some(configured), Some(wanted)) if *configured != wanted => {
                Err(SecretError::Version {
                    id: id.to_owned(),
                    configured: *configured,
                    wanted,
                })
            }
            _ => Ok(secret.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Option<&str>, env: Option<&str>, version: Option<u32>) -> SecretConfig {
        SecretConfig {
            id: "ocid1.vaultsecret.oc1..s".into(),
            value: value.map(str::to_owned),
            env: env.map(str::to_owned),
            file: None,
            version,
        }
    }

    #[test]
    fn secrets_are_found_by_id_and_version_and_never_shown() {
        let secrets = Secrets::load(&[config(Some("hunter2"), None, Some(2))]).expect("loads");
        let secret = secrets
            .get("ocid1.vaultsecret.oc1..s", Some(2))
            .expect("found");
        assert_eq!(secret.expose(), "hunter2");
        assert!(secrets.get("ocid1.vaultsecret.oc1..s", None).is_ok());
        let wrong = secrets
            .get("ocid1.vaultsecret.oc1..s", Some(1))
            .expect_err("version");
        assert!(matches!(wrong, SecretError::Version { .. }));
        assert!(matches!(
            secrets.get("ocid1.other", None),
            Err(SecretError::Missing(_))
        ));
        let shown = format!("{secrets:?} {secret:?} {wrong}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_secret_needs_exactly_one_source() {
        assert!(Secrets::load(&[config(None, None, None)]).is_err());
        assert!(Secrets::load(&[config(Some("a"), Some("B"), None)]).is_err());
        let unset = Secrets::load(&[config(None, Some("GATEWAY_TEST_UNSET_VARIABLE"), None)]);
        assert!(matches!(unset, Err(SecretError::Unreadable { .. })));
    }
}
