//! OCI API Gateway deployment specifications: the typed model, a loader that reports every
//! problem at once, and the list of features a spec uses.
//!
//! A spec file is the `ApiSpecification` itself (what OCI's `specification` field holds), in
//! the SDK's JSON spelling (reference 0):
//!
//! ```
//! use gateway_core::spec::load_spec;
//!
//! let load = load_spec(r#"{ "routes": [ { "path": "/hello", "methods": ["GET"],
//!     "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } } ] }"#);
//! assert!(!load.diagnostics.has_errors());
//! let spec = load.spec.expect("loads");
//! assert_eq!(spec.routes[0].path, "/hello");
//! ```
//!
//! # Why a hand-written decoder
//!
//! serde's derive stops at the first error. A deployment file is written by hand, copied from
//! docs and translated from Terraform, so it tends to have several mistakes at once; the
//! loader walks the JSON with a path and records every one of them (unknown keys, wrong
//! types, missing fields, unknown discriminators, out-of-range values, OCI limits, context
//! variable syntax) as a [`Diagnostic`](crate::diagnostics::Diagnostic) with a JSON path such
//! as `routes[3].backend.type` and, where possible, a hint.
//!
//! # What is checked here, and what is not
//!
//! Everything the reference lists that lives inside the spec: SDK shapes and enums, ranges,
//! mutual exclusions, uniqueness, header syntax, URLs, CORS origins, wildcard expressions,
//! authorization against authentication, context variables per field, and OCI's limits
//! (reference 11) as [`Kind::Limit`](crate::diagnostics::Kind::Limit) warnings that `--strict`
//! turns into errors. Route path *syntax* and route conflicts belong to the router.
//!
//! Doc-spelling aliases (reference 0.2) load with a
//! [`Kind::Alias`](crate::diagnostics::Kind::Alias) warning naming the SDK spelling, and are
//! written back out in SDK spelling.

mod cache_details;
mod checks;
pub(crate) mod decode;
mod duplicates;
mod features;
mod model;
mod vars_check;

#[cfg(test)]
mod tests;

pub use cache_details::{
    load_response_cache_details, ExternalRespCache, RespServer, ResponseCacheDetails,
};
pub use features::{Feature, FeatureUse};
pub use model::*;

use serde_json::Value;

use crate::diagnostics::Diagnostics;
use decode::{limit_size, FromJson};

/// OCI's maximum size of a specification's JSON (reference 11).
pub const MAX_SPEC_BYTES: usize = 2 * 1024 * 1024;

/// The result of loading a specification.
#[derive(Debug, Clone)]
pub struct SpecLoad {
    /// The specification; `Some` exactly when no diagnostic is an error.
    pub spec: Option<ApiSpecification>,
    /// Every problem found, errors and warnings, in document order.
    pub diagnostics: Diagnostics,
}

impl SpecLoad {
    fn finish(spec: Option<ApiSpecification>, diagnostics: Diagnostics) -> SpecLoad {
        let spec = if diagnostics.has_errors() { None } else { spec };
        SpecLoad { spec, diagnostics }
    }
}

/// Loads a specification from JSON text. Invalid JSON gives one diagnostic at the document
/// path `""` with serde_json's line and column.
pub fn load_spec(text: &str) -> SpecLoad {
    let mut diagnostics = Diagnostics::new();
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            diagnostics
                .error("", format!("invalid JSON: {e}"))
                .hint("the file must be one JSON object: the ApiSpecification");
            return SpecLoad::finish(None, diagnostics);
        }
    };
    limit_size(
        &mut diagnostics,
        "",
        "the specification",
        text.len(),
        MAX_SPEC_BYTES,
        "bytes",
    );
    report_duplicate_keys(text, &mut diagnostics);
    let spec = ApiSpecification::from_json(&value, "", &mut diagnostics);
    SpecLoad::finish(spec, diagnostics)
}

/// Reports every key of `text` written twice in one object: a JSON parser keeps only one of
/// them, which could silently drop a policy.
pub(crate) fn report_duplicate_keys(text: &str, diagnostics: &mut Diagnostics) {
    for path in duplicates::duplicate_keys(text) {
        diagnostics
            .error(
                path,
                "the key appears twice in its object; only the last would count",
            )
            .hint("merge the two into one");
    }
}

/// Loads a specification already parsed as JSON (for example, the `specification` member of
/// a larger configuration). The size limit is measured on its compact serialization.
pub fn load_spec_value(value: &Value) -> SpecLoad {
    let mut diagnostics = Diagnostics::new();
    let size = value.to_string().len();
    limit_size(
        &mut diagnostics,
        "",
        "the specification",
        size,
        MAX_SPEC_BYTES,
        "bytes",
    );
    let spec = ApiSpecification::from_json(value, "", &mut diagnostics);
    SpecLoad::finish(spec, diagnostics)
}
