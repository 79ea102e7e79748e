//! Tokenizer shared by the policy-statement and matching-rule parsers.
//!
//! Works on `char`s so that every column we report is a 1-based *character* column into the
//! text exactly as written in config (line breaks count as one character). Statements may be
//! written over several lines; the error renderer flattens whitespace so the caret still lines up.

/// One lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: keywords, names, resource types, variables, OCIDs.
    Word(String),
    /// `'...'`: the quotes are stripped.
    Str(String),
    /// `/.../` after `=` or `!=`: the slashes are stripped; the parser validates the `*`s.
    Pattern(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Colon,
    /// `/` between an identity-domain name and a group name (`Default/gw`).
    Slash,
    Eq,
    Ne,
    /// End of input; its column is one past the last character so "missing X" errors point
    /// just after the text.
    End,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("\"{w}\""),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Pattern(p) => format!("/{p}/"),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Colon => "`:`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Eq => "`=`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::End => "the end of the text".into(),
        }
    }
}

/// A token and the 1-based character column where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) col: usize,
}

impl Token {
    /// Case-insensitive keyword test: OCI writes `Allow`, `ALLOW` and `allow` interchangeably.
    pub(crate) fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    pub(crate) fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// A syntax problem: column (1-based), message and optional hint. The caller adds location
/// and text to make an [`super::IamError`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) col: usize,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl SyntaxError {
    pub(crate) fn new(col: usize, message: impl Into<String>) -> Self {
        SyntaxError {
            col,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Characters allowed in a bare word. Names of groups and compartments use letters, digits,
/// `-`, `_`, `.`; OCIDs add `.` runs; `@`/`+` appear in federated group names.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+')
}

/// Split `text` into tokens, always ending with [`Tok::End`].
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let simple = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            '=' => Some(Tok::Eq),
            _ => None,
        };
        if let Some(tok) = simple {
            out.push(Token { tok, col });
            i += 1;
            continue;
        }
        match c {
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push(Token { tok: Tok::Ne, col });
                    i += 2;
                } else {
                    return Err(SyntaxError::new(col, "unexpected `!`")
                        .hint("the only operators are `=` and `!=`"));
                }
            }
            '\'' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(SyntaxError::new(col, "unterminated quoted value")
                        .hint("close the value with a single quote `'`"));
                }
                out.push(Token {
                    tok: Tok::Str(chars[start..j].iter().collect()),
                    col,
                });
                i = j + 1;
            }
            '"' | '\u{2018}' | '\u{2019}' | '\u{201c}' | '\u{201d}' => {
                return Err(SyntaxError::new(col, format!("unexpected quote `{c}`"))
                    .hint("OCI values and names are quoted with plain single quotes: 'value'"));
            }
            '/' => {
                let after_op = matches!(out.last().map(|t| &t.tok), Some(Tok::Eq | Tok::Ne));
                if after_op {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && chars[j] != '/' {
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(SyntaxError::new(col, "unterminated pattern")
                            .hint("a pattern is written /prefix*/, /*suffix/ or /*infix*/"));
                    }
                    out.push(Token {
                        tok: Tok::Pattern(chars[start..j].iter().collect()),
                        col,
                    });
                    i = j + 1;
                } else {
                    out.push(Token {
                        tok: Tok::Slash,
                        col,
                    });
                    i += 1;
                }
            }
            '<' | '>' => {
                return Err(SyntaxError::new(col, format!("unexpected `{c}`")).hint(
                    "replace documentation placeholders like <compartment-name> with real values",
                ));
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(chars[start..i].iter().collect()),
                    col,
                });
            }
            other => {
                return Err(SyntaxError::new(
                    col,
                    format!("unexpected character `{other}`"),
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::End,
        col: chars.len() + 1,
    });
    Ok(out)
}

/// A forward-only view over the tokens, with helpers for "expected X, found Y" errors.
#[derive(Debug)]
pub(crate) struct Cursor {
    toks: Vec<Token>,
    pos: usize,
}

impl Cursor {
    pub(crate) fn new(toks: Vec<Token>) -> Self {
        Cursor { toks, pos: 0 }
    }

    /// The current token; [`Tok::End`] forever once the input is exhausted.
    pub(crate) fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    pub(crate) fn peek_at(&self, ahead: usize) -> &Token {
        let last = self.toks.len().saturating_sub(1);
        // `lex` always pushes End, so `toks` is never empty; fall back defensively anyway.
        self.toks
            .get((self.pos + ahead).min(last))
            .unwrap_or(&END_TOKEN)
    }

    pub(crate) fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    pub(crate) fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.pos += 1;
            true
        } else {
            false
        }
    }
}

static END_TOKEN: Token = Token {
    tok: Tok::End,
    col: 1,
};

/// Levenshtein distance on lower-cased text, used for the "looks like a misspelling" hints
/// that are not syntax errors (gateway-core's `did_you_mean` picks a candidate but does not
/// expose the distance, and the brief fixes the threshold at 2 for type values).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s)
            .map(|v| v.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn words_strings_patterns_and_columns() {
        let t = lex("a.b='x' != /y*/").unwrap_or_default();
        let cols: Vec<usize> = t.iter().map(|t| t.col).collect();
        assert_eq!(cols, vec![1, 4, 5, 9, 12, 16]);
        assert_eq!(
            toks("a.b='x' != /y*/"),
            vec![
                Tok::Word("a.b".into()),
                Tok::Eq,
                Tok::Str("x".into()),
                Tok::Ne,
                Tok::Pattern("y*".into()),
                Tok::End
            ]
        );
    }

    #[test]
    fn slash_outside_comparison_is_a_domain_separator() {
        assert_eq!(
            toks("Default/gw"),
            vec![
                Tok::Word("Default".into()),
                Tok::Slash,
                Tok::Word("gw".into()),
                Tok::End
            ]
        );
    }

    #[test]
    fn unterminated_quote_points_at_the_opening_quote() {
        let e = lex("a = 'abc").err();
        assert_eq!(e.map(|e| e.col), Some(5));
    }

    #[test]
    fn line_breaks_count_as_one_column() {
        let t = lex("Allow\n  x").unwrap_or_default();
        assert_eq!(t[1].col, 9);
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("ApiGatway", "apigateway"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
