//! What the stores of shared state have in common: rate limits and usage plans
//! ([`crate::limit`]), the response cache ([`crate::cache`]) and the Redis connection
//! (`crate::redis`, with the `redis` feature) behind both. The Redis URLs of `gateway.toml` and
//! their errors are here, so that a configuration naming Redis is read (and refused) in a
//! gateway built without it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Deserialize;

use crate::future::BoxFuture;

/// A store's answer: already there (in-memory) or on its way (network).
#[must_use = "a store call does nothing unless awaited or inspected"]
pub enum StoreCall<T> {
    /// Decided synchronously; `None` once taken by polling.
    Ready(Option<T>),
    /// Waiting for a server.
    Pending(BoxFuture<'static, T>),
}

impl<T> StoreCall<T> {
    /// An answer already decided.
    pub fn ready(value: T) -> Self {
        StoreCall::Ready(Some(value))
    }
}

impl<T> fmt::Debug for StoreCall<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreCall::Ready(_) => f.write_str("StoreCall::Ready"),
            StoreCall::Pending(_) => f.write_str("StoreCall::Pending"),
        }
    }
}

// `T` is only ever moved out of the `Option`, never pinned in place.
impl<T> Unpin for StoreCall<T> {}

impl<T> Future for StoreCall<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            StoreCall::Ready(value) => match value.take() {
                Some(value) => Poll::Ready(value),
                None => Poll::Pending,
            },
            StoreCall::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// Why a store could not decide.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The server did not answer, or recently failed and is being left alone for a moment.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The server answered something this code does not understand.
    #[error("unexpected answer from the store: {0}")]
    Protocol(String),
}

/// `url`: one URL, or several (cluster seeds, or sentinels).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RedisUrls {
    /// One server (or one seed or sentinel).
    One(String),
    /// Several seeds or sentinels.
    Many(Vec<String>),
}

impl RedisUrls {
    /// The URLs in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            RedisUrls::One(url) => std::slice::from_ref(url),
            RedisUrls::Many(urls) => urls,
        }
    }
}

impl From<&str> for RedisUrls {
    fn from(url: &str) -> Self {
        RedisUrls::One(url.to_owned())
    }
}

/// A Redis configuration that cannot be used: a bad URL, a contradictory mode, no Tokio runtime
/// to run the connection on, or a gateway built without the `redis` feature.
#[derive(Debug, thiserror::Error)]
#[error("cannot use Redis at {url}: {reason}")]
pub struct RedisOpenError {
    /// The URLs, without credentials.
    pub url: String,
    /// Why.
    pub reason: String,
}
