//! Shared by the `limit_*` and `cache_*` integration tests: small service helpers, and a client
//! for the `redis-server` (from `gateway-test-support`) the tests start.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_core::Body;
use gateway_test_support::redis::Redis;
use http::{Request, Response};
use http_body_util::BodyExt;

/// A plain client for looking at what the gateway stored in `server`.
pub async fn client(server: &Redis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connects")
}

/// An inner service answering 200 with `body`, counting its calls.
pub fn counting<E>(
    calls: Arc<AtomicUsize>,
    body: &'static str,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = E,
    Future = std::future::Ready<Result<Response<Body>, E>>,
> + Clone {
    tower::service_fn(move |_req: Request<Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok::<_, E>(Response::new(Body::full(body))))
    })
}

pub async fn body_text(res: Response<Body>) -> String {
    let bytes = res
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Polls `check` every 20 ms until it holds, for at most `within`.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
