//! Context-variable strings: bare selectors (`request.headers[X-Api-Key]`) and templates with
//! embedded `${request.path[region]}`, parsed as the spec loader compiles them and rendered.
//!
//! Input: the first byte picks the set of tables the field allows, the rest is the text.
//!
//! Checked besides "no panic": what parses uses only allowed tables, with a key exactly when
//! the table takes one; a parsed template or selector prints as text that parses back to it;
//! a template's parts are as documented; rendering has the length announced for it.

#![no_main]

use gateway_core::vars::{Part, Selector, TableSet, Template, VarRef, VarSource};
use libfuzzer_sys::fuzz_target;

/// The presets the spec loader passes, and every table.
const SETS: [TableSet; 7] = [
    TableSet::ALL,
    TableSet::REQUEST,
    TableSet::SELECTOR,
    TableSet::AUTHORIZER_PARAMETERS,
    TableSet::TOKEN_LOCATIONS,
    TableSet::CACHE_KEY,
    TableSet::PATH,
];

/// A request whose values depend on the key only, some present and some absent.
struct Request;

fn value(key: &str) -> Option<&'static str> {
    [Some("west"), None, Some("a%2Fb"), Some("")][key.len() % 4]
}

impl VarSource for Request {
    fn path_param(&self, name: &str) -> Option<&str> {
        value(name)
    }
    fn query_param(&self, name: &str) -> Option<&str> {
        value(name)
    }
    fn header(&self, name: &str) -> Option<&str> {
        value(name)
    }
    fn auth(&self, key: &str) -> Option<&str> {
        value(key)
    }
    fn host(&self) -> Option<&str> {
        Some("cars.example.com:8443")
    }
    fn cert(&self, key: &str) -> Option<&str> {
        value(key)
    }
    fn usage_plan(&self, key: &str) -> Option<&str> {
        value(key)
    }
    fn body(&self) -> Option<&str> {
        Some("{\"a\":1}")
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let allowed = SETS[usize::from(pick) % SETS.len()];

    match Template::parse(text, allowed) {
        Ok(template) => check_template(text, &template, allowed),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for parsed in [
        Selector::parse(text, allowed),
        Selector::parse_either(text, allowed),
    ] {
        match parsed {
            Ok(selector) => check_selector(text, &selector, allowed),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});

fn check_var(text: &str, var: &VarRef, allowed: TableSet) {
    assert!(allowed.contains(var.table), "{text:?}: {var:?}");
    assert_eq!(
        var.key.is_some(),
        var.table.takes_key(),
        "{text:?}: {var:?}"
    );
    assert_ne!(var.key(), Some(""), "{text:?}");
}

fn check_template(text: &str, template: &Template, allowed: TableSet) {
    let parts = template.parts();
    for pair in parts.windows(2) {
        assert!(
            !matches!(pair, [Part::Literal(_), Part::Literal(_)]),
            "{text:?}: adjacent literals {parts:?}"
        );
    }
    for part in parts {
        match part {
            Part::Literal(literal) => assert!(!literal.is_empty(), "{text:?}: {parts:?}"),
            Part::Var(var) => check_var(text, var, allowed),
        }
    }
    assert_eq!(template.is_literal(), template.vars().next().is_none());
    if let Some(literal) = template.as_literal() {
        assert_eq!(literal, text);
    }

    let printed = template.to_string();
    let again = Template::parse(&printed, allowed)
        .unwrap_or_else(|e| panic!("{text:?} prints as {printed:?}, which does not parse: {e}"));
    assert_eq!(&again, template, "{text:?} prints as {printed:?}");

    let rendered = template.render(&Request);
    assert_eq!(rendered.len(), template.rendered_len(&Request), "{text:?}");
    let mut into = String::from(">");
    template.render_into(&Request, &mut into);
    assert_eq!(into[1..], rendered);
}

fn check_selector(text: &str, selector: &Selector, allowed: TableSet) {
    check_var(text, selector.var(), allowed);
    assert_eq!(selector.table(), selector.var().table);
    let printed = selector.to_string();
    let again = Selector::parse(&printed, allowed)
        .unwrap_or_else(|e| panic!("{text:?} prints as {printed:?}, which does not parse: {e}"));
    assert_eq!(&again, selector, "{text:?} prints as {printed:?}");
    let _ = selector.value(&Request);
}
