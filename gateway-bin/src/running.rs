//! The functions a gateway runs, each with the identity it was made from, and which of them a
//! reload keeps.
//!
//! A reload builds a new [`FunctionSet`] from the new configuration, taking over the running
//! invoker of every function whose [`FunctionIdentity`] is unchanged (same invoker, same warm
//! processes, calls in flight undisturbed). Whether a function was kept is then a question of
//! invoker identity: the sets share the invoker. That one rule says what to retire after a
//! reload that succeeded (the old members the new set does not share) and what to stop after
//! one that failed (the new members the old set does not share).

use std::collections::BTreeMap;
use std::sync::Arc;

use gateway_core::function::{FunctionRegistry, RegisteredFunction};

use crate::changes::Changes;
use crate::identity::FunctionIdentity;

/// One function of a set.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) function: RegisteredFunction,
    /// What the function was made from, when it may be kept by a later reload. `None` for a
    /// function that is made anew every time: one that could not be prepared (a reload retries
    /// it), one IAM denies, one whose files could not be read, and every function of a command
    /// that does not run them.
    pub(crate) identity: Option<FunctionIdentity>,
    /// Why the function could not be made runnable (prepared, or given its credentials), if
    /// it could not; it answers 502 then.
    pub(crate) failure: Option<String>,
    /// IAM's decision and the rules behind it, as `gateway explain` prints them; `None`
    /// without an `[iam]` section.
    pub(crate) explanation: Option<String>,
}

/// The functions currently served, shared by reloads, the console, the admin listener and
/// shutdown.
pub(crate) type CurrentFunctions = Arc<tokio::sync::Mutex<FunctionSet>>;

/// The functions of one configuration, by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct FunctionSet {
    members: BTreeMap<Arc<str>, Member>,
}

impl FunctionSet {
    /// Adds a function (replacing one with the same id).
    pub(crate) fn insert(&mut self, member: Member) {
        self.members.insert(member.function.id.clone(), member);
    }

    /// The registry that routes and authorizers resolve function ids through.
    pub(crate) fn registry(&self) -> FunctionRegistry {
        let mut registry = FunctionRegistry::new();
        for member in self.members.values() {
            registry.register(member.function.clone());
        }
        registry
    }

    /// Every function.
    pub(crate) fn functions(&self) -> impl Iterator<Item = &RegisteredFunction> {
        self.members.values().map(|m| &m.function)
    }

    /// Every member: the function and what is known of how it was made.
    pub(crate) fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The running function `id`, if it was made from exactly `identity`: the one to keep.
    pub(crate) fn reusable(
        &self,
        id: &str,
        identity: &FunctionIdentity,
    ) -> Option<&RegisteredFunction> {
        self.members
            .get(id)
            .filter(|m| m.identity.as_ref() == Some(identity))
            .map(|m| &m.function)
    }

    /// The functions of this set that `other` does not share: after a reload that succeeded,
    /// `old.not_shared_with(&new)` are to be retired; after one that failed,
    /// `new.not_shared_with(&old)` were made for nothing and are to be stopped.
    pub(crate) fn not_shared_with(&self, other: &FunctionSet) -> Vec<RegisteredFunction> {
        self.members
            .values()
            .filter(|m| !other.shares(m))
            .map(|m| m.function.clone())
            .collect()
    }

    /// The functions that run in `earlier` but could not be made runnable in this set, each as
    /// `name: why`. A reload must not replace a working function with a broken one.
    pub(crate) fn broken_since(&self, earlier: &FunctionSet) -> Vec<String> {
        self.members
            .iter()
            .filter_map(|(id, member)| {
                let failure = member.failure.as_ref()?;
                let before = earlier.members.get(id)?;
                let worked = before.failure.is_none() && before.function.denied.is_none();
                worked.then(|| format!("{}: {failure}", member.function.name))
            })
            .collect()
    }

    fn shares(&self, member: &Member) -> bool {
        self.members
            .get(&member.function.id)
            .is_some_and(|mine| Arc::ptr_eq(&mine.function.invoker, &member.function.invoker))
    }

    /// What changed from `earlier` to this set: functions started (`added`), restarted
    /// (`changed`), retired (`removed`) and kept (`unchanged`).
    pub(crate) fn changes_from(&self, earlier: &FunctionSet) -> Changes {
        let mut changes = Changes::default();
        for (id, member) in &self.members {
            let name = member.function.name.clone();
            match earlier.members.get(id) {
                None => changes.added.push(name),
                Some(_) if earlier.shares(member) => changes.unchanged.push(name),
                Some(before) => {
                    let what = match (&member.identity, &before.identity) {
                        (Some(now), Some(then)) => now.differences(then),
                        _ => Vec::new(),
                    };
                    changes.changed.push(if what.is_empty() {
                        name
                    } else {
                        format!("{name} ({} changed)", what.join(" and "))
                    });
                }
            }
        }
        changes.removed = earlier
            .members
            .iter()
            .filter(|(id, _)| !self.members.contains_key(*id))
            .map(|(_, m)| m.function.name.clone())
            .collect();
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> Member {
        let (invoker, timeout) = crate::functions::unavailable_invoker("test".into());
        Member {
            function: RegisteredFunction {
                id: Arc::from(id),
                name: format!("app/{id}"),
                timeout,
                invoker,
                denied: None,
            },
            identity: None,
            failure: None,
            explanation: None,
        }
    }

    fn names(functions: &[RegisteredFunction]) -> Vec<&str> {
        functions.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn shared_invokers_are_kept_and_the_rest_started_restarted_or_retired() {
        let (kept, changed, removed) = (member("kept"), member("changed"), member("removed"));
        let mut old = FunctionSet::default();
        for m in [&kept, &changed, &removed] {
            old.insert(m.clone());
        }
        let mut new = FunctionSet::default();
        new.insert(kept.clone());
        new.insert(member("changed"));
        new.insert(member("added"));

        let changes = new.changes_from(&old);
        assert_eq!(changes.added, ["app/added"], "started");
        assert_eq!(changes.changed, ["app/changed"], "restarted");
        assert_eq!(changes.removed, ["app/removed"], "retired");
        assert_eq!(changes.unchanged, ["app/kept"], "kept");

        assert_eq!(
            names(&old.not_shared_with(&new)),
            ["app/changed", "app/removed"],
            "what to retire after the swap"
        );
        assert_eq!(
            names(&new.not_shared_with(&old)),
            ["app/added", "app/changed"],
            "what to stop if the reload is abandoned"
        );
        assert_eq!(new.registry().ids().count(), 3);
    }

    #[test]
    fn a_working_function_that_fails_to_prepare_is_broken_and_a_failing_one_is_not() {
        let failed = |id: &str| Member {
            failure: Some("pip failed".into()),
            ..member(id)
        };
        let mut old = FunctionSet::default();
        old.insert(member("works"));
        old.insert(failed("never-worked"));
        let mut denied = member("denied");
        denied.function.denied = Some(Arc::from("no policy"));
        old.insert(denied);
        let mut new = FunctionSet::default();
        for id in ["works", "never-worked", "denied", "new"] {
            new.insert(failed(id));
        }
        assert_eq!(new.broken_since(&old), ["app/works: pip failed"]);
        assert!(old.broken_since(&old).is_empty());
    }

    #[test]
    fn only_a_function_made_from_the_same_identity_is_reusable() {
        let app: crate::config::ApplicationSection =
            toml::from_str("name = \"app\"").expect("application");
        let section = |timeout: u64| -> crate::config::FunctionSection {
            toml::from_str(&format!(
                "name = \"g\"\nid = \"g\"\ninvoke_endpoint = \"https://x\"\nresource_principal = true\ntimeout = {timeout}"
            ))
            .expect("function")
        };
        let identity = |timeout| {
            FunctionIdentity::of(&app, &section(timeout), std::path::Path::new("/c"))
                .expect("identity")
        };
        let mut set = FunctionSet::default();
        set.insert(member("f"));
        let mut g = member("g");
        g.identity = Some(identity(5));
        set.insert(g);
        assert!(set.reusable("g", &identity(5)).is_some());
        assert!(
            set.reusable("g", &identity(6)).is_none(),
            "settings changed"
        );
        assert!(
            set.reusable("f", &identity(5)).is_none(),
            "no identity recorded"
        );
        assert!(set.reusable("h", &identity(5)).is_none(), "not in the set");
    }
}
