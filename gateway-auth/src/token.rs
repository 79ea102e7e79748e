//! Where a token is read from: a header (with or without an auth scheme) or a query parameter
//! (reference 4.1.1–4.1.3).
//!
//! Extraction is strict because the token decides who the caller is: a header sent twice, a
//! scheme that does not match, or an oversized token is refused rather than guessed at, so a
//! proxy in front of the gateway and the gateway itself can never read different tokens.

use http::request::Parts;
use http::{HeaderName, HeaderValue};

use gateway_core::spec::TokenSource;

/// Tokens longer than this are refused without being parsed: no legitimate JWT or API key is
/// this large, and parsing costs grow with the size.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Where a policy reads its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenLocation {
    /// A header; with a scheme (`tokenAuthScheme`) the value must be `<scheme> <token>`.
    Header {
        name: HeaderName,
        scheme: Option<String>,
    },
    /// A query parameter, taken as sent (never percent-decoded, as context variables are).
    Query(String),
}

/// What a request holds at the token's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Extracted {
    /// Nothing there: the request carries no credentials.
    Missing,
    /// Something there that cannot be a token; the reason is for logs.
    Invalid(&'static str),
    /// The token.
    Token(String),
}

impl TokenLocation {
    /// The `WWW-Authenticate` values for this location's scheme (default `Bearer`): the plain
    /// challenge, and the one for a token that was presented and refused.
    pub(crate) fn challenges(&self) -> (HeaderValue, HeaderValue) {
        let scheme = self.scheme().unwrap_or("Bearer");
        let challenge = HeaderValue::try_from(scheme).unwrap_or(HeaderValue::from_static("Bearer"));
        let invalid_token = HeaderValue::try_from(format!("{scheme} error=\"invalid_token\""))
            .unwrap_or(HeaderValue::from_static("Bearer error=\"invalid_token\""));
        (challenge, invalid_token)
    }

    /// The location of a policy's token; `None` for a multi-argument authorizer, or a header
    /// name that is not one (the loader reports it).
    pub(crate) fn new(source: TokenSource<'_>, scheme: Option<&str>) -> Option<Self> {
        match source {
            TokenSource::Header(name) => Some(TokenLocation::Header {
                name: HeaderName::from_bytes(name.as_bytes()).ok()?,
                scheme: scheme.map(str::to_owned).filter(|s| !s.is_empty()),
            }),
            TokenSource::QueryParam(name) => Some(TokenLocation::Query(name.to_owned())),
        }
    }

    /// The auth scheme, if the token comes with one.
    pub(crate) fn scheme(&self) -> Option<&str> {
        match self {
            TokenLocation::Header { scheme, .. } => scheme.as_deref(),
            TokenLocation::Query(_) => None,
        }
    }

    /// Reads the token from the request.
    pub(crate) fn extract(&self, parts: &Parts) -> Extracted {
        let raw = match self {
            TokenLocation::Header { name, .. } => {
                let mut values = parts.headers.get_all(name).iter();
                let Some(first) = values.next() else {
                    return Extracted::Missing;
                };
                if values.next().is_some() {
                    return Extracted::Invalid("the token header is sent more than once");
                }
                match first.to_str() {
                    Ok(v) => v,
                    Err(_) => return Extracted::Invalid("the token header is not visible ASCII"),
                }
            }
            TokenLocation::Query(name) => {
                let query = parts.uri.query().unwrap_or("");
                let mut values = query.split('&').filter_map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (key == name).then_some(value)
                });
                let Some(first) = values.next() else {
                    return Extracted::Missing;
                };
                if values.next().is_some() {
                    return Extracted::Invalid("the token parameter is sent more than once");
                }
                first
            }
        };
        if raw.is_empty() {
            return Extracted::Missing;
        }
        if raw.len() > MAX_TOKEN_BYTES {
            return Extracted::Invalid("the token is larger than 16 KB");
        }
        match self.scheme() {
            None => Extracted::Token(raw.to_owned()),
            Some(scheme) => match raw.split_once(' ') {
                // Exactly one space: "Bearer  x" leaves a token starting with a space.
                Some((s, token))
                    if s.eq_ignore_ascii_case(scheme)
                        && !token.is_empty()
                        && !token.contains([' ', '\t']) =>
                {
                    Extracted::Token(token.to_owned())
                }
                _ => Extracted::Invalid("the token header does not use the expected scheme"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = http::Request::builder().uri(uri);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        req.body(()).expect("request").into_parts().0
    }

    fn bearer() -> TokenLocation {
        TokenLocation::new(TokenSource::Header("Authorization"), Some("Bearer")).expect("valid")
    }

    #[test]
    fn scheme_is_case_insensitive_with_exactly_one_space() {
        let loc = bearer();
        let t = |v: &str| loc.extract(&parts("/", &[("authorization", v)]));
        assert_eq!(t("Bearer abc"), Extracted::Token("abc".into()));
        assert_eq!(t("bEARER abc"), Extracted::Token("abc".into()));
        assert!(matches!(t("Bearer  abc"), Extracted::Invalid(_)));
        assert!(matches!(t("Bearer"), Extracted::Invalid(_)));
        assert!(matches!(t("Basic abc"), Extracted::Invalid(_)));
        assert!(matches!(t("Bearer a b"), Extracted::Invalid(_)));
        assert!(matches!(t("Bearerabc"), Extracted::Invalid(_)));
        assert_eq!(loc.extract(&parts("/", &[])), Extracted::Missing);
        assert_eq!(t(""), Extracted::Missing);
    }

    #[test]
    fn a_header_sent_twice_or_too_large_is_refused() {
        let loc = bearer();
        let twice = parts(
            "/",
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
        );
        assert!(matches!(loc.extract(&twice), Extracted::Invalid(_)));
        let big = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        assert!(matches!(
            loc.extract(&parts("/", &[("authorization", &big)])),
            Extracted::Invalid(_)
        ));
    }

    #[test]
    fn query_tokens_are_taken_as_sent() {
        let loc = TokenLocation::new(TokenSource::QueryParam("access_token"), None).expect("ok");
        assert_eq!(
            loc.extract(&parts("/x?a=1&access_token=a%2Eb", &[])),
            Extracted::Token("a%2Eb".into())
        );
        assert_eq!(loc.extract(&parts("/x?a=1", &[])), Extracted::Missing);
        assert_eq!(loc.extract(&parts("/x", &[])), Extracted::Missing);
        assert!(matches!(
            loc.extract(&parts("/x?access_token=a&access_token=b", &[])),
            Extracted::Invalid(_)
        ));
    }

    #[test]
    fn a_header_without_scheme_is_the_raw_value() {
        let loc = TokenLocation::new(TokenSource::Header("X-Api-Key"), None).expect("ok");
        assert_eq!(
            loc.extract(&parts("/", &[("x-api-key", "Bearer k 1")])),
            Extracted::Token("Bearer k 1".into())
        );
    }
}
