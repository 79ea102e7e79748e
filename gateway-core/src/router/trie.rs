//! The route trie: [`RouterBuilder`] validates routes, [`Router`] looks them up.
//!
//! A radix tree over the bytes of the templates, as matchit and httprouter keep theirs: a node
//! holds the bytes a path must continue with to reach it (runs of literal text, `/` included,
//! compressed into one prefix), its static children indexed by their first byte, at most one
//! `{param}` child, and two leaf lists: routes whose template ends at the node and routes
//! whose template ends with `{x*}` there. Walking a request path is then a comparison of a few
//! byte runs and one byte per branch, instead of a search per segment.
//!
//! The segment rules survive the compression because parameters take whole segments: a
//! `{param}` child hangs only at a node that ends just after a `/`, and a wildcard leaf only at
//! a node that ends a segment (just before a `/` or the end of the path). So at any node the
//! next byte decides which alternatives exist: a `/` rules out a parameter (it would be empty),
//! anything else rules out the wildcard (it needs the segment to end). A static match is a
//! literal equal to the whole segment, because what follows a literal in a template is a `/`
//! or the end.
//!
//! A leaf list holds one entry per route of that shape (same template modulo parameter names),
//! and their method sets are disjoint, so at most one entry can accept a given request method.
//!
//! Lookup is a depth-first search in precedence order (end of template before a zero-segment
//! wildcard; literal, then parameter, then wildcard) that backtracks on dead ends, as matchit
//! does with its skipped nodes. Each node is visited at most once per lookup because the path
//! position is fixed by the node, so the worst case is linear in the size of the tree. The
//! search allocates nothing: parameters are pushed to an inline [`Params`].

use std::collections::HashMap;

use http::Method;

use super::methods::MethodSet;
use super::params::Params;
use super::template::{PathTemplate, Segment, TemplateShape};

/// Two routes with the same template shape (parameter names erased) whose method sets
/// overlap: some request could match either, so the specification is ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("conflicts with route #{with}: same path template (modulo parameter names) and overlapping methods")]
pub struct Conflict {
    /// The index (order of successful inserts, from 0) of the route already inserted.
    pub with: usize,
}

/// The outcome of [`Router::at`].
#[derive(Debug)]
pub enum Lookup<'r, T> {
    /// The most specific template that matches the path and accepts the method.
    Found(Match<'r, T>),
    /// Some templates match the path but none accepts the method; the set is the union of
    /// their methods (for an `Allow` header).
    MethodNotAllowed(MethodSet),
    /// No template matches the path.
    NotFound,
}

/// A successful lookup.
#[derive(Debug)]
pub struct Match<'r, T> {
    /// The value stored with the route.
    pub value: &'r T,
    /// Where each parameter's value is in the looked-up path, in template order.
    pub params: Params,
}

/// Routes that end at a node: (methods, route index). Almost always one entry; a `Vec` rather
/// than an inline small vector, because every node visited asks whether its wildcard leaf is
/// empty, and a `Vec` answers with one compare.
type Leaf = Vec<(MethodSet, usize)>;

/// Byte equality without a call to `memcmp`: prefixes are short, and the profiler showed the
/// library call dominating lookups.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in a8.by_ref().zip(b8.by_ref()) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            return false;
        };
        if u64::from_ne_bytes(x) != u64::from_ne_bytes(y) {
            return false;
        }
    }
    a8.remainder()
        .iter()
        .zip(b8.remainder())
        .all(|(x, y)| x == y)
}

/// The bytes a path must continue with at a node, with their first eight bytes also kept as a
/// word: while at least eight bytes of the path are left, which is most of a lookup, one load,
/// one xor and one mask compare what would otherwise be a byte loop or a call to `memcmp`.
#[derive(Debug, Clone, Default)]
struct Prefix {
    /// The first eight bytes (zero-padded), little-endian, as [`Prefix::matches`] reads a path.
    first: u64,
    /// Ones over the bytes of `first` that belong to the prefix.
    mask: u64,
    bytes: Box<[u8]>,
}

impl Prefix {
    fn new(bytes: Vec<u8>) -> Self {
        let mut first = [0; 8];
        for (slot, &b) in first.iter_mut().zip(&bytes) {
            *slot = b;
        }
        let shown = u32::try_from(bytes.len().min(8)).unwrap_or(8);
        Self {
            first: u64::from_le_bytes(first),
            mask: u64::MAX.checked_shr(64 - 8 * shown).unwrap_or(0),
            bytes: bytes.into(),
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether `rest` starts with the prefix.
    #[inline]
    fn matches(&self, rest: &[u8]) -> bool {
        match rest.first_chunk::<8>() {
            Some(word) => {
                (u64::from_le_bytes(*word) ^ self.first) & self.mask == 0
                    && (self.len() <= 8
                        || match (rest.get(8..self.len()), self.bytes.get(8..)) {
                            (Some(more), Some(ours)) => same_bytes(more, ours),
                            _ => false,
                        })
            }
            None => rest
                .get(..self.len())
                .is_some_and(|head| same_bytes(head, &self.bytes)),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// The bytes a path continues with to reach this node, after the byte that chose it among
    /// its parent's static children (the whole prefix for the root).
    prefix: Prefix,
    /// The first byte of each static child, aligned with `statics`.
    indices: Box<[u8]>,
    /// The static children (indexes into [`Router::nodes`]).
    statics: Box<[usize]>,
    /// The node after a `{param}` segment that starts where this node ends.
    param: Option<usize>,
    /// Routes whose template ends here.
    end: Leaf,
    /// Routes whose template ends with a wildcard here.
    wildcard: Leaf,
}

/// The uncompressed form built from the templates: one node per byte position.
#[derive(Debug, Default)]
struct ByteNode {
    /// How many routes pass through or end at the node.
    routes: usize,
    statics: Vec<(u8, usize)>,
    param: Option<usize>,
    end: Leaf,
    wildcard: Leaf,
}

impl ByteNode {
    /// A node that only leads on to one static child, which compression merges into it.
    fn passes_through(&self) -> Option<(u8, usize)> {
        match self.statics.as_slice() {
            [only] if self.param.is_none() && self.end.is_empty() && self.wildcard.is_empty() => {
                Some(*only)
            }
            _ => None,
        }
    }
}

/// Builds the byte trie of the routes, then compresses it into the radix tree.
#[derive(Debug)]
struct Compiler {
    nodes: Vec<ByteNode>,
}

impl Compiler {
    fn new() -> Self {
        Self {
            nodes: vec![ByteNode::default()],
        }
    }

    fn insert(&mut self, template: &PathTemplate, methods: MethodSet, index: usize) {
        let mut node = 0;
        for seg in template.segments() {
            match seg {
                Segment::Literal(l) => {
                    node = self.static_child(node, b'/');
                    for &b in l.as_bytes() {
                        node = self.static_child(node, b);
                    }
                }
                Segment::Param(_) => {
                    node = self.static_child(node, b'/');
                    node = self.param_child(node);
                }
                Segment::Wildcard(_) => {
                    if let Some(n) = self.nodes.get_mut(node) {
                        n.wildcard.push((methods, index));
                    }
                    return;
                }
            }
        }
        if let Some(n) = self.nodes.get_mut(node) {
            n.end.push((methods, index));
        }
    }

    fn static_child(&mut self, node: usize, byte: u8) -> usize {
        let child = self.find_or_add_static(node, byte);
        self.count_route(child);
        child
    }

    fn find_or_add_static(&mut self, node: usize, byte: u8) -> usize {
        let existing = self.nodes.get(node).and_then(|n| {
            n.statics
                .iter()
                .find(|&&(b, _)| b == byte)
                .map(|&(_, child)| child)
        });
        if let Some(child) = existing {
            return child;
        }
        let child = self.push_node();
        if let Some(n) = self.nodes.get_mut(node) {
            n.statics.push((byte, child));
        }
        child
    }

    fn param_child(&mut self, node: usize) -> usize {
        let child = match self.nodes.get(node).and_then(|n| n.param) {
            Some(child) => child,
            None => {
                let child = self.push_node();
                if let Some(n) = self.nodes.get_mut(node) {
                    n.param = Some(child);
                }
                child
            }
        };
        self.count_route(child);
        child
    }

    fn count_route(&mut self, node: usize) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.routes += 1;
        }
    }

    fn push_node(&mut self) -> usize {
        self.nodes.push(ByteNode::default());
        self.nodes.len() - 1
    }

    /// The radix tree, root first: each run of pass-through byte nodes becomes one node's
    /// prefix. Iterative, with the nodes in a flat list, so that a tree as deep as the longest
    /// template is built and dropped without deep recursion.
    fn compress(mut self) -> Vec<Node> {
        let mut tree = vec![Node::default()];
        // (byte node where a radix node starts, its index in `tree`)
        let mut pending = vec![(0, 0)];
        while let Some((mut id, slot)) = pending.pop() {
            let mut prefix = Vec::new();
            while let Some((byte, child)) = self.nodes.get(id).and_then(ByteNode::passes_through) {
                prefix.push(byte);
                id = child;
            }
            let node = self
                .nodes
                .get_mut(id)
                .map(std::mem::take)
                .unwrap_or_default();
            let mut start = |byte_node: usize| {
                tree.push(Node::default());
                pending.push((byte_node, tree.len() - 1));
                tree.len() - 1
            };
            let mut statics = node.statics;
            // Busiest first, as matchit orders them: the child most routes go through is
            // found after the fewest comparisons.
            let routes = |child: usize| self.nodes.get(child).map_or(0, |n| n.routes);
            statics.sort_unstable_by_key(|&(byte, child)| (std::cmp::Reverse(routes(child)), byte));
            let compressed = Node {
                prefix: Prefix::new(prefix),
                indices: statics.iter().map(|&(byte, _)| byte).collect(),
                statics: statics.iter().map(|&(_, child)| start(child)).collect(),
                param: node.param.map(&mut start),
                end: node.end,
                wildcard: node.wildcard,
            };
            if let Some(place) = tree.get_mut(slot) {
                *place = compressed;
            }
        }
        tree
    }
}

#[derive(Debug, Clone)]
struct Route<T> {
    template: PathTemplate,
    methods: MethodSet,
    value: T,
}

/// Collects routes, rejecting conflicts; [`RouterBuilder::build`] freezes them into a
/// [`Router`].
#[derive(Debug, Clone)]
pub struct RouterBuilder<T> {
    routes: Vec<Route<T>>,
    /// The method sets of the routes inserted so far, by shape, for conflict checks.
    shapes: HashMap<TemplateShape, Leaf>,
}

impl<T> Default for RouterBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RouterBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            routes: Vec::new(),
            shapes: HashMap::new(),
        }
    }

    /// Adds a route. Fails, leaving the builder unchanged, when an earlier route has the same
    /// template shape (`/u/{id}` = `/u/{name}`, but `{p}` ≠ `{p*}`) and an overlapping method
    /// set (`ANY` overlaps everything but the empty set). On success the route's index is the
    /// number of routes inserted before it.
    pub fn insert(
        &mut self,
        template: PathTemplate,
        methods: MethodSet,
        value: T,
    ) -> Result<(), Conflict> {
        let index = self.routes.len();
        let same_shape = self.shapes.entry(template.shape()).or_default();
        if let Some(&(_, with)) = same_shape.iter().find(|(m, _)| m.overlaps(methods)) {
            return Err(Conflict { with });
        }
        same_shape.push((methods, index));
        self.routes.push(Route {
            template,
            methods,
            value,
        });
        Ok(())
    }

    /// The number of routes inserted.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route was inserted.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route with this index (see [`Conflict::with`]).
    pub fn route(&self, index: usize) -> Option<(&PathTemplate, MethodSet, &T)> {
        self.routes
            .get(index)
            .map(|r| (&r.template, r.methods, &r.value))
    }

    /// Freezes the routes into a [`Router`].
    pub fn build(self) -> Router<T> {
        let mut compiler = Compiler::new();
        for (index, route) in self.routes.iter().enumerate() {
            compiler.insert(&route.template, route.methods, index);
        }
        Router {
            nodes: compiler.compress(),
            routes: self.routes,
        }
    }
}

/// An immutable route table for one deployment. Lookups take `&self`, allocate nothing and
/// take no locks, so one `Router` can serve every connection (behind an `Arc`).
#[derive(Debug, Clone)]
pub struct Router<T> {
    /// The radix tree, root first.
    nodes: Vec<Node>,
    routes: Vec<Route<T>>,
}

/// State of one lookup, threaded through the recursion.
struct Search<'p> {
    path: &'p [u8],
    /// The request method's bit (0 for methods OCI cannot list, which only `ANY` accepts).
    want: u8,
    params: Params,
    /// Whether some template matched the path (whatever its methods).
    matched: bool,
    /// Union of the methods of the templates that matched the path but not the method.
    allowed: MethodSet,
}

impl Search<'_> {
    /// The route of `leaf` that accepts the method, recording the others for a 405.
    #[inline]
    fn pick(&mut self, leaf: &Leaf) -> Option<usize> {
        for &(methods, index) in leaf {
            if methods.accepts_bit(self.want) {
                return Some(index);
            }
            self.matched = true;
            self.allowed |= methods;
        }
        None
    }

    /// Tries a wildcard leaf whose value is `path[from..]`.
    #[inline]
    fn wildcard(&mut self, leaf: &Leaf, from: usize) -> Option<usize> {
        if leaf.is_empty() {
            return None;
        }
        self.params.push(from..self.path.len());
        let found = self.pick(leaf);
        if found.is_none() {
            self.params.pop();
        }
        found
    }
}

impl<T> Router<T> {
    /// Finds the route for `method` and `path`.
    ///
    /// `path` must already be normalised ([`normalize_path`](super::normalize_path)) and
    /// relative to the deployment (it starts with `/`; anything else is `NotFound`). The
    /// captured ranges in [`Match::params`] index into this `path`. The rules are in the
    /// [module docs](super).
    pub fn at<'r>(&'r self, method: &Method, path: &str) -> Lookup<'r, T> {
        let bytes = path.as_bytes();
        if bytes.first() != Some(&b'/') {
            return Lookup::NotFound;
        }
        let mut search = Search {
            path: bytes,
            want: MethodSet::bit_of(method),
            params: Params::new(),
            matched: false,
            allowed: MethodSet::EMPTY,
        };
        match self
            .search(0, 0, &mut search)
            .and_then(|i| self.routes.get(i))
        {
            Some(route) => Lookup::Found(Match {
                value: &route.value,
                params: search.params,
            }),
            None if search.matched => Lookup::MethodNotAllowed(search.allowed),
            None => Lookup::NotFound,
        }
    }

    /// Depth-first search from `node`, whose prefix the path must continue with at `pos`. On
    /// failure the parameters are as on entry.
    ///
    /// Only a node that offers an alternative to its static child (a parameter or a wildcard)
    /// recurses, so that it can backtrack; everywhere else the walk continues in a loop,
    /// which is most of the time.
    fn search(&self, mut at: usize, mut pos: usize, s: &mut Search<'_>) -> Option<usize> {
        let mark = s.params.len();
        let found = loop {
            let Some(node) = self.nodes.get(at) else {
                break None;
            };
            if !node.prefix.matches(s.path.get(pos..).unwrap_or_default()) {
                break None;
            }
            pos += node.prefix.len();
            let Some(&next) = s.path.get(pos) else {
                // The path ends here: a template that ends here beats a wildcard matching
                // zero segments.
                break s
                    .pick(&node.end)
                    .or_else(|| s.wildcard(&node.wildcard, pos));
            };
            // `{p}` never matches an empty segment, and a wildcard needs the segment to end.
            let param = node.param.filter(|_| next != b'/');
            let wildcard = next == b'/' && !node.wildcard.is_empty();

            let child = node.indices.iter().position(|&b| b == next);
            if let Some(&child) = child.and_then(|i| node.statics.get(i)) {
                if param.is_none() && !wildcard {
                    (at, pos) = (child, pos + 1);
                    continue;
                }
                if let found @ Some(_) = self.search(child, pos + 1, s) {
                    break found;
                }
            }
            if let Some(child) = param {
                let segment = s.path.get(pos..).unwrap_or_default();
                let end = pos
                    + segment
                        .iter()
                        .position(|&b| b == b'/')
                        .unwrap_or(segment.len());
                s.params.push(pos..end);
                (at, pos) = (child, end);
                continue;
            }
            break if wildcard {
                s.wildcard(&node.wildcard, pos + 1)
            } else {
                None
            };
        };
        if found.is_none() {
            s.params.truncate(mark);
        }
        found
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes (every lookup is `NotFound`).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route with this index (order of insertion).
    pub fn route(&self, index: usize) -> Option<(&PathTemplate, MethodSet, &T)> {
        self.routes
            .get(index)
            .map(|r| (&r.template, r.methods, &r.value))
    }

    /// Every route in insertion order.
    pub fn routes(&self) -> impl ExactSizeIterator<Item = (&PathTemplate, MethodSet, &T)> + '_ {
        self.routes
            .iter()
            .map(|r| (&r.template, r.methods, &r.value))
    }
}
