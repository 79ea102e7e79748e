//! The response body on a cache miss: streamed to the client as it arrives, and copied aside
//! (by reference: `Bytes` chunks are shared, not copied) until it ends, when the copy is stored.
//!
//! A body that grows past the entry cap stops being copied at that moment and its chunks are
//! released, so a large response costs at most the cap in memory, and one whose
//! `Content-Length` is already over the cap is never teed at all (see the layer). A body that
//! fails or is dropped before its end (client gone) is not stored: a truncated response must
//! never be served from the cache.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http_body::{Body as _, Frame, SizeHint};

use super::entry::CachedResponse;
use super::key::CacheKey;
use super::store::ResponseCacheStore;
use crate::body::{Body, BoxError};
use crate::store::StoreCall;

/// Where and how a completed body is stored.
pub(crate) struct Tee {
    pub(crate) store: Arc<dyn ResponseCacheStore>,
    pub(crate) key: CacheKey,
    pub(crate) ttl: Duration,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) cap: usize,
    chunks: Vec<Bytes>,
    len: usize,
}

impl Tee {
    pub(crate) fn new(
        store: Arc<dyn ResponseCacheStore>,
        key: CacheKey,
        ttl: Duration,
        status: StatusCode,
        headers: HeaderMap,
        cap: usize,
    ) -> Self {
        Self {
            store,
            key,
            ttl,
            status,
            headers,
            cap,
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// Stores the body seen so far as the whole response. Network stores write in a task of
    /// their own: the client's response does not wait for the cache.
    pub(crate) fn finish(self) {
        let body = match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.into_iter().next().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(self.len);
                for chunk in &self.chunks {
                    all.extend_from_slice(chunk);
                }
                all.freeze()
            }
        };
        let entry = Arc::new(CachedResponse::new(self.status, &self.headers, body));
        match self.store.put(&self.key, entry, self.ttl) {
            StoreCall::Ready(Some(Err(error))) => log_store_failure(&error),
            StoreCall::Ready(_) => {}
            StoreCall::Pending(write) => match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        if let Err(error) = write.await {
                            log_store_failure(&error);
                        }
                    });
                }
                Err(_) => tracing::debug!("no Tokio runtime to store the response in"),
            },
        }
    }
}

fn log_store_failure(error: &dyn fmt::Display) {
    tracing::warn!(code = "responseCache.storeFailed", %error, "response not cached");
}

/// A response body that is copied aside until it ends; see the module docs.
pub(crate) struct TeeBody {
    inner: Body,
    tee: Option<Tee>,
}

impl fmt::Debug for TeeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeeBody")
            .field("teeing", &self.tee.is_some())
            .finish()
    }
}

impl TeeBody {
    /// Wraps `inner`. A body that is already complete (empty, e.g. a 204 or a HEAD) is stored
    /// right away, since a server may never poll it.
    pub(crate) fn new(inner: Body, tee: Tee) -> Self {
        if inner.is_end_stream() {
            tee.finish();
            return Self { inner, tee: None };
        }
        Self {
            inner,
            tee: Some(tee),
        }
    }
}

impl http_body::Body for TeeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(tee)) = (frame.data_ref(), this.tee.as_mut()) {
                    if tee.len + data.len() > tee.cap {
                        // Too big to store: stop copying and let the chunks go.
                        this.tee = None;
                    } else {
                        tee.len += data.len();
                        tee.chunks.push(data.clone());
                    }
                }
                // A server may stop polling once the body says it has ended.
                if this.inner.is_end_stream() {
                    if let Some(tee) = this.tee.take() {
                        tee.finish();
                    }
                }
            }
            Some(Err(_)) => this.tee = None,
            None => {
                if let Some(tee) = this.tee.take() {
                    tee.finish();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
