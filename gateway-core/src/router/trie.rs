//! The segment trie: [`RouterBuilder`] validates and inserts routes, [`Router`] looks them up.
//!
//! One node per distinct template prefix, kept in a flat arena. A node has static children
//! (one per literal segment), at most one `{param}` child, and two leaf lists: routes that end
//! at the node and routes that end with `{x*}` at the node. A leaf list holds one entry per
//! route of that shape (same template modulo parameter names), and their method sets are
//! disjoint, so at most one entry can accept a given request method.
//!
//! Lookup is a depth-first search in precedence order (end of template before a zero-segment
//! wildcard; literal, then parameter, then wildcard) that backtracks on dead ends, as matchit
//! does with its skipped nodes. Each node is visited at most once per lookup because the
//! segment position is fixed by the node's depth, so the worst case is linear in the size of
//! the trie. The search allocates nothing: parameters are pushed to an inline [`Params`].

use http::Method;

use super::methods::MethodSet;
use super::params::Params;
use super::template::{PathTemplate, Segment};

/// Above this many static children a node is searched by binary search instead of a linear
/// scan of keys. Deployments have at most 50 routes, so this only matters for synthetic route
/// sets, but it keeps large fan-outs logarithmic.
const LINEAR_MAX: usize = 32;

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

/// How many leading bytes of a segment [`seg_key`] holds.
const KEY_BYTES: usize = 6;

/// A summary of a segment compared before its bytes: the length (saturated to 16 bits) and
/// the first [`KEY_BYTES`] bytes. Sibling literals almost never share it (`r0`..`r7` do not),
/// so a non-matching child costs one integer compare, and for segments of at most
/// [`KEY_BYTES`] bytes equal keys mean equal segments.
/// A template's literal segment holds no `/`, so its key is the one a lookup computes for it.
fn seg_key(seg: &[u8]) -> u64 {
    next_segment(seg, 0).1
}

/// The segment of `path` that starts at `start`: where it ends (the next `/` or the end of the
/// path) and its [`seg_key`], found in one pass over its bytes.
#[inline]
fn next_segment(path: &[u8], start: usize) -> (usize, u64) {
    let rest = path.get(start..).unwrap_or_default();
    let mut prefix = 0u64;
    let mut len = rest.len();
    for (i, &b) in rest.iter().enumerate() {
        if b == b'/' {
            len = i;
            break;
        }
        if i < KEY_BYTES {
            prefix = prefix << 8 | u64::from(b);
        }
    }
    let key_len = u64::try_from(len).unwrap_or(u64::MAX).min(0xFFFF);
    (start + len, key_len << 48 | prefix)
}

/// Byte equality without a call to `memcmp`: segments are short, and the profiler showed the
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

/// The order of static children once built: by key, then bytes.
#[inline]
fn seg_cmp(key: u64, bytes: &[u8], other_key: u64, other: &[u8]) -> std::cmp::Ordering {
    key.cmp(&other_key).then_with(|| {
        for (x, y) in bytes.iter().zip(other) {
            if x != y {
                return x.cmp(y);
            }
        }
        bytes.len().cmp(&other.len())
    })
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// [`seg_key`] of each static child, scanned before comparing whole segments.
    keys: Vec<u64>,
    /// Static children: (segment, node index), aligned with `keys`; sorted by
    /// ([`seg_key`], bytes) once the router is built.
    statics: Vec<(Box<[u8]>, usize)>,
    /// The `{param}` child.
    param: Option<usize>,
    /// Routes whose template ends here.
    end: Leaf,
    /// Routes whose template ends with a wildcard here.
    wildcard: Leaf,
}

impl Node {
    /// The static child for segment `seg`, whose [`seg_key`] is `key`.
    #[inline]
    fn find_static(&self, seg: &[u8], key: u64) -> Option<usize> {
        if self.statics.len() > LINEAR_MAX {
            let mut lo = 0;
            let mut hi = self.statics.len();
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let (bytes, child) = self.statics.get(mid)?;
                let mid_key = self.keys.get(mid).copied().unwrap_or_default();
                match seg_cmp(mid_key, bytes, key, seg) {
                    std::cmp::Ordering::Less => lo = mid + 1,
                    std::cmp::Ordering::Greater => hi = mid,
                    std::cmp::Ordering::Equal => return Some(*child),
                }
            }
            return None;
        }
        for (i, &k) in self.keys.iter().enumerate() {
            if k == key {
                let (bytes, child) = self.statics.get(i)?;
                if seg.len() <= KEY_BYTES || same_bytes(bytes, seg) {
                    return Some(*child);
                }
            }
        }
        None
    }

    fn sort_statics(&mut self) {
        self.statics
            .sort_by(|(a, _), (b, _)| seg_cmp(seg_key(a), a, seg_key(b), b));
        self.keys = self.statics.iter().map(|(s, _)| seg_key(s)).collect();
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
    nodes: Vec<Node>,
    routes: Vec<Route<T>>,
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
            nodes: vec![Node::default()],
            routes: Vec::new(),
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
        let wildcard = template.has_wildcard();
        // Check before creating nodes so a rejected route leaves no dead branch behind.
        if let Some(node) = self.find_node(&template) {
            let leaf = self.leaf(node, wildcard);
            if let Some(&(_, with)) = leaf.iter().find(|(m, _)| m.overlaps(methods)) {
                return Err(Conflict { with });
            }
        }
        let mut node = 0;
        for seg in template.segments() {
            node = match seg {
                Segment::Literal(l) => self.static_child(node, l.as_bytes()),
                Segment::Param(_) => self.param_child(node),
                Segment::Wildcard(_) => break,
            };
        }
        let index = self.routes.len();
        if let Some(n) = self.nodes.get_mut(node) {
            if wildcard {
                &mut n.wildcard
            } else {
                &mut n.end
            }
            .push((methods, index));
        }
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
    pub fn build(mut self) -> Router<T> {
        for node in &mut self.nodes {
            node.sort_statics();
        }
        Router {
            nodes: self.nodes,
            routes: self.routes,
        }
    }

    /// The node where a template's routes live, if it exists already.
    fn find_node(&self, template: &PathTemplate) -> Option<usize> {
        let mut node = 0;
        for seg in template.segments() {
            let n = self.nodes.get(node)?;
            node = match seg {
                Segment::Literal(l) => n
                    .statics
                    .iter()
                    .find(|(s, _)| **s == *l.as_bytes())
                    .map(|&(_, child)| child)?,
                Segment::Param(_) => n.param?,
                Segment::Wildcard(_) => break,
            };
        }
        Some(node)
    }

    fn leaf(&self, node: usize, wildcard: bool) -> &[(MethodSet, usize)] {
        match self.nodes.get(node) {
            Some(n) if wildcard => &n.wildcard,
            Some(n) => &n.end,
            None => &[],
        }
    }

    fn static_child(&mut self, node: usize, seg: &[u8]) -> usize {
        let existing = self.nodes.get(node).and_then(|n| {
            n.statics
                .iter()
                .find(|(s, _)| **s == *seg)
                .map(|&(_, child)| child)
        });
        if let Some(child) = existing {
            return child;
        }
        let child = self.push_node();
        if let Some(n) = self.nodes.get_mut(node) {
            n.keys.push(seg_key(seg));
            n.statics.push((seg.into(), child));
        }
        child
    }

    fn param_child(&mut self, node: usize) -> usize {
        if let Some(child) = self.nodes.get(node).and_then(|n| n.param) {
            return child;
        }
        let child = self.push_node();
        if let Some(n) = self.nodes.get_mut(node) {
            n.param = Some(child);
        }
        child
    }

    fn push_node(&mut self) -> usize {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }
}

/// An immutable route table for one deployment. Lookups take `&self`, allocate nothing and
/// take no locks, so one `Router` can serve every connection (behind an `Arc`).
#[derive(Debug, Clone)]
pub struct Router<T> {
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
            .search(0, Some(1), &mut search)
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

    /// Depth-first search from `node`; `pos` is the start of the next path segment, or
    /// `None` when the path is exhausted. On failure the parameters are as on entry.
    ///
    /// Only a node that offers an alternative (a parameter or wildcard besides the literal
    /// child, or a wildcard besides the parameter child) recurses, so that it can backtrack;
    /// everywhere else the walk continues in a loop, which is most of the time.
    fn search(&self, mut node: usize, mut pos: Option<usize>, s: &mut Search<'_>) -> Option<usize> {
        let mark = s.params.len();
        let found = loop {
            let Some(n) = self.nodes.get(node) else {
                break None;
            };
            let Some(start) = pos else {
                // The path ends here: a template that ends here beats a wildcard matching
                // zero segments.
                break s
                    .pick(&n.end)
                    .or_else(|| s.wildcard(&n.wildcard, s.path.len()));
            };
            let (end, key) = next_segment(s.path, start);
            let seg = s.path.get(start..end).unwrap_or_default();
            let next = if end == s.path.len() {
                None
            } else {
                Some(end + 1)
            };
            // `{p}` never matches an empty segment.
            let param = n.param.filter(|_| !seg.is_empty());
            let wildcard = !n.wildcard.is_empty();

            if let Some(child) = n.find_static(seg, key) {
                if param.is_none() && !wildcard {
                    (node, pos) = (child, next);
                    continue;
                }
                if let found @ Some(_) = self.search(child, next, s) {
                    break found;
                }
            }
            if let Some(child) = param {
                s.params.push(start..end);
                if !wildcard {
                    (node, pos) = (child, next);
                    continue;
                }
                if let found @ Some(_) = self.search(child, next, s) {
                    break found;
                }
                s.params.pop();
            }
            break s.wildcard(&n.wildcard, start);
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
