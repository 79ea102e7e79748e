//! A request context for requests that did not come through the gateway's dispatcher.
//!
//! The authentication layers and the authenticators read the request's [`RequestContext`].
//! Inside a gateway the dispatcher provides it; a program that mounts an authentication layer
//! (or calls an [`Authenticator`](super::Authenticator)) on its own gets one from here, with no
//! route and no path parameters.

use std::sync::Arc;

use http::request::Parts;

use crate::context::{ClientAddr, RequestContext};
use crate::request_id::RequestId;
use crate::router::{MethodSet, Params, PathTemplate};
use crate::routes::RouteInfo;

/// A context for `parts` outside any deployment: the request's id and client address when the
/// extensions hold them, its URI for `request.query` and `request.host`, and no path
/// parameters.
pub fn detached_context(parts: &Parts) -> RequestContext {
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::generate);
    let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
    // A constant, valid template: parsing it cannot fail.
    let template = PathTemplate::parse("/").expect("\"/\" is a valid route template");
    let info = RouteInfo::new(
        Arc::from(""),
        Arc::from("/"),
        0,
        template,
        MethodSet::ANY,
        "NONE",
    );
    RequestContext::new(
        request_id,
        client,
        Arc::new(info),
        parts.uri.clone(),
        0,
        Params::new(),
    )
}
