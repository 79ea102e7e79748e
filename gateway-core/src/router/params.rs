//! [`Params`]: where the captured parameter values are in the path.

use std::ops::Range;

use smallvec::SmallVec;

/// The captured values of a match, in the template's parameter order, as byte ranges of the
/// path given to [`Router::at`](super::Router::at).
///
/// Ranges rather than `&str` so that a match borrows nothing from the path: callers keep the
/// path (usually inside the request) and slice it when they need a value. Up to four values
/// are held inline, which covers real templates without touching the heap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(SmallVec<[Range<usize>; 4]>);

impl Params {
    /// No captured values.
    pub fn new() -> Self {
        Self(SmallVec::new())
    }

    /// The range of the `index`-th parameter (template order), if there is one.
    pub fn get(&self, index: usize) -> Option<Range<usize>> {
        self.0.get(index).cloned()
    }

    /// The number of captured values (the template's parameter count).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the template has no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges in template order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Range<usize>> + '_ {
        self.0.iter().cloned()
    }

    #[inline]
    pub(crate) fn push(&mut self, range: Range<usize>) {
        self.0.push(range);
    }

    #[inline]
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    #[inline]
    pub(crate) fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

impl FromIterator<Range<usize>> for Params {
    fn from_iter<I: IntoIterator<Item = Range<usize>>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}
