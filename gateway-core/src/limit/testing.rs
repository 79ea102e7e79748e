//! Test helpers shared by the limit and cache tests: a routed request's context, inner
//! services, and a real `redis-server` on a free loopback port.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Method, Request, Response};
use http_body_util::BodyExt;

use crate::body::Body;
use crate::context::RequestContext;
use crate::error::GatewayError;

pub(crate) use crate::testing::context;

/// A request for `uri` with `headers` and no body, carrying `ctx` when given.
pub(crate) fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    ctx: Option<RequestContext>,
) -> Request<Body> {
    crate::testing::request(method, uri, headers, ctx, Body::empty())
}

/// An inner service answering 200 "ok" and counting its calls.
pub(crate) fn counting_ok(
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = GatewayError,
    Future = std::future::Ready<Result<Response<Body>, GatewayError>>,
> + Clone {
    tower::service_fn(move |_req: Request<Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok::<_, GatewayError>(Response::new(Body::full("ok"))))
    })
}

/// The response body as a string.
pub(crate) async fn body_text(res: Response<Body>) -> String {
    let bytes = res
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A `redis-server` of our own on a free loopback port, without persistence; stopped on drop.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) struct RedisServer {
    child: Option<std::process::Child>,
    port: u16,
}

#[cfg(feature = "redis")]
impl RedisServer {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    /// Starts a server on `port` (to restart one that was stopped).
    pub(crate) fn start_on(port: u16) -> Self {
        use std::net::TcpStream;
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};

        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child: Some(child),
            port,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (and waits for it).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(feature = "redis")]
impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
