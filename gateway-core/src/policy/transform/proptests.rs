//! Whatever a client sends, the transformations neither panic nor produce a request or a
//! response that cannot be sent.

use http::{HeaderName, HeaderValue, Method, Request, Response, Uri};
use proptest::prelude::*;
use tower::{service_fn, Layer, ServiceExt};

use super::*;
use crate::body::Body;
use crate::policy::query::pairs;
use crate::policy::testing::{context, echo, request, seen};
use crate::spec::{
    FilterItem, FilterPolicy, FilterType, HeaderTransformations, IfExists,
    QueryParameterTransformations, RenameItem, RenamePolicy, SetItem, SetPolicy,
};

fn set(name: &str, values: &[&str], if_exists: IfExists) -> SetItem {
    SetItem {
        name: name.to_owned(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        if_exists: Some(if_exists),
    }
}

fn rename(from: &str, to: &str) -> Option<RenamePolicy> {
    Some(RenamePolicy {
        items: vec![RenameItem {
            from: from.to_owned(),
            to: to.to_owned(),
        }],
    })
}

fn block(name: &str) -> Option<FilterPolicy> {
    Some(FilterPolicy {
        filter_type: FilterType::Block,
        items: vec![FilterItem {
            name: name.to_owned(),
        }],
    })
}

/// Every table a transformation may read, in headers and in the query.
const VALUES: &[&str] = &[
    "${request.headers[x-in]}",
    "q=${request.query[q]}",
    "${request.path[id]}/${request.auth[claim]}",
    "${request.host}${request.subdomain[example.com]}",
    "literal + & = # %",
];

fn headers_policy() -> HeaderTransformations {
    HeaderTransformations {
        set_headers: Some(SetPolicy {
            items: vec![
                set("X-A", VALUES, IfExists::Overwrite),
                set("X-B", VALUES, IfExists::Append),
            ],
        }),
        rename_headers: rename("X-In", "X-Out"),
        filter_headers: block("User-Agent"),
    }
}

fn query_policy() -> QueryParameterTransformations {
    QueryParameterTransformations {
        set_query_parameters: Some(SetPolicy {
            items: vec![
                set("a", VALUES, IfExists::Append),
                set("q", VALUES, IfExists::Skip),
            ],
        }),
        rename_query_parameters: rename("b", "c"),
        filter_query_parameters: block("d"),
    }
}

/// The names the policies use, so that generated input exercises them.
fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        prop::sample::select(vec!["x-a", "x-b", "x-in", "user-agent", "cookie", "host"])
            .prop_map(HeaderName::from_static),
        "[a-z][a-z0-9-]{0,8}".prop_filter_map("header name", |n| {
            HeaderName::from_bytes(n.as_bytes()).ok()
        }),
    ]
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop::collection::vec(any::<u8>(), 0..24)
        .prop_filter_map("header value", |b| HeaderValue::from_bytes(&b).ok())
}

/// Query strings mixing the policies' names with every character a URI query may hold.
fn query() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "a", "b", "c", "d", "q", "a=1", "b=%C3", "q=x+y", "=", "&"
        ])
        .prop_map(str::to_owned),
        "[A-Za-z0-9%&=+._~!$'()*,;:@/?-]{0,12}",
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| p.join("&"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

proptest! {
    #[test]
    fn transformations_never_panic_and_always_produce_sendable_messages(
        headers in prop::collection::vec((header_name(), header_value()), 0..8),
        query in query(),
        segment in "[A-Za-z0-9%&=+._~-]{1,12}",
        claim in any::<String>(),
    ) {
        let Ok(uri) = Uri::try_from(format!("/items/{segment}?{query}")) else {
            return Err(TestCaseError::reject("not a URI"));
        };
        let uri = uri.to_string();
        let mut diags = Diagnostics::new();
        let (hp, qp) = (headers_policy(), query_policy());
        let request_layer = RequestTransformLayer::compile(Some(&hp), Some(&qp), "r", &mut diags)
            .expect("request layer");
        let response_layer = ResponseHeaderTransformLayer::compile(Some(&hp), "r", &mut diags)
            .expect("response layer");
        prop_assert!(diags.is_empty());

        let ctx = context("/items/{id}", &uri, &[("claim", claim.as_str())]);
        let mut req = request(Method::GET, &uri, &[], Some(ctx), Body::empty());
        for (name, value) in &headers {
            req.headers_mut().append(name.clone(), value.clone());
        }
        let cookies: Vec<HeaderValue> = req.headers().get_all("cookie").iter().cloned().collect();

        let svc = request_layer.layer(service_fn(echo));
        let res = runtime().block_on(svc.oneshot(req)).expect("infallible");
        let seen = seen(&res).clone();

        // The rewritten URI is one the http crate accepts as is.
        let reparsed = Uri::try_from(seen.uri.to_string()).ok();
        prop_assert_eq!(reparsed.as_ref(), Some(&seen.uri));
        // Parameters no rule names keep their exact spelling and order.
        let untouched = |q: &str| -> Vec<String> {
            pairs(q)
                .filter(|p| !["a", "b", "c", "d", "q"].contains(&&*p.name))
                .map(|p| p.raw.to_owned())
                .collect()
        };
        prop_assert_eq!(untouched(seen.uri.query().unwrap_or("")), untouched(&query));
        for value in seen.headers.values() {
            prop_assert!(HeaderValue::from_bytes(value.as_bytes()).is_ok());
            prop_assert!(!value.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
        }
        let after: Vec<&HeaderValue> = seen.headers.get_all("cookie").iter().collect();
        prop_assert_eq!(after, cookies.iter().collect::<Vec<_>>());

        // The same policy on a response made of the generated headers.
        let answer = headers.clone();
        let svc = response_layer.layer(service_fn(move |_req: Request<Body>| {
            let mut res = Response::new(Body::empty());
            for (name, value) in &answer {
                res.headers_mut().append(name.clone(), value.clone());
            }
            std::future::ready(Ok::<_, std::convert::Infallible>(res))
        }));
        let ctx = context("/items/{id}", &uri, &[("claim", claim.as_str())]);
        let req = request(Method::GET, &uri, &[], Some(ctx), Body::empty());
        let res = runtime().block_on(svc.oneshot(req)).expect("infallible");
        for value in res.headers().values() {
            prop_assert!(HeaderValue::from_bytes(value.as_bytes()).is_ok());
        }
    }
}
