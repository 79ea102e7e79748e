//! Request routing with OCI API Gateway semantics: path normalisation, route templates,
//! method sets, a radix tree for routes and longest-prefix selection of deployments.
//!
//! A request goes through three steps, all allocation-free in the common case:
//!
//! 1. [`normalize_path`] turns the URI path into its one canonical spelling, or refuses it
//!    (the gateway answers 400);
//! 2. [`PrefixRouter::find`] picks the deployment by its `pathPrefix` and gives the path
//!    relative to it;
//! 3. [`Router::at`] finds the route in that deployment for the method and relative path.
//!
//! ```
//! use gateway_core::router::{normalize_path, Lookup, MethodSet, PathTemplate, PrefixRouter, RouterBuilder};
//! use http::Method;
//!
//! let mut routes = RouterBuilder::new();
//! routes.insert(PathTemplate::parse("/hello/{name}")?, MethodSet::GET, "greet")?;
//! routes.insert(PathTemplate::parse("/{path*}")?, MethodSet::ANY, "fallback")?;
//! let mut deployments = PrefixRouter::new();
//! deployments.insert("/v1", routes.build())?;
//!
//! let path = normalize_path("/v1/h%65llo/w%c3%b6rld")?; // "/v1/hello/w%C3%B6rld"
//! let (router, rest) = deployments.find(&path).ok_or("no deployment")?;
//! match router.at(&Method::GET, rest) {
//!     Lookup::Found(m) => {
//!         assert_eq!(*m.value, "greet");
//!         let name = m.params.get(0).and_then(|r| rest.get(r));
//!         assert_eq!(name, Some("w%C3%B6rld"));
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Path normalisation
//!
//! The goal is that no spelling of a path reaches a route its plain form would not, or slips
//! past that route's policies, and that nothing a backend could resolve differently from the
//! gateway gets through. [`normalize_path`]:
//!
//! * requires a leading `/`;
//! * decodes percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`): `/%68ello` is
//!   `/hello`;
//! * keeps every other escape, with uppercase hex digits: `%c3%a9` becomes `%C3%A9`. Escaped
//!   and raw sub-delimiters (`%3B` and `;`) stay distinct, as RFC 3986 says they may mean
//!   different things;
//! * escapes raw bytes that are not legal in a URI path (non-ASCII, space, `"`, `{`, `|`,
//!   ...), so `/café` and `/caf%C3%A9` are one path;
//! * refuses ([`PathError`]): a malformed escape (`%`, `%4`, `%zz`); an encoded slash or
//!   backslash (`%2F`, `%5C`, either case); an encoded control character (`%00`-`%1F`,
//!   `%7F`); a raw backslash or control character; an empty segment (`//` anywhere; a single
//!   trailing `/` is fine and significant); a `.` or `..` segment in any spelling (`%2e`,
//!   `.%2E`, ...); the same before path parameters, which servlet containers strip (`/;x`,
//!   `/..;x`);
//! * borrows the input when it is already canonical.
//!
//! The output is a fixed point: normalising it again changes nothing.
//!
//! # Templates
//!
//! [`PathTemplate::parse`] accepts OCI route paths: a leading `/` (the path may be just `/`),
//! no `//`, an optional trailing `/` (significant), the characters
//! `A-Z a-z 0-9 $ - _ . + ! * ' ( ) , % ; : @ & =`, `{name}` parameters and a final
//! `{name*}` wildcard, each taking a whole segment, with names `[A-Za-z0-9_]+` that are
//! unique within the template. Escapes in literal segments are canonicalised as in request
//! paths; templates that could never match a normalised path (`.`/`..` segments, `%2F`) are
//! refused. Errors carry the character position and usually a hint.
//!
//! # Matching
//!
//! * Segments are the parts of the path between `/`. A trailing `/` makes a final empty
//!   segment, so `/a` and `/a/` are different paths for literal templates, and `/` is one
//!   empty segment.
//! * A literal segment matches only itself, case-sensitively. `{p}` matches exactly one
//!   non-empty segment. `{p*}` matches zero or more remaining segments and captures them
//!   without a leading slash, trailing slash kept: `/hello/{p*}` matches `/hello` (`""`),
//!   `/hello/` (`""`), `/hello/a` (`"a"`) and `/hello/a/b/` (`"a/b/"`).
//! * Precedence, segment by segment from the left: a literal beats `{param}`, which beats
//!   `{param*}`; a template that ends where the path ends beats a wildcard matching zero
//!   segments. The first difference decides, so `/a/{x}/d` wins over `/a/{y*}` on `/a/b/d`,
//!   and `/a/b/c` does not block `/a/{x}/d` on `/a/b/d` (the search backtracks).
//! * The method takes part in matching: the result is the most specific template that
//!   matches the path *and* accepts the method. When templates match the path but none
//!   accepts the method, the lookup is [`Lookup::MethodNotAllowed`] with the union of their
//!   methods; when none matches the path it is [`Lookup::NotFound`].
//! * Two routes whose templates are equal once parameter names are erased, and whose method
//!   sets overlap, are a [`Conflict`] at insert time, so at most one route can be the answer.
//! * Captured values are byte ranges ([`Params`]) into the path given to [`Router::at`], still
//!   percent-encoded as OCI passes them on.
//!
//! # Deployments
//!
//! [`PrefixRouter`] chooses the longest `pathPrefix` that matches case-sensitively and ends
//! at a segment boundary; the rest of the path (always starting with `/`) is what the
//! deployment's [`Router`] sees. A `/` prefix must be the gateway's only deployment.

mod methods;
mod normalize;
mod params;
mod prefix;
mod template;
mod trie;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use methods::{MethodSet, UnknownMethod};
pub use normalize::{normalize_path, PathError};
pub use params::Params;
pub use prefix::{PrefixError, PrefixRouter};
pub use template::{validate_path_prefix, PathTemplate, Segment, TemplateError, TemplateShape};
pub use trie::{Conflict, Lookup, Match, Router, RouterBuilder};
