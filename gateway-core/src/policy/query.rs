//! Raw query strings, as the transformations and validations need them.
//!
//! A query is kept as the client spelled it: parameters a policy does not touch are written
//! back byte for byte, because re-encoding them could change what the backend decodes (`+`
//! versus `%20`, `%2B` versus `+`). Names are percent-decoded only to be compared with the
//! names in the specification.

use std::borrow::Cow;

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
    if !raw.contains(['%', '+']) {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    (b as char).to_digit(16).map(|d| d as u8)
}

/// What a query name or value may hold unencoded: RFC 3986 `query` characters minus the ones
/// that delimit parameters (`&`, and `=` in a name). `+` is kept: in a value that came from a
/// context variable it already means a space, and a literal one is written as the user wrote it.
fn keeps(b: u8, in_name: bool) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b','
                | b';'
                | b':'
                | b'@'
                | b'/'
                | b'?'
                | b'+'
        )
        || (b == b'=' && !in_name)
}

/// Appends `text` to `out`, percent-encoding only what a query component cannot hold.
///
/// Encoding is minimal and idempotent: an existing `%XX` escape is kept, so a value that is
/// already encoded (`request.query[…]`, `request.path[…]`) passes through unchanged, while raw
/// bytes that would break the query's structure (`&`, `#`, spaces, control characters,
/// non-ASCII) are escaped, whichever table they came from. The result is always valid in a URI.
pub(crate) fn encode_into(out: &mut String, text: &str, in_name: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let escape_start =
            b == b'%' && hex(bytes.get(i + 1)).is_some() && hex(bytes.get(i + 2)).is_some();
        if escape_start || keeps(b, in_name) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        }
    }
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
}
