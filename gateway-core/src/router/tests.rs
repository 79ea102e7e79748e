//! Table tests for the router: precedence, methods and conflicts.

use http::Method;

use super::*;

fn template(t: &str) -> PathTemplate {
    PathTemplate::parse(t).expect(t)
}

/// A router whose values are the route indexes.
fn router(routes: &[(&str, MethodSet)]) -> Router<usize> {
    let mut b = RouterBuilder::new();
    for (i, (t, m)) in routes.iter().enumerate() {
        b.insert(template(t), *m, i).expect(t);
    }
    b.build()
}

fn get(routes: &[&str]) -> Router<usize> {
    let with_methods: Vec<_> = routes.iter().map(|t| (*t, MethodSet::GET)).collect();
    router(&with_methods)
}

/// The route index and captured values, or `None` for anything but `Found`.
fn found<'p>(r: &Router<usize>, method: &Method, path: &'p str) -> Option<(usize, Vec<&'p str>)> {
    match r.at(method, path) {
        Lookup::Found(m) => Some((
            *m.value,
            m.params
                .iter()
                .map(|range| path.get(range).expect("range inside path"))
                .collect(),
        )),
        _ => None,
    }
}

#[test]
fn literal_routes_and_trailing_slash() {
    let r = get(&["/", "/a", "/a/", "/a/b"]);
    assert_eq!(found(&r, &Method::GET, "/"), Some((0, vec![])));
    assert_eq!(found(&r, &Method::GET, "/a"), Some((1, vec![])));
    assert_eq!(found(&r, &Method::GET, "/a/"), Some((2, vec![])));
    assert_eq!(found(&r, &Method::GET, "/a/b"), Some((3, vec![])));
    assert!(matches!(r.at(&Method::GET, "/a/b/"), Lookup::NotFound));
    assert!(matches!(r.at(&Method::GET, "/A"), Lookup::NotFound));
    assert!(matches!(r.at(&Method::GET, "/b"), Lookup::NotFound));
    assert!(matches!(r.at(&Method::GET, ""), Lookup::NotFound));
    assert!(matches!(r.at(&Method::GET, "a"), Lookup::NotFound));
}

#[test]
fn params_match_one_non_empty_segment() {
    let r = get(&["/u/{id}", "/u/{id}/files/{name}"]);
    assert_eq!(found(&r, &Method::GET, "/u/42"), Some((0, vec!["42"])));
    assert_eq!(
        found(&r, &Method::GET, "/u/42/files/a%20b"),
        Some((1, vec!["42", "a%20b"]))
    );
    assert_eq!(found(&r, &Method::GET, "/u/"), None);
    assert_eq!(found(&r, &Method::GET, "/u/42/"), None);
    assert_eq!(found(&r, &Method::GET, "/u"), None);
}

#[test]
fn wildcard_values() {
    let r = get(&["/hello/{p*}"]);
    assert_eq!(found(&r, &Method::GET, "/hello"), Some((0, vec![""])));
    assert_eq!(found(&r, &Method::GET, "/hello/"), Some((0, vec![""])));
    assert_eq!(found(&r, &Method::GET, "/hello/a"), Some((0, vec!["a"])));
    assert_eq!(
        found(&r, &Method::GET, "/hello/a/b/"),
        Some((0, vec!["a/b/"]))
    );
    assert_eq!(found(&r, &Method::GET, "/hellox"), None);
    assert_eq!(found(&r, &Method::GET, "/"), None);

    let r = get(&["/{path*}"]);
    assert_eq!(found(&r, &Method::GET, "/"), Some((0, vec![""])));
    assert_eq!(found(&r, &Method::GET, "/x/y"), Some((0, vec!["x/y"])));
}

#[test]
fn precedence_literal_over_catch_all() {
    let r = get(&["/{path*}", "/health"]);
    assert_eq!(found(&r, &Method::GET, "/health"), Some((1, vec![])));
    assert_eq!(
        found(&r, &Method::GET, "/health/"),
        Some((0, vec!["health/"]))
    );
    assert_eq!(
        found(&r, &Method::GET, "/healthz"),
        Some((0, vec!["healthz"]))
    );
}

#[test]
fn precedence_backtracks_out_of_a_literal_branch() {
    let r = get(&["/a/b/c", "/a/{x}/d"]);
    assert_eq!(found(&r, &Method::GET, "/a/b/d"), Some((1, vec!["b"])));
    assert_eq!(found(&r, &Method::GET, "/a/b/c"), Some((0, vec![])));
    assert_eq!(found(&r, &Method::GET, "/a/b/e"), None);
}

#[test]
fn precedence_param_over_wildcard() {
    let r = get(&["/a/{y*}", "/a/{x}"]);
    assert_eq!(found(&r, &Method::GET, "/a/b"), Some((1, vec!["b"])));
    assert_eq!(found(&r, &Method::GET, "/a/b/c"), Some((0, vec!["b/c"])));
    assert_eq!(found(&r, &Method::GET, "/a/"), Some((0, vec![""])));
    assert_eq!(found(&r, &Method::GET, "/a"), Some((0, vec![""])));
}

#[test]
fn precedence_sample_2_pattern() {
    let r = get(&["/api/{path*}", "/api/{ver}/health"]);
    assert_eq!(
        found(&r, &Method::GET, "/api/v1/health"),
        Some((1, vec!["v1"]))
    );
    assert_eq!(
        found(&r, &Method::GET, "/api/v1/other"),
        Some((0, vec!["v1/other"]))
    );
    assert_eq!(
        found(&r, &Method::GET, "/api/v1/health/x"),
        Some((0, vec!["v1/health/x"]))
    );
}

#[test]
fn exact_end_beats_zero_length_wildcard() {
    let r = get(&["/a/{rest*}", "/a", "/a/"]);
    assert_eq!(found(&r, &Method::GET, "/a"), Some((1, vec![])));
    assert_eq!(found(&r, &Method::GET, "/a/"), Some((2, vec![])));
    assert_eq!(found(&r, &Method::GET, "/a/x"), Some((0, vec!["x"])));
}

#[test]
fn first_difference_decides() {
    // Literal at segment 1 wins even though the other template has more literals later.
    let r = get(&["/{x}/b/c", "/a/{y}/{z}"]);
    assert_eq!(found(&r, &Method::GET, "/a/b/c"), Some((1, vec!["b", "c"])));
}

#[test]
fn any_accepts_unlisted_methods() {
    let r = router(&[("/x", MethodSet::ANY)]);
    assert_eq!(found(&r, &Method::TRACE, "/x"), Some((0, vec![])));
    let purge = Method::from_bytes(b"PURGE").expect("valid method");
    assert_eq!(found(&r, &purge, "/x"), Some((0, vec![])));

    let r = router(&[("/x", MethodSet::GET)]);
    assert!(
        matches!(r.at(&Method::TRACE, "/x"), Lookup::MethodNotAllowed(m) if m == MethodSet::GET)
    );
}

#[test]
fn method_not_allowed_unions_all_matching_templates() {
    let r = router(&[
        ("/u/{id}", MethodSet::GET),
        ("/u/{name}", MethodSet::POST),
        ("/u/{rest*}", MethodSet::PUT),
        ("/u/me", MethodSet::PATCH),
        ("/v/{x}", MethodSet::DELETE),
    ]);
    match r.at(&Method::DELETE, "/u/me") {
        Lookup::MethodNotAllowed(m) => {
            assert_eq!(
                m,
                MethodSet::GET | MethodSet::POST | MethodSet::PUT | MethodSet::PATCH
            );
            assert_eq!(m.to_string(), "GET, POST, PUT, PATCH");
        }
        other => panic!("expected 405, got {other:?}"),
    }
    match r.at(&Method::DELETE, "/u/42") {
        Lookup::MethodNotAllowed(m) => {
            assert_eq!(m, MethodSet::GET | MethodSet::POST | MethodSet::PUT);
        }
        other => panic!("expected 405, got {other:?}"),
    }
    assert!(matches!(r.at(&Method::DELETE, "/w"), Lookup::NotFound));
}

#[test]
fn method_aware_backtracking() {
    let r = router(&[
        ("/a/b", MethodSet::GET),
        ("/a/{x}", MethodSet::POST),
        ("/a/{rest*}", MethodSet::PUT),
        ("/{all*}", MethodSet::ANY),
    ]);
    assert_eq!(found(&r, &Method::GET, "/a/b"), Some((0, vec![])));
    assert_eq!(found(&r, &Method::POST, "/a/b"), Some((1, vec!["b"])));
    assert_eq!(found(&r, &Method::PUT, "/a/b"), Some((2, vec!["b"])));
    assert_eq!(found(&r, &Method::DELETE, "/a/b"), Some((3, vec!["a/b"])));
    // Same shape, disjoint methods: the method picks the route (and its parameter names).
    let r = router(&[("/u/{id}", MethodSet::GET), ("/u/{name}", MethodSet::POST)]);
    assert_eq!(found(&r, &Method::GET, "/u/1"), Some((0, vec!["1"])));
    assert_eq!(found(&r, &Method::POST, "/u/1"), Some((1, vec!["1"])));
}

#[test]
fn empty_method_set_matches_the_path_but_no_method() {
    let r = router(&[("/x", MethodSet::EMPTY)]);
    assert!(matches!(r.at(&Method::GET, "/x"), Lookup::MethodNotAllowed(m) if m.is_empty()));
}

#[test]
fn conflicts() {
    let mut b = RouterBuilder::new();
    b.insert(template("/u/{id}"), MethodSet::GET, 0)
        .expect("first");
    assert_eq!(
        b.insert(template("/u/{name}"), MethodSet::GET | MethodSet::POST, 1),
        Err(Conflict { with: 0 })
    );
    b.insert(template("/u/{name}"), MethodSet::POST, 1)
        .expect("disjoint methods");
    assert_eq!(
        b.insert(template("/u/{other}"), MethodSet::ANY, 2),
        Err(Conflict { with: 0 })
    );
    // `{p}` and `{p*}` are different shapes, as are `/u` and `/u/`.
    b.insert(template("/u/{id*}"), MethodSet::ANY, 2)
        .expect("wildcard shape");
    assert_eq!(
        b.insert(template("/u/{x*}"), MethodSet::DELETE, 3),
        Err(Conflict { with: 2 })
    );
    b.insert(template("/u"), MethodSet::ANY, 3)
        .expect("no trailing slash");
    b.insert(template("/u/"), MethodSet::ANY, 4)
        .expect("trailing slash");
    assert_eq!(
        b.insert(template("/u/"), MethodSet::HEAD, 5),
        Err(Conflict { with: 4 })
    );
    assert_eq!(b.len(), 5);
    let (t, m, v) = b.route(2).expect("route 2");
    assert_eq!((t.as_str(), m, *v), ("/u/{id*}", MethodSet::ANY, 2));
    assert_eq!(
        Conflict { with: 4 }.to_string(),
        "conflicts with route #4: same path template (modulo parameter names) and overlapping methods"
    );

    // A rejected insert leaves nothing behind.
    let r = b.build();
    assert_eq!(r.len(), 5);
    assert_eq!(found(&r, &Method::POST, "/u/7"), Some((1, vec!["7"])));
}

#[test]
fn rejected_insert_leaves_no_branch() {
    let mut b = RouterBuilder::new();
    b.insert(template("/a/{x*}"), MethodSet::ANY, 0)
        .expect("first");
    assert!(b.insert(template("/a/{y*}"), MethodSet::GET, 1).is_err());
    let r = b.build();
    assert_eq!(r.routes().count(), 1);
    assert_eq!(found(&r, &Method::GET, "/a/b"), Some((0, vec!["b"])));
}

#[test]
fn many_literals_sharing_prefixes_beside_a_param() {
    let names: Vec<String> = (0..100).map(|i| format!("/r{i}")).collect();
    let mut b = RouterBuilder::new();
    for (i, n) in names.iter().enumerate() {
        b.insert(template(n), MethodSet::GET, i).expect(n);
    }
    b.insert(template("/{other}"), MethodSet::GET, 100)
        .expect("param");
    b.insert(template("/"), MethodSet::GET, 101).expect("root");
    let r = b.build();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(found(&r, &Method::GET, n), Some((i, vec![])));
    }
    assert_eq!(found(&r, &Method::GET, "/r100"), Some((100, vec!["r100"])));
    assert_eq!(found(&r, &Method::GET, "/"), Some((101, vec![])));
}

#[test]
fn params_spill_past_four_inline() {
    let r = get(&["/{a}/{b}/{c}/{d}/{e}/{f*}"]);
    assert_eq!(
        found(&r, &Method::GET, "/1/2/3/4/5/6/7"),
        Some((0, vec!["1", "2", "3", "4", "5", "6/7"]))
    );
}

#[test]
fn normalise_then_route() {
    let r = get(&["/hello", "/files/{name}"]);
    let p = normalize_path("/%68ello").expect("valid");
    assert_eq!(found(&r, &Method::GET, &p), Some((0, vec![])));
    let p = normalize_path("/files/caf%c3%a9").expect("valid");
    assert_eq!(found(&r, &Method::GET, &p), Some((1, vec!["caf%C3%A9"])));
}

/// Every route a prefix of the next, as long as templates go: the tree is as deep as a
/// template is long, and building, matching and dropping it must not exhaust a thread's stack.
#[test]
fn the_deepest_tree_builds_and_matches() {
    let longest = 1999;
    let routes: Vec<String> = (1..=longest)
        .map(|n| format!("/{}", "a".repeat(n)))
        .collect();
    let mut b = RouterBuilder::new();
    for (i, t) in routes.iter().enumerate() {
        b.insert(template(t), MethodSet::GET, i)
            .expect("distinct literals");
    }
    let r = b.build();
    assert_eq!(
        found(&r, &Method::GET, &routes[longest - 1]),
        Some((longest - 1, vec![]))
    );
    assert_eq!(found(&r, &Method::GET, "/a"), Some((0, vec![])));
    let beyond = format!("/{}", "a".repeat(longest + 1));
    assert!(matches!(r.at(&Method::GET, &beyond), Lookup::NotFound));
}

/// Backtracking as deep as a template allows: a wildcard beside every `/a` segment, of which
/// only the outermost accepts POST, so a POST walks down every level and back up again.
#[test]
fn backtracking_as_deep_as_a_template_allows() {
    let levels = 997;
    let mut b = RouterBuilder::new();
    for n in 1..=levels {
        let methods = if n == 1 {
            MethodSet::ANY
        } else {
            MethodSet::GET
        };
        let t = format!("{}/{{w*}}", "/a".repeat(n));
        b.insert(template(&t), methods, n - 1)
            .expect("distinct shapes");
    }
    let r = b.build();
    let path = format!("{}/b", "/a".repeat(levels));
    assert_eq!(
        found(&r, &Method::GET, &path),
        Some((levels - 1, vec!["b"]))
    );
    let (index, params) = found(&r, &Method::POST, &path).expect("the outermost wildcard");
    assert_eq!(index, 0);
    assert_eq!(params, vec![&path[3..]]);
}
