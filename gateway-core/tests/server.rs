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

use gateway_core::server::{ConnectionLimits, Server};
use gateway_core::ClientAddr;

/// Serves `limits` on a free port until the returned sender is dropped.
fn serve(limits: ConnectionLimits) -> (SocketAddr, oneshot::Sender<()>) {
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
            let service = tower::service_fn(|req: Request<Incoming>| async move {
                let client = req.extensions().get::<ClientAddr>().map(|c| c.0.ip());
                let body = format!("hello {client:?}");
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
            });
            let shutdown = async {
                let _ = stopped.await;
            };
            Server::builder()
                .limits(limits)
                .serve(listener, service, shutdown, Duration::from_secs(1))
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
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .expect("request");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).expect("response");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
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
