//! Finding out whether a body is empty without buffering it.
//!
//! Most requests say so up front (`Content-Length`, a body that knows its size, an HTTP/2
//! stream ended with the headers); a chunked upload does not. For those the validation waits
//! for the first non-empty data frame, then hands the backend a body that replays that one
//! frame and streams the rest: at most one frame is held, never the whole body.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};

use crate::body::{Body, BoxError};

/// What the request's head and the body's size hint say about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Presence {
    Empty,
    NonEmpty,
    Unknown,
}

/// Decides emptiness from what is known without reading.
pub(super) fn presence(headers: &HeaderMap, body: &Body) -> Presence {
    if body.is_end_stream() {
        return Presence::Empty;
    }
    let hint = body.size_hint();
    if hint.exact() == Some(0) {
        return Presence::Empty;
    }
    if hint.lower() > 0 {
        return Presence::NonEmpty;
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(0) => Presence::Empty,
        Some(_) => Presence::NonEmpty,
        None => Presence::Unknown,
    }
}

/// Reads a body up to its first non-empty data frame (or its end).
#[derive(Debug, Default)]
pub(super) struct Peek {
    body: Body,
    /// Trailers seen before the end of an otherwise empty body, replayed after the peek.
    trailers: Option<Frame<Bytes>>,
}

impl Peek {
    pub(super) fn new(body: Body) -> Peek {
        Peek {
            body,
            trailers: None,
        }
    }

    /// Ready with whether the body has data, and the body to forward (which replays what
    /// was read); or with the error that ended the body.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(bool, Body), BoxError>> {
        loop {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    let rest = std::mem::take(&mut self.body);
                    return Poll::Ready(Ok((false, replay(self.trailers.take(), rest))));
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                Some(Ok(frame)) => match frame.data_ref() {
                    Some(data) if data.is_empty() => {}
                    Some(_) => {
                        let rest = std::mem::take(&mut self.body);
                        return Poll::Ready(Ok((true, replay(Some(frame), rest))));
                    }
                    None => self.trailers = Some(frame),
                },
            }
        }
    }
}

fn replay(first: Option<Frame<Bytes>>, rest: Body) -> Body {
    match first {
        Some(first) => Body::new(Replay {
            first: Some(first),
            rest,
        }),
        None => rest,
    }
}

/// A body that yields one frame already read, then the rest of the original body.
#[derive(Debug)]
struct Replay {
    first: Option<Frame<Bytes>>,
    rest: Body,
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match this.first.take() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => Pin::new(&mut this.rest).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let held = (self.first.as_ref())
            .and_then(Frame::data_ref)
            .map_or(0, |d| d.remaining() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        // Upper first: `set_lower` requires lower <= upper.
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(held));
        }
        hint.set_lower(rest.lower().saturating_add(held));
        hint
    }
}
