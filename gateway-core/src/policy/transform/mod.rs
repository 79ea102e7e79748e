//! Header and query-parameter transformations (reference 4.7).
//!
//! Two layers:
//!
//! * [`RequestTransformLayer`] — a route's request `headerTransformations` and
//!   `queryParameterTransformations`, applied before the backend sees the request;
//! * [`ResponseHeaderTransformLayer`] — a route's response `headerTransformations`, applied to
//!   whatever answers from inside it (backend, cache, or a gateway-made error).
//!
//! # Semantics
//!
//! Within one policy the three kinds of transformation run in this order, each seeing the
//! message as the previous one left it:
//!
//! 1. **rename** — every `from` present is removed and its *original* values (all of them, in
//!    order) are written under `to`, replacing any `to` already there. Renames read the
//!    message as it arrived, so a chain `A→B, B→C` moves A's value to B and B's to C, and a
//!    rename is unaffected by a set or filter naming the same header. An absent `from` changes
//!    nothing (an existing `to` is kept).
//! 2. **set** — values are rendered against the request as it arrived (OCI: "context variable
//!    values are extracted from the original request … and are not subsequently updated");
//!    several values make one header (or parameter) each. `ifExists`: `OVERWRITE` (default)
//!    replaces every existing value, `APPEND` adds after them (as further header lines, which
//!    HTTP defines as equal to a comma-joined value), `SKIP` leaves an existing name alone; an
//!    absent name is always added.
//! 3. **filter** — last, so an `ALLOW` list must name what was set or renamed: `BLOCK` removes
//!    the listed names, `ALLOW` removes every name not listed.
//!
//! The loader rejects a name used by two transformations of one route (ALLOW lists excepted),
//! so this order only decides the outcome for policies built in code; it is the order in
//! which every transformation behaves as if it were alone.
//!
//! Header names compare case-insensitively, query-parameter names case-sensitively (after
//! percent-decoding, so `user%5Fid` is `user_id`). Protected headers (the lists in
//! [`spec`](crate::spec)) are never touched: items naming one are dropped when the layer is
//! compiled (logged as `headerTransformation.protectedHeaderTransformed`; the loader has
//! already warned), and an `ALLOW` filter keeps them.
//!
//! A rendered value that is not a valid header value (a claim with a line break) is dropped
//! and logged as `headerTransformation.badHeaderValue`; a set item left with no value changes
//! nothing. Query values are encoded minimally (see `policy::query`): untouched parameters
//! keep their exact spelling, variable values that are already encoded stay as they are, and
//! only characters that would break the query (`&`, `#`, spaces, controls, non-ASCII) are
//! escaped.

mod headers;
mod params;
mod request;
mod response;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use request::{RequestTransform, RequestTransformLayer};
pub use response::{
    ResponseHeaderTransform, ResponseHeaderTransformFuture, ResponseHeaderTransformLayer,
};

use crate::diagnostics::Diagnostics;
use crate::vars::{TableSet, Template};

/// Parses one `values` entry; a bad one (only possible for policies built in code: the loader
/// rejects it) is reported and left out.
fn parse_value(text: &str, path: &str, diags: &mut Diagnostics) -> Option<Template> {
    match Template::parse(text, TableSet::REQUEST) {
        Ok(template) => Some(template),
        Err(e) => {
            diags.error(path, e.to_string());
            None
        }
    }
}
