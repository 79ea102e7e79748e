//! The hand-written scanner behind [`Selector::parse`](super::Selector::parse) and
//! [`Template::parse`](super::Template::parse).
//!
//! The grammar is tiny — `table` or `table[key]`, optionally inside `${…}` — so a byte-offset
//! scanner gives precise, friendly errors where a regex could only say "no match".

use super::{Part, Table, TableSet, VarError, VarRef};
use crate::diagnostics::did_you_mean;

/// How the variable is written, which decides what may end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// The whole text is the variable: it ends at the end of the text.
    Bare,
    /// `${…}`, with `$` at this byte offset: it ends at the first `}`.
    Embedded { dollar: usize },
}

/// Parses a bare variable filling all of `text`.
pub(super) fn bare(text: &str, allowed: TableSet) -> Result<VarRef, VarError> {
    Scanner::new(text, 0, Form::Bare).var(allowed)
}

/// Parses `${…}` filling all of `text` (which starts with `${`).
pub(super) fn wrapped(text: &str, allowed: TableSet) -> Result<VarRef, VarError> {
    let mut s = Scanner::new(text, 2, Form::Embedded { dollar: 0 });
    let var = s.var(allowed)?;
    match s.peek() {
        None => Ok(var),
        Some(c) => Err(s.error(s.pos, format!("unexpected `{c}` after `}}`"))),
    }
}

/// Splits `text` into literal and variable parts.
pub(super) fn template(text: &str, allowed: TableSet) -> Result<Vec<Part>, VarError> {
    let mut parts = Vec::new();
    let mut literal_start = 0;
    while let Some(offset) = text[literal_start..].find("${") {
        let dollar = literal_start + offset;
        if dollar > literal_start {
            parts.push(Part::Literal(text[literal_start..dollar].into()));
        }
        let mut s = Scanner::new(text, dollar + 2, Form::Embedded { dollar });
        parts.push(Part::Var(s.var(allowed)?));
        literal_start = s.pos;
    }
    if literal_start < text.len() {
        parts.push(Part::Literal(text[literal_start..].into()));
    }
    Ok(parts)
}

struct Scanner<'t> {
    text: &'t str,
    /// Byte offset of the next character.
    pos: usize,
    form: Form,
}

impl<'t> Scanner<'t> {
    fn new(text: &'t str, pos: usize, form: Form) -> Self {
        Scanner { text, pos, form }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    /// An error at byte offset `at`, reported as a character offset.
    fn error(&self, at: usize, message: impl Into<String>) -> VarError {
        VarError::new(self.text[..at].chars().count(), message)
    }

    /// Fills in the message and hint for an unknown table name starting at byte `at`.
    fn unknown_table(&self, at: usize, name: &str) -> VarError {
        let names = Table::ALL.map(Table::name);
        let guess = did_you_mean(name, names).or_else(|| {
            // `path[x]` for `request.path[x]` is too far for edit distance but an obvious slip.
            names.into_iter().find(|n| {
                n.strip_prefix("request.")
                    .is_some_and(|short| short.eq_ignore_ascii_case(name))
            })
        });
        let hint = match guess {
            Some(table) => format!("did you mean `{table}`?"),
            None => format!("known tables: {}", names.join(", ")),
        };
        self.error(at, format!("unknown context variable table `{name}`"))
            .with_hint(hint)
    }

    /// Table-specific key rules; `start` is the key's byte offset.
    fn check_key(&self, table: Table, key: &str, start: usize) -> Result<(), VarError> {
        let err = |message: String| Err(self.error(start, message));
        match table {
            Table::Path => match key.find('*') {
                Some(star) => Err(self
                    .error(start + star, "`*` is not allowed in a path parameter name")
                    .with_hint(
                        "a wildcard parameter `{name*}` is referenced as `request.path[name]`",
                    )),
                None => Ok(()),
            },
            Table::Headers if http::HeaderName::from_bytes(key.as_bytes()).is_err() => {
                err(format!("`{key}` is not a valid HTTP header name"))
            }
            Table::Subdomain if key.starts_with('.') => Err(self
                .error(start, format!("subdomain suffix `{key}` starts with `.`"))
                .with_hint(format!(
                    "write `request.subdomain[{}]`; the dot before the suffix is implied",
                    key.trim_start_matches('.')
                ))),
            Table::Cert if key != "client_base64" => err(format!(
                "unknown key `{key}` for request.cert; the only key is `client_base64`"
            )),
            Table::UsagePlan if key != "id" => err(format!(
                "unknown key `{key}` for request.usage_plan; the only key is `id`"
            )),
            _ => Ok(()),
        }
    }

    fn whitespace(&self) -> VarError {
        self.error(
            self.pos,
            "whitespace is not allowed inside a context variable",
        )
        .with_hint(match self.form {
            Form::Bare => "remove the spaces, e.g. `request.path[name]`",
            Form::Embedded { .. } => "remove the spaces, e.g. `${request.path[name]}`",
        })
    }

    fn unterminated(&self, dollar: usize) -> VarError {
        self.error(dollar, "unterminated `${`: no closing `}`")
    }

    /// Scans `table` or `table[key]` plus, when embedded, the closing `}`.
    fn var(&mut self, allowed: TableSet) -> Result<VarRef, VarError> {
        let start = self.pos;
        let rest = &self.text[start..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(rest.len());
        if name_len == 0 {
            return Err(self.missing_name());
        }
        self.pos += name_len;
        let name = &rest[..name_len];
        let table = Table::from_name(name).ok_or_else(|| self.unknown_table(start, name))?;
        if !allowed.contains(table) {
            let list: Vec<&str> = allowed.iter().map(Table::name).collect();
            let list = if list.is_empty() {
                "none".to_owned()
            } else {
                list.join(", ")
            };
            return Err(self.error(
                start,
                format!("{name} is not allowed here; allowed: {list}"),
            ));
        }
        let key = if table.takes_key() {
            Some(self.key(table)?)
        } else {
            None
        };
        self.end(table, key.is_some())?;
        Ok(VarRef { table, key })
    }

    /// The error when no table name starts at `self.pos`.
    fn missing_name(&self) -> VarError {
        match (self.peek(), self.form) {
            (Some(c), _) if c.is_whitespace() => self.whitespace(),
            (None, Form::Bare) => self
                .error(self.pos, "empty context variable")
                .with_hint("write a variable such as `request.headers[X-Api-Key]`"),
            (Some('$'), Form::Bare) if self.text.starts_with("${") => {
                let inner = self.text[2..].strip_suffix('}').unwrap_or(&self.text[2..]);
                self.error(
                    self.pos,
                    "this field takes a bare context variable, without `${…}`",
                )
                .with_hint(format!("write `{inner}`"))
            }
            (None, Form::Embedded { dollar }) => self.unterminated(dollar),
            (Some('}'), Form::Embedded { dollar }) => self.error(dollar, "empty variable `${}`"),
            (Some(c), _) => self.error(
                self.pos,
                format!("expected a context variable such as `request.path[name]`, found `{c}`"),
            ),
        }
    }

    /// Scans `[key]` and checks the key against the table's rules.
    fn key(&mut self, table: Table) -> Result<Box<str>, VarError> {
        let open = self.pos;
        match (self.peek(), self.form) {
            (Some('['), _) => self.pos += 1,
            (Some(c), _) if c.is_whitespace() => return Err(self.whitespace()),
            (None, Form::Embedded { dollar }) => return Err(self.unterminated(dollar)),
            _ => {
                return Err(self.error(
                    open,
                    format!(
                        "{table} needs a key, as in `{table}[{}]`",
                        example_key(table)
                    ),
                ))
            }
        }
        let key_start = self.pos;
        loop {
            match self.peek() {
                Some(']') => break,
                None => return Err(self.error(open, "unclosed `[`: no `]` after the key")),
                Some('}') if matches!(self.form, Form::Embedded { .. }) => {
                    return Err(self.error(open, "unclosed `[`: no `]` after the key"))
                }
                Some(c @ ('[' | '{' | '}')) => {
                    return Err(self.error(self.pos, format!("`{c}` is not allowed in a key")))
                }
                Some(c) if c.is_whitespace() => return Err(self.whitespace()),
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        let key = &self.text[key_start..self.pos];
        if key.is_empty() {
            return Err(self.error(self.pos, format!("empty key in `{table}[]`")));
        }
        self.check_key(table, key, key_start)?;
        self.pos += 1; // the `]`
        if self.peek() == Some('[') {
            let err = self.error(self.pos, "nested keys are not supported");
            return Err(match table {
                Table::Auth => err.with_hint(
                    "nested claim lookups such as `request.auth[id_token_claims][sub]` belong \
                     to the OAUTH2 (OpenID Connect) flow, which this gateway does not support",
                ),
                _ => err.with_hint("a context variable takes exactly one `[key]`"),
            });
        }
        Ok(key.into())
    }

    /// Checks what follows the variable: the end of the text, or the `}` of `${…}`.
    fn end(&mut self, table: Table, had_key: bool) -> Result<(), VarError> {
        let after = if had_key { "]" } else { table.name() };
        match (self.peek(), self.form) {
            (None, Form::Bare) => Ok(()),
            (Some('}'), Form::Embedded { .. }) => {
                self.pos += 1;
                Ok(())
            }
            (None, Form::Embedded { dollar }) => Err(self.unterminated(dollar)),
            (Some('['), _) if !had_key => {
                Err(self.error(self.pos, format!("{table} takes no key")))
            }
            (Some(c), _) if c.is_whitespace() => Err(self.whitespace()),
            (Some(c), _) => Err(self.error(self.pos, format!("unexpected `{c}` after `{after}`"))),
        }
    }
}

/// A placeholder key for "needs a key" messages.
fn example_key(table: Table) -> &'static str {
    match table {
        Table::Subdomain => "example.com",
        Table::Cert => "client_base64",
        Table::UsagePlan => "id",
        _ => "name",
    }
}
