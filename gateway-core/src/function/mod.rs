//! Functions: the contract between the gateway and whatever runs a function.
//!
//! A route with an `ORACLE_FUNCTIONS_BACKEND` (and, later, an authorizer) names a function by
//! its `functionId`. The [`FunctionRegistry`] maps that id to a [`FunctionInvoker`]: a local
//! FDK process pool, OCI's signed invoke endpoint, an Fn server, or a Rust service in the same
//! process. The gateway speaks to all of them in the terms of the Fn "http-stream" contract:
//! the client's method, URL and headers ride along with the body, and the function answers
//! with the status, headers and body the client should see.

mod metrics;

pub use metrics::FunctionMetrics;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::body::Body;
use crate::error::Refusal;
use crate::future::BoxFuture;
use crate::request_limits::{buffer, BodyBudget, RequestBodyError, Reservation};

/// Why a function is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// An HTTP request through a route (`Fn-Intent: httprequest`): the function sees the
    /// client's method, URL and headers.
    HttpRequest,
    /// A direct invocation (`gateway invoke`, authorizer functions): the body is the whole input.
    Invoke,
}

/// One call of a function.
#[derive(Debug)]
pub struct FunctionCall {
    /// The function's id, as registered in the [`FunctionRegistry`].
    pub function_id: Arc<str>,
    /// Correlates the call with the request (`Fn-Call-Id`, log lines).
    pub call_id: String,
    /// When the gateway stops waiting; the invoker enforces it.
    pub deadline: Instant,
    /// Why the function is called, which decides how the call and its answer are encoded.
    pub intent: Intent,
    /// The client's method (for [`Intent::HttpRequest`]).
    pub method: Method,
    /// The client's path, deployment prefix included, with its query (`Fn-Http-Request-Url`).
    pub request_url: String,
    /// The client's headers, hop-by-hop headers removed (`Fn-Http-H-*`).
    pub headers: HeaderMap,
    /// The request body.
    pub body: CallBody,
}

impl FunctionCall {
    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// The body of a function call: bytes in hand, or the client's body, read only as the invoker
/// consumes it.
///
/// A local function process takes the client's body as it arrives ([`CallBody::into_stream`]:
/// the http-stream contract is plain HTTP/1.1, nothing needs the body whole), so a call that
/// waits for a process holds none of it. An invoker that needs it whole ([`CallBody::buffer`]: a
/// signed OCI invoke hashes it, an in-process function takes bytes) holds it against the
/// gateway's [`BodyBudget`].
#[derive(Debug)]
pub struct CallBody(Repr);

#[derive(Debug)]
enum Repr {
    Bytes(Bytes),
    Client {
        body: Body,
        /// The route's body limit (413 past it).
        limit: u64,
        budget: BodyBudget,
    },
}

impl CallBody {
    /// The client's body, refused past `limit` bytes, held against `budget` if buffered.
    pub fn client(body: Body, limit: u64, budget: BodyBudget) -> Self {
        Self(Repr::Client {
            body,
            limit,
            budget,
        })
    }

    /// The length, when known before reading: bytes in hand, or a declared `Content-Length`.
    pub fn exact_len(&self) -> Option<u64> {
        match &self.0 {
            Repr::Bytes(bytes) => Some(bytes.len() as u64),
            Repr::Client { body, .. } => body.size_hint().exact(),
        }
    }

    /// The body as it arrives. When the client's body fails (past the limit, stalled, cut
    /// off), the stream fails with a [`RequestBodyError`] that [`RequestBodyError::find`] finds
    /// in whatever error the invoker's transport wraps it in.
    pub fn into_stream(self) -> Body {
        match self.0 {
            Repr::Bytes(bytes) => Body::full(bytes),
            Repr::Client { body, limit, .. } => {
                let bound = usize::try_from(limit).unwrap_or(usize::MAX);
                Body::new(Limited::new(body, bound).map_err(move |e| {
                    if e.is::<LengthLimitError>() {
                        RequestBodyError::TooLarge { limit }
                    } else {
                        RequestBodyError::classify(&*e)
                    }
                }))
            }
        }
    }

    /// The whole body, read into memory if it is not already, with the reservation that counts
    /// it against the budget: keep that as long as the bytes are held. Afterwards the call
    /// holds the bytes too (so [`CallBody::exact_len`] knows the length).
    pub async fn buffer(&mut self) -> Result<(Bytes, Reservation), InvokeError> {
        let taken = std::mem::take(self);
        let (bytes, reservation) = match taken.0 {
            Repr::Bytes(bytes) => (bytes, Reservation::default()),
            Repr::Client {
                body,
                limit,
                budget,
            } => buffer(body, limit, &budget).await?,
        };
        *self = Self(Repr::Bytes(bytes.clone()));
        Ok((bytes, reservation))
    }
}

impl Default for CallBody {
    fn default() -> Self {
        Self(Repr::Bytes(Bytes::new()))
    }
}

impl From<Bytes> for CallBody {
    fn from(bytes: Bytes) -> Self {
        Self(Repr::Bytes(bytes))
    }
}

impl From<&'static str> for CallBody {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<String> for CallBody {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

/// What the function answered, as the client should see it.
#[derive(Debug, Clone)]
pub struct FunctionResponse {
    /// The status the client gets.
    pub status: StatusCode,
    /// The headers the client gets.
    pub headers: HeaderMap,
    /// The whole response body.
    pub body: Bytes,
}

/// Why a call did not produce a response. Messages are for logs; clients only ever see the
/// status.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The deadline passed before the function answered.
    #[error("function {function} did not answer within {timeout:?}")]
    Timeout {
        /// The function, as named in messages.
        function: Arc<str>,
        /// How long the gateway waited.
        timeout: Duration,
    },
    /// Every instance is busy and the wait queue is full.
    #[error("function {function} is at its concurrency limit and its queue is full")]
    Busy {
        /// The function, as named in messages.
        function: Arc<str>,
    },
    /// The function could not be started or prepared.
    #[error("function {function} cannot start: {reason}")]
    Unavailable {
        /// The function, as named in messages.
        function: Arc<str>,
        /// What went wrong, for the log.
        reason: String,
    },
    /// The function failed: it crashed, or reported an error.
    #[error("function {function} failed: {reason}")]
    Failed {
        /// The function, as named in messages.
        function: Arc<str>,
        /// What went wrong, for the log.
        reason: String,
    },
    /// The function answered outside the protocol.
    #[error("function {function} answered outside the protocol: {reason}")]
    BadResponse {
        /// The function, as named in messages.
        function: Arc<str>,
        /// What went wrong, for the log.
        reason: String,
    },
    /// The gateway may not invoke the function, or it does not exist where it should.
    #[error("function {function} cannot be invoked: {reason}")]
    NotInvocable {
        /// The function, as named in messages.
        function: Arc<str>,
        /// What went wrong, for the log.
        reason: String,
    },
    /// The client's body failed while the call read it (too large, too slow, cut off), or
    /// did not fit in the budget for bodies held whole. Answered for the body, not the function.
    #[error(transparent)]
    RequestBody(#[from] RequestBodyError),
}

impl Refusal for InvokeError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable { .. } | Self::Failed { .. } | Self::BadResponse { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Self::NotInvocable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RequestBody(e) => e.status(),
        }
    }

    fn log_code(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "functionBackend.timeout",
            Self::Busy { .. } => "functionBackend.serviceUnavailable",
            Self::Unavailable { .. } | Self::Failed { .. } => "functionBackend.badGateway",
            Self::BadResponse { .. } => "functionBackend.badResponse",
            Self::NotInvocable { .. } => "functionBackend.notFoundOrNotAuthorized",
            Self::RequestBody(e) => e.log_code(),
        }
    }

    fn client_detail(&self) -> Option<String> {
        match self {
            Self::RequestBody(e) => e.client_detail(),
            _ => None,
        }
    }

    fn client_left(&self) -> bool {
        matches!(self, Self::RequestBody(e) if e.client_left())
    }
}

/// Runs functions. Implementations: local FDK processes, OCI Functions, an Fn server, an
/// in-process Rust service.
pub trait FunctionInvoker: Send + Sync + fmt::Debug + 'static {
    /// Runs one call and returns the function's answer, or why there is none. The invoker
    /// gives up at `call.deadline`.
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>>;

    /// Gets ready before the first call (warm processes, open connections), so that a broken
    /// function is reported when the gateway starts rather than on a client's request.
    fn start(&self) -> BoxFuture<'static, Result<(), InvokeError>> {
        Box::pin(async { Ok(()) })
    }

    /// Stops whatever the invoker runs (processes, connections); called on shutdown and when a
    /// reload drops the function.
    fn shutdown(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// The invoker's processes and queue, for metrics; `None` for invokers that run none.
    fn runtime_stats(&self) -> Option<RuntimeStats> {
        None
    }
}

/// What a function runtime that manages processes reports about them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RuntimeStats {
    /// Processes waiting for a call.
    pub idle: usize,
    /// Processes serving a call.
    pub busy: usize,
    /// Processes being started.
    pub starting: usize,
    /// Calls waiting for a process.
    pub queued: usize,
    /// Processes started since the runtime began.
    pub cold_starts: u64,
    /// Total time those starts took, until each process listened.
    pub cold_start_seconds: f64,
}

/// A function known to the gateway.
#[derive(Debug, Clone)]
pub struct RegisteredFunction {
    /// The id specifications name in `functionId`.
    pub id: Arc<str>,
    /// `application/function`, for messages.
    pub name: String,
    /// How long a call may take.
    pub timeout: Duration,
    /// What runs the function.
    pub invoker: Arc<dyn FunctionInvoker>,
    /// Why the gateway may not invoke the function (IAM policies deny it), if they do. A denied
    /// function is never called: clients get 500 with OCI's generic body, as in OCI, and the
    /// reason goes to the log.
    pub denied: Option<Arc<str>>,
}

impl RegisteredFunction {
    /// The function `id` (what specifications name in `functionId`), called `name` in
    /// messages, invoked through `invoker` with calls cut off after `timeout`.
    pub fn new(
        id: impl Into<Arc<str>>,
        name: impl Into<String>,
        timeout: Duration,
        invoker: Arc<dyn FunctionInvoker>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            timeout,
            invoker,
            denied: None,
        }
    }

    /// The function, never called because IAM policies deny it for `reason`.
    pub fn denied(mut self, reason: impl Into<Arc<str>>) -> Self {
        self.denied = Some(reason.into());
        self
    }
}

/// Function ids to invokers.
#[derive(Debug, Clone, Default)]
pub struct FunctionRegistry {
    functions: BTreeMap<Arc<str>, RegisteredFunction>,
}

impl FunctionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a function; a later registration of the same id replaces the earlier one.
    pub fn register(&mut self, function: RegisteredFunction) {
        self.functions.insert(function.id.clone(), function);
    }

    /// The function registered under `id`, if any.
    pub fn get(&self, id: &str) -> Option<&RegisteredFunction> {
        self.functions.get(id)
    }

    /// Every registered id, sorted, for "unknown functionId" messages.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(|k| &**k)
    }

    /// Every registered function, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredFunction> {
        self.functions.values()
    }

    /// Whether no function is registered.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}
