use std::collections::HashMap;

use proptest::prelude::*;

use super::eval::{strip_port, subdomain};
use super::*;

/// A request context made of plain maps; header names are stored lower-case and looked up
/// case-insensitively, like an `http::HeaderMap`.
#[derive(Debug, Default)]
struct Src {
    path: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    auth: HashMap<String, String>,
    host: Option<String>,
    cert: HashMap<String, String>,
    usage_plan: HashMap<String, String>,
    body: Option<String>,
}

impl Src {
    fn sample() -> Src {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        Src {
            path: map(&[("region", "west"), ("file", "a%2Fb")]),
            query: map(&[("state", "San+Jos%C3%A9"), ("Mode", "upper")]),
            headers: map(&[("x-api-key", "k123"), ("x.y", "dotted")]),
            auth: map(&[("sub", "alice"), ("id_token_claims", "{}")]),
            host: Some("cars.example.com:8443".into()),
            cert: map(&[("client_base64", "MIIB")]),
            usage_plan: map(&[("id", "ocid1.usageplan.oc1..x")]),
            body: Some("{\"a\":1}".into()),
        }
    }
}

impl VarSource for Src {
    fn path_param(&self, name: &str) -> Option<&str> {
        self.path.get(name).map(String::as_str)
    }
    fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    fn auth(&self, key: &str) -> Option<&str> {
        self.auth.get(key).map(String::as_str)
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn cert(&self, key: &str) -> Option<&str> {
        self.cert.get(key).map(String::as_str)
    }
    fn usage_plan(&self, key: &str) -> Option<&str> {
        self.usage_plan.get(key).map(String::as_str)
    }
    fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }
}

fn sel(text: &str) -> Selector {
    Selector::parse(text, TableSet::ALL).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn tpl(text: &str) -> Template {
    Template::parse(text, TableSet::ALL).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn every_table_parses_and_evaluates() {
    let src = Src::sample();
    let cases = [
        ("request.path[region]", Table::Path, Some("west")),
        ("request.query[state]", Table::Query, Some("San+Jos%C3%A9")),
        ("request.headers[X-Api-Key]", Table::Headers, Some("k123")),
        ("request.auth[sub]", Table::Auth, Some("alice")),
        ("request.host", Table::Host, Some("cars.example.com:8443")),
        (
            "request.subdomain[example.com]",
            Table::Subdomain,
            Some("cars"),
        ),
        ("request.cert[client_base64]", Table::Cert, Some("MIIB")),
        (
            "request.usage_plan[id]",
            Table::UsagePlan,
            Some("ocid1.usageplan.oc1..x"),
        ),
        ("request.body", Table::Body, Some("{\"a\":1}")),
    ];
    for (text, table, value) in cases {
        let s = sel(text);
        assert_eq!(s.table(), table, "{text}");
        assert_eq!(s.var().table, table, "{text}");
        assert_eq!(s.var().key.is_some(), table.takes_key(), "{text}");
        assert_eq!(s.value(&src), value, "{text}");
        assert_eq!(s.to_string(), text, "display round-trips");
        assert!(text.starts_with(table.name()));
    }
}

#[test]
fn values_are_first_and_still_encoded() {
    let src = Src::sample();
    assert_eq!(sel("request.path[file]").value(&src), Some("a%2Fb"));
    assert_eq!(
        tpl("q=${request.query[state]}").render(&src),
        "q=San+Jos%C3%A9"
    );
}

#[test]
fn dot_inside_a_key_is_ordinary() {
    let s = sel("request.headers[x.y]");
    assert_eq!(s.var().key(), Some("x.y"));
    assert_eq!(s.value(&Src::sample()), Some("dotted"));
}

#[test]
fn headers_are_case_insensitive_and_query_is_not() {
    let src = Src::sample();
    for name in ["X-Api-Key", "x-api-key", "X-API-KEY"] {
        assert_eq!(
            sel(&format!("request.headers[{name}]")).value(&src),
            Some("k123")
        );
    }
    // The key keeps the spelling the user wrote.
    assert_eq!(
        sel("request.headers[X-API-KEY]").to_string(),
        "request.headers[X-API-KEY]"
    );
    assert_eq!(sel("request.query[Mode]").value(&src), Some("upper"));
    assert_eq!(sel("request.query[mode]").value(&src), None);
}

#[test]
fn absent_values_are_none_and_render_empty() {
    let src = Src::sample();
    let empty = Src::default();
    assert_eq!(sel("request.auth[nope]").value(&src), None);
    assert_eq!(sel("request.host").value(&empty), None);
    assert_eq!(sel("request.subdomain[example.com]").value(&empty), None);
    let t = tpl("a${request.path[nope]}b${request.host}c${request.body}d");
    assert_eq!(t.render(&empty), "abcd");
    assert_eq!(t.rendered_len(&empty), 4);
}

#[test]
fn body_defaults_to_absent() {
    struct NoBody;
    impl VarSource for NoBody {
        fn path_param(&self, _: &str) -> Option<&str> {
            None
        }
        fn query_param(&self, _: &str) -> Option<&str> {
            None
        }
        fn header(&self, _: &str) -> Option<&str> {
            None
        }
        fn auth(&self, _: &str) -> Option<&str> {
            None
        }
        fn host(&self) -> Option<&str> {
            Some("h")
        }
        fn cert(&self, _: &str) -> Option<&str> {
            None
        }
        fn usage_plan(&self, _: &str) -> Option<&str> {
            None
        }
    }
    assert_eq!(sel("request.body").value(&NoBody), None);
    // Works through a trait object too.
    let dynamic: &dyn VarSource = &NoBody;
    assert_eq!(sel("request.host").value(dynamic), Some("h"));
    assert_eq!(tpl("${request.host}!").render(dynamic), "h!");
}

#[test]
fn subdomain_cases() {
    let cases = [
        ("cars.example.com", "example.com", Some("cars")),
        ("cars.example.com:8443", "example.com", Some("cars")),
        ("Cars.EXAMPLE.Com", "example.com", Some("Cars")),
        ("a.b.example.com", "example.com", Some("a.b")),
        ("example.com", "example.com", None),
        ("example.com:80", "example.com", None),
        (".example.com", "example.com", None),
        ("notexample.com", "example.com", None),
        ("cars.example.org", "example.com", None),
        ("com", "example.com", None),
        ("", "example.com", None),
        ("[::1]:8080", "example.com", None),
        ("añb.example.com", "example.com", Some("añb")),
        ("x.é.com", "é.com", Some("x")),
        ("x.É.com", "é.com", None), // only ASCII folds
    ];
    for (host, suffix, want) in cases {
        assert_eq!(subdomain(host, suffix), want, "{host} / {suffix}");
    }
    let src = Src {
        host: Some("API.Example.com".into()),
        ..Src::default()
    };
    assert_eq!(
        sel("request.subdomain[example.COM]").value(&src),
        Some("API")
    );
}

#[test]
fn strips_ports_but_not_ipv6_literals() {
    assert_eq!(strip_port("example.com:8443"), "example.com");
    assert_eq!(strip_port("example.com:"), "example.com");
    assert_eq!(strip_port("example.com"), "example.com");
    assert_eq!(strip_port("[::1]:80"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
    assert_eq!(strip_port("::1"), "::1");
    assert_eq!(strip_port("host:abc"), "host:abc");
}

#[test]
fn embedded_variables_with_surrounding_text() {
    let src = Src::sample();
    let t = tpl(
        "https://api.example.gov/${request.path[region]}/${request.query[state]}?k=${request.headers[x-api-key]}",
    );
    assert!(!t.is_literal());
    assert_eq!(t.as_literal(), None);
    let tables: Vec<Table> = t.vars().map(|v| v.table).collect();
    assert_eq!(tables, [Table::Path, Table::Query, Table::Headers]);
    assert_eq!(
        t.parts()[0],
        Part::Literal("https://api.example.gov/".into())
    );
    let out = t.render(&src);
    assert_eq!(out, "https://api.example.gov/west/San+Jos%C3%A9?k=k123");
    assert_eq!(out.capacity(), out.len(), "render allocates exactly once");
    assert_eq!(t.rendered_len(&src), out.len());

    let mut buf = String::from(">");
    t.render_into(&src, &mut buf);
    assert_eq!(buf, format!(">{out}"));

    // Adjacent variables, variables at both ends, repeats.
    let t = tpl("${request.host}${request.host}-${request.subdomain[example.com]}");
    assert_eq!(t.parts().len(), 4);
    assert_eq!(t.vars().count(), 3);
    assert_eq!(
        t.render(&src),
        "cars.example.com:8443cars.example.com:8443-cars"
    );
}

#[test]
fn dollar_without_brace_is_literal() {
    let src = Src::sample();
    for text in ["$", "cost: $5", "$$", "a $ {request.host}", "}{][$", "{$}"] {
        let t = tpl(text);
        assert_eq!(t.as_literal(), Some(text));
        assert_eq!(t.render(&src), text);
    }
    let t = tpl("$${request.host}$");
    assert_eq!(
        t.parts(),
        [
            Part::Literal("$".into()),
            Part::Var(VarRef {
                table: Table::Host,
                key: None
            }),
            Part::Literal("$".into()),
        ]
    );
    assert_eq!(t.render(&src), "$cars.example.com:8443$");
    assert_eq!(t.to_string(), "$${request.host}$");
}

#[test]
fn empty_template_is_an_empty_literal() {
    let t = tpl("");
    assert!(t.is_literal());
    assert_eq!(t.as_literal(), Some(""));
    assert_eq!(t.parts(), []);
    assert_eq!(t.render(&Src::default()), "");
}

#[test]
fn selector_parse_either_accepts_both_forms() {
    let a = Selector::parse_either("request.headers[Accept]", TableSet::CACHE_KEY);
    let b = Selector::parse_either("${request.headers[Accept]}", TableSet::CACHE_KEY);
    assert_eq!(a, b);
    assert_eq!(
        b.map(|s| s.to_string()),
        Ok("request.headers[Accept]".into())
    );
    let err =
        Selector::parse_either("${request.host}x", TableSet::CACHE_KEY).expect_err("must fail");
    assert_eq!(
        (err.position, err.message.as_str()),
        (15, "unexpected `x` after `}`")
    );
    let err = Selector::parse_either("${request.host", TableSet::CACHE_KEY).expect_err("must fail");
    assert_eq!(
        (err.position, err.message.as_str()),
        (0, "unterminated `${`: no closing `}`")
    );
}

#[test]
fn table_sets() {
    const PQ: TableSet = TableSet::PATH.union(TableSet::QUERY);
    assert!(PQ.contains(Table::Path) && PQ.contains(Table::Query));
    assert!(!PQ.contains(Table::Headers));
    assert_eq!(TableSet::PATH | TableSet::QUERY, PQ);
    assert_eq!(TableSet::from(Table::Path), TableSet::PATH);
    assert!(TableSet::EMPTY.is_empty());
    for t in Table::ALL {
        assert!(TableSet::ALL.contains(t));
        assert_eq!(TableSet::REQUEST.contains(t), t != Table::Body);
        assert_eq!(Table::from_name(t.name()), Some(t));
        assert_eq!(t.to_string(), t.name());
    }
    assert_eq!(TableSet::REQUEST.iter().count(), 8);
    assert!(!TableSet::SELECTOR.contains(Table::Cert));
    assert!(TableSet::AUTHORIZER_PARAMETERS.contains(Table::Body));
    assert!(!TableSet::CACHE_KEY.contains(Table::Path));
    assert!(TableSet::TOKEN_LOCATIONS.contains(Table::Path));
    assert_eq!(format!("{PQ:?}"), r#"{"request.path", "request.query"}"#);
    assert_eq!(Table::from_name("request.Headers"), None);
}

#[test]
fn allowed_tables_are_enforced() {
    let err = Selector::parse("request.body", TableSet::REQUEST).expect_err("must fail");
    assert_eq!(err.position, 0);
    assert_eq!(
        err.message,
        "request.body is not allowed here; allowed: request.path, request.query, \
         request.headers, request.auth, request.host, request.subdomain, request.cert, \
         request.usage_plan"
    );
    assert!(Selector::parse("request.body", TableSet::AUTHORIZER_PARAMETERS).is_ok());

    let err = Template::parse("x/${request.cert[client_base64]}", TableSet::CACHE_KEY)
        .expect_err("must fail");
    assert_eq!(err.position, 4);
    assert_eq!(
        err.message,
        "request.cert is not allowed here; allowed: request.query, request.headers, \
         request.auth, request.host"
    );
    let err = Selector::parse("request.host", TableSet::EMPTY).expect_err("must fail");
    assert_eq!(
        err.message,
        "request.host is not allowed here; allowed: none"
    );
}

/// `(input, position, message, hint)`; `hint` is a substring of the expected hint.
type Bad = (&'static str, usize, &'static str, Option<&'static str>);

fn check_errors(parse: impl Fn(&str) -> Result<(), VarError>, cases: &[Bad]) {
    for &(text, position, message, hint) in cases {
        let err = match parse(text) {
            Ok(()) => panic!("{text:?} parsed"),
            Err(err) => err,
        };
        assert_eq!(
            (err.position, err.message.as_str()),
            (position, message),
            "{text:?}"
        );
        match (hint, &err.hint) {
            (None, None) => {}
            (Some(want), Some(got)) => assert!(got.contains(want), "{text:?}: hint {got:?}"),
            (want, got) => panic!("{text:?}: hint {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn bare_selector_errors() {
    check_errors(
        |t| Selector::parse(t, TableSet::ALL).map(drop),
        &[
            (
                "",
                0,
                "empty context variable",
                Some("request.headers[X-Api-Key]"),
            ),
            (
                "request.Headers[x]",
                0,
                "unknown context variable table `request.Headers`",
                Some("did you mean `request.headers`?"),
            ),
            (
                "request.heders[x]",
                0,
                "unknown context variable table `request.heders`",
                Some("did you mean `request.headers`?"),
            ),
            (
                "path[x]",
                0,
                "unknown context variable table `path`",
                Some("did you mean `request.path`?"),
            ),
            (
                "response.whatever[x]",
                0,
                "unknown context variable table `response.whatever`",
                Some("known tables: request.path, request.query,"),
            ),
            (
                "request.path",
                12,
                "request.path needs a key, as in `request.path[name]`",
                None,
            ),
            (
                "request.subdomain",
                17,
                "request.subdomain needs a key, as in `request.subdomain[example.com]`",
                None,
            ),
            ("request.host[x]", 12, "request.host takes no key", None),
            ("request.body[x]", 12, "request.body takes no key", None),
            ("request.path[]", 13, "empty key in `request.path[]`", None),
            (
                "request.path[x",
                12,
                "unclosed `[`: no `]` after the key",
                None,
            ),
            ("request.path[x]y", 15, "unexpected `y` after `]`", None),
            (
                "request.host/x",
                12,
                "unexpected `/` after `request.host`",
                None,
            ),
            ("request.path[a{b]", 14, "`{` is not allowed in a key", None),
            ("request.path[a}b]", 14, "`}` is not allowed in a key", None),
            ("request.path[a[b]", 14, "`[` is not allowed in a key", None),
            (
                "request.auth[id_token_claims][sub]",
                29,
                "nested keys are not supported",
                Some("OAUTH2"),
            ),
            (
                "request.query[a][b]",
                16,
                "nested keys are not supported",
                Some("exactly one `[key]`"),
            ),
            (
                " request.host",
                0,
                "whitespace is not allowed inside a context variable",
                Some("remove the spaces"),
            ),
            (
                "request.host ",
                12,
                "whitespace is not allowed inside a context variable",
                Some("remove the spaces"),
            ),
            (
                "request.path[a b]",
                14,
                "whitespace is not allowed inside a context variable",
                Some("remove the spaces"),
            ),
            (
                "request.path [a]",
                12,
                "whitespace is not allowed inside a context variable",
                Some("remove the spaces"),
            ),
            (
                "${request.host}",
                0,
                "this field takes a bare context variable, without `${…}`",
                Some("write `request.host`"),
            ),
            (
                "[x]",
                0,
                "expected a context variable such as `request.path[name]`, found `[`",
                None,
            ),
            (
                "request.headers[bad:name]",
                16,
                "`bad:name` is not a valid HTTP header name",
                None,
            ),
            (
                "request.headers[ä]",
                16,
                "`ä` is not a valid HTTP header name",
                None,
            ),
            (
                "request.path[rest*]",
                17,
                "`*` is not allowed in a path parameter name",
                Some("request.path[name]"),
            ),
            (
                "request.cert[client]",
                13,
                "unknown key `client` for request.cert; the only key is `client_base64`",
                None,
            ),
            (
                "request.usage_plan[ID]",
                19,
                "unknown key `ID` for request.usage_plan; the only key is `id`",
                None,
            ),
            (
                "request.subdomain[.example.com]",
                18,
                "subdomain suffix `.example.com` starts with `.`",
                Some("write `request.subdomain[example.com]`"),
            ),
        ],
    );
}

#[test]
fn template_errors() {
    check_errors(
        |t| Template::parse(t, TableSet::REQUEST).map(drop),
        &[
            ("abc${", 3, "unterminated `${`: no closing `}`", None),
            (
                "abc${request.host",
                3,
                "unterminated `${`: no closing `}`",
                None,
            ),
            (
                "${request.path[x]",
                0,
                "unterminated `${`: no closing `}`",
                None,
            ),
            (
                "${request.path",
                0,
                "unterminated `${`: no closing `}`",
                None,
            ),
            (
                "${request.path[x}",
                14,
                "unclosed `[`: no `]` after the key",
                None,
            ),
            (
                "${request.path[x",
                14,
                "unclosed `[`: no `]` after the key",
                None,
            ),
            ("a${}b", 1, "empty variable `${}`", None),
            (
                "${ request.host }",
                2,
                "whitespace is not allowed inside a context variable",
                Some("remove the spaces"),
            ),
            (
                "${request.host }",
                14,
                "whitespace is not allowed inside a context variable",
                Some("remove the spaces"),
            ),
            ("${request.path[x]y}", 17, "unexpected `y` after `]`", None),
            (
                "${request.path}",
                14,
                "request.path needs a key, as in `request.path[name]`",
                None,
            ),
            (
                "${request.path[]}",
                15,
                "empty key in `request.path[]`",
                None,
            ),
            (
                "/${request.Path[x]}",
                3,
                "unknown context variable table `request.Path`",
                Some("did you mean `request.path`?"),
            ),
            (
                "ok ${request.host} then ${request.auth[id_token_claims][sub]}",
                55,
                "nested keys are not supported",
                Some("OAUTH2"),
            ),
            (
                "${request.body}",
                2,
                "request.body is not allowed here; allowed: request.path, request.query, \
                 request.headers, request.auth, request.host, request.subdomain, \
                 request.cert, request.usage_plan",
                None,
            ),
            ("${request.host[x]}", 14, "request.host takes no key", None),
            // Positions count characters, not bytes.
            (
                "héllo ${request.nope}",
                8,
                "unknown context variable table `request.nope`",
                Some("did you mean"),
            ),
        ],
    );
}

#[test]
fn error_display_carries_position() {
    let err = Template::parse("x${}", TableSet::REQUEST).expect_err("must fail");
    assert_eq!(err.to_string(), "empty variable `${}` at character 1");
    let err = VarError::new(3, "m").with_hint("h");
    assert_eq!(err.hint.as_deref(), Some("h"));
}

proptest! {
    #[test]
    fn text_without_dollar_is_a_literal_rendering_to_itself(text in "[^$]*") {
        let t = Template::parse(&text, TableSet::ALL).expect("no `$`, nothing to parse");
        prop_assert!(t.is_literal());
        prop_assert_eq!(t.as_literal(), Some(text.as_str()));
        prop_assert_eq!(t.render(&Src::sample()), text);
    }

    #[test]
    fn parsed_templates_render_and_round_trip(
        // Near-miss variables mixed with literal noise, to reach every parse path.
        text in concat!(
            r"((\$\{request\.(path|query|headers|auth|host|subdomain|cert|usage_plan|body|Path)",
            r"(\[[a-zA-Z0-9._ {}\[\]é*-]{0,6}\])?\}?)|[a-z$ {}\[\]é]{0,4}){0,6}",
        )
    ) {
        match Template::parse(&text, TableSet::ALL) {
            Ok(t) => {
                let src = Src::sample();
                let out = t.render(&src);
                prop_assert_eq!(out.len(), t.rendered_len(&src));
                prop_assert_eq!(t.render(&Src::default()).len(), t.rendered_len(&Src::default()));
                prop_assert_eq!(Template::parse(&t.to_string(), TableSet::ALL), Ok(t));
            }
            Err(err) => prop_assert!(err.position <= text.chars().count()),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Ok(t) = Template::parse(&text, TableSet::ALL) {
            t.render(&Src::sample());
        }
        if let Ok(s) = Selector::parse(&text, TableSet::ALL) {
            s.value(&Src::sample());
            prop_assert_eq!(Selector::parse(&s.to_string(), TableSet::ALL), Ok(s));
        }
    }
}
