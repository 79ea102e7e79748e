//! One Redis connection shared by the limit, cache and authorizer stores, with the behaviour
//! they need during an outage: answer *fast*.
//!
//! The clients underneath (`super::client`) multiplex every request over shared connections
//! and reconnect after errors, but a request issued while a server is down waits for the
//! reconnection attempt. A gateway cannot let each request wait for that, so every operation here has a
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

use super::client::{Client, Conn};
use super::target::RedisTarget;
use crate::store::{RedisOpenError, StoreError};

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

impl RedisOptions {
    /// `timeout` for each operation and for connecting (at least 100 ms to connect): for the
    /// stores every request waits for (limits, authorizer results).
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            op_timeout: timeout,
            connect_timeout: timeout.max(Duration::from_millis(100)),
            ..Self::default()
        }
    }
}

/// A shared, lazily connected Redis connection (one server, a cluster or a Sentinel-watched
/// primary). Cheap to clone.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
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

impl RedisConnection {
    /// Prepares a connection to one server at `url` (`redis://[user:password@]host:port[/db]`
    /// or `rediss://`), without connecting: see [`open_target`](Self::open_target).
    pub fn open(url: &str, options: RedisOptions) -> Result<Self, RedisOpenError> {
        Self::open_target(&RedisTarget::single(url)?, options)
    }

    /// Prepares a connection to `target` without waiting for it: the gateway starts while
    /// Redis is down. A first connection attempt starts at once in the background.
    ///
    /// Must be called inside a Tokio runtime.
    pub fn open_target(
        target: &RedisTarget,
        options: RedisOptions,
    ) -> Result<Self, RedisOpenError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisOpenError {
                url: target.describe().to_owned(),
                reason: "it must be opened inside a Tokio runtime".into(),
            });
        }
        let client = Client::open(target, &options).map_err(|e| RedisOpenError {
            url: target.describe().to_owned(),
            reason: e.to_string(),
        })?;
        let conn = Self {
            inner: Arc::new(Inner {
                client,
                options,
                target: target.describe().to_owned(),
                origin: Instant::now(),
                open_until: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                answered: AtomicBool::new(false),
            }),
        };
        tokio::spawn(conn.run("connect", |mut c| async move {
            redis::cmd("PING").query_async::<()>(&mut c).await
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

    /// The value at `key` and the time it has left, or `None`: one round trip (`GET` and
    /// `PTTL` pipelined, one slot), under the deadline and the breaker. `what` names the
    /// operation in logs.
    pub fn get_with_ttl(
        &self,
        what: &'static str,
        key: String,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, Duration)>, StoreError>> + Send + 'static
    {
        self.run(what, move |mut conn| async move {
            let (value, pttl): (Option<Vec<u8>>, i64) = redis::pipe()
                .cmd("GET")
                .arg(&key)
                .cmd("PTTL")
                .arg(&key)
                .query_async(&mut conn)
                .await?;
            // A key without an expiry (-1) is not one of ours: a miss, like a vanished one.
            let left = u64::try_from(pttl).ok().filter(|ms| *ms > 0);
            Ok(value.zip(left.map(Duration::from_millis)))
        })
    }

    /// Stores `value` at `key` for `ttl` (`SET … PX`), under the deadline and the breaker.
    pub fn set_with_ttl(
        &self,
        what: &'static str,
        key: String,
        value: Vec<u8>,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(what, move |mut conn| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
        })
    }

    /// Runs one operation with the deadline and the breaker. `what` names it in logs.
    pub(crate) fn run<T, F, Fut>(
        &self,
        what: &'static str,
        op: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        let admitted = inner.admit();
        async move {
            if !admitted {
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
            let op = async {
                let conn = inner.client.connection().await?;
                op(conn).await
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
                    inner.client.failed();
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

#[cfg(test)]
mod tests {
    use super::*;

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
            c.run("ping", |mut conn| async move {
                redis::cmd("PING").query_async::<String>(&mut conn).await
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
