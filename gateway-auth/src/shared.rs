//! Authorizer results shared by replicas through Redis (`[authorizer_cache]`), so that a fleet
//! calls an authorizer function once per credential rather than once per replica.
//!
//! ```toml
//! [authorizer_cache]
//! url = "redis://127.0.0.1:6379"   # or a list, with cluster = true or sentinel = "name"
//! timeout_ms = 250                 # per Redis operation (default 250)
//! ```
//!
//! Each replica keeps its own in-memory cache ([`crate::cache`]) in front: a local miss asks
//! Redis, and only a miss there calls the function. What is stored is the function's own
//! answer (status and body), read again by whichever replica finds it, and it lives in Redis
//! exactly as long as the replica that called the function would have kept it; a replica that
//! finds it keeps it no longer than Redis has left. Failures (5xx, timeouts, invalid answers)
//! are never stored. When Redis is unreachable every replica still answers: it calls the
//! function itself.
//!
//! Keys are `<prefix>az:<hex SHA-256 of the function id and the credential digest>`: a
//! credential is never stored in the clear, and two authorizer functions never share a result.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use aws_lc_rs::digest::{Context, SHA256};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;

use gateway_core::redis::{RedisConnection, RedisOpenError, RedisOptions, RedisTarget, RedisUrls};

use crate::cache::CacheKey;

/// `[authorizer_cache]` in `gateway.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerCacheConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`); several with `cluster` or
    /// `sentinel`.
    pub url: RedisUrls,
    /// The URLs are seeds of a Redis Cluster.
    #[serde(default)]
    pub cluster: bool,
    /// The URLs are sentinels watching the primary of this service.
    pub sentinel: Option<String>,
    /// PEM CA certificates trusted for `rediss://`.
    pub ca_file: Option<PathBuf>,
    /// Deadline of one Redis operation, milliseconds; default 250.
    pub timeout_ms: Option<u64>,
    /// Prefix of the Redis keys; default `gw:`.
    pub key_prefix: Option<String>,
}

/// Default Redis deadline: a miss waits for it before calling the function.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

impl AuthorizerCacheConfig {
    /// Checks the section without connecting anywhere.
    pub fn validate(&self) -> Result<(), RedisOpenError> {
        self.target().map(drop)
    }

    fn target(&self) -> Result<RedisTarget, RedisOpenError> {
        RedisTarget::from_section(
            &self.url,
            self.cluster,
            self.sentinel.as_deref(),
            self.ca_file.as_deref(),
        )
    }

    /// Prepares the shared cache (a lazy connection). Must run inside a Tokio runtime.
    pub fn build(&self) -> Result<SharedResults, RedisOpenError> {
        let timeout = self
            .timeout_ms
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        let conn =
            RedisConnection::open_target(&self.target()?, RedisOptions::with_timeout(timeout))?;
        Ok(SharedResults::new(
            conn,
            self.key_prefix.as_deref().unwrap_or("gw:"),
        ))
    }
}

/// Authorizer answers in Redis, shared by every replica that uses the same Redis and prefix.
#[derive(Debug, Clone)]
pub struct SharedResults {
    conn: RedisConnection,
    prefix: Box<str>,
}

/// A function's answer as stored: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredAnswer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl SharedResults {
    /// Results in Redis through `conn`, under keys starting with `prefix`.
    pub fn new(conn: RedisConnection, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
        }
    }

    /// The connection, for its failure counter.
    pub fn connection(&self) -> &RedisConnection {
        &self.conn
    }

    fn key(&self, function_id: &str, credential: &CacheKey) -> String {
        let mut digest = Context::new(&SHA256);
        digest.update(function_id.as_bytes());
        digest.update(b"\0");
        digest.update(credential);
        let mut key = format!("{}az:", self.prefix);
        for byte in digest.finish().as_ref() {
            // Writing to a String cannot fail.
            let _ = write!(key, "{byte:02x}");
        }
        key
    }

    /// The stored answer and how long it has left; `None` on a miss, and when Redis cannot
    /// answer (the caller then asks the function).
    pub(crate) async fn get(
        &self,
        function_id: &str,
        credential: &CacheKey,
    ) -> Option<(StoredAnswer, Duration)> {
        let key = self.key(function_id, credential);
        let (value, left) = match self.conn.get_with_ttl("authorizer cache lookup", key).await {
            Ok(found) => found?,
            Err(e) => {
                tracing::debug!(error = %e, "authorizer cache lookup failed; calling the function");
                return None;
            }
        };
        match decode(&value) {
            Some(answer) => Some((answer, left)),
            None => {
                tracing::warn!(
                    code = "authorizerCache.invalidEntry",
                    "ignoring an authorizer cache entry that is not ours"
                );
                None
            }
        }
    }

    /// Stores `answer` for `ttl`. A failure is logged, never the request's problem.
    pub(crate) async fn put(
        &self,
        function_id: &str,
        credential: &CacheKey,
        answer: &StoredAnswer,
        ttl: Duration,
    ) {
        let key = self.key(function_id, credential);
        let result = self
            .conn
            .set_with_ttl("authorizer cache store", key, encode(answer), ttl)
            .await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "authorizer cache store failed");
        }
    }
}

/// Version byte, status (two bytes, big-endian), body.
const FORMAT: u8 = 1;

fn encode(answer: &StoredAnswer) -> Vec<u8> {
    let mut value = Vec::with_capacity(3 + answer.body.len());
    value.push(FORMAT);
    value.extend_from_slice(&answer.status.as_u16().to_be_bytes());
    value.extend_from_slice(&answer.body);
    value
}

fn decode(value: &[u8]) -> Option<StoredAnswer> {
    let [FORMAT, high, low, body @ ..] = value else {
        return None;
    };
    Some(StoredAnswer {
        status: StatusCode::from_u16(u16::from_be_bytes([*high, *low])).ok()?,
        body: Bytes::copy_from_slice(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_and_foreign_values_are_refused() {
        let answer = StoredAnswer {
            status: StatusCode::OK,
            body: Bytes::from_static(br#"{"active":true}"#),
        };
        assert_eq!(decode(&encode(&answer)), Some(answer));
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"\x02\x00\xc8{}"), None);
        assert_eq!(decode(b"\x01\x00\x01{}"), None, "status 1 is not a status");
    }

    #[tokio::test]
    async fn keys_hide_the_credential_and_separate_functions() {
        let conn =
            RedisConnection::open("redis://127.0.0.1:1", RedisOptions::default()).expect("url");
        let shared = SharedResults::new(conn, "gw:");
        let credential = crate::cache::cache_key(b"token\0secret-token");
        let a = shared.key("ocid1.fnfunc.a", &credential);
        let b = shared.key("ocid1.fnfunc.b", &credential);
        assert_ne!(a, b);
        assert!(
            a.starts_with("gw:az:") && a.len() == "gw:az:".len() + 64,
            "{a}"
        );
        assert!(!a.contains("secret"));
    }
}
