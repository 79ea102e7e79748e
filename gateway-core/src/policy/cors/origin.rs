//! Origins (`scheme://host[:port]`) and their comparison.

/// An origin with its parts as written; compared by [`Origin::same_as`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    scheme: Box<str>,
    host: Box<str>,
    /// `None` when absent or the scheme's default, so `https://a` is `https://a:443`.
    port: Option<u16>,
}

impl Origin {
    /// Parses `scheme://host[:port]`; `None` for anything else (a path, user info, a bad port).
    pub(super) fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        let (host, port) = match rest.strip_prefix('[') {
            // An IPv6 literal: `[::1]` or `[::1]:8080`.
            Some(inner) => {
                let (address, after) = inner.split_once(']')?;
                let host = rest.get(..address.len() + 2)?;
                match after {
                    "" => (host, None),
                    _ => (host, Some(after.strip_prefix(':')?)),
                }
            }
            None => match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().ok()?),
            None => None,
        };
        let port = port.filter(|&p| Some(p) != default_port(scheme));
        Some(Origin {
            scheme: scheme.into(),
            host: host.into(),
            port,
        })
    }

    /// Same scheme and host (both case-insensitive) and same port, default ports made
    /// explicit.
    pub(super) fn same_as(&self, other: &Origin) -> bool {
        self.scheme.eq_ignore_ascii_case(&other.scheme)
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        let (a, b) = (Origin::parse(a).expect(a), Origin::parse(b).expect(b));
        a.same_as(&b)
    }

    #[test]
    fn scheme_and_host_are_case_insensitive_and_default_ports_implicit() {
        assert!(same("https://App.Example.com", "HTTPS://app.example.com"));
        assert!(same("https://a.example", "https://a.example:443"));
        assert!(same("http://a.example:80", "http://a.example"));
        assert!(same("http://[::1]:8080", "http://[::1]:8080"));
        assert!(!same("http://a.example", "https://a.example"));
        assert!(!same("https://a.example:8443", "https://a.example"));
        assert!(!same("https://a.example", "https://b.a.example"));
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for bad in [
            "null",
            "*",
            "a.example",
            "https://",
            "https://a.example/",
            "https://a.example/path",
            "https://user@a.example",
            "https://a.example:99999",
            "https://a.example:",
            "https://[::1",
            "https://[::1]x",
            "1http://a.example",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }
}
