//! What a reload changed, said in one log line: deployments added, removed and changed by
//! name, the route count, and functions started, restarted, retired and kept.

use std::collections::BTreeMap;
use std::fmt;

use gateway_core::gateway::DeploymentSource;

/// The deployments of a configuration, as their `[[deployment]]` sections and specifications
/// define them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deployments {
    by_name: BTreeMap<String, Deployment>,
}

/// What makes two versions of a deployment the same: its prefix, its specification's file and
/// that file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deployment {
    path_prefix: String,
    origin: String,
    specification: String,
}

/// How two versions of a set of named things (deployments, functions) differ, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// New in the configuration (functions: started).
    pub(crate) added: Vec<String>,
    /// No longer in it (functions: retired).
    pub(crate) removed: Vec<String>,
    /// In both, different (functions: restarted, each with what changed when that is known).
    pub(crate) changed: Vec<String>,
    /// In both, the same (functions: kept running, untouched).
    pub(crate) unchanged: Vec<String>,
}

impl Deployments {
    pub(crate) fn new(sources: &[DeploymentSource]) -> Self {
        let by_name = sources
            .iter()
            .map(|d| {
                let deployment = Deployment {
                    path_prefix: d.path_prefix.clone(),
                    origin: d.origin.clone(),
                    specification: d.specification.clone(),
                };
                (d.name.clone(), deployment)
            })
            .collect();
        Deployments { by_name }
    }

    /// What changed from `earlier` to these.
    pub(crate) fn changes_from(&self, earlier: &Deployments) -> Changes {
        let mut changes = Changes::default();
        for (name, now) in &self.by_name {
            let list = match earlier.by_name.get(name) {
                None => &mut changes.added,
                Some(then) if then == now => &mut changes.unchanged,
                Some(_) => &mut changes.changed,
            };
            list.push(name.clone());
        }
        changes.removed = earlier
            .by_name
            .keys()
            .filter(|name| !self.by_name.contains_key(*name))
            .cloned()
            .collect();
        changes
    }
}

/// Everything a successful reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) routes: usize,
    pub(crate) deployments: Changes,
    pub(crate) functions: Changes,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.deployments;
        let u = &self.functions;
        write!(
            f,
            "{} routes; deployments added {}, removed {}, changed {}, unchanged {}; \
             functions started {}, restarted {}, retired {}, kept {}",
            self.routes,
            List(&d.added),
            List(&d.removed),
            List(&d.changed),
            List(&d.unchanged),
            List(&u.added),
            List(&u.changed),
            List(&u.removed),
            List(&u.unchanged),
        )
    }
}

/// `[a, b]`, or `[]`.
struct List<'a>(&'a [String]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, prefix: &str, spec: &str) -> DeploymentSource {
        DeploymentSource {
            name: name.to_owned(),
            path_prefix: prefix.to_owned(),
            specification: spec.to_owned(),
            origin: format!("{name}.json"),
        }
    }

    #[test]
    fn deployments_are_added_removed_changed_or_unchanged_by_name() {
        let before = Deployments::new(&[
            source("same", "/s", "{}"),
            source("edited", "/e", "{}"),
            source("moved", "/m", "{}"),
            source("gone", "/g", "{}"),
        ]);
        let after = Deployments::new(&[
            source("same", "/s", "{}"),
            source("edited", "/e", r#"{"routes":[]}"#),
            source("moved", "/m2", "{}"),
            source("new", "/n", "{}"),
        ]);
        let changes = after.changes_from(&before);
        assert_eq!(changes.added, ["new"]);
        assert_eq!(changes.removed, ["gone"]);
        assert_eq!(changes.changed, ["edited", "moved"]);
        assert_eq!(changes.unchanged, ["same"]);
    }

    #[test]
    fn the_summary_names_everything_in_one_line() {
        let summary = Summary {
            routes: 3,
            deployments: Changes {
                changed: vec!["t".into()],
                ..Changes::default()
            },
            functions: Changes {
                changed: vec!["app/echo (source changed)".into()],
                unchanged: vec!["app/a".into(), "app/b".into()],
                ..Changes::default()
            },
        };
        assert_eq!(
            summary.to_string(),
            "3 routes; deployments added [], removed [], changed [t], unchanged []; \
             functions started [], restarted [app/echo (source changed)], retired [], \
             kept [app/a, app/b]"
        );
    }
}
