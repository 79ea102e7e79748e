//! An error with its sources as one line, for logs and log-bound reasons: the top-level
//! messages of hyper, reqwest and rustls rarely say what failed ("error sending request";
//! the cause says "Connection refused").

use std::error::Error;
use std::fmt::Write;

/// `error` and all its sources, joined with `: `.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(out, ": {cause}");
        source = cause.source();
    }
    out
}
