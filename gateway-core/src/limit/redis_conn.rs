//! One Redis connection shared by the limit and cache stores, with the behaviour both need
//! during an outage: answer *fast*.
//!
//! `redis::aio::ConnectionManager` multiplexes every request over one connection and reconnects
//! after I/O errors, but a request issued while the server is down waits for the reconnection
//! attempt. A gateway cannot let each request wait for that, so every operation here has a
//! deadline, and after a failure a small circuit breaker answers [`StoreError::Unavailable`]
//! immediately for `retry_interval`, then lets one request probe the server while the others
//! keep failing fast. Failures are counted ([`RedisConnection::failures`]) and logged once per
//! breaker opening rather than once per request.
//!
//! A connection starts connecting as soon as it is opened, so that a gateway that has just
//! started does not make its first requests wait for the handshake; and until the server has
//! answered once, an operation's deadline also covers the connect timeout, so that a replica
//! coming up on a busy machine does not refuse (or let through, failing open) its first
//! requests because the connection was still being made.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::store::StoreError;

/// How to reach the server and how long to wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// Deadline for one operation, connection wait included.
    pub op_timeout: Duration,
    /// How long to fail fast after a failure before probing the server again.
    pub retry_interval: Duration,
}

impl Default for RedisOptions {
    /// OCI's defaults for the response-cache server (1000 ms) and a one-second breaker.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(1000),
            op_timeout: Duration::from_millis(1000),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// A shared, lazily connected Redis connection. Cheap to clone.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Arc<Inner>,
}

struct Inner {
    manager: ConnectionManager,
    options: RedisOptions,
    /// Where the server is, without credentials, for logs.
    target: String,
    origin: Instant,
    /// Monotonic microseconds (since `origin`) until which requests fail fast; 0 when closed.
    open_until: AtomicU64,
    failures: AtomicU64,
    /// Whether the server has answered at least once.
    answered: AtomicBool,
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("target", &self.inner.target)
            .field("options", &self.inner.options)
            .field("failures", &self.failures())
            .finish()
    }
}

/// A Redis connection that cannot be prepared: a bad URL, or no Tokio runtime to run it on.
#[derive(Debug, thiserror::Error)]
#[error("cannot use Redis at {url:?}: {reason}")]
pub struct RedisOpenError {
    pub url: String,
    pub reason: String,
}

impl RedisConnection {
    /// Prepares a connection to `url` (`redis://host:port[/db]`, `rediss://` is not built in)
    /// without connecting: the gateway starts while Redis is down and connects on first use.
    ///
    /// Must be called inside a Tokio runtime.
    pub fn open(url: &str, options: RedisOptions) -> Result<Self, RedisOpenError> {
        let bad = |e: redis::RedisError| RedisOpenError {
            url: redact(url),
            reason: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(bad)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisOpenError {
                url: redact(url),
                reason: "it must be opened inside a Tokio runtime".into(),
            });
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.op_timeout))
            // One attempt per reconnection: the breaker, not the manager, paces retries.
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(bad)?;
        let conn = Self {
            inner: Arc::new(Inner {
                manager,
                options,
                target: redact(url),
                origin: Instant::now(),
                open_until: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                answered: AtomicBool::new(false),
            }),
        };
        tokio::spawn(conn.run("connect", |mut m| async move {
            redis::cmd("PING").query_async::<()>(&mut m).await
        }));
        Ok(conn)
    }

    /// Operations that failed (errors, timeouts and fast failures while the breaker is open):
    /// for the metrics.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// Whether requests currently fail fast.
    pub fn is_unavailable(&self) -> bool {
        self.inner.open_until.load(Ordering::Acquire) != 0
    }

    /// The server, without credentials.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Runs one operation with the deadline and the breaker. `what` names it in logs.
    pub(crate) fn run<T, F, Fut>(
        &self,
        what: &'static str,
        op: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        let admitted = inner.admit();
        let op = admitted.then(|| op(inner.manager.clone()));
        async move {
            let Some(op) = op else {
                inner.failures.fetch_add(1, Ordering::Relaxed);
                return Err(StoreError::Unavailable(format!(
                    "{} failed recently; retrying after {:?}",
                    inner.target, inner.options.retry_interval
                )));
            };
            let deadline = if inner.answered.load(Ordering::Acquire) {
                inner.options.op_timeout
            } else {
                inner.options.connect_timeout + inner.options.op_timeout
            };
            let result = match tokio::time::timeout(deadline, op).await {
                Ok(Ok(value)) => Ok(value),
                // Any error counts, a server-side one (LOADING, BUSY, a script error) included:
                // the configured fail mode is the safe answer to all of them.
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {deadline:?}")),
            };
            match result {
                Ok(value) => {
                    inner.answered.store(true, Ordering::Release);
                    inner.close();
                    Ok(value)
                }
                Err(reason) => {
                    inner.trip(what, &reason);
                    Err(StoreError::Unavailable(reason))
                }
            }
        }
    }
}

impl Inner {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether this operation may go to the server. While the breaker is open only the first
    /// caller after `open_until` passes (it moves `open_until` on), as the probe.
    fn admit(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now();
        if now < until {
            return false;
        }
        let next = now + micros(self.options.retry_interval);
        self.open_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn close(&self) {
        if self.open_until.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!(target = self.target.as_str(), "Redis reachable again");
        }
    }

    fn trip(&self, what: &'static str, reason: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let next = self.now().max(1) + micros(self.options.retry_interval);
        if self.open_until.swap(next, Ordering::AcqRel) == 0 {
            tracing::warn!(
                target = self.target.as_str(),
                operation = what,
                reason,
                retry_in = ?self.options.retry_interval,
                "Redis unavailable; failing fast until the next probe"
            );
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_logged_without_credentials() {
        assert_eq!(redact("redis://:pw@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://127.0.0.1:1"), "redis://127.0.0.1:1");
    }

    #[tokio::test]
    async fn a_bad_url_is_refused() {
        let err = RedisConnection::open("http://x", RedisOptions::default());
        assert!(err.is_err());
    }

    #[test]
    fn opening_outside_a_runtime_is_an_error_not_a_panic() {
        let err = RedisConnection::open("redis://127.0.0.1:1", RedisOptions::default())
            .expect_err("no runtime");
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_fast_after_the_first_failure() {
        // Port 1 on loopback: nothing listens there.
        let conn = RedisConnection::open(
            "redis://127.0.0.1:1",
            RedisOptions {
                retry_interval: Duration::from_secs(60),
                ..RedisOptions::default()
            },
        )
        .expect("url");
        let ping = |c: &RedisConnection| {
            c.run("ping", |mut m| async move {
                redis::cmd("PING").query_async::<String>(&mut m).await
            })
        };
        assert!(matches!(ping(&conn).await, Err(StoreError::Unavailable(_))));
        assert!(conn.is_unavailable());
        let started = Instant::now();
        assert!(matches!(ping(&conn).await, Err(StoreError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_millis(50));
        // Both pings count (and the connection attempt made at open, once it has failed).
        assert!(conn.failures() >= 2, "{}", conn.failures());
    }
}
