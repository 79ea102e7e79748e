//! The compartment tree under the tenancy, and the OCI rules for naming compartments in policies.
//!
//! Decisions (the reference leaves them open):
//! * Names compare case-insensitively, like every other comparison in OCI IAM.
//! * Sibling names must be unique (OCI enforces this); the same name under different parents is
//!   fine, which is why a bare name is only a valid *parent* reference when it is unambiguous.
//! * `in compartment A:B` is resolved relative to the compartment the policy is attached to.
//!   Writing the attachment compartment's own name first (`in compartment Apps` in a policy
//!   attached to `Apps`, OCI's documented style) is also accepted. Anything else that exists is
//!   reported with the reason it cannot be used (outside the policy's subtree, or not written
//!   relative to the policy's compartment) rather than as "unknown".

use super::error::IamError;
use super::lexer::SyntaxError;
use super::Compartment;
use gateway_core::diagnostics::did_you_mean;

/// Index of the tenancy (root compartment) in [`Tree`].
pub(crate) const ROOT: usize = 0;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) parent: Option<usize>,
}

/// Compartments, root first. Parent links are acyclic after [`Tree::build`].
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
}

fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

impl Tree {
    /// Build the tree, reporting every problem (each compartment keeps going with the tenancy as
    /// parent when its own parent is unusable, so later checks still run).
    pub(crate) fn build(
        tenancy_id: &str,
        tenancy_name: &str,
        comps: &[Compartment],
    ) -> (Tree, Vec<IamError>) {
        let mut errors = Vec::new();
        let mut nodes = vec![Node {
            name: tenancy_name.to_string(),
            id: tenancy_id.to_string(),
            parent: None,
        }];
        for (i, c) in comps.iter().enumerate() {
            let loc = format!("compartment[{i}] {:?}", c.name);
            if c.name.trim().is_empty() {
                errors.push(IamError::new(
                    &loc,
                    "",
                    1,
                    "compartment name is empty",
                    None,
                ));
            } else if c.name.contains(':') || c.name.chars().any(char::is_whitespace) {
                errors.push(IamError::new(
                    &loc,
                    &c.name,
                    c.name
                        .find([':', ' ', '\t', '\n'])
                        .map_or(1, |b| c.name[..b].chars().count() + 1),
                    "compartment names cannot contain `:` or whitespace",
                    Some("`:` separates names in a compartment path".into()),
                ));
            }
            if c.id.trim().is_empty() {
                errors.push(IamError::new(&loc, "", 1, "compartment id is empty", None));
            } else if let Some(j) = nodes.iter().position(|n| same(&n.id, &c.id)) {
                let what = if j == ROOT {
                    "the tenancy's id".to_string()
                } else {
                    format!("the id of compartment[{}] {:?}", j - 1, nodes[j].name)
                };
                errors.push(IamError::new(
                    &loc,
                    &c.id,
                    1,
                    format!("duplicate id: already {what}"),
                    None,
                ));
            }
            nodes.push(Node {
                name: c.name.clone(),
                id: c.id.clone(),
                parent: Some(ROOT),
            });
        }
        let mut tree = Tree { nodes };

        // Parent links.
        for (i, c) in comps.iter().enumerate() {
            let idx = i + 1;
            let loc = format!("compartment[{i}] {:?}", c.name);
            let Some(p) = &c.parent else { continue };
            match tree.parent_ref(p, idx) {
                Ok(pi) if pi == idx => errors.push(IamError::new(
                    &loc,
                    p,
                    1,
                    "a compartment cannot be its own parent",
                    None,
                )),
                Ok(pi) => tree.nodes[idx].parent = Some(pi),
                Err((msg, hint)) => errors.push(IamError::new(&loc, p, 1, msg, hint)),
            }
        }

        // Cycles: break each at the first member found so that walking up always terminates.
        for idx in 1..tree.nodes.len() {
            let mut cur = tree.nodes[idx].parent;
            let mut steps = 0;
            while let Some(c) = cur {
                if c == idx {
                    let loc = format!("compartment[{}] {:?}", idx - 1, tree.nodes[idx].name);
                    let text = comps
                        .get(idx - 1)
                        .and_then(|c| c.parent.clone())
                        .unwrap_or_default();
                    errors.push(IamError::new(
                        loc,
                        text,
                        1,
                        "compartment parents form a cycle",
                        Some("every compartment must lead up to the tenancy".into()),
                    ));
                    tree.nodes[idx].parent = Some(ROOT);
                    break;
                }
                steps += 1;
                if steps > tree.nodes.len() {
                    break;
                }
                cur = tree.nodes.get(c).and_then(|n| n.parent);
            }
        }

        // Sibling names must be unique, or paths would be ambiguous.
        for idx in 1..tree.nodes.len() {
            if let Some(j) = (1..idx).find(|&j| {
                tree.nodes[j].parent == tree.nodes[idx].parent
                    && same(&tree.nodes[j].name, &tree.nodes[idx].name)
                    && !tree.nodes[j].name.is_empty()
            }) {
                let parent = tree.nodes[idx].parent.unwrap_or(ROOT);
                errors.push(IamError::new(
                    format!("compartment[{}] {:?}", idx - 1, tree.nodes[idx].name),
                    &tree.nodes[idx].name,
                    1,
                    format!(
                        "compartment[{}] under {} already has this name",
                        j - 1,
                        tree.path(parent)
                    ),
                    Some("sibling compartments need distinct names".into()),
                ));
            }
        }
        (tree, errors)
    }

    /// Resolve a parent reference (id or unambiguous name) while building.
    fn parent_ref(&self, p: &str, own: usize) -> Result<usize, (String, Option<String>)> {
        if let Some(i) = self.by_id(p) {
            return Ok(i);
        }
        let named: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| same(&self.nodes[i].name, p))
            .collect();
        match named.as_slice() {
            [one] => Ok(*one),
            [] => Err((
                format!("unknown parent compartment {p:?}"),
                self.name_hint(p, Some(own)),
            )),
            many => Err((
                format!(
                    "parent {p:?} is ambiguous: {} compartments have that name",
                    many.len()
                ),
                Some("refer to the parent by its id".into()),
            )),
        }
    }

    fn name_hint(&self, p: &str, exclude: Option<usize>) -> Option<String> {
        let names = (0..self.nodes.len())
            .filter(|&i| Some(i) != exclude)
            .flat_map(|i| [self.nodes[i].name.as_str(), self.nodes[i].id.as_str()]);
        did_you_mean(p, names).map(|s| format!("did you mean {s:?}?"))
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    pub(crate) fn id(&self, i: usize) -> &str {
        self.nodes.get(i).map_or("", |n| n.id.as_str())
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| same(&n.id, id))
    }

    /// Resolve a name, id or root-relative path (`A:B`) as used in config (not in statements).
    pub(crate) fn lookup(&self, name_or_id: &str) -> Option<usize> {
        if let Some(i) = self.by_id(name_or_id) {
            return Some(i);
        }
        let named: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| same(&self.nodes[i].name, name_or_id))
            .collect();
        if let [one] = named.as_slice() {
            return Some(*one);
        }
        if name_or_id.contains(':') {
            let parts: Vec<&str> = name_or_id.split(':').collect();
            return self.walk(ROOT, &parts).ok();
        }
        None
    }

    /// Hint for an unknown config reference.
    pub(crate) fn lookup_hint(&self, name_or_id: &str) -> Option<String> {
        self.name_hint(name_or_id, None)
    }

    pub(crate) fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (1..self.nodes.len()).filter(move |&j| self.nodes[j].parent == Some(i))
    }

    /// Is `node` the compartment `ancestor` or below it? (OCI's inheritance down the tree.)
    pub(crate) fn contains(&self, ancestor: usize, node: usize) -> bool {
        let mut cur = Some(node);
        let mut steps = 0;
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            steps += 1;
            if steps > self.nodes.len() {
                return false;
            }
            cur = self.nodes.get(c).and_then(|n| n.parent);
        }
        false
    }

    /// Human path: `tenancy (root)` for the root, else `a:b:c` (the form a root-attached policy
    /// would write).
    pub(crate) fn path(&self, i: usize) -> String {
        if i == ROOT {
            return format!(
                "{} (root)",
                self.nodes.first().map_or("tenancy", |n| n.name.as_str())
            );
        }
        let mut names = Vec::new();
        let mut cur = Some(i);
        while let Some(c) = cur {
            if c == ROOT || names.len() > self.nodes.len() {
                break;
            }
            if let Some(n) = self.nodes.get(c) {
                names.push(n.name.as_str());
                cur = n.parent;
            } else {
                break;
            }
        }
        names.reverse();
        names.join(":")
    }

    /// Path of `node` relative to `from` (which must contain it).
    fn relative_path(&self, from: usize, node: usize) -> String {
        let mut names = Vec::new();
        let mut cur = Some(node);
        while let Some(c) = cur {
            if c == from || names.len() > self.nodes.len() {
                break;
            }
            names.push(self.nodes[c].name.as_str());
            cur = self.nodes[c].parent;
        }
        names.reverse();
        names.join(":")
    }

    /// Follow names down from `from`; on failure, the index of the name that was not found and
    /// the compartment it was looked for in.
    fn walk<S: AsRef<str>>(&self, from: usize, names: &[S]) -> Result<usize, (usize, usize)> {
        let mut cur = from;
        for (k, name) in names.iter().enumerate() {
            match self
                .children(cur)
                .find(|&c| same(&self.nodes[c].name, name.as_ref()))
            {
                Some(c) => cur = c,
                None => return Err((k, cur)),
            }
        }
        Ok(cur)
    }

    /// Resolve `in compartment A:B:C` in a policy attached to `attach`.
    pub(crate) fn resolve_path(
        &self,
        attach: usize,
        path: &[(String, usize)],
    ) -> Result<usize, SyntaxError> {
        let names: Vec<&str> = path.iter().map(|(n, _)| n.as_str()).collect();
        let col_of = |k: usize| path.get(k).map_or(1, |(_, c)| *c);
        let first_col = col_of(0);
        let relative = self.walk(attach, &names);
        let (fail_k, fail_parent) = match relative {
            Ok(i) => return Ok(i),
            Err(e) => e,
        };
        // OCI's documented style: a policy attached to Apps may say `in compartment Apps`.
        if attach != ROOT
            && names
                .first()
                .is_some_and(|n| same(n, &self.nodes[attach].name))
        {
            if let Ok(i) = self.walk(attach, names.get(1..).unwrap_or(&[])) {
                return Ok(i);
            }
        }
        // Does the path name something elsewhere? Then say why it cannot be used.
        let elsewhere = match self.walk(ROOT, &names) {
            Ok(i) => Some(i),
            Err(_) if names.len() == 1 => {
                let hits: Vec<usize> = (1..self.nodes.len())
                    .filter(|&i| same(&self.nodes[i].name, names[0]))
                    .collect();
                if let [one] = hits.as_slice() {
                    Some(*one)
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        if let Some(found) = elsewhere {
            let written = names.join(":");
            if self.contains(attach, found) {
                let rel = self.relative_path(attach, found);
                return Err(SyntaxError::new(
                    first_col,
                    format!(
                        "compartment {written:?} must be written relative to {}, where the policy is attached",
                        self.path(attach)
                    ),
                )
                .hint(format!("write `in compartment {rel}`")));
            }
            return Err(SyntaxError::new(
                first_col,
                format!(
                    "compartment {} is outside {}, where the policy is attached; a policy can only grant access in its own compartment and below",
                    self.path(found),
                    self.path(attach)
                ),
            )
            .hint("attach the policy to a compartment that contains both (e.g. the tenancy)"));
        }
        let missing = names.get(fail_k).copied().unwrap_or("");
        let kids: Vec<&str> = self
            .children(fail_parent)
            .map(|c| self.nodes[c].name.as_str())
            .collect();
        let listing = if kids.is_empty() {
            format!("{} has no child compartments", self.path(fail_parent))
        } else {
            format!(
                "compartments under {}: {}",
                self.path(fail_parent),
                kids.join(", ")
            )
        };
        let guess = did_you_mean(missing, kids.iter().copied());
        let hint = match guess {
            Some(g) => format!("did you mean {g:?}? {listing}"),
            None => listing,
        };
        Err(SyntaxError::new(
            col_of(fail_k),
            format!(
                "unknown compartment {missing:?} under {}",
                self.path(fail_parent)
            ),
        )
        .hint(hint))
    }

    /// Resolve `in compartment id OCID` in a policy attached to `attach`.
    pub(crate) fn resolve_id(
        &self,
        attach: usize,
        id: &str,
        col: usize,
    ) -> Result<usize, SyntaxError> {
        let Some(i) = self.by_id(id) else {
            let ids = self.nodes.iter().map(|n| n.id.as_str());
            let mut e = SyntaxError::new(col, format!("unknown compartment id {id:?}"));
            if let Some(g) = did_you_mean(id, ids) {
                let name = self.by_id(g).map(|i| self.path(i)).unwrap_or_default();
                e = e.hint(format!("did you mean {g:?} ({name})?"));
            }
            return Err(e);
        };
        if self.contains(attach, i) {
            Ok(i)
        } else {
            Err(SyntaxError::new(
                col,
                format!(
                    "compartment {} is outside {}, where the policy is attached; a policy can only grant access in its own compartment and below",
                    self.path(i),
                    self.path(attach)
                ),
            )
            .hint("attach the policy to a compartment that contains both (e.g. the tenancy)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, id: &str, parent: Option<&str>) -> Compartment {
        Compartment {
            name: name.into(),
            id: id.into(),
            parent: parent.map(Into::into),
        }
    }

    fn tree() -> Tree {
        let (t, errs) = Tree::build(
            "ocid1.tenancy.oc1..t",
            "acme",
            &[
                c("fn-apps", "ocid1.compartment.oc1..apps", None),
                c("prod", "ocid1.compartment.oc1..prod", Some("fn-apps")),
                c(
                    "gateways",
                    "ocid1.compartment.oc1..gw",
                    Some("ocid1.tenancy.oc1..t"),
                ),
                c(
                    "edge",
                    "ocid1.compartment.oc1..edge",
                    Some("ocid1.compartment.oc1..gw"),
                ),
            ],
        );
        assert_eq!(errs, vec![]);
        t
    }

    fn p(names: &[&str]) -> Vec<(String, usize)> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), 10 + i * 10))
            .collect()
    }

    #[test]
    fn paths_and_inheritance() {
        let t = tree();
        assert_eq!(t.path(2), "fn-apps:prod");
        assert_eq!(t.path(ROOT), "acme (root)");
        assert!(t.contains(1, 2) && !t.contains(2, 1) && t.contains(ROOT, 4));
        assert_eq!(t.lookup("fn-apps:prod"), Some(2));
        assert_eq!(t.lookup("PROD"), Some(2));
        assert_eq!(t.lookup("acme"), Some(ROOT));
    }

    #[test]
    fn relative_resolution() {
        let t = tree();
        assert_eq!(t.resolve_path(ROOT, &p(&["fn-apps", "prod"])).ok(), Some(2));
        assert_eq!(t.resolve_path(1, &p(&["prod"])).ok(), Some(2));
        assert_eq!(t.resolve_path(1, &p(&["fn-apps"])).ok(), Some(1));
        assert_eq!(t.resolve_path(1, &p(&["fn-apps", "prod"])).ok(), Some(2));
    }

    #[test]
    fn unknown_name_hints_siblings() {
        let t = tree();
        let e = t.resolve_path(ROOT, &p(&["fn-aps"])).err();
        assert_eq!(e.as_ref().map(|e| e.col), Some(10));
        assert!(e
            .and_then(|e| e.hint)
            .is_some_and(|h| h.starts_with("did you mean \"fn-apps\"?")));
        let e = t.resolve_path(ROOT, &p(&["fn-apps", "prd"])).err();
        assert_eq!(e.map(|e| e.col), Some(20));
    }

    #[test]
    fn outside_subtree_and_not_relative() {
        let t = tree();
        let e = t.resolve_path(2, &p(&["gateways"])).err();
        assert!(e.is_some_and(|e| e.message.contains("outside")));
        let e = t.resolve_path(ROOT, &p(&["prod"])).err();
        assert!(e
            .and_then(|e| e.hint)
            .is_some_and(|h| h == "write `in compartment fn-apps:prod`"));
        assert!(t.resolve_id(1, "ocid1.compartment.oc1..gw", 5).is_err());
        assert_eq!(
            t.resolve_id(1, "ocid1.compartment.oc1..prod", 5).ok(),
            Some(2)
        );
        assert!(t
            .resolve_id(ROOT, "ocid1.compartment.oc1..prd", 5)
            .err()
            .and_then(|e| e.hint)
            .is_some_and(|h| h.contains("ocid1.compartment.oc1..prod")));
    }

    #[test]
    fn build_errors() {
        let (_, errs) = Tree::build(
            "t",
            "acme",
            &[
                c("a", "1", Some("b")),
                c("b", "2", Some("a")),
                c("a", "3", None),
                c("x", "3", Some("nope")),
            ],
        );
        let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
        assert!(
            msgs.iter().any(|m| m.starts_with("duplicate id")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("ambiguous")), "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.starts_with("unknown parent")),
            "{msgs:?}"
        );
        let (_, errs) = Tree::build(
            "t",
            "acme",
            &[c("a", "1", Some("2")), c("b", "2", Some("1"))],
        );
        assert!(errs.iter().any(|e| e.message.contains("cycle")), "{errs:?}");
        let (_, errs) = Tree::build("t", "acme", &[c("a", "1", None), c("A", "2", None)]);
        assert!(
            errs.iter()
                .any(|e| e.message.contains("already has this name")),
            "{errs:?}"
        );
    }
}
