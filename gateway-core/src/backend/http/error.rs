//! What can go wrong between the gateway and an HTTP backend.
//!
//! The client only ever sees the status (502 or 504, or 413/408 when its own body was at fault)
//! with OCI's generic body; the reason, with the underlying error chain, goes to the execution
//! log under OCI's `httpBackend.*` codes.

use std::error::Error as StdError;

use http::StatusCode;

use crate::causes::chain;
use crate::error::Refusal;
use crate::request_limits::RequestBodyError;

/// A failed exchange with an HTTP backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpBackendError {
    /// The rendered URL is not a URL the client can call (a placeholder host left in the spec,
    /// or a context variable whose value cannot be part of a host).
    #[error("the backend URL is invalid: {0}")]
    UrlInvalid(String),

    /// A context variable's value would take the URL out of the configured path (`..`): the
    /// client's doing, answered with 400 and never sent.
    #[error("the backend URL would leave its path: {0}")]
    UnsafePathValue(String),

    /// No connection within `connectTimeoutInSeconds`.
    #[error("no connection to the backend within {0:?}")]
    ConnectTimeout(std::time::Duration),

    /// The connection could not be made: refused, unknown host, TLS handshake failure.
    #[error("cannot connect to the backend: {0}")]
    Connect(String),

    /// The request was not written within `sendTimeoutInSeconds` of the last progress.
    #[error("the request could not be sent to the backend within {0:?}")]
    SendTimeout(std::time::Duration),

    /// No response (head, or next body chunk) within `readTimeoutInSeconds`.
    #[error("the backend did not answer within {0:?}")]
    ReadTimeout(std::time::Duration),

    /// The backend broke the exchange: closed the connection, sent an invalid response.
    #[error("the backend request failed: {0}")]
    Request(String),

    /// The client's request body could not be forwarded: too large, or the client stalled.
    /// The client's fault, answered as such (413, 408).
    #[error(transparent)]
    ClientBody(#[from] RequestBodyError),
}

/// 504 for timeouts, 502 for everything else the backend did or failed to do, 4xx for what
/// the client did.
impl Refusal for HttpBackendError {
    fn status(&self) -> StatusCode {
        match self {
            Self::ConnectTimeout(_) | Self::SendTimeout(_) | Self::ReadTimeout(_) => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Self::UrlInvalid(_) | Self::Connect(_) | Self::Request(_) => StatusCode::BAD_GATEWAY,
            Self::UnsafePathValue(_) => StatusCode::BAD_REQUEST,
            Self::ClientBody(e) => e.status(),
        }
    }

    fn log_code(&self) -> &'static str {
        match self {
            Self::UrlInvalid(_) | Self::UnsafePathValue(_) => "httpBackend.urlInvalid",
            Self::ClientBody(e) => e.log_code(),
            _ => "httpBackend.requestError",
        }
    }

    fn client_detail(&self) -> Option<String> {
        match self {
            Self::ClientBody(e) => e.client_detail(),
            _ => None,
        }
    }

    fn client_left(&self) -> bool {
        matches!(self, Self::ClientBody(e) if e.client_left())
    }
}

impl HttpBackendError {
    /// Classifies a failure to connect. An I/O timeout is the connector's own backstop
    /// timeout firing.
    pub(crate) fn from_connect(error: &(dyn StdError + 'static)) -> Self {
        if has_io_kind(error, std::io::ErrorKind::TimedOut) {
            return Self::ConnectTimeout(super::client::CONNECT_BACKSTOP);
        }
        Self::Connect(chain(error))
    }

    /// Classifies a failed exchange: the client's own body, or the backend.
    pub(crate) fn from_send(error: &hyper::Error) -> Self {
        match RequestBodyError::find(error) {
            Some(client) => Self::ClientBody(client),
            None => Self::Request(chain(error)),
        }
    }
}

fn has_io_kind(error: &(dyn StdError + 'static), kind: std::io::ErrorKind) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
        {
            return true;
        }
        source = e.source();
    }
    false
}
