//! Route templates (`/users/{id}/files/{path*}`) and deployment path prefixes: parsing,
//! validation with positioned errors, and the canonical spelling the router matches against.

use std::fmt;
use std::str::FromStr;

use super::normalize::{classify_escape, push_escape, Escape, PathError};

/// OCI's limit on a route `path` (characters).
const MAX_TEMPLATE_LEN: usize = 2000;
/// OCI's limit on a deployment `pathPrefix` (characters).
const MAX_PREFIX_LEN: usize = 255;

const WHOLE_SEGMENT: &str = "a parameter must be a whole segment";
const NAME_CHARS: &str = "parameter names may contain only letters, digits and '_'";
const CHARSET: &str = "allowed: letters, digits and $ - _ . + ! * ' ( ) , % ; : @ & =";

/// A route template or path prefix that OCI would not accept, or that could never match a
/// normalised request path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}{}", hint_suffix(.hint))]
pub struct TemplateError {
    /// 0-based character position of the offending character in the input.
    pub position: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when that is not obvious from the message.
    pub hint: Option<&'static str>,
}

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map(|h| format!(" ({h})")).unwrap_or_default()
}

impl TemplateError {
    /// The message and position without the hint, for reports that show the hint apart.
    pub fn without_hint(&self) -> String {
        format!("{} at position {}", self.message, self.position)
    }

    fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }
}

/// One segment of a template (the text between two `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text (canonical escapes, case-sensitive). The empty literal is the
    /// final segment of a template that ends with `/` (and the only segment of `/`).
    Literal(Box<str>),
    /// `{name}`: one non-empty segment.
    Param(Box<str>),
    /// `{name*}` (the name is stored without `*`): zero or more remaining segments.
    Wildcard(Box<str>),
}

/// A parsed OCI route `path`.
///
/// Templates use only ASCII, so character positions in errors are also byte offsets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate {
    /// The canonical spelling: escapes canonicalised as in request paths.
    text: Box<str>,
    segments: Box<[Segment]>,
}

/// A template with its parameter names erased: two templates with the same shape match
/// exactly the same paths, so with overlapping methods they are a conflict.
///
/// Displayed with `{}` for a parameter and `{*}` for a wildcard, e.g. `/u/{}/files/{*}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateShape(String);

impl fmt::Display for TemplateShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PathTemplate {
    /// Parses and validates a route `path` (spec section 2.2-2.4).
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let bytes = template.as_bytes();
        if bytes.first() != Some(&b'/') {
            return Err(TemplateError::new(0, "a route path must start with '/'"));
        }
        if template.chars().count() > MAX_TEMPLATE_LEN {
            return Err(TemplateError::new(
                MAX_TEMPLATE_LEN,
                format!("a route path may have at most {MAX_TEMPLATE_LEN} characters"),
            ));
        }
        let mut text = String::with_capacity(template.len());
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut start = 1;
        loop {
            let end = find_slash(bytes, start);
            let last = end == bytes.len();
            let seg = template.get(start..end).unwrap_or_default();
            text.push('/');
            if seg.is_empty() {
                if !last {
                    return Err(
                        TemplateError::new(end, "empty segment (//)").hint("remove the extra '/'")
                    );
                }
                segments.push(Segment::Literal("".into()));
                break;
            }
            if seg.starts_with('{') {
                let (name, wildcard) = parse_param(seg, start)?;
                if wildcard && !last {
                    return Err(TemplateError::new(
                        start,
                        "a wildcard parameter must be the last segment",
                    )
                    .hint(
                        "it matches all remaining segments, so nothing can follow it, not even '/'",
                    ));
                }
                if names.contains(&name) {
                    return Err(TemplateError::new(
                        start + 1,
                        format!("duplicate parameter name '{name}'"),
                    ));
                }
                names.push(name);
                text.push_str(seg);
                segments.push(if wildcard {
                    Segment::Wildcard(name.into())
                } else {
                    Segment::Param(name.into())
                });
            } else {
                let from = text.len();
                canonical_literal(seg, start, &mut text)?;
                segments.push(Segment::Literal(
                    text.get(from..).unwrap_or_default().into(),
                ));
            }
            if last {
                break;
            }
            start = end + 1;
        }
        Ok(Self {
            text: text.into(),
            segments: segments.into(),
        })
    }

    /// The canonical spelling (percent-escapes canonicalised as in request paths).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The segments, in order; a trailing `/` is a final empty [`Segment::Literal`].
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Parameter names in template order (a wildcard's without the `*`); this is the order
    /// of the captured values in [`Params`](super::Params).
    pub fn param_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Literal(_) => None,
            Segment::Param(n) | Segment::Wildcard(n) => Some(&**n),
        })
    }

    /// The number of parameters, wildcard included.
    pub fn param_count(&self) -> usize {
        self.param_names().count()
    }

    /// Whether the template ends with `{name*}`.
    pub fn has_wildcard(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Wildcard(_)))
    }

    /// The template with parameter names erased (see [`TemplateShape`]).
    pub fn shape(&self) -> TemplateShape {
        let mut s = String::with_capacity(self.text.len());
        for seg in self.segments.iter() {
            s.push('/');
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Param(_) => s.push_str("{}"),
                Segment::Wildcard(_) => s.push_str("{*}"),
            }
        }
        TemplateShape(s)
    }

    /// Equality modulo parameter names: `/u/{id}` and `/u/{name}` have the same shape,
    /// `/u/{id}` and `/u/{id*}` do not.
    pub fn same_shape(&self, other: &Self) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(other.segments.iter())
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    (Segment::Param(_), Segment::Param(_))
                    | (Segment::Wildcard(_), Segment::Wildcard(_)) => true,
                    _ => false,
                })
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PathTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Validates a deployment `pathPrefix` (spec section 2.1).
pub fn validate_path_prefix(prefix: &str) -> Result<(), TemplateError> {
    canonical_prefix(prefix).map(drop)
}

/// Validates a prefix and returns its canonical spelling, which is what a normalised
/// request path has to start with.
pub(crate) fn canonical_prefix(prefix: &str) -> Result<String, TemplateError> {
    let bytes = prefix.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(TemplateError::new(0, "a path prefix must start with '/'"));
    }
    if prefix.chars().count() > MAX_PREFIX_LEN {
        return Err(TemplateError::new(
            MAX_PREFIX_LEN,
            format!("a path prefix may have at most {MAX_PREFIX_LEN} characters"),
        ));
    }
    if prefix == "/" {
        return Ok(prefix.to_owned());
    }
    let mut text = String::with_capacity(prefix.len());
    let mut start = 1;
    loop {
        let end = find_slash(bytes, start);
        let seg = prefix.get(start..end).unwrap_or_default();
        if seg.is_empty() {
            return Err(if end == bytes.len() {
                TemplateError::new(start - 1, "a path prefix must not end with '/'")
                    .hint("write '/v1', not '/v1/'")
            } else {
                TemplateError::new(end, "empty segment (//)").hint("remove the extra '/'")
            });
        }
        text.push('/');
        canonical_literal(seg, start, &mut text)?;
        if end == bytes.len() {
            return Ok(text);
        }
        start = end + 1;
    }
}

/// The index of the next `/` at or after `from`, or `bytes.len()`.
fn find_slash(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'/'))
        .map_or(bytes.len(), |i| from + i)
}

/// Parses `{name}` or `{name*}` (the whole segment `seg`, starting at position `at`).
fn parse_param(seg: &str, at: usize) -> Result<(&str, bool), TemplateError> {
    let Some(close) = seg.find('}') else {
        return Err(TemplateError::new(at, "unclosed '{'").hint("write a parameter as {name}"));
    };
    let inner = seg.get(1..close).unwrap_or_default();
    let (name, wildcard) = match inner.strip_suffix('*') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    if name.is_empty() {
        return Err(TemplateError::new(at + 1, "empty parameter name").hint(NAME_CHARS));
    }
    if let Some((i, c)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        let position = at + 1 + name.get(..i).map_or(i, |s| s.chars().count());
        return Err(TemplateError::new(
            position,
            format!("invalid character {c:?} in parameter name '{name}'"),
        )
        .hint(NAME_CHARS));
    }
    if close + 1 != seg.len() {
        return Err(
            TemplateError::new(at + close + 1, "unexpected text after a parameter")
                .hint(WHOLE_SEGMENT),
        );
    }
    Ok((name, wildcard))
}

/// Checks a literal segment (`seg`, starting at position `at`) and appends its canonical
/// spelling to `out`.
fn canonical_literal(seg: &str, at: usize, out: &mut String) -> Result<(), TemplateError> {
    let bytes = seg.as_bytes();
    let from = out.len();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                match classify_escape(bytes, i).map_err(|e| escape_error(e, at + i))? {
                    Escape::Decoded(d) => out.push(char::from(d)),
                    Escape::Kept(k) => push_escape(out, k),
                }
                i += 3;
                continue;
            }
            b'{' | b'}' => {
                return Err(TemplateError::new(
                    at + i,
                    format!("'{}' inside a literal segment", char::from(b)),
                )
                .hint(WHOLE_SEGMENT));
            }
            b if b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'$' | b'-'
                        | b'_'
                        | b'.'
                        | b'+'
                        | b'!'
                        | b'*'
                        | b'\''
                        | b'('
                        | b')'
                        | b','
                        | b';'
                        | b':'
                        | b'@'
                        | b'&'
                        | b'='
                ) =>
            {
                out.push(char::from(b));
            }
            _ => {
                // Every byte before this one was ASCII, so the byte offset is the character
                // position; report the whole character, not one byte of it.
                let c = seg
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('\u{FFFD}');
                return Err(
                    TemplateError::new(at + i, format!("invalid character {c:?}")).hint(CHARSET),
                );
            }
        }
        i += 1;
    }
    // As in request paths, servlet-style parameters (`..;x`, `;x`) do not make a dot or an
    // empty segment a name.
    let segment = out.get(from..).unwrap_or_default();
    match segment.split(';').next() {
        Some("." | "..") => Err(TemplateError::new(at, "'.' or '..' segment")
            .hint("requests with dot segments are refused, so it could never match")),
        Some("") if segment.contains(';') => {
            Err(TemplateError::new(at, "empty segment before ';'").hint(
                "requests with a segment that starts with ';' are refused, so it could never match",
            ))
        }
        _ => Ok(()),
    }
}

fn escape_error(e: PathError, position: usize) -> TemplateError {
    match e {
        PathError::MalformedEscape { .. } => {
            TemplateError::new(position, "malformed percent-escape").hint("write '%' as %25")
        }
        other => TemplateError::new(position, other.to_string())
            .hint("requests containing it are refused, so it could never match"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(t: &str) -> TemplateError {
        PathTemplate::parse(t).expect_err(t)
    }

    #[test]
    fn valid_templates() {
        for t in [
            "/",
            "/hello",
            "/hello/",
            "/hello/{region}/index.html",
            "/hello/{generic_welcome*}",
            "/{path*}",
            "/a/{b}/c/{d}/",
            "/$-_.+!*'(),%25;:@&=",
            "/{A_1}",
        ] {
            let p = PathTemplate::parse(t).expect(t);
            assert_eq!(p.as_str(), t);
            assert_eq!(p.to_string(), t);
        }
    }

    #[test]
    fn segments_and_names() {
        let p = PathTemplate::parse("/a/{x}/b/{rest*}").expect("valid");
        assert_eq!(p.param_names().collect::<Vec<_>>(), ["x", "rest"]);
        assert_eq!(p.param_count(), 2);
        assert!(p.has_wildcard());
        assert_eq!(
            p.segments(),
            [
                Segment::Literal("a".into()),
                Segment::Param("x".into()),
                Segment::Literal("b".into()),
                Segment::Wildcard("rest".into()),
            ]
        );
        let root = PathTemplate::parse("/").expect("valid");
        assert_eq!(root.segments(), [Segment::Literal("".into())]);
        let slash = PathTemplate::parse("/a/").expect("valid");
        assert_eq!(slash.segments().len(), 2);
        assert!(!slash.has_wildcard());
    }

    #[test]
    fn escapes_are_canonicalised() {
        let p = PathTemplate::parse("/%68ello/caf%c3%a9").expect("valid");
        assert_eq!(p.as_str(), "/hello/caf%C3%A9");
        assert_eq!(p.segments()[0], Segment::Literal("hello".into()));
    }

    #[test]
    fn shapes() {
        let a = PathTemplate::parse("/u/{id}/x").expect("valid");
        let b = PathTemplate::parse("/u/{name}/x").expect("valid");
        let c = PathTemplate::parse("/u/{id*}").expect("valid");
        let d = PathTemplate::parse("/u/{id}").expect("valid");
        assert!(a.same_shape(&b));
        assert_eq!(a.shape(), b.shape());
        assert_ne!(a, b);
        assert!(!c.same_shape(&d));
        assert_ne!(c.shape(), d.shape());
        assert_eq!(a.shape().to_string(), "/u/{}/x");
        assert_eq!(c.shape().to_string(), "/u/{*}");
    }

    #[test]
    fn errors_with_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "must start with '/'"),
            ("hello", 0, "must start with '/'"),
            ("//", 1, "empty segment"),
            ("/a//b", 3, "empty segment"),
            ("/{id}.json", 5, "unexpected text after a parameter"),
            ("/x{id}", 2, "'{' inside a literal segment"),
            ("/x}", 2, "'}' inside a literal segment"),
            ("/{id", 1, "unclosed '{'"),
            ("/{}", 2, "empty parameter name"),
            ("/{*}", 2, "empty parameter name"),
            ("/{a-b}", 3, "invalid character '-' in parameter name 'a-b'"),
            ("/{a*b}", 3, "invalid character '*' in parameter name 'a*b'"),
            (
                "/{a{b}}",
                3,
                "invalid character '{' in parameter name 'a{b'",
            ),
            (
                "/{rest*}/x",
                1,
                "wildcard parameter must be the last segment",
            ),
            (
                "/{rest*}/",
                1,
                "wildcard parameter must be the last segment",
            ),
            ("/{a}/{a}", 6, "duplicate parameter name 'a'"),
            ("/{a}/{a*}", 6, "duplicate parameter name 'a'"),
            ("/a b", 2, "invalid character ' '"),
            ("/é/{x}", 1, "invalid character 'é'"),
            ("/~", 1, "invalid character '~'"),
            ("/a?b", 2, "invalid character '?'"),
            ("/a/%zz", 3, "malformed percent-escape"),
            ("/a/%4", 3, "malformed percent-escape"),
            ("/a/..;x/b", 3, "'.' or '..' segment"),
            ("/.;/{p}", 1, "'.' or '..' segment"),
            ("/a/%2e%2e;", 3, "'.' or '..' segment"),
            ("/;x", 1, "empty segment before ';'"),
            ("/a/;/{p}", 3, "empty segment before ';'"),
            ("/a%2fb", 2, "encoded slash (%2F) in path"),
            ("/a%5Cb", 2, "encoded backslash (%5C) in path"),
            ("/a%00", 2, "encoded control character (%00) in path"),
            ("/a/.", 3, "'.' or '..' segment"),
            ("/a/../b", 3, "'.' or '..' segment"),
            ("/%2e%2E", 1, "'.' or '..' segment"),
        ];
        for &(t, position, message) in cases {
            let e = err(t);
            assert_eq!(e.position, position, "{t}: {e}");
            assert!(e.message.contains(message), "{t}: {e}");
        }
    }

    #[test]
    fn error_display_has_hint() {
        let e = err("/{id}.json");
        assert_eq!(e.hint, Some(WHOLE_SEGMENT));
        assert_eq!(
            e.to_string(),
            "unexpected text after a parameter at position 5 (a parameter must be a whole segment)"
        );
        let long = format!("/{}", "a".repeat(MAX_TEMPLATE_LEN));
        assert_eq!(err(&long).position, MAX_TEMPLATE_LEN);
    }

    #[test]
    fn prefixes() {
        for p in ["/", "/v1", "/marketing/v2", "/a$b", "/%41"] {
            assert_eq!(validate_path_prefix(p), Ok(()), "{p}");
        }
        assert_eq!(canonical_prefix("/%41pi").as_deref(), Ok("/Api"));
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "must start with '/'"),
            ("v1", 0, "must start with '/'"),
            ("/v1/", 3, "must not end with '/'"),
            ("//", 1, "empty segment"),
            ("/a//b", 3, "empty segment"),
            ("/{v}", 1, "'{' inside a literal segment"),
            ("/v1/{rest*}", 4, "'{' inside a literal segment"),
            ("/a b", 2, "invalid character ' '"),
            ("/a/..", 3, "'.' or '..' segment"),
            ("/a%2F", 2, "encoded slash"),
        ];
        for &(p, position, message) in cases {
            let e = validate_path_prefix(p).expect_err(p);
            assert_eq!(e.position, position, "{p}: {e}");
            assert!(e.message.contains(message), "{p}: {e}");
        }
        let long = format!("/{}", "a".repeat(MAX_PREFIX_LEN));
        assert!(validate_path_prefix(&long).is_err());
    }
}
