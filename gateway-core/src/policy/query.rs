//! Raw query strings, as the transformations and validations need them.
//!
//! A query is kept as the client spelled it: parameters a policy does not touch are written
//! back byte for byte, because re-encoding them could change what the backend decodes (`+`
//! versus `%20`, `%2B` versus `+`). Names are percent-decoded only to be compared with the
//! names in the specification.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode};

use crate::percent::{QUERY_NAME, QUERY_VALUE};

/// One `name=value` (or bare `name`) piece of a query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair<'q> {
    /// The decoded name (`%XX` escapes and `+` as a space), for comparisons.
    pub(crate) name: Cow<'q, str>,
    /// The piece exactly as received.
    pub(crate) raw: &'q str,
}

impl<'q> Pair<'q> {
    /// The still-encoded value: `None` for a bare `name`, `Some("")` for `name=`.
    pub(crate) fn raw_value(&self) -> Option<&'q str> {
        self.raw.split_once('=').map(|(_, value)| value)
    }
}

/// The pieces of `query` in order; empty pieces (`a=1&&b=2`) carry nothing and are skipped.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = Pair<'_>> {
    query.split('&').filter(|raw| !raw.is_empty()).map(|raw| {
        let name = raw.split_once('=').map_or(raw, |(name, _)| name);
        Pair {
            name: decode(name),
            raw,
        }
    })
}

/// Percent-decodes a query component, `+` meaning a space (HTML form encoding, which is what
/// query strings use). Malformed escapes stay literal; invalid UTF-8 is replaced, since the
/// result is only compared with names from the specification.
pub(crate) fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('+') {
        return percent_decode_str(raw).decode_utf8_lossy();
    }
    // `+` becomes a space before `%2B` is decoded to a literal `+`.
    let spaced = raw.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

/// Appends `text` to `out`, percent-encoding only what a query component cannot hold.
///
/// Encoding is minimal and idempotent: an existing `%XX` escape is kept, so a value that is
/// already encoded (`request.query[…]`, `request.path[…]`) passes through unchanged, while raw
/// bytes that would break the query's structure (`&`, `#`, spaces, control characters,
/// non-ASCII) are escaped, whichever table they came from. The result is always valid in a URI.
pub(crate) fn encode_into(out: &mut String, text: &str, in_name: bool) {
    let set = if in_name { QUERY_NAME } else { QUERY_VALUE };
    let mut rest = text;
    // Each round encodes up to the next `%XX` escape and copies the escape as it is. An
    // escape is ASCII, so every split is at a character boundary.
    while let Some(at) = next_escape(rest) {
        out.extend(utf8_percent_encode(&rest[..at], set));
        out.push_str(&rest[at..at + 3]);
        rest = &rest[at + 3..];
    }
    out.extend(utf8_percent_encode(rest, set));
}

/// Where the first well-formed `%XX` escape in `text` starts.
fn next_escape(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    text.match_indices('%').map(|(at, _)| at).find(|&at| {
        bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// [`encode_into`] into a new string.
pub(crate) fn encode(text: &str, in_name: bool) -> String {
    let mut out = String::with_capacity(text.len());
    encode_into(&mut out, text, in_name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_raw_text_and_decode_names() {
        let got: Vec<(String, &str, Option<&str>)> = pairs("a=1&&b&c%5Fd=x+y&e+f=&=v")
            .map(|p| (p.name.to_string(), p.raw, p.raw_value()))
            .collect();
        assert_eq!(
            got,
            [
                ("a".into(), "a=1", Some("1")),
                ("b".into(), "b", None),
                ("c_d".into(), "c%5Fd=x+y", Some("x+y")),
                ("e f".into(), "e+f=", Some("")),
                (String::new(), "=v", Some("v")),
            ]
        );
    }

    #[test]
    fn decoding_tolerates_malformed_escapes_and_bad_utf8() {
        assert_eq!(decode("a%"), "a%");
        assert_eq!(decode("a%zz%4"), "a%zz%4");
        assert_eq!(decode("%C3%A9"), "é");
        assert_eq!(decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn encoding_is_minimal_and_keeps_escapes() {
        assert_eq!(encode("San+Jos%C3%A9", false), "San+Jos%C3%A9");
        assert_eq!(encode("a b&c=d#e", false), "a%20b%26c=d%23e");
        assert_eq!(encode("a=b", true), "a%3Db");
        assert_eq!(encode("café", false), "caf%C3%A9");
        assert_eq!(encode("100%", false), "100%25");
        assert_eq!(encode("x\r\ny", false), "x%0D%0Ay");
        let once = encode("a b%2", false);
        assert_eq!(encode(&once, false), once, "idempotent");
    }

    #[test]
    fn encoded_values_and_names_round_trip() {
        for text in [
            "a b&c=d#e",
            "café + 100% [x]",
            "x\r\ny\t\"{|}^`<>\\",
            "plain-._~!$'()*,;:@/?",
        ] {
            for in_name in [false, true] {
                let encoded = encode(text, in_name);
                assert!(!encoded.contains(['&', '#', ' ']), "{encoded}");
                if in_name {
                    assert!(!encoded.contains('='), "{encoded}");
                }
                // `+` means a space to the decoder, so compare with it written as `%2B`.
                assert_eq!(decode(&encoded.replace('+', "%2B")), text, "{encoded}");
            }
        }
    }
}
