//! The percent-encoding sets for what the gateway writes into URIs, one per context, for
//! `percent_encoding::utf8_percent_encode`. Each names the ASCII bytes to escape; bytes outside
//! ASCII are always escaped. None holds `%` unless it says so: a value that is already encoded
//! passes through as it is.

use percent_encoding::{AsciiSet, CONTROLS};

/// Bytes never legal raw in a URI path or query (RFC 3986): controls, space,
/// `" < > \ ^ ` { | }`, and the delimiters `#`, `[` and `]`.
const NOT_IN_URI: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A name inside a rate-limit or quota key: [`crate::limit`]'s keys join names with `/`, and
/// Redis Cluster reads `{…}` as the hash tag.
pub(crate) const LIMIT_KEY_PART: &AsciiSet = &CONTROLS.add(b'%').add(b'/').add(b'{').add(b'}');

/// A query value: RFC 3986 `query` characters stay, less `&`, which delimits parameters. `+`
/// stays (in a value from a context variable it already means a space). `%` is escaped here;
/// the query encoder keeps well-formed escapes itself.
pub(crate) const QUERY_VALUE: &AsciiSet = &NOT_IN_URI.add(b'%').add(b'&');

/// A query name: as [`QUERY_VALUE`], and `=`.
pub(crate) const QUERY_NAME: &AsciiSet = &QUERY_VALUE.add(b'=');

/// A value that may span path segments: unreserved characters, sub-delims, `:`, `@`, `/` and
/// `%` stay.
pub(crate) const PATH: &AsciiSet = &NOT_IN_URI.add(b'?');

/// A value inside one path segment: as [`PATH`], and `/`.
pub(crate) const PATH_SEGMENT: &AsciiSet = &PATH.add(b'/');
