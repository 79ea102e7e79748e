//! Property tests: the trie against a brute-force oracle, and normalisation invariants.
//!
//! The oracle knows nothing about the trie. For each route it decides by plain recursion
//! whether the template matches the path, then ranks matching templates by their sequence of
//! segment kinds (literal < parameter < end of template < wildcard) and filters by method,
//! which is the documented precedence stated independently of the search order.

use std::borrow::Cow;
use std::ops::Range;

use http::Method;
use percent_encoding::{percent_decode_str, percent_encode_byte};
use proptest::prelude::*;

use super::*;

/// A template segment as the oracle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OSeg {
    Lit(&'static str),
    /// `{name}` (the name only matters for the template text, never for matching).
    Param(char),
    Wild,
}

impl OSeg {
    fn rank(&self) -> u8 {
        match self {
            OSeg::Lit(_) => 0,
            OSeg::Param(_) => 1,
            OSeg::Wild => 3,
        }
    }

    fn same_kind(&self, other: &Self) -> bool {
        match (self, other) {
            (OSeg::Lit(a), OSeg::Lit(b)) => a == b,
            (OSeg::Param(_), OSeg::Param(_)) | (OSeg::Wild, OSeg::Wild) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
struct Spec {
    /// Segments, a trailing slash being a final `Lit("")`.
    segs: Vec<OSeg>,
    methods: MethodSet,
}

impl Spec {
    fn text(&self) -> String {
        let mut s = String::new();
        for (i, seg) in self.segs.iter().enumerate() {
            s.push('/');
            match seg {
                OSeg::Lit(l) => s.push_str(l),
                OSeg::Param(c) => s.push_str(&format!("{{{c}{i}}}")),
                OSeg::Wild => s.push_str("{w*}"),
            }
        }
        s
    }

    fn key(&self) -> Vec<u8> {
        let mut key: Vec<u8> = self.segs.iter().map(OSeg::rank).collect();
        if self.segs.last() != Some(&OSeg::Wild) {
            key.push(2);
        }
        key
    }

    fn same_shape(&self, other: &Self) -> bool {
        self.segs.len() == other.segs.len()
            && self
                .segs
                .iter()
                .zip(&other.segs)
                .all(|(a, b)| a.same_kind(b))
    }
}

/// The segments of a path as byte ranges (`/` is one empty segment).
fn path_segments(path: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 1;
    loop {
        let end = path[start..].find('/').map_or(path.len(), |i| start + i);
        out.push(start..end);
        if end == path.len() {
            return out;
        }
        start = end + 1;
    }
}

/// Whether `segs` matches the path, and the captures if it does.
fn oracle_match(segs: &[OSeg], path: &str, psegs: &[Range<usize>]) -> Option<Vec<Range<usize>>> {
    fn go(segs: &[OSeg], path: &str, psegs: &[Range<usize>], caps: &mut Vec<Range<usize>>) -> bool {
        let Some((first, rest)) = segs.split_first() else {
            return psegs.is_empty();
        };
        match first {
            OSeg::Wild => {
                let from = psegs.first().map_or(path.len(), |r| r.start);
                caps.push(from..path.len());
                true
            }
            OSeg::Lit(l) => {
                matches!(psegs.first(), Some(r) if &path[r.clone()] == *l)
                    && go(rest, path, &psegs[1..], caps)
            }
            OSeg::Param(_) => match psegs.first() {
                Some(r) if !r.is_empty() => {
                    caps.push(r.clone());
                    go(rest, path, &psegs[1..], caps)
                }
                _ => false,
            },
        }
    }
    let mut caps = Vec::new();
    go(segs, path, psegs, &mut caps).then_some(caps)
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Found(usize, Vec<Range<usize>>),
    NotAllowed(MethodSet),
    NotFound,
}

fn oracle(routes: &[Spec], method: &Method, path: &str) -> Outcome {
    let psegs = path_segments(path);
    let matching: Vec<(usize, Vec<Range<usize>>)> = routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| oracle_match(&r.segs, path, &psegs).map(|c| (i, c)))
        .collect();
    if matching.is_empty() {
        return Outcome::NotFound;
    }
    let best = matching
        .iter()
        .filter(|(i, _)| routes[*i].methods.contains(method))
        .min_by_key(|(i, _)| routes[*i].key());
    match best {
        Some((i, caps)) => Outcome::Found(*i, caps.clone()),
        None => Outcome::NotAllowed(
            matching
                .iter()
                .fold(MethodSet::EMPTY, |acc, (i, _)| acc | routes[*i].methods),
        ),
    }
}

fn actual(router: &Router<usize>, method: &Method, path: &str) -> Outcome {
    match router.at(method, path) {
        Lookup::Found(m) => Outcome::Found(*m.value, m.params.iter().collect()),
        Lookup::MethodNotAllowed(set) => Outcome::NotAllowed(set),
        Lookup::NotFound => Outcome::NotFound,
    }
}

/// Literals that share prefixes (`a`, `ab`, `abc`), so the radix tree splits inside segments,
/// and one longer than the eight bytes the tree compares at once.
fn lit() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("a"),
        Just("ab"),
        Just("abc"),
        Just("b"),
        Just("c"),
        Just("abcdefghij")
    ]
}

fn methods() -> impl Strategy<Value = MethodSet> {
    prop_oneof![
        1 => Just(MethodSet::ANY),
        1 => Just(MethodSet::EMPTY),
        8 => (1u8..8).prop_map(|bits| {
            [MethodSet::GET, MethodSet::POST, MethodSet::DELETE]
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(MethodSet::EMPTY, |acc, (_, m)| acc | m)
        }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let seg = prop_oneof![
        3 => lit().prop_map(OSeg::Lit),
        2 => prop_oneof![Just('x'), Just('y')].prop_map(OSeg::Param),
    ];
    // Tail: 0 none, 1 trailing slash, 2 wildcard.
    (prop::collection::vec(seg, 0..4), 0u8..3, methods()).prop_map(|(mut segs, tail, methods)| {
        match tail {
            1 => segs.push(OSeg::Lit("")),
            2 => segs.push(OSeg::Wild),
            _ if segs.is_empty() => segs.push(OSeg::Lit("")),
            _ => {}
        }
        Spec { segs, methods }
    })
}

fn path() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        Just("a"),
        Just("ab"),
        Just("abc"),
        Just("abcd"),
        Just("abcdefghij"),
        Just("abcdefghijk"),
        Just("b"),
        Just("c"),
        Just("x")
    ];
    (prop::collection::vec(seg, 0..5), any::<bool>()).prop_map(|(segs, slash)| {
        let mut p = format!("/{}", segs.join("/"));
        if slash && !segs.is_empty() {
            p.push('/');
        }
        p
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::DELETE),
        Just(Method::PUT),
        Just(Method::TRACE),
    ]
}

/// Inserts every spec, checking conflicts against the oracle; returns the router and the
/// accepted specs (whose positions are the router's route indexes).
fn build(specs: Vec<Spec>) -> Result<(Router<usize>, Vec<Spec>), TestCaseError> {
    let mut builder = RouterBuilder::new();
    let mut accepted: Vec<Spec> = Vec::new();
    for spec in specs {
        let text = spec.text();
        let template =
            PathTemplate::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(template.as_str(), text.as_str());
        let expected = accepted
            .iter()
            .position(|a| a.same_shape(&spec) && a.methods.overlaps(spec.methods))
            .map(|with| Conflict { with });
        let got = builder.insert(template, spec.methods, accepted.len());
        prop_assert_eq!(got.err(), expected, "inserting {} {:?}", text, spec.methods);
        if expected.is_none() {
            accepted.push(spec);
        }
    }
    Ok((builder.build(), accepted))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn trie_agrees_with_oracle(
        specs in prop::collection::vec(spec(), 0..12),
        requests in prop::collection::vec((method(), path()), 1..16),
    ) {
        let (router, accepted) = build(specs)?;
        for (method, path) in &requests {
            let want = oracle(&accepted, method, path);
            let got = actual(&router, method, path);
            let routes: Vec<_> = accepted.iter().map(|s| (s.text(), s.methods)).collect();
            prop_assert_eq!(got, want, "{} {} with {:?}", method, path, routes);
        }
    }
}

/// Strings rich in the characters normalisation cares about.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/"),
        Just("%"),
        Just("."),
        Just("a"),
        Just("2"),
        Just("e"),
        Just("E"),
        Just("f"),
        Just("F"),
        Just("5"),
        Just("c"),
        Just("0"),
        Just("7"),
        Just("~"),
        Just(" "),
        Just("é"),
        Just("\\"),
        Just("\u{1}"),
        Just(";"),
        Just("%2e"),
        Just("%2F"),
        Just("%41"),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

fn check_normalised(input: &str) -> Result<(), TestCaseError> {
    let Ok(once) = normalize_path(input) else {
        return Ok(());
    };
    // A fixed point, borrowed the second time.
    prop_assert!(matches!(normalize_path(&once), Ok(Cow::Borrowed(s)) if s == once));
    prop_assert!(once.starts_with('/'));
    prop_assert!(once.is_ascii());
    prop_assert!(!once.contains("//"));
    prop_assert!(!once.contains('\\'));
    for seg in once[1..].split('/') {
        prop_assert!(seg != "." && seg != "..", "dot segment in {}", once);
    }
    if matches!(once, Cow::Borrowed(_)) {
        prop_assert_eq!(&*once, input);
    }
    Ok(())
}

/// A plain, slow statement of the normalisation rules, unit by unit (an escape or a raw
/// byte), to check the table-driven implementation against.
fn reference_normalize(input: &str) -> Result<String, PathError> {
    let b = input.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let unreserved = |c: u8| c.is_ascii_alphanumeric() || b"-._~".contains(&c);
    let raw_ok = |c: u8| unreserved(c) || b"!$&'()*+,;=:@".contains(&c);
    let mut out = String::from("/");
    let mut seg = String::new();
    let mut seg_start = 1;
    let end_segment = |seg: &str, start: usize, at: usize| match seg {
        "" => Err(PathError::EmptySegment { offset: at }),
        "." | ".." => Err(PathError::DotSegment { offset: start }),
        _ => Ok(()),
    };
    let mut i = 1;
    while i < b.len() {
        let c = b[i];
        if c == b'/' {
            end_segment(&seg, seg_start, i)?;
            out.push_str(&seg);
            out.push('/');
            seg.clear();
            seg_start = i + 1;
            i += 1;
        } else if c == b'%' {
            // Three characters decode to one byte only when they are an escape.
            let v = input
                .get(i..i + 3)
                .map(|escape| percent_decode_str(escape).collect::<Vec<u8>>())
                .and_then(|decoded| <[u8; 1]>::try_from(decoded).ok())
                .map(|[v]| v)
                .ok_or(PathError::MalformedEscape { offset: i })?;
            match v {
                b'/' => return Err(PathError::EncodedSlash { offset: i }),
                b'\\' => return Err(PathError::EncodedBackslash { offset: i }),
                0..=0x1F | 0x7F => return Err(PathError::EncodedControl { offset: i, byte: v }),
                v if unreserved(v) => seg.push(char::from(v)),
                v => seg.push_str(percent_encode_byte(v)),
            }
            i += 3;
        } else if c == b';' {
            // Servlet containers strip path parameters: `..;x` names `..`, and `;x` nothing.
            end_segment(&seg, seg_start, i)?;
            seg.push(';');
            i += 1;
        } else if c == b'\\' {
            return Err(PathError::Backslash { offset: i });
        } else if c < 0x20 || c == 0x7F {
            return Err(PathError::ControlChar { offset: i, byte: c });
        } else if raw_ok(c) {
            seg.push(char::from(c));
            i += 1;
        } else {
            seg.push_str(percent_encode_byte(c));
            i += 1;
        }
    }
    if !seg.is_empty() {
        end_segment(&seg, seg_start, b.len())?;
    }
    out.push_str(&seg);
    Ok(out)
}

/// Percent-encodes unreserved characters of `plain` where `mask` says so, in random case.
fn respell(plain: &str, mask: &[(bool, bool)]) -> String {
    let mut out = String::new();
    for (i, c) in plain.chars().enumerate() {
        let (encode, lower) = mask.get(i).copied().unwrap_or_default();
        if encode && c != '/' {
            let byte = u8::try_from(c).expect("plain paths are ASCII");
            let hex = percent_encode_byte(byte);
            out.push_str(&if lower {
                hex.to_lowercase()
            } else {
                hex.to_owned()
            });
        } else {
            out.push(c);
        }
    }
    out
}

proptest! {
    #[test]
    fn normalize_never_panics_and_is_idempotent(input in any::<String>()) {
        check_normalised(&input)?;
        check_normalised(&format!("/{input}"))?;
    }

    #[test]
    fn normalize_is_idempotent_on_nasty_input(input in nasty()) {
        check_normalised(&input)?;
    }

    #[test]
    fn normalize_agrees_with_reference(input in prop_oneof![nasty(), any::<String>()]) {
        for input in [input.clone(), format!("/{input}")] {
            let got = normalize_path(&input).map(Cow::into_owned);
            prop_assert_eq!(got, reference_normalize(&input), "{:?}", input);
        }
    }

    #[test]
    fn spellings_of_a_plain_path_normalise_to_it(
        plain in "(/[a-zA-Z0-9._~-]{1,5}){1,4}/?",
        mask in prop::collection::vec(any::<(bool, bool)>(), 32),
    ) {
        let respelled = respell(&plain, &mask);
        match normalize_path(&plain) {
            // Dot segments are refused in every spelling.
            Err(e) => prop_assert_eq!(normalize_path(&respelled).map_err(|_| ()), Err(()), "{}", e),
            Ok(p) => {
                let got = normalize_path(&respelled);
                prop_assert_eq!(got.as_deref(), Ok(&*p));
            }
        }
    }

    #[test]
    fn templates_round_trip(spec in spec()) {
        let text = spec.text();
        let t = PathTemplate::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = PathTemplate::parse(t.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&t, &again);
        // A template's literal text is already a normalised path.
        if !t.param_names().any(|_| true) {
            let normalised = normalize_path(t.as_str());
            prop_assert_eq!(normalised.as_deref(), Ok(t.as_str()));
        }
    }

    #[test]
    fn prefix_router_picks_the_longest_boundary_prefix(
        prefixes in prop::collection::btree_set("(/[ab]{1,2}){1,3}", 0..6),
        path in "(/[ab]{1,2}){0,4}/?",
    ) {
        let path = if path.is_empty() { "/".to_owned() } else { path };
        let mut router = PrefixRouter::new();
        for p in &prefixes {
            router.insert(p, p.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let want = prefixes
            .iter()
            .filter(|p| path == **p || path.starts_with(&format!("{p}/")))
            .max_by_key(|p| p.len());
        match (router.find(&path), want) {
            (None, None) => {}
            (Some((got, rest)), Some(want)) => {
                prop_assert_eq!(got, want);
                let rest_want = if path.len() == want.len() { "/" } else { &path[want.len()..] };
                prop_assert_eq!(rest, rest_want);
            }
            (got, want) => prop_assert!(false, "{:?} vs {:?} for {}", got, want, path),
        }
    }
}
