//! The OCI configuration file (`~/.oci/config`), read the way the OCI SDKs read it.
//!
//! The SDKs parse it with Python's `configparser` (no interpolation), so this parser follows
//! the same rules, to accept exactly the files the OCI CLI accepts:
//!
//! - `[NAME]` starts a profile; section names are case-sensitive;
//! - `key = value` or `key: value` (the first `=` or `:` splits); keys are case-insensitive
//!   (lower-cased), keys and values are trimmed; an indented line continues the previous value;
//! - whole-line comments start with `#` or `;`; there are no inline comments (`a = b # c` is the
//!   value `b # c`, as in `configparser`);
//! - `[DEFAULT]` is inherited by every profile (a profile's own key wins);
//! - a duplicate profile or a duplicate key in one profile is an error (`configparser` is strict).
//!
//! Paths in values (`key_file`, `security_token_file`) get `~` expanded and, when relative,
//! are taken relative to the directory of the config file, so a config file and its keys can
//! be moved together.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "DEFAULT";

/// The environment variable the SDKs consult when `~/.oci/config` does not exist.
pub const CONFIG_FILE_ENV: &str = "OCI_CONFIG_FILE";

/// Keys whose values are secrets: never shown by `Debug`.
const SECRET_KEYS: [&str; 1] = ["pass_phrase"];

/// Why a config file or one of its profiles cannot be used. Every variant names the file, and
/// the profile and key where there is one; values are never quoted (some are secrets).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read the OCI config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a header, a `key = value` pair, a continuation or a comment, or repeats a
    /// profile or a key.
    #[error("OCI config file {path}, line {line}: {reason}")]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The requested profile is not in the file.
    #[error("OCI config file {path} has no profile [{profile}] (profiles: {available})")]
    ProfileNotFound {
        /// The config file.
        path: PathBuf,
        /// The profile that was requested.
        profile: String,
        /// The profiles the file has, comma-separated (`none` when it has none).
        available: String,
    },
    /// A required key is absent from the profile, or empty.
    #[error("OCI config file {path}, profile [{profile}]: the key `{key}` is missing")]
    MissingKey {
        /// The config file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key's value is present but not in the expected form.
    #[error("OCI config file {path}, profile [{profile}]: the key `{key}` is malformed: {reason}")]
    Malformed {
        /// The config file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// The key whose value is wrong.
        key: &'static str,
        /// What form was expected; the value itself is never quoted.
        reason: String,
    },
    /// No path was given and the default location cannot be found without `$HOME`.
    #[error("no OCI config file: $HOME is not set and no path was given")]
    NoHome,
}

/// A parsed OCI config file: its `[DEFAULT]` section and its named profiles.
#[derive(Clone)]
pub struct OciConfigFile {
    path: PathBuf,
    defaults: BTreeMap<String, String>,
    profiles: BTreeMap<String, BTreeMap<String, String>>,
}

impl OciConfigFile {
    /// Where the SDKs look by default: `~/.oci/config`; if that does not exist, the file named
    /// by `OCI_CONFIG_FILE`; if unset, `~/.oraclebmc/config` when it exists; else
    /// `~/.oci/config` (so the error names the usual place).
    pub fn default_path() -> Result<PathBuf, ConfigError> {
        let home = home_dir().ok_or(ConfigError::NoHome)?;
        let primary = home.join(".oci").join("config");
        if primary.is_file() {
            return Ok(primary);
        }
        if let Some(env) = std::env::var_os(CONFIG_FILE_ENV).filter(|v| !v.is_empty()) {
            return Ok(expand_tilde(Path::new(&env)));
        }
        let legacy = home.join(".oraclebmc").join("config");
        if legacy.is_file() {
            return Ok(legacy);
        }
        Ok(primary)
    }

    /// Reads and parses `path` (`~` is expanded).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = expand_tilde(path.as_ref());
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses the text of a config file; `path` is used in errors and to resolve relative
    /// paths in values.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Parser::new(path).parse(text)
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The named profiles (not `DEFAULT`), sorted.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// A profile with `[DEFAULT]` merged under it. `DEFAULT` itself is always available (it
    /// may be empty), as in the SDKs.
    pub fn profile(&self, name: &str) -> Result<OciProfile, ConfigError> {
        let mut values = self.defaults.clone();
        if name != DEFAULT_PROFILE {
            let own = self
                .profiles
                .get(name)
                .ok_or_else(|| ConfigError::ProfileNotFound {
                    path: self.path.clone(),
                    profile: name.to_string(),
                    available: self.available(),
                })?;
            values.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(OciProfile {
            file: self.path.clone(),
            name: name.to_string(),
            values,
        })
    }

    fn available(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        if !self.defaults.is_empty() {
            names.push(DEFAULT_PROFILE);
        }
        names.extend(self.profile_names());
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    }
}

impl fmt::Debug for OciConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciConfigFile")
            .field("path", &self.path)
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One profile of a config file, `[DEFAULT]` merged in.
#[derive(Clone)]
pub struct OciProfile {
    file: PathBuf,
    name: String,
    values: BTreeMap<String, String>,
}

impl OciProfile {
    /// The config file it comes from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A value (keys are case-insensitive); an empty value counts as absent, since the SDKs
    /// cannot use one either.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A value that must be present.
    pub fn require(&self, key: &'static str) -> Result<&str, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError::MissingKey {
            path: self.file.clone(),
            profile: self.name.clone(),
            key,
        })
    }

    /// A path value: `~` expanded, relative paths taken from the config file's directory.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(|v| self.resolve(Path::new(v)))
    }

    /// A path value that must be present.
    pub fn require_path(&self, key: &'static str) -> Result<PathBuf, ConfigError> {
        self.require(key).map(|v| self.resolve(Path::new(v)))
    }

    /// An error about `key` in this profile.
    pub fn malformed(&self, key: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Malformed {
            path: self.file.clone(),
            profile: self.name.clone(),
            key,
            reason: reason.into(),
        }
    }

    /// `profile [NAME] in FILE`, for messages.
    pub fn describe(&self) -> String {
        format!("profile [{}] in {}", self.name, self.file.display())
    }

    fn resolve(&self, value: &Path) -> PathBuf {
        let expanded = expand_tilde(value);
        if expanded.is_absolute() {
            return expanded;
        }
        match self.file.parent() {
            Some(dir) => dir.join(expanded),
            None => expanded,
        }
    }
}

impl fmt::Debug for OciProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values: BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(k, v)| {
                let shown = if SECRET_KEYS.contains(&k.as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("OciProfile")
            .field("file", &self.file)
            .field("name", &self.name)
            .field("values", &values)
            .finish()
    }
}

/// `~` and `~/…` become `$HOME` and `$HOME/…`; anything else is returned as is (`~user` is
/// left alone: it needs the password database, and OCI configs do not use it).
pub fn expand_tilde(path: &Path) -> PathBuf {
    let Some(text) = path.to_str() else {
        return path.to_path_buf();
    };
    let rest = if text == "~" {
        ""
    } else if let Some(rest) = text.strip_prefix("~/") {
        rest
    } else {
        return path.to_path_buf();
    };
    match home_dir() {
        Some(home) => home.join(rest),
        None => path.to_path_buf(),
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// A line-by-line `configparser` work-alike.
struct Parser<'a> {
    path: &'a Path,
    defaults: BTreeMap<String, String>,
    profiles: BTreeMap<String, BTreeMap<String, String>>,
    /// The section being filled (`None` before the first header).
    section: Option<String>,
    /// The key a continuation line would extend.
    last_key: Option<String>,
    /// Whether `[DEFAULT]` has been seen (it may appear once).
    seen_default: bool,
}

impl<'a> Parser<'a> {
    fn new(path: &'a Path) -> Self {
        Parser {
            path,
            defaults: BTreeMap::new(),
            profiles: BTreeMap::new(),
            section: None,
            last_key: None,
            seen_default: false,
        }
    }

    fn parse(mut self, text: &str) -> Result<OciConfigFile, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            self.line(index + 1, raw)?;
        }
        Ok(OciConfigFile {
            path: self.path.to_path_buf(),
            defaults: self.defaults,
            profiles: self.profiles,
        })
    }

    fn error(&self, line: usize, reason: impl Into<String>) -> ConfigError {
        ConfigError::Syntax {
            path: self.path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }

    fn line(&mut self, number: usize, raw: &str) -> Result<(), ConfigError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            // configparser keeps blank lines inside multi-line values only when followed by
            // more indented text; OCI values never span lines, so a blank line ends a value.
            self.last_key = None;
            return Ok(());
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            return Ok(());
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented {
            if let Some(key) = self.last_key.clone() {
                let section = self.current_mut(number)?;
                if let Some(value) = section.get_mut(&key) {
                    if !value.is_empty() {
                        value.push('\n');
                    }
                    value.push_str(trimmed);
                }
                return Ok(());
            }
        }
        if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return self.header(number, header);
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(self.error(number, "expected `[profile]` or `key = value`"));
        };
        let key = trimmed[..split].trim().to_ascii_lowercase();
        let value = trimmed[split + 1..].trim().to_string();
        if key.is_empty() {
            return Err(self.error(number, "a value without a key"));
        }
        let section_name = self.section.clone();
        let section = self.current_mut(number)?;
        if section.contains_key(&key) {
            let profile = section_name.unwrap_or_default();
            return Err(self.error(
                number,
                format!("the key `{key}` appears twice in [{profile}]"),
            ));
        }
        section.insert(key.clone(), value);
        self.last_key = Some(key);
        Ok(())
    }

    fn header(&mut self, number: usize, name: &str) -> Result<(), ConfigError> {
        if name.is_empty() {
            return Err(self.error(number, "an empty profile name `[]`"));
        }
        self.last_key = None;
        if name == DEFAULT_PROFILE {
            // configparser allows [DEFAULT] once, like any section.
            if self.seen_default {
                return Err(self.error(number, "the profile [DEFAULT] appears twice"));
            }
            self.seen_default = true;
        } else if self.profiles.contains_key(name) {
            return Err(self.error(number, format!("the profile [{name}] appears twice")));
        } else {
            self.profiles.insert(name.to_string(), BTreeMap::new());
        }
        self.section = Some(name.to_string());
        Ok(())
    }

    fn current_mut(&mut self, number: usize) -> Result<&mut BTreeMap<String, String>, ConfigError> {
        let err = self.error(number, "a key before the first `[profile]` header");
        match self.section.as_deref() {
            None => Err(err),
            Some(DEFAULT_PROFILE) => Ok(&mut self.defaults),
            Some(name) => self.profiles.get_mut(name).ok_or(err),
        }
    }
}
