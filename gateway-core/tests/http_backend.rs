//! `HTTP_BACKEND` against real upstream servers on loopback: hyper servers (plain, TLS with a
//! CA made here, HTTP/2-only), and raw TCP peers that misbehave on purpose.
//!
//! No test measures time: slow upstreams sleep far longer than the timeout under test, and
//! streaming is proven by causality (the first chunk reaches the client while the upstream
//! is provably still holding the rest back).

use std::convert::Infallible;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gateway_core::backend::{HttpBackendService, HttpClient};
use gateway_core::diagnostics::Diagnostics;
use gateway_core::error_response;
use gateway_core::router::PathTemplate;
use gateway_core::spec::HttpBackend;
use gateway_core::{Body, BoxError, ClientAddr};
use gateway_test_support::client;
use gateway_test_support::net::closed_addr;
use gateway_test_support::upstream::{accept_one, raw_upstream};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::timeout;
use tower::ServiceExt;

/// Bounds every wait in these tests, so a regression fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Bodies used on both sides.

/// A body fed from a channel: the test decides when each chunk exists.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

fn channel_body() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(4);
    (tx, Body::new(ChannelBody(rx)))
}

/// `len` bytes of a repeating pattern, produced 64 KiB at a time, never held whole.
struct PatternBody {
    sent: usize,
    len: usize,
}

const CHUNK: usize = 64 * 1024;

fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

impl http_body::Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent >= self.len {
            return Poll::Ready(None);
        }
        let n = CHUNK.min(self.len - self.sent);
        let chunk: Vec<u8> = (self.sent..self.sent + n).map(pattern_byte).collect();
        self.sent += n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.len
    }
}

fn pattern_body(len: usize) -> Body {
    Body::new(PatternBody { sent: 0, len })
}

// ---------------------------------------------------------------------------------------------
// The upstream: a real hyper server.

#[derive(Default)]
struct UpstreamState {
    connections: AtomicUsize,
    /// Connections that have ended (either side closed them).
    closed: AtomicUsize,
    /// Releases `/gated` responses.
    gate: Notify,
    /// How many `/together/N` requests have arrived.
    together: watch::Sender<usize>,
    /// What the upstream saw, for tests that follow the exchange step by step.
    events: std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>,
}

impl UpstreamState {
    fn event(&self, e: String) {
        if let Ok(guard) = self.events.lock() {
            if let Some(tx) = guard.as_ref() {
                let _ = tx.send(e);
            }
        }
    }
}

struct Upstream {
    addr: SocketAddr,
    state: Arc<UpstreamState>,
}

impl Upstream {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn events(&self) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut guard) = self.state.events.lock() {
            *guard = Some(tx);
        }
        rx
    }
}

async fn handle(
    state: Arc<UpstreamState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let number = |i: usize| {
        segments
            .get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let res = match segments.first().copied() {
        Some("status") => {
            let status = StatusCode::from_u16(number(1) as u16).unwrap_or(StatusCode::OK);
            let mut res = Response::new(Body::full("status body"));
            *res.status_mut() = status;
            res
        }
        Some("stream-echo") => Response::new(Body::new(req.into_body())),
        Some("slow") => {
            tokio::time::sleep(Duration::from_millis(number(1))).await;
            Response::new(Body::full("late"))
        }
        Some("chunks-stall") => {
            let (tx, body) = channel_body();
            let stall = Duration::from_millis(number(1));
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"first")).await;
                tokio::time::sleep(stall).await;
                let _ = tx.send(Bytes::from_static(b"second")).await;
            });
            Response::new(body)
        }
        Some("gated") => {
            let (tx, body) = channel_body();
            let state = state.clone();
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"first")).await;
                state.gate.notified().await;
                let _ = tx.send(Bytes::from_static(b"second")).await;
            });
            Response::new(body)
        }
        Some("big") => Response::new(pattern_body(number(1) as usize)),
        // Answers once the N-th request of the current group of N has arrived, so that a
        // group of N concurrent requests holds N connections at once.
        Some("together") => {
            let group = number(1).max(1) as usize;
            let mut arrived = 0;
            state.together.send_modify(|n| {
                *n += 1;
                arrived = *n;
            });
            let complete = arrived.div_ceil(group) * group;
            let _ = state
                .together
                .subscribe()
                .wait_for(|&n| n >= complete)
                .await;
            Response::new(Body::full("together"))
        }
        Some("first-chunk") => {
            let mut body = req.into_body();
            let mut total = 0;
            let mut first = true;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                if let Some(data) = frame.data_ref() {
                    if first {
                        state.event(format!("first:{}", data.len()));
                        first = false;
                    }
                    total += data.len();
                }
            }
            Response::new(Body::full(format!("total:{total}")))
        }
        _ => echo(req).await,
    };
    Ok(res)
}

/// Everything the upstream received, as JSON, with a few headers a proxy must not pass back.
async fn echo(req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut res = Response::new(Body::full(json.to_string()));
    let h = res.headers_mut();
    h.insert("content-type", "application/json".parse().expect("value"));
    h.insert("x-upstream", "yes".parse().expect("value"));
    h.insert("keep-alive", "timeout=5".parse().expect("value"));
    h.insert("proxy-authenticate", "Basic".parse().expect("value"));
    res
}

async fn serve_upstream(
    listener: TcpListener,
    tls: Option<(tokio_rustls::TlsAcceptor, bool)>,
) -> Upstream {
    let addr = listener.local_addr().expect("addr");
    let state = Arc::new(UpstreamState::default());
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let state = shared.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let closed = state.clone();
                let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
                let mut builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                    Some((acceptor, h2_only)) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        if h2_only {
                            builder = builder.http2_only();
                        }
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
                closed.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Upstream { addr, state }
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve_upstream(listener, None).await
}

/// A test CA and a server certificate it issued for `localhost` and `127.0.0.1`.
struct TestPki {
    ca: CertificateDer<'static>,
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("leaf params");
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("leaf certificate");
    TestPki {
        ca: ca_cert.der().clone(),
        ca_pem: ca_cert.pem(),
        chain: vec![leaf.der().clone()],
        key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
    }
}

/// A TLS upstream offering `alpn`; `h2_only` refuses HTTP/1.
async fn tls_upstream(pki: &TestPki, alpn: &[&[u8]], h2_only: bool) -> Upstream {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), PrivateKeyDer::Pkcs8(pki.key.clone_key()))
        .expect("server certificate");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve_upstream(listener, Some((acceptor, h2_only))).await
}

// ---------------------------------------------------------------------------------------------
// The gateway side.

fn spec(url: &str) -> HttpBackend {
    HttpBackend {
        url: url.to_owned(),
        connect_timeout_in_seconds: None,
        read_timeout_in_seconds: None,
        send_timeout_in_seconds: None,
        is_ssl_verify_disabled: None,
    }
}

fn compile(client: &HttpClient, spec: &HttpBackend) -> HttpBackendService {
    let mut diags = Diagnostics::new();
    let template = PathTemplate::parse("/items/{id}").expect("template");
    let svc = HttpBackendService::compile(client, spec, "routes[0].backend", &template, &mut diags);
    assert!(!diags.has_errors(), "{diags:?}");
    svc
}

fn request(method: &str, uri: &str, body: Body) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "gateway.example")
        .body(body)
        .expect("request");
    let client: SocketAddr = "198.51.100.7:40000".parse().expect("addr");
    req.extensions_mut().insert(ClientAddr(client));
    req
}

async fn call(svc: &HttpBackendService, req: Request<Body>) -> Response<Body> {
    timeout(PATIENCE, svc.clone().oneshot(req))
        .await
        .expect("the backend answers in time")
        .unwrap_or_else(error_response)
}

async fn text(res: Response<Body>) -> Result<String, BoxError> {
    let bytes = timeout(PATIENCE, res.into_body().collect())
        .await
        .map_err(|_| "the body hangs")??
        .to_bytes();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

async fn json(res: Response<Body>) -> Value {
    let text = text(res).await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn header<'a>(echo: &'a Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pair| pair[0] == name)
        .filter_map(|pair| pair[1].as_str())
        .collect()
}

/// The backend behind a real hyper server, as the gateway serves it.
async fn front(svc: HttpBackendService) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let svc = svc.clone();
            let svc = tower::service_fn(move |req: Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ClientAddr(peer));
                svc.clone().oneshot(req)
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// URL and headers.

#[tokio::test]
async fn calls_the_configured_url_with_the_client_query_appended() {
    let up = upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url("/echo/base?fixed=1")));
    let res = call(
        &svc,
        request("POST", "/client/path?a=1&b=two", Body::full("payload")),
    )
    .await;
    assert_eq!(res.status(), 200);
    let echo = json(res).await;
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["path"], "/echo/base",
        "the client path is not appended"
    );
    assert_eq!(echo["query"], "fixed=1&a=1&b=two");
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["version"], "HTTP/1.1");
}

#[tokio::test]
async fn context_variables_fill_path_segments_keeping_their_encoding() {
    let up = upstream().await;
    let client = HttpClient::new();
    let url = up.url("/echo/${request.query[id]}/${request.headers[X-Seg]}");
    let svc = compile(&client, &spec(&url));
    let mut req = request("GET", "/items/7?id=a%20b", Body::empty());
    req.headers_mut()
        .insert("x-seg", "c d?e".parse().expect("value"));
    let echo = json(call(&svc, req).await).await;
    assert_eq!(echo["path"], "/echo/a%20b/c%20d%3Fe");
    assert_eq!(echo["query"], "id=a%20b");
}

#[tokio::test]
async fn proxy_headers_are_set_and_hop_by_hop_headers_stop_at_the_gateway() {
    let up = upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url("/echo")));
    let mut req = request("GET", "/items/1", Body::empty());
    for (name, value) in [
        ("connection", "keep-alive, x-private"),
        ("x-private", "secret"),
        ("keep-alive", "timeout=5"),
        ("proxy-authorization", "Basic abc"),
        ("te", "trailers"),
        ("upgrade", "websocket"),
        ("x-kept", "yes"),
        ("authorization", "Bearer token"),
        ("x-forwarded-for", "203.0.113.1"),
        ("forwarded", "for=203.0.113.1"),
    ] {
        req.headers_mut()
            .append(name, value.parse().expect("value"));
    }
    let res = call(&svc, req).await;
    assert_eq!(res.headers()["x-upstream"], "yes");
    assert!(res.headers().get("keep-alive").is_none());
    assert!(res.headers().get("proxy-authenticate").is_none());
    let echo = json(res).await;
    for gone in [
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "te",
        "upgrade",
    ] {
        assert!(
            header(&echo, gone).is_empty(),
            "{gone} reached the upstream"
        );
    }
    assert_eq!(header(&echo, "x-kept"), ["yes"]);
    assert_eq!(header(&echo, "authorization"), ["Bearer token"]);
    assert_eq!(header(&echo, "host"), [up.addr.to_string().as_str()]);
    assert_eq!(
        header(&echo, "x-forwarded-for"),
        ["203.0.113.1, 198.51.100.7"]
    );
    assert_eq!(header(&echo, "x-forwarded-proto"), ["http"]);
    assert_eq!(header(&echo, "x-forwarded-host"), ["gateway.example"]);
    assert_eq!(
        header(&echo, "forwarded"),
        ["for=203.0.113.1, for=198.51.100.7;host=gateway.example;proto=http"]
    );
}

#[tokio::test]
async fn the_upstream_status_and_body_pass_through() {
    let up = upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url("/status/418")));
    let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
    assert_eq!(res.status(), 418);
    assert_eq!(text(res).await.expect("body"), "status body");
}

#[tokio::test]
async fn connections_are_pooled_across_requests() {
    let up = upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url("/echo")));
    for _ in 0..5 {
        let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
        text(res).await.expect("body");
    }
    assert_eq!(up.state.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_response_dropped_before_its_end_closes_its_connection() {
    // The rest of that body would have to be read before the connection could carry another
    // exchange: it is closed instead, and the next request opens a new one.
    let up = upstream().await;
    let client = HttpClient::new();
    let gated = compile(&client, &spec(&up.url("/gated")));
    let echo = compile(&client, &spec(&up.url("/echo")));
    let res = call(&gated, request("GET", "/items/1", Body::empty())).await;
    let mut body = res.into_body();
    let first = timeout(PATIENCE, body.frame()).await.expect("in time");
    assert!(first.is_some_and(|f| f.is_ok()));
    drop(body);
    let res = call(&echo, request("GET", "/items/1", Body::empty())).await;
    assert_eq!(res.status(), 200);
    text(res).await.expect("body");
    assert_eq!(up.state.connections.load(Ordering::SeqCst), 2);
    wait_until(|| up.state.closed.load(Ordering::SeqCst) == 1).await;
}

#[tokio::test]
async fn a_response_that_ends_before_the_upload_does_not_hold_up_the_next_request() {
    // The upstream answers at once and reads (discards) the body after, keeping the
    // connection open; the client is still uploading. That connection is busy until the
    // upload ends, so the next request must get another one rather than wait for it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nearly");
                let mut rest = [0u8; 1024];
                while stream.read(&mut rest).is_ok_and(|n| n > 0) {}
            });
        }
    });
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&format!("http://{addr}/")));
    let (upload, body) = channel_body();
    upload
        .send(Bytes::from_static(b"first"))
        .await
        .expect("send");
    let res = call(&svc, request("POST", "/items/1", body)).await;
    assert_eq!(text(res).await.expect("body"), "early");
    let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
    assert_eq!(text(res).await.expect("body"), "early");
    drop(upload);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_not_used_again() {
    // An upstream that closes every connection once it has answered, without saying so.
    let addr = raw_upstream(|_| b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec());
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&format!("http://{addr}/")));
    for _ in 0..5 {
        let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
        assert_eq!(res.status(), 200);
        assert_eq!(text(res).await.expect("body"), "ok");
        // The close reaches the pooled connection, which is then left out.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn connections_idle_past_the_idle_timeout_are_closed() {
    let up = upstream().await;
    let client = HttpClient::builder()
        .pool_idle_timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let svc = compile(&client, &spec(&up.url("/echo")));
    let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
    text(res).await.expect("body");
    assert_eq!(up.state.closed.load(Ordering::SeqCst), 0);
    wait_until(|| up.state.closed.load(Ordering::SeqCst) == 1).await;
    // The next request opens a new connection.
    let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
    text(res).await.expect("body");
    assert_eq!(up.state.connections.load(Ordering::SeqCst), 2);
}

/// Waits (up to [`PATIENCE`]) until `done` holds.
async fn wait_until(done: impl Fn() -> bool) {
    timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn the_connections_of_a_burst_stay_pooled_for_the_next_burst() {
    // Fifty requests at once need fifty upstream connections; all of them must be kept for
    // the next fifty, not closed and opened again (a pool that keeps fewer idle connections
    // than the requests in flight churns one connection per request beyond its size).
    const BURST: usize = 50;
    let up = upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url(&format!("/together/{BURST}"))));
    for _ in 0..2 {
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..BURST {
            let svc = svc.clone();
            calls.spawn(async move {
                let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
                text(res).await.expect("body")
            });
        }
        let bodies = timeout(PATIENCE, calls.join_all())
            .await
            .expect("every request of the burst is answered");
        assert!(bodies.iter().all(|b| b == "together"), "{bodies:?}");
        // Each connection went back to the pool as its response body ended.
    }
    assert_eq!(up.state.connections.load(Ordering::SeqCst), BURST);
}

// ---------------------------------------------------------------------------------------------
// Streaming.

#[tokio::test]
async fn the_response_streams_without_waiting_for_the_whole_body() {
    let up = upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url("/gated")));
    let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
    let mut body = res.into_body();
    // The upstream holds "second" back until the gate opens, which happens only after the
    // first chunk has reached this client: a buffering proxy would never deliver it.
    let first = timeout(PATIENCE, body.frame())
        .await
        .expect("the first chunk arrives while the upstream still holds the rest")
        .expect("a frame")
        .expect("no error");
    assert_eq!(first.into_data().ok().as_deref(), Some(&b"first"[..]));
    up.state.gate.notify_one();
    let rest = timeout(PATIENCE, body.collect())
        .await
        .expect("the rest arrives")
        .expect("no error")
        .to_bytes();
    assert_eq!(&rest[..], b"second");
}

#[tokio::test]
async fn the_request_streams_without_waiting_for_the_whole_body() {
    let up = upstream().await;
    let mut events = up.events();
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url("/first-chunk")));
    let (tx, body) = channel_body();
    let pending = tokio::spawn({
        let svc = svc.clone();
        async move { call(&svc, request("POST", "/items/1", body)).await }
    });
    tx.send(Bytes::from_static(b"hello")).await.expect("send");
    // The client has not finished its body, yet the upstream already has the first chunk.
    let seen = timeout(PATIENCE, events.recv())
        .await
        .expect("upstream saw a chunk");
    assert_eq!(seen.as_deref(), Some("first:5"));
    tx.send(Bytes::from_static(b" world")).await.expect("send");
    drop(tx);
    let res = pending.await.expect("task");
    assert_eq!(text(res).await.expect("body"), "total:11");
}

#[tokio::test]
async fn several_megabytes_stream_both_ways() {
    const LEN: usize = 8 * 1024 * 1024 + 17;
    let up = upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&up.url("/stream-echo")));
    let res = call(&svc, request("PUT", "/items/1", pattern_body(LEN))).await;
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let mut at = 0;
    while let Some(frame) = timeout(PATIENCE, body.frame()).await.expect("in time") {
        let data = frame.expect("no error").into_data().unwrap_or_default();
        assert!(
            data.iter()
                .enumerate()
                .all(|(i, b)| *b == pattern_byte(at + i)),
            "corrupted at {at}"
        );
        at += data.len();
    }
    assert_eq!(at, LEN);

    let svc = compile(&client, &spec(&up.url(&format!("/big/{LEN}"))));
    let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
    let bytes = timeout(PATIENCE, res.into_body().collect())
        .await
        .expect("in time")
        .expect("no error")
        .to_bytes();
    assert_eq!(bytes.len(), LEN);
}

// ---------------------------------------------------------------------------------------------
// Failures: refused, timeouts, broken upstreams, vanished clients.

async fn json_error(res: Response<Body>) -> (StatusCode, Value) {
    let status = res.status();
    assert_eq!(res.headers()["content-type"], "application/json");
    (status, json(res).await)
}

#[tokio::test]
async fn a_refused_connection_is_502() {
    let addr = closed_addr();
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&format!("http://{addr}/x")));
    let (status, body) =
        json_error(call(&svc, request("GET", "/items/1", Body::empty())).await).await;
    assert_eq!(status, 502);
    assert_eq!(
        body,
        serde_json::json!({"code": 502, "message": "Bad Gateway"})
    );
}

#[tokio::test]
async fn a_connection_not_accepted_in_time_is_504() {
    // A listener with a backlog of one that never accepts: once its queue is full the kernel
    // drops further SYNs, so a new connection attempt neither succeeds nor fails.
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => held.push(stream),
            Ok(Err(e)) => panic!("connect failed: {e}"),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    if !full {
        eprintln!("skipped: this kernel accepts connections beyond the backlog");
        return;
    }
    let client = HttpClient::new();
    let mut spec = spec(&format!("http://{addr}/x"));
    spec.connect_timeout_in_seconds = Some(0.3);
    let svc = compile(&client, &spec);
    let (status, body) =
        json_error(call(&svc, request("GET", "/items/1", Body::empty())).await).await;
    assert_eq!(status, 504);
    assert_eq!(body["message"], "Gateway Timeout");
    drop(held);
}

#[tokio::test]
async fn no_response_head_within_the_read_timeout_is_504() {
    let up = upstream().await;
    let client = HttpClient::new();
    let mut spec = spec(&up.url("/slow/30000"));
    spec.read_timeout_in_seconds = Some(0.3);
    let svc = compile(&client, &spec);
    let (status, body) =
        json_error(call(&svc, request("GET", "/items/1", Body::empty())).await).await;
    assert_eq!(status, 504);
    assert_eq!(
        body,
        serde_json::json!({"code": 504, "message": "Gateway Timeout"})
    );
}

#[tokio::test]
async fn a_stall_between_body_chunks_ends_the_body_with_an_error() {
    let up = upstream().await;
    let client = HttpClient::new();
    let mut spec = spec(&up.url("/chunks-stall/30000"));
    // Long enough for the head and first chunk on a loaded machine, far shorter than the stall.
    spec.read_timeout_in_seconds = Some(1.0);
    let svc = compile(&client, &spec);
    let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let first = timeout(PATIENCE, body.frame()).await.expect("in time");
    let first = first
        .expect("frame")
        .expect("data")
        .into_data()
        .unwrap_or_default();
    assert_eq!(&first[..], b"first");
    let next = timeout(PATIENCE, body.frame())
        .await
        .expect("the stall is cut short");
    assert!(
        matches!(next, Some(Err(_))),
        "expected an error, got {next:?}"
    );
}

#[tokio::test]
async fn an_upstream_that_does_not_take_the_request_is_504() {
    // The upstream reads the head and then nothing: the body fills the socket buffers and
    // the gateway can write no further.
    let addr = accept_one(|stream| {
        std::thread::sleep(Duration::from_secs(60));
        drop(stream);
    });
    let client = HttpClient::new();
    let mut spec = spec(&format!("http://{addr}/upload"));
    spec.send_timeout_in_seconds = Some(0.5);
    let svc = compile(&client, &spec);
    let req = request("POST", "/items/1", pattern_body(256 * 1024 * 1024));
    let (status, _) = json_error(call(&svc, req).await).await;
    assert_eq!(status, 504);
}

#[tokio::test]
async fn an_upstream_that_vanishes_mid_body_ends_the_response_with_an_error() {
    for head in [
        "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\npartial",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\npartial\r\n",
    ] {
        let addr = accept_one(move |mut stream| {
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Write);
        });
        let client = HttpClient::new();
        let svc = compile(&client, &spec(&format!("http://{addr}/")));
        let res = call(&svc, request("GET", "/items/1", Body::empty())).await;
        assert_eq!(res.status(), 200);
        let result = timeout(PATIENCE, res.into_body().collect())
            .await
            .expect("the body ends rather than hangs");
        assert!(result.is_err(), "a truncated body must not look complete");
    }
}

/// A raw upstream that reports when it received the request and when the gateway closed the
/// connection.
async fn watching_upstream() -> (SocketAddr, mpsc::UnboundedReceiver<&'static str>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = accept_one(move |mut stream| {
        let _ = tx.send("request");
        let mut buf = [0u8; 64];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send("closed");
    });
    (addr, rx)
}

#[tokio::test]
async fn dropping_the_exchange_closes_the_upstream_request() {
    let (addr, mut seen) = watching_upstream().await;
    let client = HttpClient::new();
    let svc = compile(&client, &spec(&format!("http://{addr}/")));
    let exchange =
        tokio::spawn(async move { call(&svc, request("GET", "/items/1", Body::empty())).await });
    assert_eq!(
        timeout(PATIENCE, seen.recv()).await.expect("in time"),
        Some("request")
    );
    exchange.abort();
    assert_eq!(
        timeout(PATIENCE, seen.recv())
            .await
            .expect("the upstream connection closes"),
        Some("closed")
    );
}

#[tokio::test]
async fn a_client_that_goes_away_closes_the_upstream_request() {
    let (addr, mut seen) = watching_upstream().await;
    let client = HttpClient::new();
    let gateway = front(compile(&client, &spec(&format!("http://{addr}/")))).await;
    let mut downstream = TcpStream::connect(gateway).await.expect("connect");
    downstream
        .write_all(b"GET /items/1 HTTP/1.1\r\nhost: gateway.example\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(
        timeout(PATIENCE, seen.recv()).await.expect("in time"),
        Some("request")
    );
    drop(downstream);
    assert_eq!(
        timeout(PATIENCE, seen.recv())
            .await
            .expect("the upstream connection closes"),
        Some("closed")
    );
}

#[tokio::test]
async fn through_a_real_server_the_client_address_is_forwarded() {
    let up = upstream().await;
    let client = HttpClient::new();
    let gateway = front(compile(&client, &spec(&up.url("/echo")))).await;
    let raw = b"GET /items/1?x=1 HTTP/1.1\r\nhost: gw.example\r\nconnection: close\r\n\r\n";
    // The blocking client in a thread of its own, while this runtime serves the gateway.
    let raw = timeout(
        PATIENCE,
        tokio::task::spawn_blocking(move || client::exchange(gateway, raw)),
    )
    .await
    .expect("in time")
    .expect("read");
    let raw = String::from_utf8_lossy(&raw);
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    let echo: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert_eq!(header(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(header(&echo, "x-forwarded-host"), ["gw.example"]);
    assert_eq!(echo["query"], "x=1");
}

// ---------------------------------------------------------------------------------------------
// TLS and HTTP/2.

#[tokio::test]
async fn https_verifies_against_an_added_root() {
    let pki = test_pki();
    let up = tls_upstream(&pki, &[b"http/1.1"], false).await;
    let url = format!("https://127.0.0.1:{}/echo", up.addr.port());
    let trusting = HttpClient::builder()
        .add_root_certificate(pki.ca.clone())
        .build()
        .expect("client");
    let echo = json(
        call(
            &compile(&trusting, &spec(&url)),
            request("GET", "/items/1", Body::empty()),
        )
        .await,
    )
    .await;
    assert_eq!(echo["version"], "HTTP/1.1");

    // Mozilla's roots alone do not know the test CA.
    let default = HttpClient::new();
    let res = call(
        &compile(&default, &spec(&url)),
        request("GET", "/items/1", Body::empty()),
    )
    .await;
    assert_eq!(res.status(), 502);
}

#[tokio::test]
async fn ssl_verify_disabled_accepts_an_unknown_certificate() {
    let pki = test_pki();
    let up = tls_upstream(&pki, &[b"http/1.1"], false).await;
    let mut spec = spec(&format!("https://localhost:{}/echo", up.addr.port()));
    spec.is_ssl_verify_disabled = Some(true);
    let client = HttpClient::new();
    let res = call(
        &compile(&client, &spec),
        request("GET", "/items/1", Body::empty()),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn https_negotiates_http2_by_alpn() {
    let pki = test_pki();
    let up = tls_upstream(&pki, &[b"h2"], true).await;
    let client = HttpClient::builder()
        .add_root_certificate(pki.ca.clone())
        .build()
        .expect("client");
    let url = format!("https://127.0.0.1:{}/echo/h2?fixed=1", up.addr.port());
    let svc = compile(&client, &spec(&url));
    let res = call(&svc, request("POST", "/items/1?q=2", Body::full("over h2"))).await;
    assert_eq!(res.status(), 200);
    let echo = json(res).await;
    assert_eq!(echo["version"], "HTTP/2.0");
    assert_eq!(echo["path"], "/echo/h2");
    assert_eq!(echo["query"], "fixed=1&q=2");
    assert_eq!(echo["body"], "over h2");

    // Several megabytes stream over one HTTP/2 stream as well.
    let svc = compile(
        &client,
        &spec(&format!("https://127.0.0.1:{}/stream-echo", up.addr.port())),
    );
    let res = call(
        &svc,
        request("PUT", "/items/1", pattern_body(3 * 1024 * 1024)),
    )
    .await;
    let bytes = timeout(PATIENCE, res.into_body().collect())
        .await
        .expect("in time")
        .expect("no error")
        .to_bytes();
    assert_eq!(bytes.len(), 3 * 1024 * 1024);
}

#[tokio::test]
async fn extra_roots_can_be_given_as_pem() {
    let pki = test_pki();
    let trusting = HttpClient::builder()
        .add_root_pem(pki.ca_pem.as_bytes())
        .expect("a PEM root")
        .build()
        .expect("client");
    let up = tls_upstream(&pki, &[b"http/1.1"], false).await;
    let url = format!("https://localhost:{}/echo", up.addr.port());
    let res = call(
        &compile(&trusting, &spec(&url)),
        request("GET", "/items/1", Body::empty()),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(HttpClient::builder()
        .add_root_pem(b"not a certificate")
        .is_err());
}
