//! Tiny HTTP servers on 127.0.0.1 used as backends: raw ones that read and write bytes by hand
//! (for exact heads, slow or broken answers), and [`TestServer`] on hyper, in a thread of its
//! own so that it serves whatever runtime, if any, the test uses.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use http::request::Parts;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Raw upstreams

/// A request as a raw upstream read it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The request line and header lines exactly as they arrived, without the blank line.
    pub head: String,
    /// The body as it arrived (still chunked when it was sent chunked).
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The request line.
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// The value of the first header line named `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A `200 OK` answer with `body`, framed by `Content-Length`, closing the connection.
pub fn ok(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let content_type = content_type
        .map(|t| format!("Content-Type: {t}\r\n"))
        .unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

/// An HTTP/1.1 upstream on loopback that reads each request (head, and body by
/// `Content-Length` or to the end of the chunked coding), writes what `answer` makes of it and
/// closes the connection. One thread a connection; it runs as long as the test process.
pub fn raw_upstream(answer: impl Fn(&RawRequest) -> Vec<u8> + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                if let Some(request) = read_request(&mut stream) {
                    let _ = stream.write_all(&answer(&request));
                }
            });
        }
    });
    addr
}

/// A [`raw_upstream`] that answers each request with its request line and header lines
/// exactly as they arrived (`text/plain`).
pub fn raw_echo_upstream() -> SocketAddr {
    raw_upstream(|request| ok(Some("text/plain"), request.head.as_bytes()))
}

/// An upstream on loopback that accepts one connection, reads the request head, and hands the
/// connection to `then` (in a thread of its own): to answer slowly, partly, or never.
pub fn accept_one(then: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        if read_head(&mut stream, &mut Vec::new()).is_some() {
            then(stream);
        }
    });
    addr
}

/// Reads until the end of the head into `data`; returns where the head ends (before the blank
/// line), or `None` when the connection ends first.
fn read_head(stream: &mut TcpStream, data: &mut Vec<u8>) -> Option<usize> {
    let mut buf = [0u8; 8192];
    loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at);
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

fn read_request(stream: &mut TcpStream) -> Option<RawRequest> {
    let mut data = Vec::new();
    let head_end = read_head(stream, &mut data)?;
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = lower.contains("transfer-encoding: chunked");
    let body_done = |data: &[u8]| {
        let body = &data[head_end + 4..];
        match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => true,
        }
    };
    let mut buf = [0u8; 8192];
    while !body_done(&data) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    Some(RawRequest {
        head,
        body: data[head_end + 4..].to_vec(),
    })
}

// ---------------------------------------------------------------------------------------------
// A hyper server

type Handler = dyn Fn(&Parts, &[u8]) -> http::Response<Bytes> + Send + Sync;

/// An HTTP/1.1 and HTTP/2 server on 127.0.0.1 in a thread of its own, answering with a
/// handler; counts the requests it serves and can be stopped (listener and every connection
/// closed). Stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    stop: Arc<tokio::sync::Notify>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TestServer {
    /// Serves every request (its head and whole body) with `handler`.
    pub fn start(
        handler: impl Fn(&Parts, &[u8]) -> http::Response<Bytes> + Send + Sync + 'static,
    ) -> Self {
        let handler: Arc<Handler> = Arc::new(handler);
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(tokio::sync::Notify::new());
        let (tx, rx) = std::sync::mpsc::channel();
        let (counter, stopped) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0");
                tx.send(listener.local_addr().expect("address"))
                    .expect("send the address");
                loop {
                    let stream = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                        () = stopped.notified() => return,
                    };
                    let (handler, counter) = (handler.clone(), counter.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                let (handler, counter) = (handler.clone(), counter.clone());
                                async move {
                                    let (parts, body) = req.into_parts();
                                    let body = body
                                        .collect()
                                        .await
                                        .map(|b| b.to_bytes())
                                        .unwrap_or_default();
                                    counter.fetch_add(1, Ordering::SeqCst);
                                    let res = handler(&parts, &body).map(Full::new);
                                    Ok::<_, Infallible>(res)
                                }
                            },
                        );
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            // Dropping the runtime here closes every connection still open.
        });
        let addr = rx.recv().expect("server address");
        TestServer {
            addr,
            hits,
            stop,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Serves every request with the status and JSON text `handler` returns
    /// (`Content-Type: application/json`; an invalid status is 200).
    pub fn json(handler: impl Fn(&Parts, &[u8]) -> (u16, String) + Send + Sync + 'static) -> Self {
        Self::start(move |parts, body| {
            let (status, text) = handler(parts, body);
            http::Response::builder()
                .status(http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK))
                .header("content-type", "application/json")
                .body(Bytes::from(text))
                .expect("response")
        })
    }

    /// A server answering 200 with what it received, as [`echo_json`].
    pub fn echo() -> Self {
        Self::json(|parts, body| (200, echo_json(parts, body).to_string()))
    }

    /// Leaves the server running as long as the test process, and returns its address.
    pub fn detach(self) -> SocketAddr {
        let addr = self.addr;
        std::mem::forget(self);
        addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every connection; returns once the server is gone.
    pub fn stop(&self) {
        self.stop.notify_one();
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a request carried, as JSON: `method`, `uri`, `headers` (name to value, the last value
/// of a repeated header) and `body` (as text).
pub fn echo_json(parts: &Parts, body: &[u8]) -> Value {
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
        .collect();
    json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    })
}
