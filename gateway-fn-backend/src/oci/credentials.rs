//! Who the gateway is to OCI: an API key, a session token, or a resource principal
//! (fn-protocols §4.5–4.6).
//!
//! - **API key** (config file `user`, `tenancy`, `fingerprint`, `key_file`): key id
//!   `tenancy/user/fingerprint`. The fingerprint is checked against the key when loading,
//!   because a mismatch otherwise surfaces only as an unexplained 401 from OCI.
//! - **Session token** (config file `security_token_file` + `key_file`, as written by
//!   `oci session authenticate`): key id `ST$<token>`. The token file is re-read when it changes
//!   (`oci session refresh` rewrites it), so a long-running gateway follows refreshes.
//! - **Resource principal v2.2** (`OCI_RESOURCE_PRINCIPAL_*`, what a process running inside OCI
//!   sees): key id `ST$<RPST>`; the token and the PEM key are either the value itself or an
//!   absolute path to a file, re-read when the file changes.
//!
//! Files are checked with a `stat` per signature (cheap next to an HTTPS round trip); a file
//! that becomes unreadable or invalid after a good read keeps the last good value, so a
//! rewrite in progress never fails a call.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::config::{ConfigError, OciConfigFile, OciProfile, DEFAULT_PROFILE};
use super::signer::{
    api_key_id, security_token_key_id, KeyError, PrivateKey, RequestSigner, SignError,
};

/// `OCI_RESOURCE_PRINCIPAL_VERSION`.
pub const RP_VERSION_ENV: &str = "OCI_RESOURCE_PRINCIPAL_VERSION";
/// `OCI_RESOURCE_PRINCIPAL_RPST`: the token, or an absolute path to a file holding it.
pub const RP_RPST_ENV: &str = "OCI_RESOURCE_PRINCIPAL_RPST";
/// `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM`: the PEM key, or an absolute path to it.
pub const RP_PRIVATE_PEM_ENV: &str = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM";
/// `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE`: the key's passphrase, if encrypted.
pub const RP_PASSPHRASE_ENV: &str = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE";
/// `OCI_RESOURCE_PRINCIPAL_REGION`.
pub const RP_REGION_ENV: &str = "OCI_RESOURCE_PRINCIPAL_REGION";
/// The only version whose token is handed over in the environment; 1.1 and 2.1.x fetch it
/// from an endpoint, which this gateway does not implement.
pub const RP_SUPPORTED_VERSION: &str = "2.2";

/// Why credentials cannot be built or used. Messages name the file, profile and key or the
/// environment variable; never a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The OCI config file or the profile cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key or token file could not be read. A file that fails after a good read keeps its
    /// last value instead.
    #[error("cannot read {what} ({path}): {source}")]
    Read {
        /// What the file holds and where it is configured (`key_file of profile [X] in FILE`).
        what: String,
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// A private key cannot be used for signing.
    #[error("{what}: {source}")]
    Key {
        /// Which key, and where it is configured.
        what: String,
        /// Why it cannot be used.
        #[source]
        source: KeyError,
    },
    /// The configured fingerprint is not the private key's, so OCI would refuse every
    /// signature.
    #[error(
        "{what}: the fingerprint {configured} does not match the private key (whose \
         fingerprint is {actual}); OCI would answer 401"
    )]
    FingerprintMismatch {
        /// The API key, as described in messages.
        what: String,
        /// The fingerprint as configured.
        configured: String,
        /// The private key's fingerprint.
        actual: String,
    },
    /// A security token is empty (only white space).
    #[error("{what} is empty")]
    EmptyToken {
        /// Which token, and where it is configured.
        what: String,
    },
    /// No signer can be built from the key id and key (see [`SignError::InvalidKeyId`]).
    #[error("{what}: {source}")]
    Signer {
        /// The credentials, as described in messages.
        what: String,
        /// Why the signer was refused.
        #[source]
        source: SignError,
    },
    /// A resource-principal environment variable is missing or names an unsupported version.
    #[error("resource principal: {var} {reason}")]
    ResourcePrincipal {
        /// The environment variable.
        var: &'static str,
        /// What is wrong with it, worded to follow the variable's name (`is not set`).
        reason: String,
    },
}

/// A secret given either as its value or as a file to read it from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The secret itself.
    Value(String),
    /// Read (and re-read when it changes) from this file.
    File(PathBuf),
}

impl SecretSource {
    /// The resource-principal convention: an absolute path means a file, anything else is
    /// the value itself.
    pub fn value_or_absolute_path(text: &str) -> Self {
        if Path::new(text).is_absolute() {
            SecretSource::File(PathBuf::from(text))
        } else {
            SecretSource::Value(text.to_string())
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(<redacted>)"),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// The identity requests are signed with. Cheap to clone (shared).
#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    region: Option<String>,
    /// What the credentials are, for logs ("API key … of profile [X] in FILE").
    description: String,
}

enum Kind {
    ApiKey(RequestSigner),
    SecurityToken {
        token: Reloading<String>,
        key: Reloading<PrivateKey>,
    },
}

impl Credentials {
    /// An API key. The fingerprint must be the key's (checked, case-insensitively).
    pub fn api_key(
        tenancy: &str,
        user: &str,
        fingerprint: &str,
        key: PrivateKey,
        region: Option<String>,
    ) -> Result<Self, CredentialsError> {
        let what = format!("API key {fingerprint} of user {user}");
        Self::api_key_described(tenancy, user, fingerprint, key, region, what)
    }

    fn api_key_described(
        tenancy: &str,
        user: &str,
        fingerprint: &str,
        key: PrivateKey,
        region: Option<String>,
        what: String,
    ) -> Result<Self, CredentialsError> {
        if !fingerprint.eq_ignore_ascii_case(key.fingerprint()) {
            return Err(CredentialsError::FingerprintMismatch {
                what,
                configured: fingerprint.to_string(),
                actual: key.fingerprint().to_string(),
            });
        }
        let signer = RequestSigner::new(
            api_key_id(tenancy, user, &fingerprint.to_ascii_lowercase()),
            Arc::new(key),
        )
        .map_err(|source| CredentialsError::Signer {
            what: what.clone(),
            source,
        })?;
        Ok(Credentials {
            inner: Arc::new(Inner {
                kind: Kind::ApiKey(signer),
                region,
                description: what,
            }),
        })
    }

    /// A security token (key id `ST$<token>`) with the session key bound to it. Both are
    /// checked now, so a broken identity is reported at startup.
    pub fn security_token(
        token: SecretSource,
        private_key_pem: SecretSource,
        region: Option<String>,
    ) -> Result<Self, CredentialsError> {
        let token = Reloading::new(token, "the security token", parse_token)?;
        let key = Reloading::new(private_key_pem, "the session private key", parse_key)?;
        Self::from_token_parts(token, key, region, "security token".to_string())
    }

    fn from_token_parts(
        token: Reloading<String>,
        key: Reloading<PrivateKey>,
        region: Option<String>,
        description: String,
    ) -> Result<Self, CredentialsError> {
        token.get()?;
        key.get()?;
        Ok(Credentials {
            inner: Arc::new(Inner {
                kind: Kind::SecurityToken { token, key },
                region,
                description,
            }),
        })
    }

    /// A profile of an OCI config file. `path` defaults to
    /// [`OciConfigFile::default_path`], `profile` to `DEFAULT`.
    pub fn from_config_file(
        path: Option<&Path>,
        profile: Option<&str>,
    ) -> Result<Self, CredentialsError> {
        let path = match path {
            Some(path) => path.to_path_buf(),
            None => OciConfigFile::default_path()?,
        };
        let file = OciConfigFile::load(&path)?;
        Self::from_profile(&file.profile(profile.unwrap_or(DEFAULT_PROFILE))?)
    }

    /// A profile: a session token when it has `security_token_file`, else an API key.
    /// `pass_phrase` is accepted, but an encrypted key is refused with an explanation (see
    /// [`KeyError::Encrypted`]).
    pub fn from_profile(profile: &OciProfile) -> Result<Self, CredentialsError> {
        let region = profile.get("region").map(str::to_string);
        let key_path = profile.require_path("key_file")?;
        let key_what = format!("key_file of {}", profile.describe());

        if let Some(token_path) = profile.path("security_token_file") {
            let token_what = format!("security_token_file of {}", profile.describe());
            let token = Reloading::new(
                SecretSource::File(token_path),
                token_what.clone(),
                parse_token,
            )?;
            let key = Reloading::new(SecretSource::File(key_path), key_what, parse_key)?;
            return Self::from_token_parts(
                token,
                key,
                region,
                format!("session token ({token_what})"),
            );
        }

        let tenancy = profile.require("tenancy")?;
        let user = profile.require("user")?;
        let fingerprint = profile.require("fingerprint")?;
        if !is_fingerprint(fingerprint) {
            return Err(profile
                .malformed(
                    "fingerprint",
                    "expected 16 hex pairs joined by `:` (aa:bb:…)",
                )
                .into());
        }
        let pem = std::fs::read(&key_path).map_err(|source| CredentialsError::Read {
            what: key_what.clone(),
            path: key_path.clone(),
            source,
        })?;
        let key = PrivateKey::from_pem(&pem).map_err(|source| CredentialsError::Key {
            what: format!("{key_what} ({})", key_path.display()),
            source,
        })?;
        let what = format!(
            "API key {fingerprint} of user {user} ({})",
            profile.describe()
        );
        Self::api_key_described(tenancy, user, fingerprint, key, region, what)
    }

    /// A resource principal (v2.2) from the process environment.
    pub fn resource_principal_from_env() -> Result<Self, CredentialsError> {
        Self::resource_principal_from(|name| std::env::var(name).ok())
    }

    /// A resource principal (v2.2) from variables looked up with `var` (the environment, or
    /// a map in tests).
    pub fn resource_principal_from(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialsError> {
        let get = |name: &'static str| var(name).filter(|v| !v.trim().is_empty());
        let require = |name: &'static str| {
            get(name).ok_or(CredentialsError::ResourcePrincipal {
                var: name,
                reason: "is not set".to_string(),
            })
        };
        let version = require(RP_VERSION_ENV)?;
        if version.trim() != RP_SUPPORTED_VERSION {
            return Err(CredentialsError::ResourcePrincipal {
                var: RP_VERSION_ENV,
                reason: format!(
                    "is {:?}; only {RP_SUPPORTED_VERSION} (token in the environment) is \
                     supported, not the versions that fetch tokens from an endpoint",
                    version.trim()
                ),
            });
        }
        let rpst = SecretSource::value_or_absolute_path(require(RP_RPST_ENV)?.trim());
        let pem = SecretSource::value_or_absolute_path(require(RP_PRIVATE_PEM_ENV)?.trim());
        let region = get(RP_REGION_ENV).map(|r| long_region_name(r.trim()).to_string());
        let origin = |source: &SecretSource, var: &str| match source {
            SecretSource::Value(_) => format!("{var} (value)"),
            SecretSource::File(path) => format!("{var} (file {})", path.display()),
        };
        let token_what = origin(&rpst, RP_RPST_ENV);
        let key_what = origin(&pem, RP_PRIVATE_PEM_ENV);
        if get(RP_PASSPHRASE_ENV).is_some() {
            tracing::debug!(
                "{RP_PASSPHRASE_ENV} is set; it is only usable if the key is not encrypted"
            );
        }
        let token = Reloading::new(rpst, token_what.clone(), parse_token)?;
        let key = Reloading::new(pem, key_what, parse_key)?;
        Self::from_token_parts(
            token,
            key,
            region,
            format!("resource principal ({token_what})"),
        )
    }

    /// The region the credentials name (config `region`, `OCI_RESOURCE_PRINCIPAL_REGION` with
    /// short codes expanded), if any. Informational: the invoke endpoint is configured.
    pub fn region(&self) -> Option<&str> {
        self.inner.region.as_deref()
    }

    /// What the credentials are, without secrets, for logs.
    pub fn describe(&self) -> &str {
        &self.inner.description
    }

    /// Whether requests are signed with a security token (`ST$…`).
    pub fn is_security_token(&self) -> bool {
        matches!(self.inner.kind, Kind::SecurityToken { .. })
    }

    /// The signer for the next request, with the current token and key.
    pub fn signer(&self) -> Result<RequestSigner, CredentialsError> {
        match &self.inner.kind {
            Kind::ApiKey(signer) => Ok(signer.clone()),
            Kind::SecurityToken { token, key } => {
                let token = token.get()?;
                let key = key.get()?;
                RequestSigner::new(security_token_key_id(&token), key).map_err(|source| {
                    CredentialsError::Signer {
                        what: self.inner.description.clone(),
                        source,
                    }
                })
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("description", &self.inner.description)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

/// OCI's `[0-9a-f]{2}(:[0-9a-f]{2}){15}` (upper case is tolerated: it is the same key).
fn is_fingerprint(text: &str) -> bool {
    let pairs: Vec<&str> = text.split(':').collect();
    pairs.len() == 16
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn parse_token(bytes: &[u8], what: &str) -> Result<String, CredentialsError> {
    let token = String::from_utf8_lossy(bytes).trim().to_string();
    if token.is_empty() {
        return Err(CredentialsError::EmptyToken {
            what: what.to_string(),
        });
    }
    if let Some(exp) = jwt_expiry(&token) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if exp <= now {
            // Still used: OCI is the judge (clock skew), but the 401 it will give is explained.
            tracing::warn!(
                "{what} expired {} s ago; OCI will answer 401 until it is refreshed",
                now - exp
            );
        }
    }
    Ok(token)
}

fn parse_key(bytes: &[u8], what: &str) -> Result<PrivateKey, CredentialsError> {
    PrivateKey::from_pem(bytes).map_err(|source| CredentialsError::Key {
        what: what.to_string(),
        source,
    })
}

/// The `exp` claim of a JWT, if the token is one (only read for a warning, never trusted).
fn jwt_expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("exp")?.as_u64()
}

/// Short region codes the SDKs expand (the original table; newer regions only use long names).
fn long_region_name(region: &str) -> &str {
    const SHORT: &[(&str, &str)] = &[
        ("phx", "us-phoenix-1"),
        ("iad", "us-ashburn-1"),
        ("sjc", "us-sanjose-1"),
        ("fra", "eu-frankfurt-1"),
        ("zrh", "eu-zurich-1"),
        ("cwl", "uk-cardiff-1"),
        ("lhr", "uk-london-1"),
        ("yyz", "ca-toronto-1"),
        ("nrt", "ap-tokyo-1"),
        ("icn", "ap-seoul-1"),
        ("bom", "ap-mumbai-1"),
        ("gru", "sa-saopaulo-1"),
        ("syd", "ap-sydney-1"),
        ("ltn", "uk-gov-london-1"),
        ("kix", "ap-osaka-1"),
        ("mel", "ap-melbourne-1"),
        ("ams", "eu-amsterdam-1"),
        ("jed", "me-jeddah-1"),
        ("yul", "ca-montreal-1"),
        ("hyd", "ap-hyderabad-1"),
        ("yny", "ap-chuncheon-1"),
        ("brs", "uk-gov-cardiff-1"),
        ("nja", "ap-chiyoda-1"),
        ("dxb", "me-dubai-1"),
    ];
    let lower = region.to_ascii_lowercase();
    SHORT
        .iter()
        .find(|(short, _)| *short == lower)
        .map_or(region, |(_, long)| long)
}

type Parse<T> = fn(&[u8], &str) -> Result<T, CredentialsError>;

/// A value given directly, or read from a file and re-read when the file changes.
struct Reloading<T> {
    what: String,
    source: Source<T>,
}

enum Source<T> {
    Fixed(Arc<T>),
    File {
        path: PathBuf,
        parse: Parse<T>,
        last: Mutex<Option<Loaded<T>>>,
    },
}

struct Loaded<T> {
    /// Modification time and length: a rewrite changes at least one.
    stamp: (Option<SystemTime>, u64),
    value: Arc<T>,
}

impl<T> Reloading<T> {
    /// A value is parsed now (its errors are construction errors); a file is read on first use.
    fn new(
        source: SecretSource,
        what: impl Into<String>,
        parse: Parse<T>,
    ) -> Result<Self, CredentialsError> {
        let what = what.into();
        let source = match source {
            SecretSource::Value(value) => Source::Fixed(Arc::new(parse(value.as_bytes(), &what)?)),
            SecretSource::File(path) => Source::File {
                path,
                parse,
                last: Mutex::new(None),
            },
        };
        Ok(Reloading { what, source })
    }

    fn get(&self) -> Result<Arc<T>, CredentialsError> {
        let (path, parse, last) = match &self.source {
            Source::Fixed(value) => return Ok(value.clone()),
            Source::File { path, parse, last } => (path, parse, last),
        };
        let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let read_error = |source| CredentialsError::Read {
            what: self.what.clone(),
            path: path.clone(),
            source,
        };
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            // Gone after a good read: most likely a rewrite in progress.
            Err(error) => {
                return match last.as_ref() {
                    Some(loaded) => Ok(loaded.value.clone()),
                    None => Err(read_error(error)),
                }
            }
        };
        let stamp = (meta.modified().ok(), meta.len());
        if let Some(loaded) = last.as_ref().filter(|l| l.stamp == stamp) {
            return Ok(loaded.value.clone());
        }
        let fresh = std::fs::read(path)
            .map_err(read_error)
            .and_then(|bytes| parse(&bytes, &self.what));
        match (fresh, last.as_mut()) {
            (Ok(value), _) => {
                let value = Arc::new(value);
                *last = Some(Loaded {
                    stamp,
                    value: value.clone(),
                });
                Ok(value)
            }
            (Err(error), Some(loaded)) => {
                // Remember the stamp so the warning is given once per change of the file.
                loaded.stamp = stamp;
                tracing::warn!("{error}; keeping the previous value");
                Ok(loaded.value.clone())
            }
            (Err(error), None) => Err(error),
        }
    }
}
