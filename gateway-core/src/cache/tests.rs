//! The response cache end to end over the in-memory store (and Redis for outages).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::body::{Body, BoxError};
use crate::limit::clock::ManualClock;
use crate::limit::testing::{body_text, context, request};
use crate::spec::{
    FixedTtlStorePolicy, ResponseCacheLookupPolicy, ResponseCacheStorePolicy, SimpleLookupPolicy,
};

/// A body that yields its chunks one poll at a time, with no length known up front.
struct Chunks(VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

fn chunked(total: usize) -> Body {
    let chunks = (0..total.div_ceil(100))
        .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; 100.min(total - i * 100)]))
        .collect();
    Body::new(Chunks(chunks))
}

/// The backend: `/status/N` answers N, `/chunked/N` streams N bytes, `/sized/N` sends N bytes
/// with a `Content-Length`, `/cookie` sets a cookie; otherwise 200 `call <n>`.
fn backend(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<Body>, Infallible>>,
> + Clone {
    tower::service_fn(move |req: Request<Body>| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let path = req.uri().path().to_owned();
        let mut res = Response::new(Body::full(format!("call {n}")));
        if let Some(code) = path.strip_prefix("/status/") {
            *res.status_mut() = StatusCode::from_u16(code.parse().expect("code")).expect("status");
            if code == "204" {
                *res.body_mut() = Body::empty();
            }
        } else if let Some(len) = path.strip_prefix("/chunked/") {
            *res.body_mut() = chunked(len.parse().expect("length"));
        } else if let Some(len) = path.strip_prefix("/sized/") {
            let len: usize = len.parse().expect("length");
            res = Response::builder()
                .header("content-length", len)
                .body(Body::new(Chunks(VecDeque::from([Bytes::from(vec![
                    b'z';
                    len
                ])]))))
                .expect("response");
        } else if path == "/cookie" {
            res.headers_mut()
                .insert("set-cookie", "session=secret".parse().expect("value"));
        }
        std::future::ready(Ok(res))
    })
}

fn lookup(additions: &[&str], private: bool) -> ResponseCacheLookupPolicy {
    ResponseCacheLookupPolicy::Simple(SimpleLookupPolicy {
        is_enabled: None,
        is_private_caching_enabled: Some(private),
        cache_key_additions: additions.iter().map(|s| (*s).to_owned()).collect(),
    })
}

fn ttl(seconds: u32) -> ResponseCacheStorePolicy {
    ResponseCacheStorePolicy::FixedTtl(FixedTtlStorePolicy {
        time_to_live_in_seconds: seconds,
    })
}

fn layer(
    lookup: &ResponseCacheLookupPolicy,
    store_policy: Option<&ResponseCacheStorePolicy>,
    store: Arc<dyn ResponseCacheStore>,
) -> ResponseCacheLayer {
    let credentials = CredentialLocations::new()
        .header(http::HeaderName::from_static("x-api-key"))
        .query_param("access_token");
    let policy = ResponseCachePolicy::compile("orders", lookup, store_policy, credentials, store)
        .expect("compiles")
        .expect("enabled");
    ResponseCacheLayer::new(Arc::new(policy))
}

fn memory() -> Arc<dyn ResponseCacheStore> {
    Arc::new(MemoryCacheStore::new(1 << 20))
}

/// Sends a request and reads the whole response: (status, X-Cache-Status, body).
async fn fetch<S>(svc: &mut S, req: Request<Body>) -> (u16, String, String)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let res = svc
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("infallible");
    let status = res.status().as_u16();
    let cache = res
        .headers()
        .get("x-cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, cache, body_text(res).await)
}

fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    request(Method::GET, uri, headers, None)
}

#[tokio::test]
async fn hit_miss_and_bypass() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc =
        layer(&lookup(&[], false), Some(&ttl(60)), memory()).layer(backend(calls.clone()));
    assert_eq!(
        fetch(&mut svc, get("/items", &[])).await,
        (200, "MISS".into(), "call 1".into())
    );
    assert_eq!(
        fetch(&mut svc, get("/items", &[])).await,
        (200, "HIT".into(), "call 1".into())
    );
    // The query string is not part of the key.
    assert_eq!(fetch(&mut svc, get("/items?page=2", &[])).await.1, "HIT");
    let post = request(Method::POST, "/items", &[], None);
    assert_eq!(
        fetch(&mut svc, post).await,
        (200, "BYPASS".into(), "call 2".into())
    );
    // HEAD and OPTIONS are cacheable, each under its own key.
    let head = || request(Method::HEAD, "/items", &[], None);
    assert_eq!(fetch(&mut svc, head()).await.1, "MISS");
    assert_eq!(fetch(&mut svc, head()).await.1, "HIT");
    let options = || request(Method::OPTIONS, "/items", &[], None);
    assert_eq!(fetch(&mut svc, options()).await.1, "MISS");
    assert_eq!(fetch(&mut svc, options()).await.1, "HIT");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let counters = svc.policy().counters();
    assert_eq!(
        (counters.hits(), counters.misses(), counters.bypasses()),
        (4, 3, 1)
    );
}

#[tokio::test]
async fn only_200_204_301_and_410_are_stored() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(&lookup(&[], false), Some(&ttl(60)), memory()).layer(backend(calls));
    for code in [200, 204, 301, 410] {
        let uri = format!("/status/{code}");
        assert_eq!(fetch(&mut svc, get(&uri, &[])).await.1, "MISS", "{code}");
        let (status, cache, _) = fetch(&mut svc, get(&uri, &[])).await;
        assert_eq!((status, cache.as_str()), (code, "HIT"), "{code}");
    }
    for code in [201, 302, 404, 500, 503] {
        let uri = format!("/status/{code}");
        assert_eq!(fetch(&mut svc, get(&uri, &[])).await.1, "MISS", "{code}");
        assert_eq!(
            fetch(&mut svc, get(&uri, &[])).await.1,
            "MISS",
            "{code} is never stored"
        );
    }
}

#[tokio::test]
async fn cache_key_additions_separate_entries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let additions = ["request.headers[Accept]", "${request.query[lang]}"];
    let mut svc = layer(&lookup(&additions, false), Some(&ttl(60)), memory()).layer(backend(calls));
    let json = [("accept", "application/json")];
    let xml = [("accept", "application/xml")];
    assert_eq!(
        fetch(&mut svc, get("/items?lang=en", &json)).await.1,
        "MISS"
    );
    assert_eq!(fetch(&mut svc, get("/items?lang=en", &xml)).await.1, "MISS");
    assert_eq!(
        fetch(&mut svc, get("/items?lang=fr", &json)).await.1,
        "MISS"
    );
    assert_eq!(
        fetch(&mut svc, get("/items?lang=en&x=1", &json)).await.1,
        "HIT"
    );
    assert_eq!(fetch(&mut svc, get("/items?lang=en", &xml)).await.1, "HIT");
    assert_eq!(
        fetch(&mut svc, get("/items", &json)).await.1,
        "MISS",
        "absent is a value too"
    );
}

#[tokio::test]
async fn requests_with_credentials_are_private() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc =
        layer(&lookup(&[], false), Some(&ttl(60)), memory()).layer(backend(calls.clone()));
    for req in [
        || get("/items", &[("authorization", "Bearer x")]),
        || get("/items", &[("x-api-key", "k")]),
        || get("/items?access_token=t", &[]),
    ] {
        assert_eq!(fetch(&mut svc, req()).await.1, "BYPASS");
        assert_eq!(fetch(&mut svc, req()).await.1, "BYPASS");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    // A private response was not stored for anonymous callers either.
    assert_eq!(fetch(&mut svc, get("/items", &[])).await.1, "MISS");

    // With private caching on, each caller gets entries keyed by who they are.
    let additions = ["request.auth[sub]"];
    let mut private =
        layer(&lookup(&additions, true), Some(&ttl(60)), memory()).layer(backend(calls));
    let as_user = |sub: &str| {
        let ctx = context("/items", "/items", None, &[("sub", sub)]);
        request(
            Method::GET,
            "/items",
            &[("authorization", "Bearer x")],
            Some(ctx),
        )
    };
    let first = fetch(&mut private, as_user("alice")).await;
    assert_eq!(first.1, "MISS");
    assert_eq!(fetch(&mut private, as_user("bob")).await.1, "MISS");
    let again = fetch(&mut private, as_user("alice")).await;
    assert_eq!((again.1.as_str(), again.2), ("HIT", first.2));
}

#[tokio::test]
async fn oversized_responses_stream_through_and_are_not_stored() {
    let calls = Arc::new(AtomicUsize::new(0));
    let compiled = ResponseCachePolicy::compile(
        "orders",
        &lookup(&[], false),
        Some(&ttl(60)),
        CredentialLocations::new(),
        memory(),
    )
    .expect("compiles")
    .expect("enabled")
    .with_max_entry_bytes(1_000);
    let mut svc = ResponseCacheLayer::new(Arc::new(compiled)).layer(backend(calls));
    // Grows past the cap while streaming: the client still gets every byte.
    let (status, cache, body) = fetch(&mut svc, get("/chunked/1500", &[])).await;
    assert_eq!((status, cache.as_str(), body.len()), (200, "MISS", 1500));
    assert_eq!(fetch(&mut svc, get("/chunked/1500", &[])).await.1, "MISS");
    // Declared too large: never teed.
    let (_, cache, body) = fetch(&mut svc, get("/sized/2000", &[])).await;
    assert_eq!((cache.as_str(), body.len()), ("MISS", 2000));
    assert_eq!(fetch(&mut svc, get("/sized/2000", &[])).await.1, "MISS");
    // Within the cap, a streamed body is stored whole once it ends.
    let (_, _, first) = fetch(&mut svc, get("/chunked/950", &[])).await;
    let (_, cache, again) = fetch(&mut svc, get("/chunked/950", &[])).await;
    assert_eq!(cache, "HIT");
    assert_eq!(again, first);
    let (_, _, sized) = fetch(&mut svc, get("/sized/1000", &[])).await;
    let (_, cache, again) = fetch(&mut svc, get("/sized/1000", &[])).await;
    assert_eq!((cache.as_str(), again), ("HIT", sized));
}

#[tokio::test]
async fn responses_setting_cookies_are_not_stored() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(&lookup(&[], false), Some(&ttl(60)), memory()).layer(backend(calls));
    assert_eq!(fetch(&mut svc, get("/cookie", &[])).await.1, "MISS");
    assert_eq!(fetch(&mut svc, get("/cookie", &[])).await.1, "MISS");
}

#[tokio::test]
async fn entries_live_for_the_store_policys_ttl() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
    let store = Arc::new(MemoryCacheStore::with_clock(1 << 20, clock.clone()));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(&lookup(&[], false), Some(&ttl(30)), store).layer(backend(calls));
    assert_eq!(fetch(&mut svc, get("/items", &[])).await.1, "MISS");
    clock.advance(Duration::from_secs(29));
    assert_eq!(fetch(&mut svc, get("/items", &[])).await.1, "HIT");
    clock.advance(Duration::from_secs(1));
    assert_eq!(fetch(&mut svc, get("/items", &[])).await.1, "MISS");
}

#[tokio::test]
async fn without_a_store_policy_nothing_is_stored_and_disabled_is_no_layer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(&lookup(&[], false), None, memory()).layer(backend(calls));
    assert_eq!(fetch(&mut svc, get("/items", &[])).await.1, "MISS");
    assert_eq!(fetch(&mut svc, get("/items", &[])).await.1, "MISS");
    let disabled = ResponseCacheLookupPolicy::Simple(SimpleLookupPolicy {
        is_enabled: Some(false),
        is_private_caching_enabled: None,
        cache_key_additions: Vec::new(),
    });
    let compiled = ResponseCachePolicy::compile(
        "orders",
        &disabled,
        Some(&ttl(5)),
        CredentialLocations::new(),
        memory(),
    )
    .expect("compiles");
    assert!(compiled.is_none());
}

#[tokio::test]
async fn the_routed_path_is_the_key() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(&lookup(&[], false), Some(&ttl(60)), memory()).layer(backend(calls));
    let routed = |uri: &str| {
        let ctx = context("/items/{id}", uri, None, &[]);
        request(Method::GET, uri, &[], Some(ctx))
    };
    assert_eq!(fetch(&mut svc, routed("/items/1")).await.1, "MISS");
    assert_eq!(fetch(&mut svc, routed("/items/1")).await.1, "HIT");
    assert_eq!(fetch(&mut svc, routed("/items/2")).await.1, "MISS");
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_never_fails_a_request() {
    use crate::redis::{RedisConnection, RedisOptions};
    use gateway_test_support::redis::Redis;

    let mut server = Redis::start();
    let port = server.port;
    let conn = RedisConnection::open(
        &server.url(),
        RedisOptions {
            connect_timeout: Duration::from_millis(300),
            op_timeout: Duration::from_millis(300),
            retry_interval: Duration::from_millis(100),
        },
    )
    .expect("url");
    let store = Arc::new(RedisCacheStore::new(conn.clone()));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = layer(&lookup(&[], false), Some(&ttl(60)), store).layer(backend(calls.clone()));
    assert_eq!(fetch(&mut svc, get("/items", &[])).await.1, "MISS");

    server.stop();
    for _ in 0..5 {
        let (status, cache, _) = fetch(&mut svc, get("/items", &[])).await;
        assert_eq!((status, cache.as_str()), (200, "BYPASS"));
    }
    assert!(conn.failures() >= 1);
    assert!(svc.policy().counters().unavailable() >= 5);

    let _server = Redis::start_with(port, &[]);
    let mut recovered = false;
    for _ in 0..100 {
        let (_, cache, _) = fetch(&mut svc, get("/items", &[])).await;
        if cache == "HIT" {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "the cache is used again once Redis is back");
}

#[test]
fn credential_locations_follow_the_authentication_policy() {
    let spec = crate::spec::load_spec(
        r#"{ "requestPolicies": { "authentication": { "type": "CUSTOM_AUTHENTICATION",
               "functionId": "ocid1.fnfunc.oc1..x",
               "parameters": { "key": "request.headers[X-Key]", "sig": "request.query[sig]",
                               "host": "request.host" } } },
             "routes": [ { "path": "/a", "methods": ["GET"],
               "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#,
    );
    let spec = spec.spec.expect("loads");
    let auth = spec
        .request_policies
        .as_ref()
        .and_then(|p| p.authentication.as_ref())
        .expect("authentication");
    let locations = CredentialLocations::for_deployment(Some(auth), None);
    assert_eq!(
        locations,
        CredentialLocations::new()
            .header(http::HeaderName::from_static("x-key"))
            .query_param("sig")
    );
}
