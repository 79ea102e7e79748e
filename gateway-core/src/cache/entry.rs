//! A stored response and its byte encoding (one Redis value: status, headers and body).
//!
//! The encoding is a small length-prefixed binary format rather than JSON, because bodies are
//! arbitrary bytes: `GWRC` + version, status (u16), header count (u16), then per header the
//! name (u16 length) and value (u32 length), then the body (u64 length). Decoding checks every
//! length, so a corrupt or foreign value is a miss, never a panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::Body;

/// `X-Cache-Status`.
pub static X_CACHE_STATUS: HeaderName = HeaderName::from_static("x-cache-status");

const MAGIC: &[u8; 5] = b"GWRC1";

/// A cached response.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedResponse {
    /// The response status.
    pub status: StatusCode,
    /// The response headers, without per-exchange ones.
    pub headers: HeaderMap,
    /// The whole response body.
    pub body: Bytes,
}

/// A stored value that is not a cached response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed cache entry: {0}")]
pub struct DecodeError(&'static str);

impl CachedResponse {
    /// The response to store: the headers minus those that describe one connection or one
    /// exchange (hop-by-hop headers, the cache status, the request id).
    pub fn new(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Self {
        let mut kept = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            if !is_per_exchange(name) {
                kept.append(name.clone(), value.clone());
            }
        }
        Self {
            status,
            headers: kept,
            body,
        }
    }

    /// Bytes the entry occupies, roughly: what the in-memory store counts.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 32)
                .sum::<usize>()
            + 64
    }

    /// A response serving this entry, marked `X-Cache-Status: HIT`.
    pub fn to_response(&self) -> Response<Body> {
        let mut res = Response::new(Body::full(self.body.clone()));
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        res.headers_mut()
            .insert(X_CACHE_STATUS.clone(), HeaderValue::from_static("HIT"));
        res
    }

    /// The entry in the binary format described in the module docs, as stored in Redis.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = BytesMut::with_capacity(self.size());
        out.put_slice(MAGIC);
        out.put_u16(self.status.as_u16());
        out.put_u16(u16::try_from(self.headers.len()).unwrap_or(u16::MAX));
        for (name, value) in self.headers.iter().take(usize::from(u16::MAX)) {
            out.put_u16(name.as_str().len() as u16);
            out.put_slice(name.as_str().as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value.as_bytes());
        }
        out.put_u64(self.body.len() as u64);
        out.put_slice(&self.body);
        out.into()
    }

    /// Decodes [`CachedResponse::encode`]'s output; the body shares `bytes`' memory.
    pub fn decode(mut bytes: Bytes) -> Result<Self, DecodeError> {
        fn take(bytes: &mut Bytes, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
            if bytes.remaining() < n {
                return Err(DecodeError(what));
            }
            Ok(bytes.split_to(n))
        }
        if take(&mut bytes, MAGIC.len(), "too short")? != MAGIC[..] {
            return Err(DecodeError("not a gateway cache entry"));
        }
        let mut fixed = take(&mut bytes, 4, "truncated status")?;
        let status =
            StatusCode::from_u16(fixed.get_u16()).map_err(|_| DecodeError("bad status"))?;
        let count = fixed.get_u16();
        // The count comes from the store: a corrupt entry must not size the map by itself.
        let mut headers = HeaderMap::new();
        for _ in 0..count {
            let len = take(&mut bytes, 2, "truncated header")?.get_u16();
            let name = take(&mut bytes, usize::from(len), "truncated header name")?;
            let name = HeaderName::from_bytes(&name).map_err(|_| DecodeError("bad header name"))?;
            let len = take(&mut bytes, 4, "truncated header")?.get_u32();
            let value = take(&mut bytes, len as usize, "truncated header value")?;
            let value = HeaderValue::from_maybe_shared(value)
                .map_err(|_| DecodeError("bad header value"))?;
            headers
                .try_append(name, value)
                .map_err(|_| DecodeError("too many headers"))?;
        }
        let len = take(&mut bytes, 8, "truncated body")?.get_u64();
        let len = usize::try_from(len).map_err(|_| DecodeError("body too long"))?;
        let body = take(&mut bytes, len, "truncated body")?;
        if bytes.has_remaining() {
            return Err(DecodeError("trailing bytes"));
        }
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

/// Headers that belong to one connection or one exchange, never replayed from the cache.
fn is_per_exchange(name: &HeaderName) -> bool {
    crate::headers::is_hop_by_hop_name(name)
        || name == X_CACHE_STATUS
        || name == crate::request_id::OPC_REQUEST_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CachedResponse {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert("connection", HeaderValue::from_static("close"));
        headers.insert("opc-request-id", HeaderValue::from_static("R1"));
        CachedResponse::new(
            StatusCode::OK,
            &headers,
            Bytes::from_static(b"hello\0world"),
        )
    }

    #[test]
    fn per_exchange_headers_are_not_kept() {
        let entry = sample();
        assert!(entry.headers.get("connection").is_none());
        assert!(entry.headers.get("opc-request-id").is_none());
        assert_eq!(entry.headers.get_all("x-multi").iter().count(), 2);
    }

    #[test]
    fn encoding_round_trips() {
        let entry = sample();
        let decoded = CachedResponse::decode(Bytes::from(entry.encode())).expect("decodes");
        assert_eq!(decoded, entry);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = sample().encode();
        for cut in 0..good.len() {
            assert!(CachedResponse::decode(Bytes::copy_from_slice(&good[..cut])).is_err());
        }
        assert!(CachedResponse::decode(Bytes::from_static(b"hello")).is_err());
        let mut extra = good.clone();
        extra.push(0);
        assert!(CachedResponse::decode(Bytes::from(extra)).is_err());
    }

    #[test]
    fn a_corrupt_header_count_is_an_error_not_a_panic() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&200u16.to_be_bytes());
        bytes.extend_from_slice(&u16::MAX.to_be_bytes());
        assert!(CachedResponse::decode(Bytes::from(bytes)).is_err());
    }
}
