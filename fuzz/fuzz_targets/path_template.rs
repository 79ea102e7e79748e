//! A route `path` template (`/users/{id}/files/{path*}`) and a deployment `pathPrefix`, parsed.
//!
//! Checked besides "no panic": a parsed template's canonical text parses again to the same
//! template (with `~` escaped: see below); its segments, parameters and shape agree with each other; and a request path made
//! by filling its parameters in is already normalised and is routed to it with those values.

#![no_main]

use std::borrow::Cow;

use gateway_core::router::{
    normalize_path, validate_path_prefix, Lookup, MethodSet, PathTemplate, RouterBuilder, Segment,
};
use gateway_fuzz::captures;
use http::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = validate_path_prefix(text) {
        let _ = e.to_string();
    }
    let template = match PathTemplate::parse(text) {
        Ok(template) => template,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };

    // The canonical text is a fixed point. It decodes `%7E` to `~` as request paths do, and
    // `~` is not in OCI's template character set, so it is written `%7E` again to re-parse.
    let canonical = template.as_str().replace('~', "%7E");
    let again = PathTemplate::parse(&canonical)
        .unwrap_or_else(|e| panic!("{text:?} -> {canonical:?} does not parse: {e}"));
    assert_eq!(again, template, "{text:?}");
    assert!(template.same_shape(&again));
    assert_eq!(template.shape(), again.shape());

    // Segments, parameters and the text agree.
    let segments = template.segments();
    assert!(!segments.is_empty());
    let params = segments
        .iter()
        .filter(|s| !matches!(s, Segment::Literal(_)))
        .count();
    assert_eq!(template.param_count(), params);
    assert_eq!(template.param_names().count(), params);
    let wildcards = segments
        .iter()
        .filter(|s| matches!(s, Segment::Wildcard(_)))
        .count();
    assert!(wildcards <= 1);
    assert_eq!(template.has_wildcard(), wildcards == 1);
    if wildcards == 1 {
        assert!(matches!(segments.last(), Some(Segment::Wildcard(_))));
    }

    // Filling the parameters in gives a normalised path that the template matches.
    let mut path = String::new();
    let mut values = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        path.push('/');
        match segment {
            Segment::Literal(text) => path.push_str(text),
            Segment::Param(_) => {
                let value = format!("p{i}");
                path.push_str(&value);
                values.push(value);
            }
            Segment::Wildcard(_) => {
                let value = format!("w{i}/x");
                path.push_str(&value);
                values.push(value);
            }
        }
    }
    match normalize_path(&path) {
        Ok(Cow::Borrowed(_)) => {}
        other => panic!("{text:?}: the filled-in path {path:?} normalises to {other:?}"),
    }
    let mut routes = RouterBuilder::new();
    routes
        .insert(template.clone(), MethodSet::GET, ())
        .expect("one route cannot conflict");
    let routes = routes.build();
    match routes.at(&Method::GET, &path) {
        Lookup::Found(found) => {
            let captured = captures(&found.params, &path);
            assert_eq!(captured, values, "{text:?} on {path:?}");
        }
        other => panic!("{text:?}: {path:?} is not routed to it: {other:?}"),
    }
});
