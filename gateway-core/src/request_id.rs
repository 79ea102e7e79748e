//! `opc-request-id`: every response carries one.
//!
//! OCI echoes the client's `opc-request-id` when it sends one and generates one otherwise; logs
//! and function calls carry the same id, so one request can be followed through every hop. The
//! gateway assigns it before anything else, so that even a 400 for a malformed path carries it;
//! [`RequestIdLayer`] does the same for any service.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use tower::{Layer, Service};

/// The header OCI uses for request ids.
pub static OPC_REQUEST_ID: HeaderName = HeaderName::from_static("opc-request-id");

/// Longest client-supplied id that is echoed; a longer one is replaced by a fresh id.
const MAX_CLIENT_ID_LEN: usize = 128;

/// The request's id, stored in the request extensions by [`RequestIdLayer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A fresh random id: 32 upper-case hex digits.
    pub fn generate() -> Self {
        let [high, low] = ID_RANDOMNESS
            .with_borrow_mut(|rng| [rng.next_u64(), rng.next_u64()])
            .map(hex_digits);
        let mut buf = [0u8; 32];
        buf[..16].copy_from_slice(&high);
        buf[16..].copy_from_slice(&low);
        // Shared from the start: the id is cloned into the request, its context and the
        // response, and a value copied from a slice allocates again on its first clone.
        Self(
            HeaderValue::from_maybe_shared(Bytes::from_owner(buf))
                .expect("hex digits are a valid header value"),
        )
    }

    /// The id of a request with these headers: the client's `opc-request-id` when it is safe
    /// to echo, else a fresh one.
    pub fn of(headers: &HeaderMap) -> Self {
        headers
            .get(&OPC_REQUEST_ID)
            .and_then(Self::from_client)
            .unwrap_or_else(Self::generate)
    }

    /// Sets the id as `opc-request-id` in `headers`, for whatever the request goes to next.
    pub fn set_on(&self, headers: &mut HeaderMap) {
        headers.insert(OPC_REQUEST_ID.clone(), self.0.clone());
    }

    /// The client's id when it is safe to echo (visible ASCII, bounded length), else `None`.
    pub fn from_client(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let acceptable = !bytes.is_empty()
            && bytes.len() <= MAX_CLIENT_ID_LEN
            && bytes.iter().all(|b| b.is_ascii_graphic());
        acceptable.then(|| Self(value.clone()))
    }

    /// The id as text, for logs and function calls.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever stored.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as an `opc-request-id` header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

thread_local! {
    /// Where each thread's request ids come from: a small fast generator seeded from the
    /// operating system's randomness. An id must not repeat; it need not be secret, since a
    /// client may name its own.
    static ID_RANDOMNESS: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// `n` as 16 upper-case hex digits, most significant first.
///
/// Every request without an id of its own needs 32 of them: spreading the nibbles into bytes
/// and mapping them to digits a whole word at a time costs a few dozen instructions, where a
/// table lookup per digit cost about 200.
fn hex_digits(n: u64) -> [u8; 16] {
    const LOW_BYTES: u128 = 0x00FF_00FF_00FF_00FF_00FF_00FF_00FF_00FF;
    const NIBBLES: u128 = 0x0F0F_0F0F_0F0F_0F0F_0F0F_0F0F_0F0F_0F0F;
    const ONES: u128 = 0x0101_0101_0101_0101_0101_0101_0101_0101;
    // Each nibble of `n` into a byte of its own, the most significant in the highest byte.
    let mut x = u128::from(n);
    x = (x | x << 32) & 0x0000_0000_FFFF_FFFF_0000_0000_FFFF_FFFF;
    x = (x | x << 16) & 0x0000_FFFF_0000_FFFF_0000_FFFF_0000_FFFF;
    x = (x | x << 8) & LOW_BYTES;
    x = (x | x << 4) & NIBBLES;
    // 0..=9 to '0'..='9', 10..=15 to 'A'..='F': bytes over 9 carry into bit 4 when 6 is added.
    let letters = ((x + 6 * ONES) >> 4) & ONES;
    (x + b'0' as u128 * ONES + letters * 7).to_be_bytes()
}

/// Layer that applies [`SetRequestId`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = SetRequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId { inner }
    }
}

/// Takes the client's `opc-request-id` or makes one, stores it as a [`RequestId`] extension and
/// sets it on the response.
#[derive(Debug, Clone)]
pub struct SetRequestId<S> {
    inner: S,
}

impl<S> SetRequestId<S> {
    /// The service inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for SetRequestId<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = RequestId::of(req.headers());
        id.set_on(req.headers_mut());
        let value = id.header_value().clone();
        req.extensions_mut().insert(id);
        ResponseFuture::new(self.inner.call(req), value)
    }
}

pin_project! {
    /// Response future of [`SetRequestId`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F> ResponseFuture<F> {
    /// `inner`'s response, with `id` set as its `opc-request-id`.
    pub(crate) fn new(inner: F, id: HeaderValue) -> Self {
        Self {
            inner,
            id: Some(id),
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            res.headers_mut().insert(OPC_REQUEST_ID.clone(), id);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    async fn echo_extension(req: Request<()>) -> Result<Response<String>, Infallible> {
        let seen = req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        Ok(Response::new(seen))
    }

    #[tokio::test]
    async fn echoes_a_client_id_and_exposes_it_to_the_inner_service() {
        let svc = RequestIdLayer.layer(service_fn(echo_extension));
        let req = Request::builder()
            .header("opc-request-id", "client-123")
            .body(())
            .expect("request");
        let res = svc.oneshot(req).await.expect("infallible");
        assert_eq!(res.headers()["opc-request-id"], "client-123");
        assert_eq!(res.body(), "client-123");
    }

    #[tokio::test]
    async fn generates_an_id_when_absent_or_unsafe() {
        for header in [None, Some("has space"), Some(&*"x".repeat(500))] {
            let mut req = Request::builder();
            if let Some(h) = header {
                req = req.header("opc-request-id", h);
            }
            let svc = RequestIdLayer.layer(service_fn(echo_extension));
            let res = svc
                .oneshot(req.body(()).expect("request"))
                .await
                .expect("infallible");
            let id = res.headers()["opc-request-id"]
                .to_str()
                .expect("ascii")
                .to_owned();
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(res.body(), &id);
        }
    }

    #[test]
    fn hex_digits_spell_the_number() {
        for n in [
            0,
            1,
            0xA,
            0xF,
            0x0123_4567_89AB_CDEF,
            u64::MAX,
            0xFEDC_BA98_7654_3210,
        ] {
            assert_eq!(hex_digits(n), *format!("{n:016X}").as_bytes(), "{n:#x}");
        }
        let mut n = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..1000 {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            assert_eq!(hex_digits(n), *format!("{n:016X}").as_bytes(), "{n:#x}");
        }
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(RequestId::generate(), RequestId::generate());
    }
}
