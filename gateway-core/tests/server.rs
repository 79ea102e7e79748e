//! `gateway_core::server` serving a service of an embedder's own (not a gateway): it gets the
//! same connection protections, and its requests the client's address.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tower::Service;

use gateway_core::server::{ConnectionLimits, Server};
use gateway_core::ClientAddr;

/// Serves `limits` on a free port until the returned sender is dropped; connections still open
/// then get 30 s to finish. The service answers `hello` and the client's address.
fn serve(limits: ConnectionLimits) -> (SocketAddr, oneshot::Sender<()>) {
    let service = tower::service_fn(|req: Request<Incoming>| async move {
        let client = req.extensions().get::<ClientAddr>().map(|c| c.0.ip());
        let body = format!("hello {client:?}");
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    });
    serve_on_workers(0, limits, service)
}

/// Serves `service` as [`serve`] does, on `workers` threads of the server's own (0: on the
/// runtime that awaits it).
fn serve_on_workers<S>(
    workers: usize,
    limits: ConnectionLimits,
    service: S,
) -> (SocketAddr, oneshot::Sender<()>)
where
    S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, addr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            ready
                .send(listener.local_addr().expect("addr"))
                .expect("send");
            let shutdown = async {
                let _ = stopped.await;
            };
            Server::builder()
                .limits(limits)
                .workers(workers)
                .serve(listener, service, shutdown, Duration::from_secs(30))
                .await
                .expect("served");
        });
    });
    (addr.recv().expect("address"), stop)
}

/// Reads what the server sends until it closes or `timeout` passes.
fn read_all(stream: &mut TcpStream, timeout: Duration) -> String {
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn an_embedders_service_gets_the_client_address_and_the_head_deadline() {
    let limits =
        ConnectionLimits::default().with_timeouts(Duration::from_secs(1), Duration::from_secs(30));
    let (addr, _stop) = serve(limits);
    let mut stream = TcpStream::connect(addr).expect("connect");
    let first = exchange(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.ends_with("hello Some(127.0.0.1)"), "{first}");

    // The response has been sent: the connection is waiting for the next head, and one that
    // stalls halfway gets 408 (the service's requests were counted in and out of flight).
    stream
        .write_all(b"GET / HTTP/1.1\r\nHo")
        .expect("partial head");
    let rest = read_all(&mut stream, Duration::from_secs(10));
    assert!(rest.starts_with("HTTP/1.1 408"), "{rest:?}");
}

#[test]
fn connections_over_the_per_client_limit_get_503() {
    let limits = ConnectionLimits::default().with_connections(100, 1);
    let (addr, _stop) = serve(limits);
    let mut first = TcpStream::connect(addr).expect("connect");
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 1024];
    assert!(first.read(&mut buf).expect("response") > 0);
    let mut second = TcpStream::connect(addr).expect("connect");
    let answer = read_all(&mut second, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
}

/// Sends `request` and reads one response.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).expect("request");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).expect("response");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Whether the server closes `stream` (sending nothing more) within `timeout`.
fn closes_quietly(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    matches!(stream.read(&mut [0u8; 1024]), Ok(0))
}

/// Longer than the server's `PARK_AFTER`: the connection's hyper buffers are given back.
const PARKED: Duration = Duration::from_millis(1500);

#[test]
fn a_keep_alive_connection_idle_long_enough_to_park_serves_its_next_requests() {
    let limits =
        ConnectionLimits::default().with_timeouts(Duration::from_secs(10), Duration::from_secs(30));
    let (addr, _stop) = serve(limits);
    let mut stream = TcpStream::connect(addr).expect("connect");
    let first = exchange(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    std::thread::sleep(PARKED);
    let second = exchange(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");

    // A request pipelined behind another, of which only part of the head has come when the
    // connection parks: those bytes are kept for the next request.
    let third = exchange(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHo",
    );
    assert!(third.starts_with("HTTP/1.1 200"), "{third}");
    assert_eq!(third.matches("HTTP/1.1").count(), 1, "{third}");
    std::thread::sleep(PARKED);
    let fourth = exchange(&mut stream, b"st: x\r\n\r\n");
    assert!(fourth.starts_with("HTTP/1.1 200"), "{fourth}");
    assert!(fourth.ends_with("hello Some(127.0.0.1)"), "{fourth}");
}

/// The idle timeout counts from the end of the last response, whatever hyper does after it.
#[test]
fn a_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let limits =
        ConnectionLimits::default().with_timeouts(Duration::from_secs(30), Duration::from_secs(1));
    let (addr, _stop) = serve(limits);
    let mut stream = TcpStream::connect(addr).expect("connect");
    let first = exchange(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(closes_quietly(&mut stream, Duration::from_secs(10)));
}

#[test]
fn shutdown_closes_parked_and_silent_connections_at_once() {
    let limits =
        ConnectionLimits::default().with_timeouts(Duration::from_secs(10), Duration::from_secs(60));
    let (addr, stop) = serve(limits);
    let mut parked = TcpStream::connect(addr).expect("connect");
    let first = exchange(&mut parked, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let mut silent = TcpStream::connect(addr).expect("connect");
    std::thread::sleep(PARKED);
    drop(stop);
    // Well within the 30 s grace period and the 60 s idle timeout.
    assert!(closes_quietly(&mut parked, Duration::from_secs(10)));
    assert!(closes_quietly(&mut silent, Duration::from_secs(10)));
}

/// A service that is not ready when first asked, and wakes its caller to ask again: each
/// request gets a clone that has not been asked yet.
#[derive(Debug, Clone, Default)]
struct ReadyWhenAskedTwice {
    asked: bool,
}

impl Service<Request<Incoming>> for ReadyWhenAskedTwice {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        if std::mem::replace(&mut self.asked, true) {
            return std::task::Poll::Ready(Ok(()));
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }

    fn call(&mut self, _req: Request<Incoming>) -> Self::Future {
        assert!(self.asked, "called before it was ready");
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(
            b"ready at last",
        )))))
    }
}

#[test]
fn a_service_that_is_not_ready_at_once_is_called_when_it_is() {
    let (addr, _stop) = serve_on_workers(
        0,
        ConnectionLimits::default(),
        ReadyWhenAskedTwice::default(),
    );
    let mut stream = TcpStream::connect(addr).expect("connect");
    for _ in 0..2 {
        let response = exchange(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ready at last"), "{response}");
    }
}

/// Answers with the name of the thread that ran it, after `/slow` waits a moment.
fn thread_naming() -> impl Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + 'static {
    tower::service_fn(|req: Request<Incoming>| async move {
        if req.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let name = std::thread::current().name().unwrap_or("").to_owned();
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(name))))
    })
}

#[test]
fn workers_serve_on_threads_of_their_own() {
    let (addr, _stop) = serve_on_workers(2, ConnectionLimits::default(), thread_naming());
    for _ in 0..8 {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let answer = exchange(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.ends_with("gateway-worker-0") || answer.ends_with("gateway-worker-1"),
            "{answer}"
        );
    }
}

#[test]
fn workers_share_the_connection_limits() {
    // One connection per client in all: the second is refused whichever worker accepts it.
    let limits = ConnectionLimits::default().with_connections(100, 1);
    let (addr, _stop) = serve_on_workers(2, limits, thread_naming());
    let mut first = TcpStream::connect(addr).expect("connect");
    let answer = exchange(&mut first, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for _ in 0..4 {
        let mut more = TcpStream::connect(addr).expect("connect");
        let answer = read_all(&mut more, Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    }
}

#[test]
fn on_shutdown_workers_let_requests_in_flight_finish() {
    let (addr, stop) = serve_on_workers(2, ConnectionLimits::default(), thread_naming());
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    // The request is in flight (the service sleeps) when the server is told to stop.
    std::thread::sleep(Duration::from_millis(100));
    drop(stop);
    let answer = read_all(&mut stream, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.contains("gateway-worker-"), "{answer:?}");
    // The connection heard the shutdown while its request was in flight: its answer says the
    // connection ends with it.
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer:?}"
    );
    // Then nothing accepts any more.
    std::thread::sleep(Duration::from_millis(200));
    let refused = TcpStream::connect(addr)
        .and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut buf = [0u8; 64];
            s.read(&mut buf)
        })
        .map_or(true, |n| n == 0);
    assert!(refused, "a new connection is served after shutdown");
}
