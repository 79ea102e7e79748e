//! Watching the files a configuration is made of: the config file, every specification it
//! names, and every local function's source directory. Once changed files have settled, the
//! watcher asks for a reload.
//!
//! This is a polling watcher rather than inotify (the `notify` crate), because polling is the
//! one that stays right on Linux in the ways configuration is edited and deployed:
//! - editors save by writing a new file and renaming it over the old one (or by deleting and
//!   recreating it); an inotify watch follows the inode, so a watch on the file is lost at the
//!   first save and would have to be kept on the parent directory, with filtering;
//! - inotify sees nothing of changes made through network and some container mounts (NFS,
//!   9p, FUSE), where configuration and functions are often mounted;
//! - recursive inotify watches take one watch descriptor per directory, a limited resource
//!   (`max_user_watches`), including directories that must be ignored (`node_modules`).
//!
//! What is watched is small (one config, a few specifications, a few function directories),
//! so a `stat` of each file every [`POLL_INTERVAL`] costs nothing measurable. A file's contents
//! are hashed only when its size, modification time or inode moves, and only a change of
//! contents counts: a `touch` or a save without edits does not reload. A burst of changes (an
//! editor writes several files, or one file in steps) reloads once, [`SETTLE`] after the last.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::cli::Source;
use crate::config::Config;
use crate::identity::{file_digest, source_files};

/// How often the files are looked at while nothing changes.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How long files must stay unchanged after a change before the reload starts.
pub(crate) const SETTLE: Duration = Duration::from_millis(300);

/// What to watch: files, and directories watched with everything in them that is part of a
/// function (see [`source_files`]).
pub(crate) type Roots = BTreeSet<PathBuf>;

/// What the configuration of `source` is made of, as the files say now: the config file (or the
/// single specification), and, when the config can be read, its specifications and local
/// function directories. IAM policies live in the config file itself.
pub(crate) fn roots(source: &Source) -> Roots {
    if let Some(spec) = &source.spec {
        return Roots::from([absolute(spec)]);
    }
    let path = source
        .config
        .as_deref()
        .unwrap_or(Path::new("gateway.toml"));
    let mut roots = Roots::from([absolute(path)]);
    if let Ok(config) = Config::load(path) {
        roots.extend(config.deployments.into_iter().map(|d| d.specification));
        roots.extend(
            config
                .applications
                .into_iter()
                .flat_map(|a| a.functions)
                .filter_map(|f| f.source),
        );
    }
    roots
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// What the watched files were at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Per root, its files; a missing root has none.
    roots: BTreeMap<PathBuf, BTreeMap<PathBuf, FileState>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    /// `None` when the file could not be read.
    digest: Option<[u8; 32]>,
}

impl FileState {
    fn same_metadata(&self, other: &FileState) -> bool {
        (self.len, self.modified, self.inode) == (other.len, other.modified, other.inode)
    }
}

impl Snapshot {
    /// Looks at every file of `roots`, reading again only the files whose metadata moved since
    /// `previous`. Blocking.
    pub(crate) fn take(roots: &Roots, previous: &Snapshot) -> Snapshot {
        let roots = roots
            .iter()
            .map(|root| {
                let before = previous.roots.get(root);
                let files = files_of(root)
                    .into_iter()
                    .filter_map(|file| {
                        let state = look_at(&file, before.and_then(|b| b.get(&file)))?;
                        Some((file, state))
                    })
                    .collect();
                (root.clone(), files)
            })
            .collect();
        Snapshot { roots }
    }

    /// The files whose contents changed, appeared or disappeared since `earlier`, under the
    /// roots both snapshots have (a root new to this one is its baseline).
    pub(crate) fn changed_since(&self, earlier: &Snapshot) -> BTreeSet<PathBuf> {
        let mut changed = BTreeSet::new();
        for (root, files) in &self.roots {
            let Some(before) = earlier.roots.get(root) else {
                continue;
            };
            for (file, state) in files {
                if before.get(file).map(|b| &b.digest) != Some(&state.digest) {
                    changed.insert(file.clone());
                }
            }
            changed.extend(
                before
                    .keys()
                    .filter(|file| !files.contains_key(*file))
                    .cloned(),
            );
        }
        changed
    }
}

/// The files under `root`: itself when it is a file, what makes up a function when it is a
/// directory, nothing when it is missing.
fn files_of(root: &Path) -> Vec<PathBuf> {
    if root.is_dir() {
        source_files(root).unwrap_or_default()
    } else if root.exists() {
        vec![root.to_owned()]
    } else {
        Vec::new()
    }
}

/// A file's state, reusing the digest of `before` when the metadata has not moved; `None` when
/// the file is gone.
fn look_at(file: &Path, before: Option<&FileState>) -> Option<FileState> {
    let metadata = std::fs::metadata(file).ok()?;
    let mut state = FileState {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode: inode(&metadata),
        digest: None,
    };
    state.digest = match before {
        Some(before) if before.same_metadata(&state) => before.digest,
        _ => file_digest(file).ok(),
    };
    Some(state)
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// The first snapshot, taken before the gateway announces that it listens, so that no change
/// made after that is missed.
pub(crate) async fn baseline(roots: Roots) -> Snapshot {
    tokio::task::spawn_blocking(move || Snapshot::take(&roots, &Snapshot::default()))
        .await
        .unwrap_or_default()
}

/// Polls the roots that `roots` holds (the reloader updates them after every reload) and asks
/// `reloads` for a reload once changed files have settled. Ends when the reloader is gone.
pub(crate) fn spawn(
    mut snapshot: Snapshot,
    roots: watch::Receiver<Roots>,
    reloads: mpsc::Sender<Trigger>,
) {
    tokio::spawn(async move {
        let mut pending = BTreeSet::new();
        loop {
            let pause = if pending.is_empty() {
                POLL_INTERVAL
            } else {
                SETTLE
            };
            tokio::time::sleep(pause).await;
            let current = roots.borrow().clone();
            let previous = std::mem::take(&mut snapshot);
            let looked = tokio::task::spawn_blocking(move || {
                let next = Snapshot::take(&current, &previous);
                let changed = next.changed_since(&previous);
                (next, changed)
            })
            .await;
            let changed = match looked {
                Ok((next, changed)) => {
                    snapshot = next;
                    changed
                }
                Err(e) => {
                    warn!(error = %e, "looking at the watched files failed; starting afresh");
                    continue;
                }
            };
            if !changed.is_empty() {
                pending.extend(changed);
                continue;
            }
            if !pending.is_empty() {
                let files = std::mem::take(&mut pending).into_iter().collect();
                if reloads.send(Trigger::Files(files)).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Why a reload runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trigger {
    Signal,
    /// The watcher saw these files change.
    Files(Vec<PathBuf>),
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Signal => f.write_str("SIGHUP"),
            Trigger::Files(files) => {
                f.write_str("changed: ")?;
                for (i, file) in files.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", file.display())?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

    #[test]
    fn edits_appearances_and_removals_are_changes_and_rewrites_are_not() {
        let dir = Scratch::new("changes");
        let spec = dir.write("spec.json", "{}");
        let function = dir.path().join("fn");
        dir.write("fn/func.py", "a");
        let roots = Roots::from([spec.clone(), function.clone()]);
        let first = Snapshot::take(&roots, &Snapshot::default());
        let same = Snapshot::take(&roots, &first);
        assert!(same.changed_since(&first).is_empty());

        // The same contents written again (new mtime, maybe new inode) is no change.
        dir.write("spec.json", "{}");
        let rewritten = Snapshot::take(&roots, &same);
        assert!(rewritten.changed_since(&same).is_empty());

        dir.write("spec.json", r#"{"routes":[]}"#);
        let helper = dir.write("fn/lib/helper.py", "b");
        dir.write("fn/__pycache__/func.pyc", "ignored");
        let edited = Snapshot::take(&roots, &rewritten);
        assert_eq!(
            edited.changed_since(&rewritten),
            BTreeSet::from([spec.clone(), helper.clone()])
        );

        std::fs::remove_file(&helper).expect("remove");
        std::fs::remove_file(&spec).expect("remove");
        let removed = Snapshot::take(&roots, &edited);
        assert_eq!(
            removed.changed_since(&edited),
            BTreeSet::from([spec, helper])
        );
    }

    #[test]
    fn a_new_root_is_a_baseline_not_a_change() {
        let dir = Scratch::new("roots");
        let a = dir.write("a.json", "{}");
        let b = dir.write("b.json", "{}");
        let first = Snapshot::take(&Roots::from([a.clone()]), &Snapshot::default());
        let more = Snapshot::take(&Roots::from([a, b]), &first);
        assert!(more.changed_since(&first).is_empty());
    }

    #[test]
    fn roots_are_the_config_its_specifications_and_function_directories() {
        let dir = Scratch::new("config");
        let config = dir.write(
            "gateway.toml",
            "[[deployment]]\nname = \"d\"\npath_prefix = \"/d\"\nspecification = \"d.json\"\n\
             [[application]]\nname = \"a\"\n[[application.function]]\nname = \"f\"\nid = \"f\"\n\
             source = \"functions/f\"\n",
        );
        let source = Source {
            config: Some(config.clone()),
            spec: None,
            path_prefix: "/".into(),
            strict: false,
        };
        assert_eq!(
            roots(&source),
            Roots::from([
                config.clone(),
                dir.path().join("d.json"),
                dir.path().join("functions/f")
            ])
        );
        dir.write("gateway.toml", "not toml [");
        assert_eq!(roots(&source), Roots::from([config]), "the config alone");
    }
}
