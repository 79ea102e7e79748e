//! What a running function was made from, so that a reload restarts only the functions that
//! changed.
//!
//! A function's identity is its settings in `gateway.toml` (its own section, what it inherits
//! from its application, and where prepared functions are cached) together with a digest of its
//! files: every file of a local function's source directory, `func.yaml` included, or the OCI
//! config file a function in OCI signs with. Two equal identities would make the same invoker,
//! so a reload keeps the running one, with its warm processes and the calls in flight.
//!
//! The files that build and run outputs are made of (virtual environments, `node_modules`,
//! byte code, editor swap files) are not part of a function: [`source_files`] leaves them out,
//! for the digest here and for the file watcher alike.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use gateway_fn_backend::oci::OciConfigFile;

use crate::config::{ApplicationSection, FunctionSection};

/// Directories whose contents are outputs of preparing or running a function, or of tools
/// around it, never its source.
const IGNORED_DIRS: &[&str] = &[
    ".git",
    ".gateway",
    ".mypy_cache",
    ".pytest_cache",
    ".venv",
    "__pycache__",
    "node_modules",
    "target",
    "venv",
];

/// File name endings of byte code and editor swap or backup files.
const IGNORED_SUFFIXES: &[&str] = &[".pyc", ".pyo", ".swp", ".swx", "~"];

/// File name beginnings of editor lock files (Emacs `.#name`).
const IGNORED_PREFIXES: &[&str] = &[".#"];

/// Why a function's identity could not be established; such a function is never kept across
/// a reload.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub(crate) struct IdentityError {
    path: PathBuf,
    source: io::Error,
}

/// Everything a function's invoker is made from. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionIdentity {
    settings: Settings,
    files: [u8; 32],
}

/// The settings half of an identity: what `gateway.toml` says about the function.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    app_name: String,
    app_id: Option<String>,
    app_config: BTreeMap<String, String>,
    function: FunctionSection,
    cache_dir: PathBuf,
}

impl FunctionIdentity {
    /// The identity of `function` of `app` as configured now, reading its files.
    pub(crate) fn of(
        app: &ApplicationSection,
        function: &FunctionSection,
        cache_dir: &Path,
    ) -> Result<Self, IdentityError> {
        let files = match (&function.source, function.resource_principal) {
            (Some(source), _) => tree_digest(source)?,
            // Resource principals come from the environment, which a reload does not change.
            (None, true) => [0; 32],
            (None, false) => oci_config_digest(function.oci_config.as_deref())?,
        };
        Ok(FunctionIdentity {
            settings: Settings {
                app_name: app.name.clone(),
                app_id: app.id.clone(),
                app_config: app.config.clone(),
                function: function.clone(),
                cache_dir: cache_dir.to_owned(),
            },
            files,
        })
    }

    /// What differs from `earlier`, for the log: `settings`, `source`, or both.
    pub(crate) fn differences(&self, earlier: &FunctionIdentity) -> Vec<&'static str> {
        let mut what = Vec::new();
        if self.settings != earlier.settings {
            what.push("settings");
        }
        if self.files != earlier.files {
            what.push("source");
        }
        what
    }
}

/// The files that make up the function in `dir`, sorted, leaving out what building and running
/// it produce. Symbolic links to files are followed; links to directories are not, so that a
/// link cannot make the walk loop.
pub(crate) fn source_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !IGNORED_DIRS.contains(&name.as_ref()) {
                    pending.push(entry.path());
                }
            } else if !ignored_file(&name) && (kind.is_file() || entry.path().is_file()) {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

fn ignored_file(name: &str) -> bool {
    IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
        || IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// SHA-256 of one file's contents.
pub(crate) fn file_digest(path: &Path) -> io::Result<[u8; 32]> {
    Ok(Sha256::digest(std::fs::read(path)?).into())
}

/// A digest over the names and contents of [`source_files`] of `dir`. A file that disappears
/// while the directory is read (an editor's temporary file) is left out.
fn tree_digest(dir: &Path) -> Result<[u8; 32], IdentityError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| IdentityError { path, source }
    };
    let mut hash = Sha256::new();
    for file in source_files(dir).map_err(failed(dir))? {
        let contents = match std::fs::read(&file) {
            Ok(contents) => contents,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(failed(&file)(e)),
        };
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        hash.update(relative.as_os_str().as_encoded_bytes());
        hash.update([0]);
        hash.update((contents.len() as u64).to_le_bytes());
        hash.update(&contents);
    }
    Ok(hash.finalize().into())
}

/// The digest of the OCI config file a function signs with (the SDKs' default one when
/// `path` is absent). Key and token files are re-read by the signer when they change, so only
/// the config file itself is part of the identity.
fn oci_config_digest(path: Option<&Path>) -> Result<[u8; 32], IdentityError> {
    let path = match path {
        Some(path) => path.to_owned(),
        None => OciConfigFile::default_path().map_err(|e| IdentityError {
            path: PathBuf::from("~/.oci/config"),
            source: io::Error::other(e.to_string()),
        })?,
    };
    file_digest(&path).map_err(|source| IdentityError { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

    fn app() -> ApplicationSection {
        toml::from_str("name = \"app\"\nconfig = { A = \"1\" }").expect("application")
    }

    fn function(source: &Path) -> FunctionSection {
        toml::from_str(&format!(
            "name = \"f\"\nid = \"ocid1.fnfunc.oc1..f\"\nsource = {:?}\ntimeout = 5",
            source.display().to_string()
        ))
        .expect("function")
    }

    fn identity(app: &ApplicationSection, f: &FunctionSection) -> FunctionIdentity {
        FunctionIdentity::of(app, f, Path::new("/cache")).expect("identity")
    }

    /// A function directory with `func.yaml` and `func.py`, and the sections that configure it.
    fn python_function(tag: &str) -> (Scratch, ApplicationSection, FunctionSection) {
        let dir = Scratch::new(tag);
        dir.write("func.yaml", "runtime: python\n");
        dir.write("func.py", "print(1)\n");
        let f = function(dir.path());
        (dir, app(), f)
    }

    #[test]
    fn unchanged_settings_and_files_are_the_same_identity() {
        let (_dir, app, f) = python_function("same");
        let before = identity(&app, &f);
        assert_eq!(before, identity(&app, &f));
        assert!(before.differences(&identity(&app, &f)).is_empty());
    }

    #[test]
    fn a_source_edit_or_a_new_file_changes_the_source() {
        let (dir, app, f) = python_function("source");
        let before = identity(&app, &f);

        dir.write("func.py", "print(2)\n");
        let edited = identity(&app, &f);
        assert_eq!(edited.differences(&before), ["source"]);

        dir.write("lib/helper.py", "X = 1\n");
        assert_eq!(identity(&app, &f).differences(&edited), ["source"]);

        dir.write("func.yaml", "runtime: python\nmemory: 256\n");
        assert_ne!(
            identity(&app, &f),
            edited,
            "func.yaml is part of the source"
        );
    }

    #[test]
    fn build_outputs_and_editor_files_are_not_source() {
        let (dir, app, f) = python_function("ignored");
        let before = identity(&app, &f);
        dir.write("__pycache__/func.cpython-311.pyc", "bytes");
        dir.write("node_modules/@fnproject/fdk/index.js", "x");
        dir.write(".venv/bin/python", "x");
        dir.write(".func.py.swp", "x");
        dir.write("func.py~", "x");
        dir.write("stray.pyc", "x");
        assert_eq!(identity(&app, &f), before);
        let files = source_files(dir.path()).expect("walk");
        assert_eq!(
            files,
            [dir.path().join("func.py"), dir.path().join("func.yaml")]
        );
    }

    #[test]
    fn settings_from_the_function_or_its_application_are_settings() {
        let (_dir, app, f) = python_function("settings");
        let before = identity(&app, &f);

        let mut longer = f.clone();
        longer.timeout = Some(6);
        assert_eq!(identity(&app, &longer).differences(&before), ["settings"]);

        let mut configured = f.clone();
        configured.config.insert("B".into(), "2".into());
        assert_eq!(
            identity(&app, &configured).differences(&before),
            ["settings"]
        );

        let mut other_app = app.clone();
        other_app.config.insert("A".into(), "2".into());
        assert_eq!(identity(&other_app, &f).differences(&before), ["settings"]);

        let elsewhere = FunctionIdentity::of(&app, &f, Path::new("/other")).expect("identity");
        assert_eq!(elsewhere.differences(&before), ["settings"]);
    }

    #[test]
    fn a_missing_source_directory_has_no_identity() {
        let dir = Scratch::new("missing");
        let gone = dir.path().join("gone");
        let err = FunctionIdentity::of(&app(), &function(&gone), Path::new("/c"))
            .expect_err("no directory");
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
