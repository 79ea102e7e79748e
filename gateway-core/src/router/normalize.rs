//! Request path normalisation: one canonical spelling per path, or a refusal.
//!
//! Routing, prefix selection and every policy that looks at the path see the output of
//! [`normalize_path`], so any two spellings of the same resource must come out identical and
//! any spelling that a backend might resolve differently from us (dot segments, encoded
//! slashes, backslashes) is refused instead of guessed at. The rules are listed in the
//! [module docs](super).

use std::borrow::Cow;

use http::StatusCode;
use percent_encoding::{percent_decode, percent_encode_byte};

use crate::error::Refusal;

/// Why a request path was refused. The gateway answers these with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty or does not start with `/`.
    #[error("path does not start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-escape at byte {offset}")]
    MalformedEscape {
        /// Byte offset of the `%` in the path.
        offset: usize,
    },
    /// `%2F`: a backend would see a segment boundary the router did not.
    #[error("encoded slash (%2F) in path")]
    EncodedSlash {
        /// Byte offset of the `%` in the path.
        offset: usize,
    },
    /// `%5C`: some backends treat `\` as a separator.
    #[error("encoded backslash (%5C) in path")]
    EncodedBackslash {
        /// Byte offset of the `%` in the path.
        offset: usize,
    },
    /// `%00`-`%1F` or `%7F`.
    #[error("encoded control character (%{byte:02X}) in path")]
    EncodedControl {
        /// Byte offset of the `%` in the path.
        offset: usize,
        /// The decoded byte.
        byte: u8,
    },
    /// A raw `\`.
    #[error("backslash in path")]
    Backslash {
        /// Byte offset of the `\` in the path.
        offset: usize,
    },
    /// A raw control character (`0x00`-`0x1F`, `0x7F`).
    #[error("control character 0x{byte:02X} in path")]
    ControlChar {
        /// Byte offset of the character in the path.
        offset: usize,
        /// The character's byte value.
        byte: u8,
    },
    /// `//`, or a segment with nothing before its path parameters (`/;x`, which servlet
    /// containers read as `//`): an empty segment, which backends collapse inconsistently.
    #[error("empty segment (// or /;) in path")]
    EmptySegment {
        /// Byte offset of the second `/`, or of the `;`.
        offset: usize,
    },
    /// A `.` or `..` segment, however it is spelled (`%2e`, `%2E%2e`, ...), also with path
    /// parameters (`..;x`), which servlet containers strip before resolving the dots.
    #[error("dot segment ('.' or '..') in path")]
    DotSegment {
        /// Byte offset of the segment's first character.
        offset: usize,
    },
}

/// A refused path is the client's mistake, and it is told which one.
impl Refusal for PathError {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn log_code(&self) -> &'static str {
        "request.badRequest"
    }

    fn client_detail(&self) -> Option<String> {
        Some(self.to_string())
    }
}

/// RFC 3986 `unreserved`: the characters whose escapes are decoded.
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// How [`normalize_path`] treats a raw byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Written as is: unreserved (but `.`), the sub-delims, `:` and `@`. The sub-delims are
    /// legal raw in a segment but *not* equivalent to their escapes (a backend may give `;` or
    /// `=` meaning), so `%3B` and `;` both stay as they are.
    Plain,
    /// `;`: plain, but what comes before it in a segment is the segment's name to servlet
    /// containers (`..;x` is `..`).
    Param,
    Dot,
    Slash,
    Percent,
    /// A backslash or control character.
    Reject,
    /// Not legal raw in a URI path (non-ASCII, space, `"`, `{`, `|`, ...): escaped.
    Encode,
}

const fn class_of(b: u8) -> Class {
    match b {
        b'.' => Class::Dot,
        b'/' => Class::Slash,
        b'%' => Class::Percent,
        b';' => Class::Param,
        b'\\' | 0x00..=0x1F | 0x7F => Class::Reject,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => Class::Plain,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@' => {
            Class::Plain
        }
        _ => Class::Encode,
    }
}

/// [`class_of`] for every byte, so the hot loop is one load and one compare per byte.
static CLASSES: [Class; 256] = {
    let mut table = [Class::Encode; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = class_of(i as u8);
        i += 1;
    }
    table
};

/// How one `%XY` escape is to be written in the canonical form.
pub(crate) enum Escape {
    /// An unreserved character: written raw.
    Decoded(u8),
    /// Kept as an escape with uppercase hex digits.
    Kept(u8),
}

/// Classifies the escape starting at `bytes[at] == b'%'`. Shared with template parsing so
/// literal segments are canonicalised exactly like request paths.
pub(crate) fn classify_escape(bytes: &[u8], at: usize) -> Result<Escape, PathError> {
    // A well-formed escape decodes to one byte; a malformed one is left as it is (three).
    let malformed = PathError::MalformedEscape { offset: at };
    let mut decoded = percent_decode(bytes.get(at..at + 3).ok_or(malformed.clone())?);
    let (Some(byte), None) = (decoded.next(), decoded.next()) else {
        return Err(malformed);
    };
    match byte {
        b'/' => Err(PathError::EncodedSlash { offset: at }),
        b'\\' => Err(PathError::EncodedBackslash { offset: at }),
        0x00..=0x1F | 0x7F => Err(PathError::EncodedControl { offset: at, byte }),
        b if is_unreserved(b) => Ok(Escape::Decoded(b)),
        b => Ok(Escape::Kept(b)),
    }
}

/// Writes `%XY` with uppercase hex digits.
pub(crate) fn push_escape(out: &mut String, byte: u8) {
    out.push_str(percent_encode_byte(byte));
}

/// The output, allocated only at the first byte that differs from the input. Unchanged runs
/// of input are copied in one go when the next change is written.
struct Out<'a> {
    input: &'a str,
    buf: Option<String>,
    /// Input before this offset is already in `buf`.
    copied: usize,
}

impl<'a> Out<'a> {
    /// The buffer, holding the input up to `at` (where a change starts; every byte before it
    /// is ASCII, so it is a char boundary). Call `skip` after writing the change.
    #[inline]
    fn edit(&mut self, at: usize) -> &mut String {
        let input = self.input;
        let copied = self.copied;
        let buf = self
            .buf
            .get_or_insert_with(|| String::with_capacity(input.len() + 8));
        buf.push_str(input.get(copied..at).unwrap_or_default());
        buf
    }

    /// Marks the input up to `to` as handled.
    #[inline]
    fn skip(&mut self, to: usize) {
        self.copied = to;
    }

    fn finish(mut self) -> Cow<'a, str> {
        match self.buf.take() {
            Some(mut buf) => {
                buf.push_str(self.input.get(self.copied..).unwrap_or_default());
                Cow::Owned(buf)
            }
            None => Cow::Borrowed(self.input),
        }
    }
}

/// Normalises a request path (without its query) to the one spelling the router matches.
///
/// Returns [`Cow::Borrowed`] when the path is already canonical, which is the common case, so
/// ordinary requests do not allocate. See the [module docs](super) for the rules.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = Out {
        input: path,
        buf: None,
        copied: 0,
    };
    // The current segment as it will be written: does it have a character other than `.`,
    // and how many dots does it have? Enough to spot empty and `.`/`..` segments after
    // decoding.
    let mut seg_start = 1;
    let mut seg_plain = false;
    let mut seg_dots = 0u8;
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        let class = CLASSES[usize::from(b)];
        // Most bytes are plain: keep that path free of the jump table below.
        if class == Class::Plain {
            seg_plain = true;
            i += 1;
            continue;
        }
        match class {
            Class::Plain => {}
            Class::Dot => {
                seg_dots = seg_dots.saturating_add(1);
                i += 1;
            }
            Class::Param => {
                // What precedes a segment's first `;` is what servlet containers resolve:
                // nothing, `.` or `..` there is an empty or dot segment to them.
                if !seg_plain {
                    check_segment(seg_dots, seg_start, i)?;
                }
                seg_plain = true;
                i += 1;
            }
            Class::Slash => {
                if !seg_plain {
                    check_segment(seg_dots, seg_start, i)?;
                }
                i += 1;
                seg_start = i;
                seg_plain = false;
                seg_dots = 0;
            }
            Class::Percent => {
                match classify_escape(bytes, i)? {
                    Escape::Decoded(d) => {
                        out.edit(i).push(char::from(d));
                        out.skip(i + 3);
                        if d == b'.' {
                            seg_dots = seg_dots.saturating_add(1);
                        } else {
                            seg_plain = true;
                        }
                    }
                    Escape::Kept(k) => {
                        let upper =
                            |j: usize| bytes.get(j).is_some_and(|c| !c.is_ascii_lowercase());
                        if !(upper(i + 1) && upper(i + 2)) {
                            push_escape(out.edit(i), k);
                            out.skip(i + 3);
                        }
                        seg_plain = true;
                    }
                }
                i += 3;
            }
            Class::Reject if b == b'\\' => return Err(PathError::Backslash { offset: i }),
            Class::Reject => return Err(PathError::ControlChar { offset: i, byte: b }),
            Class::Encode => {
                push_escape(out.edit(i), b);
                out.skip(i + 1);
                seg_plain = true;
                i += 1;
            }
        }
    }
    // The last segment may be empty (a trailing slash, or the path `/`) but not a dot segment.
    if !seg_plain && seg_dots > 0 {
        check_segment(seg_dots, seg_start, bytes.len())?;
    }
    Ok(out.finish())
}

/// Rejects a segment made only of `seg_dots` dots (none: an empty segment) that ends at
/// `end`; a segment of three or more dots is an ordinary name.
#[inline]
fn check_segment(seg_dots: u8, seg_start: usize, end: usize) -> Result<(), PathError> {
    match seg_dots {
        0 => Err(PathError::EmptySegment { offset: end }),
        1 | 2 => Err(PathError::DotSegment { offset: seg_start }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        normalize_path(p).map(Cow::into_owned)
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in [
            "/",
            "/hello",
            "/hello/",
            "/a/b-c_d.e~f/%C3%A9",
            "/x;y=1/@:!$&'()*+,",
            "/..a/a..",
            "/.../x",
        ] {
            assert!(
                matches!(normalize_path(p), Ok(Cow::Borrowed(s)) if s == p),
                "{p} should be borrowed unchanged"
            );
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded() {
        assert_eq!(norm("/%68ello").as_deref(), Ok("/hello"));
        assert_eq!(norm("/%41%7a%30%2D%2e%5F%7E").as_deref(), Ok("/Az0-._~"));
        assert!(matches!(normalize_path("/%68"), Ok(Cow::Owned(_))));
    }

    #[test]
    fn other_escapes_are_uppercased() {
        assert_eq!(norm("/caf%c3%a9").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(norm("/a%3bb%3D").as_deref(), Ok("/a%3Bb%3D"));
        assert_eq!(norm("/%25").as_deref(), Ok("/%25"));
        // `%252e` is an escaped percent followed by the text "2e", not a dot.
        assert_eq!(norm("/%252e").as_deref(), Ok("/%252e"));
    }

    #[test]
    fn raw_characters_outside_pchar_are_escaped() {
        assert_eq!(norm("/café").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(norm("/a b").as_deref(), Ok("/a%20b"));
        assert_eq!(norm("/{x}|").as_deref(), Ok("/%7Bx%7D%7C"));
    }

    #[test]
    fn malformed_escapes() {
        for (p, offset) in [
            ("/%", 1),
            ("/a%4", 2),
            ("/%zz", 1),
            ("/%4g", 1),
            ("/%%41", 1),
        ] {
            assert_eq!(norm(p), Err(PathError::MalformedEscape { offset }), "{p}");
        }
    }

    #[test]
    fn encoded_separators() {
        for p in ["/a%2Fb", "/a%2fb", "/%2F"] {
            assert!(
                matches!(norm(p), Err(PathError::EncodedSlash { .. })),
                "{p}"
            );
        }
        for p in ["/a%5Cb", "/a%5cb"] {
            assert!(
                matches!(norm(p), Err(PathError::EncodedBackslash { .. })),
                "{p}"
            );
        }
        assert_eq!(
            norm("/a%2Fb").map_err(|e| e.to_string()),
            Err("encoded slash (%2F) in path".to_owned())
        );
    }

    #[test]
    fn control_characters() {
        assert_eq!(
            norm("/a%00"),
            Err(PathError::EncodedControl { offset: 2, byte: 0 })
        );
        assert!(matches!(
            norm("/%0a"),
            Err(PathError::EncodedControl { byte: 0x0A, .. })
        ));
        assert!(matches!(
            norm("/%1F"),
            Err(PathError::EncodedControl { byte: 0x1F, .. })
        ));
        assert!(matches!(
            norm("/%7f"),
            Err(PathError::EncodedControl { byte: 0x7F, .. })
        ));
        assert_eq!(
            norm("/a\nb"),
            Err(PathError::ControlChar {
                offset: 2,
                byte: b'\n'
            })
        );
        assert!(matches!(
            norm("/\u{7f}"),
            Err(PathError::ControlChar { .. })
        ));
        assert!(matches!(norm("/\0"), Err(PathError::ControlChar { .. })));
        assert_eq!(norm("/a\\b"), Err(PathError::Backslash { offset: 2 }));
        assert_eq!(
            norm("/%7f").map_err(|e| e.to_string()),
            Err("encoded control character (%7F) in path".to_owned())
        );
    }

    #[test]
    fn empty_segments() {
        assert_eq!(norm("//a"), Err(PathError::EmptySegment { offset: 1 }));
        assert_eq!(norm("/a//b"), Err(PathError::EmptySegment { offset: 3 }));
        assert_eq!(norm("/a//"), Err(PathError::EmptySegment { offset: 3 }));
        assert_eq!(norm("//"), Err(PathError::EmptySegment { offset: 1 }));
        assert_eq!(norm("/a/").as_deref(), Ok("/a/"));
    }

    #[test]
    fn dot_segments_in_any_spelling() {
        for p in [
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/a/./b",
            "/a/../b",
            "/./",
            "/../",
            "/%2e",
            "/%2E%2e",
            "/a/%2e%2e/b",
            "/a/.%2E",
            "/%2e/",
            "/a/%2E",
        ] {
            assert!(matches!(norm(p), Err(PathError::DotSegment { .. })), "{p}");
        }
        assert_eq!(norm("/a/./b"), Err(PathError::DotSegment { offset: 3 }));
    }

    #[test]
    fn dot_segments_with_path_parameters() {
        for p in [
            "/public/..;/admin/x",
            "/public/%2e%2e;/admin",
            "/public/.;/x",
            "/public/..;jsessionid=1/x",
            "/a/.%2e;x",
            "/..;",
        ] {
            assert!(matches!(norm(p), Err(PathError::DotSegment { .. })), "{p}");
        }
        assert_eq!(
            norm("/public/..;/admin"),
            Err(PathError::DotSegment { offset: 8 })
        );
        for p in ["/a;x", "/a/...;x", "/a/b.;x", "/a/x;..", "/a;/..b"] {
            assert_eq!(norm(p).as_deref(), Ok(p), "{p}");
        }
    }

    /// A servlet container strips `;x` and then sees `/a//b`, which it collapses to `/a/b`:
    /// a segment with nothing before its parameters is an empty segment.
    #[test]
    fn a_segment_empty_before_its_parameters_is_empty() {
        assert_eq!(norm("/a/;x/b"), Err(PathError::EmptySegment { offset: 3 }));
        assert_eq!(norm("/;x/b"), Err(PathError::EmptySegment { offset: 1 }));
        assert_eq!(norm("/a/;"), Err(PathError::EmptySegment { offset: 3 }));
    }

    #[test]
    fn not_absolute() {
        assert_eq!(norm(""), Err(PathError::NotAbsolute));
        assert_eq!(norm("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(norm("%2Fa"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn idempotent_on_examples() {
        for p in ["/%68ello/caf%c3%a9", "/café/ü", "/a%20b/", "/%7e%7E"] {
            let once = norm(p).expect("valid");
            assert!(matches!(normalize_path(&once), Ok(Cow::Borrowed(s)) if s == once));
        }
    }
}
