//! Context variables of a request, with or without the gateway's [`RequestContext`].
//!
//! Behind the gateway's dispatcher every request carries a [`RequestContext`], and variables
//! resolve against it. A backend mounted on its own (embedded in another server, or in a
//! test) still resolves what the request itself carries: query parameters, headers and the
//! host; path parameters and `request.auth` need the router and authentication, so they are
//! absent there.

use http::request::Parts;
use http::{HeaderMap, Uri};

use crate::context::{first_query_value, RequestContext};
use crate::vars::VarSource;

/// Calls `f` with the variables of the request described by `parts`.
pub(crate) fn with_vars<R>(parts: &Parts, f: impl FnOnce(&dyn VarSource) -> R) -> R {
    match parts.extensions.get::<RequestContext>() {
        Some(ctx) => f(&ctx.vars(&parts.headers)),
        None => f(&BareRequest {
            uri: &parts.uri,
            headers: &parts.headers,
        }),
    }
}

/// The variables a request carries by itself.
struct BareRequest<'a> {
    uri: &'a Uri,
    headers: &'a HeaderMap,
}

impl VarSource for BareRequest<'_> {
    fn path_param(&self, _name: &str) -> Option<&str> {
        None
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        first_query_value(self.uri.query()?, name)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    fn auth(&self, _key: &str) -> Option<&str> {
        None
    }

    fn host(&self) -> Option<&str> {
        self.header("host").or_else(|| self.uri.host())
    }

    fn cert(&self, _key: &str) -> Option<&str> {
        None
    }

    fn usage_plan(&self, _key: &str) -> Option<&str> {
        None
    }
}
