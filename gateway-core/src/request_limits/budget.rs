//! The gateway's budget for request bodies held whole in memory.
//!
//! Most request bodies stream through the gateway: a proxied request, a call of a local
//! function. Some must be held whole before they can go on: a signed OCI invoke hashes the body,
//! an in-process function takes bytes, an authorizer may read the body. Each of those is bounded
//! by its route's limit (6 MB for functions), but their sum is not: 400 uploads of 6 MB at once
//! are 2.4 GB. The budget bounds the sum. Whatever buffers a body reserves its bytes first — the
//! declared length up front, then each chunk as it arrives — and gives them back when the bytes
//! are dropped; a body that does not fit is refused with 503 rather than grow the process.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::RequestBodyError;
use crate::body::{Body, BoxError};
use crate::observe::encode::{counters, gauges, NO_LABELS};

/// The default of `max_buffered_body_bytes`: 128 MiB, room for 21 whole 6 MB function bodies
/// at once, or thousands of small ones.
pub const DEFAULT_MAX_BUFFERED_BODY_BYTES: u64 = 128 * 1024 * 1024;

/// The bytes of request bodies the gateway may hold at once, shared by every request. Cheap to
/// clone; clones share the counters.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    counters: Arc<Counters>,
    capacity: u64,
}

#[derive(Debug, Default)]
struct Counters {
    held: AtomicU64,
    refused: AtomicU64,
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BUFFERED_BODY_BYTES)
    }
}

impl BodyBudget {
    /// A budget of `capacity` bytes, with counters of its own.
    pub fn new(capacity: u64) -> Self {
        Self {
            counters: Arc::default(),
            capacity,
        }
    }

    /// The same counters with another capacity: what a reloaded configuration gets, so that
    /// what the one before still holds counts against it, and a refused one changes nothing.
    pub fn with_capacity(&self, capacity: u64) -> Self {
        Self {
            counters: self.counters.clone(),
            capacity,
        }
    }

    /// The most bytes that may be held at once (`max_buffered_body_bytes`).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.counters.held.load(Relaxed)
    }

    /// Requests refused so far because their body did not fit.
    pub fn refused(&self) -> u64 {
        self.counters.refused.load(Relaxed)
    }

    /// An empty reservation, grown as bytes arrive.
    fn reserve(&self) -> Reservation {
        Reservation {
            budget: Some(self.clone()),
            bytes: 0,
        }
    }

    /// Takes `bytes` more if they fit.
    fn take(&self, bytes: u64) -> bool {
        let capacity = self.capacity;
        self.counters
            .held
            .fetch_update(Relaxed, Relaxed, |held| {
                held.checked_add(bytes).filter(|&total| total <= capacity)
            })
            .is_ok()
    }

    /// Writes the budget's metrics: the bytes held now and the requests refused so far.
    pub(crate) fn encode_metrics(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        gauges(
            encoder,
            "gateway_buffered_body_bytes",
            "bytes of request bodies held whole in memory (signed invokes, in-process functions, authorizers reading the body)",
            [(NO_LABELS, self.held())],
        )?;
        counters(
            encoder,
            "gateway_buffered_body_refused",
            "requests answered 503 because their body did not fit in max_buffered_body_bytes",
            [(NO_LABELS, self.refused())],
        )
    }
}

/// Bytes taken from a [`BodyBudget`], given back when dropped. Keep it as long as the bytes
/// it counts are held.
#[derive(Debug, Default)]
pub struct Reservation {
    /// `None` for bytes the budget does not count (a body the gateway made itself).
    budget: Option<BodyBudget>,
    bytes: u64,
}

impl Reservation {
    /// Grows the reservation to `total` bytes, or refuses (and counts the refusal) when the
    /// budget cannot give them.
    fn grow_to(&mut self, total: u64) -> Result<(), RequestBodyError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        let more = total.saturating_sub(self.bytes);
        if more == 0 {
            return Ok(());
        }
        if !budget.take(more) {
            budget.counters.refused.fetch_add(1, Relaxed);
            return Err(RequestBodyError::OverBudget {
                budget: budget.capacity(),
            });
        }
        self.bytes = total;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.counters.held.fetch_sub(self.bytes, Relaxed);
        }
    }
}

/// Reads the whole body, at most `limit` bytes, holding its bytes in `budget`: the length the
/// body declares is reserved before a byte is read (so a body that cannot fit is refused
/// unread), the rest as it arrives.
pub(crate) async fn buffer(
    mut body: Body,
    limit: u64,
    budget: &BodyBudget,
) -> Result<(Bytes, Reservation), RequestBodyError> {
    let mut reservation = budget.reserve();
    let declared = body.size_hint().lower().min(limit);
    reservation.grow_to(declared)?;
    let mut bytes = BytesMut::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RequestBodyError::classify(&*e))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: a function call has no place for them
        };
        let total = (bytes.len() + data.len()) as u64;
        if total > limit {
            return Err(RequestBodyError::TooLarge { limit });
        }
        reservation.grow_to(total)?;
        bytes.extend_from_slice(&data);
    }
    Ok((bytes.freeze(), reservation))
}

/// A body of bytes already read that keeps their [`Reservation`] until it is dropped, so that
/// they stay counted while the next stage holds them.
pub(crate) fn held_body(bytes: Bytes, reservation: Reservation) -> Body {
    Body::new(HeldBody {
        bytes: Some(bytes).filter(|b| !b.is_empty()),
        _reservation: reservation,
    })
}

#[derive(Debug)]
struct HeldBody {
    bytes: Option<Bytes>,
    _reservation: Reservation,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.bytes.take().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::encode::testing::{samples, scrape};

    fn chunked(chunks: &'static [&'static [u8]]) -> Body {
        Body::new(crate::testing::chunked_body(chunks))
    }

    #[tokio::test]
    async fn a_buffered_body_is_held_until_its_reservation_drops() {
        let budget = BodyBudget::new(10);
        let (bytes, reservation) = buffer(chunked(&[b"abc", b"de"]), 100, &budget)
            .await
            .expect("fits");
        assert_eq!(&bytes[..], b"abcde");
        assert_eq!(budget.held(), 5);
        let body = held_body(bytes, reservation);
        assert_eq!(budget.held(), 5, "the body keeps the bytes counted");
        let read = body.collect().await.expect("body").to_bytes();
        assert_eq!(&read[..], b"abcde");
        assert_eq!(budget.held(), 0);
        assert_eq!(budget.refused(), 0);
    }

    #[tokio::test]
    async fn a_declared_length_that_cannot_fit_is_refused_unread() {
        let budget = BodyBudget::new(4);
        let body = Body::full("hello");
        let error = buffer(body, 100, &budget).await.expect_err("over budget");
        assert_eq!(error, RequestBodyError::OverBudget { budget: 4 });
        assert_eq!((budget.held(), budget.refused()), (0, 1));
    }

    #[tokio::test]
    async fn a_chunked_body_is_refused_once_it_passes_what_is_left() {
        let budget = BodyBudget::new(6);
        let (_held, reservation) = buffer(Body::full("abcd"), 100, &budget)
            .await
            .expect("fits");
        let error = buffer(chunked(&[b"x", b"yz"]), 100, &budget)
            .await
            .expect_err("over budget");
        assert_eq!(error, RequestBodyError::OverBudget { budget: 6 });
        assert_eq!(budget.held(), 4, "the refused body gave its bytes back");
        let reloaded = budget.with_capacity(5);
        assert_eq!(
            buffer(Body::full("ab"), 100, &reloaded).await.err(),
            Some(RequestBodyError::OverBudget { budget: 5 }),
            "what the gateway before a reload holds counts"
        );
        assert_eq!(budget.refused(), 2);
        drop(reservation);
        assert_eq!(reloaded.held(), 0);
    }

    #[tokio::test]
    async fn the_route_limit_still_applies() {
        let budget = BodyBudget::new(100);
        let error = buffer(chunked(&[b"abc", b"def"]), 4, &budget)
            .await
            .expect_err("too large");
        assert_eq!(error, RequestBodyError::TooLarge { limit: 4 });
        assert_eq!(budget.held(), 0);
    }

    /// The budget scraped on its own.
    #[derive(Debug)]
    struct Scraped(BodyBudget);

    impl prometheus_client::collector::Collector for Scraped {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
            self.0.encode_metrics(&mut encoder)
        }
    }

    #[tokio::test]
    async fn metrics_show_what_is_held_and_refused() {
        let budget = BodyBudget::new(10);
        let held = buffer(chunked(&[b"abc"]), 100, &budget)
            .await
            .expect("fits");
        buffer(chunked(&[b"0123456789"]), 100, &budget)
            .await
            .expect_err("over the budget");
        let text = scrape(Scraped(budget.clone()));
        let before = samples(&text);
        assert_eq!(
            before.get("gateway_buffered_body_bytes"),
            Some(&3.0),
            "{text}"
        );
        assert_eq!(
            before.get("gateway_buffered_body_refused_total"),
            Some(&1.0),
            "{text}"
        );
        assert!(
            text.contains("# TYPE gateway_buffered_body_bytes gauge\n"),
            "{text}"
        );
        drop(held);
        let after = samples(&scrape(Scraped(budget)));
        assert_eq!(after.get("gateway_buffered_body_bytes"), Some(&0.0));
    }
}
