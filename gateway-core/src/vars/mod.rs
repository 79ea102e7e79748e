//! OCI context variables: `request.path[region]`, `${request.headers[X-Api-Key]}` and friends
//! (reference §6).
//!
//! A variable names a *table* and, for most tables, a *key*. Deployment specifications write
//! them in two forms:
//!
//! * **bare** — the whole field is one variable (`selector`, authorizer `parameters`,
//!   `tokenLocations`, `cacheKeyAdditions`, `responseCode`, `postLogoutState`): [`Selector`];
//! * **embedded** — `${…}` inside a string with literal text around it (HTTP `url`,
//!   transformation `values`, `responseMessage`, logout URIs): [`Template`].
//!
//! Both are parsed once, when the specification is loaded, into plain data; per-request
//! evaluation is a table lookup through [`VarSource`] and, for templates, string pushes into
//! one pre-sized output `String`. Parse errors carry a character position and, where a fix is
//! obvious, a hint, so the loader can turn them into diagnostics.
//!
//! Semantics, following OCI: the **first** value of a repeated header or parameter is used; values
//! are substituted exactly as received (never percent-decoded); an absent variable renders as
//! the empty string in a template and as `None` from a selector.

mod eval;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::BitOr;

/// A context-variable table: the part before the `[key]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `request.path[name]`: a route template parameter, still URL-encoded.
    Path,
    /// `request.query[name]`: a query parameter, encoded form kept; names are case-sensitive.
    Query,
    /// `request.headers[name]`: a request header; names are case-insensitive.
    Headers,
    /// `request.auth[name]`: a JWT claim or a key of the authorizer function's `context`.
    Auth,
    /// `request.host`: the host from the `Host` header; takes no key.
    Host,
    /// `request.subdomain[suffix]`: the host with `.suffix` removed from its end.
    Subdomain,
    /// `request.cert[client_base64]`: the verified mTLS client certificate.
    Cert,
    /// `request.usage_plan[id]`: the OCID of the caller's usage plan.
    UsagePlan,
    /// `request.body`: the whole body; only an authorizer parameter. Takes no key.
    Body,
}

impl Table {
    /// Every table, in the order used by messages.
    pub const ALL: [Table; 9] = [
        Table::Path,
        Table::Query,
        Table::Headers,
        Table::Auth,
        Table::Host,
        Table::Subdomain,
        Table::Cert,
        Table::UsagePlan,
        Table::Body,
    ];

    /// The table as written in a specification, e.g. `"request.path"`.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Path => "request.path",
            Table::Query => "request.query",
            Table::Headers => "request.headers",
            Table::Auth => "request.auth",
            Table::Host => "request.host",
            Table::Subdomain => "request.subdomain",
            Table::Cert => "request.cert",
            Table::UsagePlan => "request.usage_plan",
            Table::Body => "request.body",
        }
    }

    /// The table with this exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the table is written with a `[key]`; `request.host` and `request.body` are not.
    pub const fn takes_key(self) -> bool {
        !matches!(self, Table::Host | Table::Body)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which tables a field allows. OCI allows a different subset in nearly every field, so each
/// field's parser passes one of these; the presets below collect the reference's lists.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TableSet(u16);

impl TableSet {
    /// No table: a field that takes no variables.
    pub const EMPTY: TableSet = TableSet(0);
    /// Just `request.path`.
    pub const PATH: TableSet = TableSet::of(Table::Path);
    /// Just `request.query`.
    pub const QUERY: TableSet = TableSet::of(Table::Query);
    /// Just `request.headers`.
    pub const HEADERS: TableSet = TableSet::of(Table::Headers);
    /// Just `request.auth`.
    pub const AUTH: TableSet = TableSet::of(Table::Auth);
    /// Just `request.host`.
    pub const HOST: TableSet = TableSet::of(Table::Host);
    /// Just `request.subdomain`.
    pub const SUBDOMAIN: TableSet = TableSet::of(Table::Subdomain);
    /// Just `request.cert`.
    pub const CERT: TableSet = TableSet::of(Table::Cert);
    /// Just `request.usage_plan`.
    pub const USAGE_PLAN: TableSet = TableSet::of(Table::UsagePlan);
    /// Just `request.body`.
    pub const BODY: TableSet = TableSet::of(Table::Body);
    /// Every table.
    pub const ALL: TableSet = TableSet((1 << Table::ALL.len()) - 1);
    /// Everything but `request.body`: transformation `values`, HTTP `url`, `responseMessage`,
    /// `responseCode` (§4.1.1, §4.7).
    pub const REQUEST: TableSet = TableSet(Self::ALL.0 & !Self::BODY.0);
    /// A dynamic-routing `selector` (§3.4).
    pub const SELECTOR: TableSet = TableSet::AUTH
        .union(TableSet::HEADERS)
        .union(TableSet::HOST)
        .union(TableSet::PATH)
        .union(TableSet::QUERY)
        .union(TableSet::SUBDOMAIN)
        .union(TableSet::USAGE_PLAN);
    /// A multi-argument authorizer's `parameters` values (§4.1.1).
    pub const AUTHORIZER_PARAMETERS: TableSet = TableSet::QUERY
        .union(TableSet::HEADERS)
        .union(TableSet::CERT)
        .union(TableSet::HOST)
        .union(TableSet::BODY);
    /// Usage-plan `tokenLocations` (§4.5).
    pub const TOKEN_LOCATIONS: TableSet = TableSet::AUTH
        .union(TableSet::HEADERS)
        .union(TableSet::QUERY)
        .union(TableSet::PATH)
        .union(TableSet::HOST);
    /// Response-cache `cacheKeyAdditions` (§4.9).
    pub const CACHE_KEY: TableSet = TableSet::QUERY
        .union(TableSet::HEADERS)
        .union(TableSet::AUTH)
        .union(TableSet::HOST);

    /// The set holding just `t`.
    pub const fn of(t: Table) -> TableSet {
        TableSet(t.bit())
    }

    /// The tables in either set; `const`, unlike `|`.
    pub const fn union(self, other: TableSet) -> TableSet {
        TableSet(self.0 | other.0)
    }

    /// Whether `t` is in the set.
    pub const fn contains(self, t: Table) -> bool {
        self.0 & t.bit() != 0
    }

    /// Whether the set has no table.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The tables in the set, in [`Table::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Table> {
        Table::ALL.into_iter().filter(move |&t| self.contains(t))
    }
}

impl BitOr for TableSet {
    type Output = TableSet;
    fn bitor(self, rhs: TableSet) -> TableSet {
        self.union(rhs)
    }
}

impl From<Table> for TableSet {
    fn from(t: Table) -> TableSet {
        TableSet::of(t)
    }
}

impl fmt::Debug for TableSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Table::name)).finish()
    }
}

/// Where variable values come from; implemented by the gateway's per-request context.
///
/// Every method returns the **first** value, still encoded exactly as received: OCI substitutes
/// values without decoding them, and only ever the first of repeated ones.
pub trait VarSource {
    /// A matched route-template parameter (`{name}` or `{name*}`, looked up without the `*`).
    fn path_param(&self, name: &str) -> Option<&str>;
    /// A query parameter; names are case-sensitive.
    fn query_param(&self, name: &str) -> Option<&str>;
    /// A request header; names are case-insensitive.
    fn header(&self, name: &str) -> Option<&str>;
    /// A JWT claim or a key of the authorizer's `context`.
    fn auth(&self, key: &str) -> Option<&str>;
    /// The host as received (`Host` header or URI authority), possibly with a `:port`.
    /// `request.host` yields it unchanged; `request.subdomain` strips the port itself.
    fn host(&self) -> Option<&str>;
    /// mTLS certificate data; the only key is `client_base64`.
    fn cert(&self, key: &str) -> Option<&str>;
    /// Usage-plan data; the only key is `id`.
    fn usage_plan(&self, key: &str) -> Option<&str>;
    /// The whole request body, when it has been buffered and is UTF-8.
    fn body(&self) -> Option<&str> {
        None
    }
}

/// What a variable names: a table and, unless the table takes none, a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarRef {
    /// The table, e.g. `request.headers`.
    pub table: Table,
    /// `Some` exactly when [`Table::takes_key`]; never empty.
    pub key: Option<Box<str>>,
}

impl VarRef {
    /// The key between the brackets, e.g. `X-Api-Key`; `None` for `request.host` and
    /// `request.body`.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

impl fmt::Display for VarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.table.name())?;
        match &self.key {
            Some(key) => write!(f, "[{key}]"),
            None => Ok(()),
        }
    }
}

/// A parse error. `position` is a 0-based **character** offset into the parsed text, so it can
/// be shown under the text of a JSON string as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {position}")]
pub struct VarError {
    /// 0-based character offset of the problem in the parsed text.
    pub position: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when the fix is obvious.
    pub hint: Option<String>,
}

impl VarError {
    /// An error at `position`, without a hint.
    pub fn new(position: usize, message: impl Into<String>) -> VarError {
        VarError {
            position,
            message: message.into(),
            hint: None,
        }
    }

    /// The same error with a fix hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> VarError {
        self.hint = Some(hint.into());
        self
    }
}

/// A bare context variable: the whole field is one variable (`request.headers[X-Api-Key]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    var: VarRef,
}

impl Selector {
    /// Parses a bare variable. `${…}` is rejected (with a hint): OCI's bare fields take none.
    pub fn parse(text: &str, allowed: TableSet) -> Result<Selector, VarError> {
        parse::bare(text, allowed).map(|var| Selector { var })
    }

    /// Parses a bare variable or one wrapped whole in `${…}`. For `cacheKeyAdditions`, where the
    /// docs write the bare form and the SDK comment the wrapped one (§4.9).
    pub fn parse_either(text: &str, allowed: TableSet) -> Result<Selector, VarError> {
        match text.strip_prefix("${") {
            Some(_) => parse::wrapped(text, allowed).map(|var| Selector { var }),
            None => Selector::parse(text, allowed),
        }
    }

    /// The variable.
    pub fn var(&self) -> &VarRef {
        &self.var
    }

    /// The variable's table.
    pub fn table(&self) -> Table {
        self.var.table
    }

    /// The variable's value; absent (or an unknown key) is `None`.
    pub fn value<'a>(&self, src: &'a (impl VarSource + ?Sized)) -> Option<&'a str> {
        self.var.value(src)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.var.fmt(f)
    }
}

/// One piece of a [`Template`]. Literals are never empty and never adjacent to each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    /// Text copied to the output as written.
    Literal(Box<str>),
    /// A `${…}` variable, replaced by its value (the empty string when absent).
    Var(VarRef),
}

/// A string with embedded `${…}` variables, split once into literal and variable parts.
///
/// Exposing the parts lets a caller check *where* variables sit (an HTTP `url` allows them
/// only in path segments) without re-parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`. A `$` not followed by `{` is literal; there is no escape for `${`.
    pub fn parse(text: &str, allowed: TableSet) -> Result<Template, VarError> {
        parse::template(text, allowed).map(|parts| Template { parts })
    }

    /// The literal and variable parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The variables, in order of appearance (repeats included).
    pub fn vars(&self) -> impl Iterator<Item = &VarRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Literal(_) => None,
        })
    }

    /// No variables at all.
    pub fn is_literal(&self) -> bool {
        self.as_literal().is_some()
    }

    /// The text when there are no variables (`""` for an empty template).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Appends the rendered text to `out`; absent variables render as `""` (OCI: unknown key →
    /// empty string).
    pub fn render_into(&self, src: &(impl VarSource + ?Sized), out: &mut String) {
        eval::render_into(&self.parts, src, out);
    }

    /// The exact length [`Template::render`] will produce for this source.
    pub fn rendered_len(&self, src: &(impl VarSource + ?Sized)) -> usize {
        eval::rendered_len(&self.parts, src)
    }

    /// Renders into a new `String` allocated once at its exact final size.
    ///
    /// Each variable is looked up twice, once to size and once to copy: a lookup is a hash
    /// probe, cheaper than growing and copying the string, and it keeps evaluation free of any
    /// scratch allocation.
    pub fn render(&self, src: &(impl VarSource + ?Sized)) -> String {
        if let Some(text) = self.as_literal() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(self.rendered_len(src));
        self.render_into(src, &mut out);
        out
    }
}

/// Renders back canonical text that parses to an equal template.
impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Var(var) => write!(f, "${{{var}}}")?,
            }
        }
        Ok(())
    }
}
