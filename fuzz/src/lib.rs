//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use gateway_core::router::Params;

/// The text of each captured parameter of a route match, in template order; a capture that
/// does not fall on character boundaries of `path` is a bug.
pub fn captures<'p>(params: &Params, path: &'p str) -> Vec<&'p str> {
    params
        .iter()
        .map(|r| path.get(r).expect("a capture on character boundaries"))
        .collect()
}
