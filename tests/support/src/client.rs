//! A raw HTTP/1.1 client: it writes the request's bytes to a socket as given (so that odd
//! request targets and malformed heads arrive byte for byte), reads until the server closes,
//! and parses the response with `httparse`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a read may wait for the server.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when it came chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// `body` in the chunked transfer coding, `size` bytes a chunk, for a request that sends
/// `Transfer-Encoding: chunked` (an upload of unknown length).
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / size.max(1) * 12 + 5);
    for chunk in body.chunks(size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Sends one request to `addr` (`Host: ADDR` and `Connection: close` first, then `headers`)
/// and reads the response until the server closes. `Content-Length` is added for a non-empty
/// body unless `headers` frame it themselves.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(addr, method, target, headers, body).expect("request")
}

/// Like [`request`], but a connection that fails or breaks is an error rather than a panic,
/// for tests that count failures.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    let framed = headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    });
    if !body.is_empty() && !framed {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut stream = connect(addr)?;
    stream.write_all(head.as_bytes())?;
    // A server may answer (413, 400) and close before reading the whole body, as it should;
    // the response is what the test looks at.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete response: {:?}", String::from_utf8_lossy(&raw)),
        ));
    }
    Ok(parse_response(&raw, method == "HEAD"))
}

/// Writes `raw` to a new connection to `addr` exactly as given and returns what the server
/// sent until it closed (or reset the connection, or went quiet for 20 s).
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = send(addr, raw);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// Writes `raw` to a new connection to `addr` exactly as given, and returns the connection.
/// Dropping it hangs up without reading.
pub fn send(addr: SocketAddr, raw: &[u8]) -> TcpStream {
    let mut stream = connect(addr).expect("connect");
    stream.write_all(raw).expect("send");
    stream
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(stream)
}

/// Parses a complete HTTP/1.1 response (`Content-Length`, chunked, or read to the close);
/// `head_only` for the answer to a HEAD request, which has no body whatever its headers say.
/// Panics when `raw` holds no complete head.
pub fn parse_response(raw: &[u8], head_only: bool) -> Response {
    let mut slots = [httparse::EMPTY_HEADER; 256];
    let mut parsed = httparse::Response::new(&mut slots);
    let head_len = match parsed.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            panic!("no end of head in {:?}", String::from_utf8_lossy(raw))
        }
        Err(e) => panic!(
            "bad response head ({e}): {:?}",
            String::from_utf8_lossy(raw)
        ),
    };
    let status = parsed.code.expect("a complete head has a status");
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let rest = &raw[head_len..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}

/// The data of a chunked body, as far as it goes (`httparse` reads the chunk sizes).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(httparse::Status::Complete((start, size))) = httparse::parse_chunk_size(data) {
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = data.get(start + size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_response_is_reassembled_and_its_headers_lower_cased() {
        let mut raw =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n".to_vec();
        raw.extend_from_slice(&chunked(b"hello, world", 5));
        let res = parse_response(&raw, false);
        assert_eq!(res.status, 200);
        assert_eq!(res.header_all("X-A"), ["1", "2"]);
        assert_eq!(res.text(), "hello, world");
        assert!(parse_response(&raw, true).body.is_empty());
    }

    #[test]
    fn a_length_framed_response_keeps_its_body() {
        let res = parse_response(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}",
            false,
        );
        assert_eq!((res.status, res.json()), (404, serde_json::json!({})));
    }
}
