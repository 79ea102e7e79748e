use http::{HeaderMap, Method, Request, Response};
use tower::{service_fn, Layer, ServiceExt};

use super::*;
use crate::body::Body;
use crate::context::RequestContext;
use crate::policy::testing::{context, echo, request, seen, values, Seen};
use crate::spec::{
    FilterItem, FilterPolicy, FilterType, HeaderTransformations, IfExists,
    QueryParameterTransformations, RenameItem, RenamePolicy, SetItem, SetPolicy,
};

fn set(name: &str, values: &[&str], if_exists: Option<IfExists>) -> SetItem {
    SetItem {
        name: name.to_owned(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        if_exists,
    }
}

fn sets(items: Vec<SetItem>) -> Option<SetPolicy> {
    Some(SetPolicy { items })
}

fn renames(items: &[(&str, &str)]) -> Option<RenamePolicy> {
    let items = items
        .iter()
        .map(|(from, to)| RenameItem {
            from: (*from).to_owned(),
            to: (*to).to_owned(),
        })
        .collect();
    Some(RenamePolicy { items })
}

fn filter(filter_type: FilterType, names: &[&str]) -> Option<FilterPolicy> {
    let items = names
        .iter()
        .map(|n| FilterItem {
            name: (*n).to_owned(),
        })
        .collect();
    Some(FilterPolicy { filter_type, items })
}

fn header_policy(
    set_headers: Option<SetPolicy>,
    rename_headers: Option<RenamePolicy>,
    filter_headers: Option<FilterPolicy>,
) -> HeaderTransformations {
    HeaderTransformations {
        set_headers,
        rename_headers,
        filter_headers,
    }
}

fn query_policy(
    set_query_parameters: Option<SetPolicy>,
    rename_query_parameters: Option<RenamePolicy>,
    filter_query_parameters: Option<FilterPolicy>,
) -> QueryParameterTransformations {
    QueryParameterTransformations {
        set_query_parameters,
        rename_query_parameters,
        filter_query_parameters,
    }
}

fn request_layer(
    headers: Option<&HeaderTransformations>,
    query: Option<&QueryParameterTransformations>,
) -> RequestTransformLayer {
    let mut diags = Diagnostics::new();
    let layer =
        RequestTransformLayer::compile(headers, query, "routes[0].requestPolicies", &mut diags)
            .expect("something to do");
    assert!(diags.is_empty(), "{diags}");
    layer
}

/// Sends `uri` with `headers` (and `ctx`) through the request layer; what the backend saw.
async fn through(
    layer: &RequestTransformLayer,
    uri: &str,
    headers: &[(&str, &str)],
    ctx: Option<RequestContext>,
) -> Seen {
    let svc = layer.layer(service_fn(echo));
    let req = request(Method::GET, uri, headers, ctx, Body::empty());
    let res = svc.oneshot(req).await.expect("infallible");
    seen(&res).clone()
}

async fn headers_after(policy: HeaderTransformations, headers: &[(&str, &str)]) -> HeaderMap {
    through(&request_layer(Some(&policy), None), "/", headers, None)
        .await
        .headers
}

async fn query_after(policy: QueryParameterTransformations, uri: &str) -> String {
    let seen = through(&request_layer(None, Some(&policy)), uri, &[], None).await;
    seen.uri.to_string()
}

#[tokio::test]
async fn set_overwrite_is_the_default_and_replaces_every_value() {
    let policy = header_policy(sets(vec![set("X-A", &["new"], None)]), None, None);
    let h = headers_after(policy, &[("x-a", "1"), ("x-a", "2"), ("x-b", "b")]).await;
    assert_eq!(values(&h, "x-a"), ["new"]);
    assert_eq!(values(&h, "x-b"), ["b"]);
}

#[tokio::test]
async fn set_append_keeps_existing_values() {
    let policy = header_policy(
        sets(vec![set("X-A", &["2"], Some(IfExists::Append))]),
        None,
        None,
    );
    let h = headers_after(policy, &[("x-a", "1")]).await;
    assert_eq!(values(&h, "x-a"), ["1", "2"]);
}

#[tokio::test]
async fn set_skip_keeps_an_existing_header() {
    let policy = header_policy(
        sets(vec![set("X-A", &["new"], Some(IfExists::Skip))]),
        None,
        None,
    );
    let h = headers_after(policy, &[("x-a", "old")]).await;
    assert_eq!(values(&h, "x-a"), ["old"]);
}

#[tokio::test]
async fn an_absent_header_is_added_whatever_if_exists_says() {
    for mode in [
        None,
        Some(IfExists::Append),
        Some(IfExists::Skip),
        Some(IfExists::Overwrite),
    ] {
        let policy = header_policy(sets(vec![set("X-New", &["v"], mode)]), None, None);
        let h = headers_after(policy, &[]).await;
        assert_eq!(values(&h, "x-new"), ["v"], "{mode:?}");
    }
}

#[tokio::test]
async fn several_values_make_one_header_each() {
    let policy = header_policy(
        sets(vec![set("X-Multi", &["a", "b", "c"], None)]),
        None,
        None,
    );
    let h = headers_after(policy, &[("x-multi", "old")]).await;
    assert_eq!(values(&h, "x-multi"), ["a", "b", "c"]);
}

#[tokio::test]
async fn header_names_are_case_insensitive() {
    let policy = header_policy(
        sets(vec![set("x-USER", &["set"], None)]),
        renames(&[("X-from", "X-TO")]),
        filter(FilterType::Block, &["USER-agent"]),
    );
    let h = headers_after(
        policy,
        &[("X-User", "old"), ("x-FROM", "f"), ("User-Agent", "curl")],
    )
    .await;
    assert_eq!(values(&h, "x-user"), ["set"]);
    assert_eq!(values(&h, "x-to"), ["f"]);
    assert!(!h.contains_key("x-from") && !h.contains_key("user-agent"));
}

#[tokio::test]
async fn rename_moves_every_original_value_and_replaces_the_target() {
    let policy = header_policy(None, renames(&[("X-Username", "X-User-ID")]), None);
    let h = headers_after(
        policy,
        &[
            ("x-username", "a"),
            ("x-username", "b"),
            ("x-user-id", "old"),
        ],
    )
    .await;
    assert!(!h.contains_key("x-username"));
    assert_eq!(values(&h, "x-user-id"), ["a", "b"]);
}

#[tokio::test]
async fn rename_of_an_absent_header_changes_nothing() {
    let policy = header_policy(None, renames(&[("X-Missing", "X-Target")]), None);
    let h = headers_after(policy, &[("x-target", "kept")]).await;
    assert_eq!(values(&h, "x-target"), ["kept"]);
}

#[tokio::test]
async fn rename_reads_the_original_even_when_it_is_also_set_and_filtered() {
    // The loader rejects such overlaps; a policy built in code still gets the documented
    // meaning: the rename copies the value the request arrived with.
    let policy = header_policy(
        sets(vec![set("X-A", &["set"], None)]),
        renames(&[("X-A", "X-B"), ("X-C", "X-D")]),
        filter(FilterType::Block, &["X-C"]),
    );
    let h = headers_after(policy, &[("x-a", "original"), ("x-c", "c")]).await;
    assert_eq!(values(&h, "x-b"), ["original"]);
    assert_eq!(values(&h, "x-a"), ["set"]);
    assert_eq!(values(&h, "x-d"), ["c"]);
    assert!(!h.contains_key("x-c"));
}

#[tokio::test]
async fn chained_renames_each_take_the_original_value() {
    let policy = header_policy(None, renames(&[("X-A", "X-B"), ("X-B", "X-C")]), None);
    let h = headers_after(policy, &[("x-a", "a"), ("x-b", "b")]).await;
    assert!(!h.contains_key("x-a"));
    assert_eq!(values(&h, "x-b"), ["a"]);
    assert_eq!(values(&h, "x-c"), ["b"]);
}

#[tokio::test]
async fn block_filter_runs_after_set_and_rename() {
    let policy = header_policy(
        sets(vec![set("X-Set", &["s"], None)]),
        renames(&[("X-Old", "X-New")]),
        filter(FilterType::Block, &["X-Set", "X-New", "User-Agent"]),
    );
    let h = headers_after(
        policy,
        &[("x-old", "o"), ("user-agent", "ua"), ("x-keep", "k")],
    )
    .await;
    for gone in ["x-set", "x-new", "x-old", "user-agent"] {
        assert!(!h.contains_key(gone), "{gone}");
    }
    assert_eq!(values(&h, "x-keep"), ["k"]);
}

#[tokio::test]
async fn allow_filter_keeps_listed_set_renamed_and_protected_headers_only() {
    let policy = header_policy(
        sets(vec![set("X-Set", &["s"], None)]),
        renames(&[("X-Old", "X-New")]),
        filter(FilterType::Allow, &["x-set", "X-NEW", "Accept"]),
    );
    let h = headers_after(
        policy,
        &[
            ("x-old", "o"),
            ("accept", "*/*"),
            ("user-agent", "ua"),
            ("x-forwarded-for", "10.0.0.1"),
            ("cookie", "c=1"),
        ],
    )
    .await;
    let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["accept", "cookie", "x-forwarded-for", "x-new", "x-set"]
    );
}

#[tokio::test]
async fn protected_request_headers_are_never_touched() {
    let policy = header_policy(
        sets(vec![
            set("Origin", &["https://evil.example"], None),
            set("X-Ok", &["1"], None),
        ]),
        renames(&[("Cookie", "X-Cookie"), ("X-A", "X-Forwarded-For")]),
        filter(FilterType::Block, &["Content-Length", "X-Real-IP"]),
    );
    let h = headers_after(
        policy,
        &[
            ("origin", "https://app.example"),
            ("cookie", "c=1"),
            ("x-a", "a"),
            ("x-forwarded-for", "10.0.0.1"),
            ("content-length", "0"),
            ("x-real-ip", "10.0.0.2"),
        ],
    )
    .await;
    assert_eq!(values(&h, "origin"), ["https://app.example"]);
    assert_eq!(values(&h, "cookie"), ["c=1"]);
    assert!(!h.contains_key("x-cookie"));
    assert_eq!(
        values(&h, "x-a"),
        ["a"],
        "a rename onto a protected header is dropped"
    );
    assert_eq!(values(&h, "x-forwarded-for"), ["10.0.0.1"]);
    assert_eq!(values(&h, "content-length"), ["0"]);
    assert_eq!(values(&h, "x-real-ip"), ["10.0.0.2"]);
    assert_eq!(values(&h, "x-ok"), ["1"]);
}

#[test]
fn a_policy_of_protected_headers_only_compiles_to_nothing() {
    let policy = header_policy(sets(vec![set("Connection", &["close"], None)]), None, None);
    let mut diags = Diagnostics::new();
    assert!(RequestTransformLayer::compile(Some(&policy), None, "p", &mut diags).is_none());
    assert!(RequestTransformLayer::compile(None, None, "p", &mut diags).is_none());
    assert!(ResponseHeaderTransformLayer::compile(None, "p", &mut diags).is_none());
    assert!(diags.is_empty());
}

#[test]
fn a_bad_value_in_a_policy_built_in_code_is_reported_at_its_path() {
    let policy = header_policy(
        sets(vec![set(
            "X-A",
            &["${request.body}", "ok", "bad\nvalue"],
            None,
        )]),
        None,
        None,
    );
    let mut diags = Diagnostics::new();
    let layer = RequestTransformLayer::compile(
        Some(&policy),
        None,
        "routes[1].requestPolicies",
        &mut diags,
    );
    assert!(layer.is_some(), "the good value is still set");
    let paths: Vec<&str> = diags.errors().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "routes[1].requestPolicies.headerTransformations.setHeaders.items[0].values[0]",
            "routes[1].requestPolicies.headerTransformations.setHeaders.items[0].values[2]",
        ]
    );
}

#[tokio::test]
async fn context_variables_render_from_the_original_request() {
    let policy = header_policy(
        sets(vec![
            set("X-Region", &["${request.path[region]}"], None),
            set("X-State", &["state=${request.query[state]}"], None),
            set("X-Echo", &["${request.headers[x-in]}"], None),
            set(
                "X-Sub",
                &["${request.auth[sub]}", "${request.auth[missing]}"],
                None,
            ),
            set("X-Host", &["${request.host}"], None),
            // Rendered before the rename below removes X-In.
            set("X-Copy", &["${request.headers[X-IN]}!"], None),
        ]),
        renames(&[("X-In", "X-Out")]),
        None,
    );
    let uri = "/regions/eu%2Dwest/x?state=San+Jos%C3%A9&state=b";
    let ctx = context("/regions/{region}/x", uri, &[("sub", "alice")]);
    let layer = request_layer(Some(&policy), None);
    let h = through(
        &layer,
        uri,
        &[("x-in", "in"), ("host", "api.example.com")],
        Some(ctx),
    )
    .await
    .headers;
    assert_eq!(values(&h, "x-region"), ["eu%2Dwest"]);
    assert_eq!(values(&h, "x-state"), ["state=San+Jos%C3%A9"]);
    assert_eq!(values(&h, "x-echo"), ["in"]);
    assert_eq!(values(&h, "x-sub"), ["alice", ""]);
    assert_eq!(values(&h, "x-host"), ["api.example.com"]);
    assert_eq!(values(&h, "x-copy"), ["in!"]);
    assert_eq!(values(&h, "x-out"), ["in"]);
}

#[tokio::test]
async fn without_a_request_context_variables_render_empty() {
    let policy = header_policy(
        sets(vec![set("X-V", &["<${request.headers[x-in]}>"], None)]),
        None,
        None,
    );
    let h = headers_after(policy, &[("x-in", "in")]).await;
    assert_eq!(values(&h, "x-v"), ["<>"]);
}

#[tokio::test]
async fn a_rendered_value_that_is_not_a_header_value_is_left_out() {
    let policy = header_policy(
        sets(vec![
            set("X-Claim", &["${request.auth[bad]}", "ok"], None),
            set("X-Only-Bad", &["${request.auth[bad]}"], None),
        ]),
        None,
        None,
    );
    let ctx = context("/", "/", &[("bad", "a\r\nX-Injected: 1")]);
    let layer = request_layer(Some(&policy), None);
    let h = through(&layer, "/", &[("x-only-bad", "kept")], Some(ctx))
        .await
        .headers;
    assert_eq!(values(&h, "x-claim"), ["ok"]);
    assert_eq!(
        values(&h, "x-only-bad"),
        ["kept"],
        "a set with no valid value changes nothing"
    );
    assert!(!h.contains_key("x-injected"));
}

#[tokio::test]
async fn query_set_modes_and_multiple_values() {
    let policy = query_policy(
        sets(vec![
            set("over", &["1"], None),
            set("app", &["2"], Some(IfExists::Append)),
            set("skip", &["3"], Some(IfExists::Skip)),
            set("new", &["a", "b"], Some(IfExists::Skip)),
        ]),
        None,
        None,
    );
    let got = query_after(policy, "/p?over=x&over=y&app=z&skip=w&keep=k").await;
    assert_eq!(got, "/p?app=z&skip=w&keep=k&over=1&app=2&new=a&new=b");
}

#[tokio::test]
async fn query_names_are_case_sensitive() {
    let policy = query_policy(
        sets(vec![set("id", &["1"], Some(IfExists::Skip))]),
        None,
        filter(FilterType::Block, &["token"]),
    );
    let got = query_after(policy, "/p?ID=9&Token=t&token=x").await;
    assert_eq!(got, "/p?ID=9&Token=t&id=1");
}

#[tokio::test]
async fn query_rename_keeps_the_raw_value_and_replaces_the_target() {
    let policy = query_policy(None, renames(&[("q", "search"), ("flag", "f")]), None);
    let got = query_after(policy, "/p?search=old&q=San+Jos%C3%A9&flag&x=%2F").await;
    assert_eq!(got, "/p?search=San+Jos%C3%A9&f&x=%2F");
}

#[tokio::test]
async fn query_rename_reads_originals_and_filters_run_last() {
    let policy = query_policy(
        sets(vec![set("a", &["set"], None), set("s", &["1"], None)]),
        renames(&[("a", "b")]),
        filter(FilterType::Allow, &["b", "s", "keep"]),
    );
    let got = query_after(policy, "/p?a=orig&drop=1&keep=2").await;
    assert_eq!(got, "/p?b=orig&keep=2&s=1");
}

#[tokio::test]
async fn query_block_filter_and_an_emptied_query() {
    let policy = query_policy(None, None, filter(FilterType::Block, &["secret", "other"]));
    assert_eq!(query_after(policy, "/p?secret=1&other=2").await, "/p");
}

#[tokio::test]
async fn untouched_parameters_keep_their_exact_encoding() {
    let policy = query_policy(sets(vec![set("added", &["1"], None)]), None, None);
    let got = query_after(policy, "/p?a=%7e%2Fx&b=1+2&c=%E2%82%AC&d==&&e").await;
    assert_eq!(got, "/p?a=%7e%2Fx&b=1+2&c=%E2%82%AC&d==&e&added=1");
}

#[tokio::test]
async fn a_query_policy_without_effect_leaves_the_uri_alone() {
    let policy = query_policy(
        None,
        renames(&[("x", "y")]),
        filter(FilterType::Block, &["z"]),
    );
    assert_eq!(query_after(policy, "/p?a=1&&b=%20").await, "/p?a=1&&b=%20");
}

#[tokio::test]
async fn query_values_are_encoded_minimally_and_variables_not_twice() {
    let policy = query_policy(
        sets(vec![
            set("lit", &["a b&c=d#e/f?+é"], None),
            set("q", &["${request.query[state]}"], None),
            set("p", &["${request.path[id]}"], None),
            set("h", &["${request.headers[x-h]}"], None),
            set("na me", &["v"], None),
        ]),
        None,
        None,
    );
    let uri = "/items/a%20b&c?state=San+Jos%C3%A9";
    let ctx = context("/items/{id}", uri, &[]);
    let layer = request_layer(None, Some(&policy));
    let seen = through(&layer, uri, &[("x-h", "x&y=z %41")], Some(ctx)).await;
    assert_eq!(
        seen.uri.query(),
        Some(
            "state=San+Jos%C3%A9&lit=a%20b%26c=d%23e/f?+%C3%A9&q=San+Jos%C3%A9&p=a%20b%26c\
             &h=x%26y=z%20%41&na%20me=v"
        )
    );
}

#[tokio::test]
async fn request_headers_and_query_transform_together() {
    let headers = header_policy(
        sets(vec![set("X-Id", &["${request.query[id]}"], None)]),
        None,
        None,
    );
    let query = query_policy(None, None, filter(FilterType::Block, &["id"]));
    let uri = "/p?id=42&x=1";
    let ctx = context("/p", uri, &[]);
    let layer = request_layer(Some(&headers), Some(&query));
    let seen = through(&layer, uri, &[], Some(ctx)).await;
    assert_eq!(
        values(&seen.headers, "x-id"),
        ["42"],
        "variables read the original query"
    );
    assert_eq!(seen.uri.to_string(), "/p?x=1");
}

async fn answer_with(headers: &'static [(&'static str, &'static str)]) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    for (name, value) in headers {
        res.headers_mut()
            .append(*name, value.parse().expect("value"));
    }
    res
}

#[tokio::test]
async fn response_headers_are_transformed_with_request_variables() {
    let policy = header_policy(
        sets(vec![
            set(
                "X-Request",
                &["${request.headers[x-in]}/${request.path[id]}"],
                None,
            ),
            set("Cache-Control", &["no-store"], Some(IfExists::Append)),
            set("Access-Control-Allow-Origin", &["*"], None),
        ]),
        renames(&[("X-Backend", "X-Served-By")]),
        filter(FilterType::Block, &["Server", "Retry-After"]),
    );
    let mut diags = Diagnostics::new();
    let layer = ResponseHeaderTransformLayer::compile(
        Some(&policy),
        "routes[0].responsePolicies",
        &mut diags,
    )
    .expect("layer");
    let svc = layer.layer(service_fn(|req: Request<Body>| async move {
        // The inner service consumes the request: variables must already be rendered.
        drop(req);
        Ok::<_, std::convert::Infallible>(
            answer_with(&[
                ("x-backend", "b1"),
                ("server", "nginx"),
                ("cache-control", "private"),
                ("retry-after", "5"),
                ("access-control-allow-origin", "https://app.example"),
            ])
            .await,
        )
    }));
    let uri = "/users/7";
    let ctx = context("/users/{id}", uri, &[]);
    let req = request(
        Method::GET,
        uri,
        &[("x-in", "in")],
        Some(ctx),
        Body::empty(),
    );
    let res = svc.oneshot(req).await.expect("infallible");
    let h = res.headers();
    assert_eq!(values(h, "x-request"), ["in/7"]);
    assert_eq!(values(h, "cache-control"), ["private", "no-store"]);
    assert_eq!(values(h, "x-served-by"), ["b1"]);
    assert!(!h.contains_key("server") && !h.contains_key("x-backend"));
    assert_eq!(values(h, "retry-after"), ["5"], "protected on responses");
    assert_eq!(
        values(h, "access-control-allow-origin"),
        ["https://app.example"]
    );
}

#[tokio::test]
async fn response_allow_filter_keeps_protected_response_headers() {
    let policy = header_policy(None, None, filter(FilterType::Allow, &["Content-Type"]));
    let mut diags = Diagnostics::new();
    let layer =
        ResponseHeaderTransformLayer::compile(Some(&policy), "r", &mut diags).expect("layer");
    let svc = layer.layer(service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(
            answer_with(&[
                ("content-type", "text/plain"),
                ("server", "nginx"),
                ("strict-transport-security", "max-age=1"),
                ("opc-request-id", "abc"),
            ])
            .await,
        )
    }));
    let res = svc
        .oneshot(request(Method::GET, "/", &[], None, Body::empty()))
        .await
        .expect("infallible");
    let mut names: Vec<&str> = res.headers().keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "content-type",
            "opc-request-id",
            "strict-transport-security"
        ]
    );
}
