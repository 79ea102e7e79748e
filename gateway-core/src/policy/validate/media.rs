//! Media ranges of `bodyValidation.content` and their match against a `Content-Type`.

use std::fmt;

/// `*/*`, `type/*` or `type/subtype`, lower-cased (media types compare case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MediaRange {
    kind: Box<str>,
    subtype: Box<str>,
}

impl MediaRange {
    /// Parses a key of `content`; `None` for anything but the three forms.
    pub(super) fn parse(text: &str) -> Option<MediaRange> {
        let (kind, subtype) = text.trim().split_once('/')?;
        let ok = match (kind, subtype) {
            ("*", "*") => true,
            ("*", _) => false,
            (kind, "*") => is_token(kind),
            (kind, subtype) => is_token(kind) && is_token(subtype),
        };
        ok.then(|| MediaRange {
            kind: kind.to_ascii_lowercase().into(),
            subtype: subtype.to_ascii_lowercase().into(),
        })
    }

    /// 2 for `type/subtype`, 1 for `type/*`, 0 for `*/*`: the most specific match wins.
    pub(super) fn specificity(&self) -> u8 {
        u8::from(&*self.kind != "*") + u8::from(&*self.subtype != "*")
    }

    fn matches(&self, media: &MediaType<'_>) -> bool {
        (&*self.kind == "*" || media.kind.eq_ignore_ascii_case(&self.kind))
            && (&*self.subtype == "*" || media.subtype.eq_ignore_ascii_case(&self.subtype))
    }
}

impl fmt::Display for MediaRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.subtype)
    }
}

/// The ranges of one `content` map, most specific first.
#[derive(Debug, Clone, Default)]
pub(super) struct MediaRanges(Vec<MediaRange>);

impl MediaRanges {
    pub(super) fn new(mut ranges: Vec<MediaRange>) -> MediaRanges {
        // Stable: among equally specific ranges the spec's (sorted) order is kept.
        ranges.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        MediaRanges(ranges)
    }

    /// The most specific range matching `media`.
    pub(super) fn best_match(&self, media: &MediaType<'_>) -> Option<&MediaRange> {
        self.0.iter().find(|r| r.matches(media))
    }

    /// Whether `*/*` is listed: every content type passes.
    pub(super) fn accepts_all(&self) -> bool {
        self.0.iter().any(|r| r.specificity() == 0)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &MediaRange> {
        self.0.iter()
    }
}

/// The `type/subtype` of a `Content-Type` value, parameters (`; charset=…`) ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MediaType<'a> {
    pub(super) kind: &'a str,
    pub(super) subtype: &'a str,
}

impl<'a> MediaType<'a> {
    /// `None` when `value` is not `token/token[; params]`.
    pub(super) fn parse(value: &'a str) -> Option<MediaType<'a>> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        let (kind, subtype) = essence.split_once('/')?;
        (is_token(kind) && is_token(subtype)).then_some(MediaType { kind, subtype })
    }
}

impl fmt::Display for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.kind.to_ascii_lowercase(),
            self.subtype.to_ascii_lowercase()
        )
    }
}

/// An RFC 9110 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> MediaRanges {
        MediaRanges::new(list.iter().filter_map(|r| MediaRange::parse(r)).collect())
    }

    fn best(list: &[&str], content_type: &str) -> Option<String> {
        let media = MediaType::parse(content_type)?;
        ranges(list).best_match(&media).map(ToString::to_string)
    }

    #[test]
    fn the_most_specific_range_wins() {
        let list = ["*/*", "application/*", "application/json"];
        assert_eq!(
            best(&list, "application/json").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            best(&list, "application/xml").as_deref(),
            Some("application/*")
        );
        assert_eq!(best(&list, "text/plain").as_deref(), Some("*/*"));
        assert_eq!(
            best(&["text/*", "*/*"], "TEXT/Plain").as_deref(),
            Some("text/*")
        );
    }

    #[test]
    fn parameters_and_case_are_ignored() {
        let list = ["application/json"];
        assert!(best(&list, "Application/JSON; charset=utf-8").is_some());
        assert!(best(&list, " application/json ;q=1").is_some());
        assert!(best(&list, "application/jsonx").is_none());
        assert!(best(&list, "application/json+x").is_none());
    }

    #[test]
    fn malformed_values_match_nothing() {
        for bad in [
            "",
            "json",
            "application/",
            "/json",
            "a b/c",
            "application/json/x",
        ] {
            assert_eq!(MediaType::parse(bad), None, "{bad:?}");
        }
        for bad in ["*/json", "json", "a/b c", ""] {
            assert_eq!(MediaRange::parse(bad), None, "{bad:?}");
        }
        assert!(ranges(&["*/*"]).accepts_all());
        assert!(!ranges(&["text/*"]).accepts_all());
    }
}
