//! The one place where gateway-made failures become HTTP responses.
//!
//! Every response the gateway answers on its own (404, 400, 405, 501, …) comes from a
//! [`GatewayError`]: the status, OCI's JSON body `{"code": N, "message": "…"}`, and the
//! execution-log code OCI uses for the same event, so logs read the same as in the cloud.
//! Server-side failures never put internal detail in the body; client errors say what was
//! wrong with the request.

use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::backend::http::HttpBackendError;
use crate::body::Body;
use crate::function::InvokeError;
use crate::request_limits::RequestBodyError;
use crate::router::{MethodSet, PathError};

/// A failure the gateway answers itself.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No deployment prefix or no route template matches the path.
    #[error("no route matches the request path")]
    NotFound,

    /// A route matches the path but not the method, and the gateway is configured to say so
    /// with 405 rather than OCI's 404.
    #[error("the route does not accept this method")]
    MethodNotAllowed {
        /// The methods the route does accept, sent back in `Allow`.
        allowed: MethodSet,
    },

    /// The path is spelled in a way the gateway refuses (see `router::normalize_path`).
    #[error("unsafe request path: {0}")]
    BadPath(#[from] PathError),

    /// The request target is not a path (e.g. `*` or an authority form).
    #[error("the request target is not an absolute path")]
    BadTarget,

    /// More than one `Host` header: which one a backend believes is anybody's guess (RFC 9112
    /// §3.2 says 400).
    #[error("the request has more than one Host header")]
    DuplicateHost,

    /// The request body is larger than the route accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The route's body limit, in bytes.
        limit: u64,
    },

    /// The request line and headers together are larger than the gateway accepts.
    #[error("the request headers are larger than {limit} bytes")]
    HeadersTooLarge {
        /// The limit on the request line and headers together, in bytes.
        limit: usize,
    },

    /// The request head did not arrive in full within the head timeout: answered on the raw
    /// connection before HTTP serving gets a request (see [`GatewayError::to_http1_close`]).
    #[error("the request head was not received in time")]
    HeadTimeout,

    /// A connection limit is reached: the connection is answered and closed before it is
    /// served (see [`GatewayError::to_http1_close`]).
    #[error("too many connections")]
    TooManyConnections,

    /// The request has more header lines than the gateway accepts.
    #[error("the request has more than {limit} header lines")]
    TooManyHeaders {
        /// The most header lines a request may have.
        limit: usize,
    },

    /// The client stopped sending the request body for longer than the read timeout.
    #[error("the client sent no request body data for {0:?}")]
    ClientTimeout(Duration),

    /// The request body could not be read (the client went away or broke the framing).
    #[error("the request body could not be read: {0}")]
    BodyRead(RequestBodyError),

    /// Holding the request body whole would pass `max_buffered_body_bytes`, the budget all
    /// requests share: 503, as for any other capacity the gateway has run out of.
    #[error("the request body does not fit in the {budget} bytes of max_buffered_body_bytes")]
    BodyBudgetExhausted {
        /// The shared `max_buffered_body_bytes` budget, in bytes.
        budget: u64,
    },

    /// A function call failed; the reason is logged, the client sees only the status.
    #[error(transparent)]
    Function(InvokeError),

    /// An `ENFORCING` request validation failed (reference 4.8); `reason` says what was
    /// wrong in terms of the request ("missing required header X-Username").
    #[error("request validation failed: {reason}")]
    RequestValidation {
        /// What was wrong with the request; the client sees it in the body's `message`.
        reason: String,
    },

    /// A request transformation could not produce a valid request; answered rather than
    /// forwarding the request untransformed (a filter must never be skipped).
    #[error("a request transformation produced an invalid request")]
    TransformationFailed,

    /// An HTTP backend failed; the reason is logged, the client sees only 502 or 504.
    #[error(transparent)]
    HttpBackend(#[from] HttpBackendError),

    /// A dynamic routing backend has no branch for the request's value and no default.
    #[error("no routing backend matches the request")]
    NoRoutingBackend,

    /// A rate limit or a usage plan's rate or quota refused the request: 429 with
    /// `Retry-After`. `log_code` is `rateLimiting.requestDenied` or
    /// `usagePlans.requestRejected`.
    #[error("too many requests; retry after {retry_after:?}")]
    TooManyRequests {
        /// How long the client should wait before retrying, sent as `Retry-After`.
        retry_after: Duration,
        /// The execution-log code.
        log_code: &'static str,
    },

    /// The shared rate-limit store is unreachable and the gateway is configured to fail
    /// closed: 503.
    #[error("the rate-limit store is unavailable")]
    LimitStoreUnavailable {
        /// The execution-log code: `rateLimiting.storeUnavailable` or
        /// `usagePlans.storeUnavailable`.
        log_code: &'static str,
    },

    /// Usage plans: no client token, an unknown one, or one whose plans do not entitle this
    /// deployment (told apart by `log_code` only): 401.
    #[error("the usage-plan client token is missing, unknown or not entitled here")]
    UsagePlanUnauthorized {
        /// The execution-log code: `usagePlans.requestRejected` for a missing or unknown
        /// token, `usagePlans.eligibleNotEntitled` for one not entitled here.
        log_code: &'static str,
    },

    /// The route relies on a policy or backend that could not be built (reported as an error
    /// at load, so never served): refused per request rather than run without it.
    #[error("the route uses {feature}, which could not be built")]
    Unsupported {
        /// The policy or backend type that could not be built (e.g. `JWT_AUTHENTICATION`);
        /// logged, never shown to the client.
        feature: &'static str,
    },

    /// Credentials are missing or invalid (reference 5.4): 401 with `WWW-Authenticate`. The
    /// reason is for logs only.
    #[error("authentication failed: {reason}")]
    Unauthenticated {
        /// The `WWW-Authenticate` value to send, or `None` to send none.
        challenge: Option<HeaderValue>,
        /// Why the credentials were refused, for logs only.
        reason: String,
    },

    /// The `mutualTls` policy refused the client certificate, or its absence (reference 4.6):
    /// 401. `code` is the `mutualTls.*` execution-log code saying why.
    #[error("the client certificate was refused ({code})")]
    ClientCertificate {
        /// The `mutualTls.*` execution-log code.
        code: &'static str,
    },

    /// The authenticated caller has none of the route's `ANY_OF` scopes: OCI answers 404,
    /// not 403, so the route's existence is not revealed.
    #[error("the caller has none of the route's allowed scopes")]
    ScopeNotAllowed,

    /// The authorizer function failed, timed out or answered outside its contract: 502.
    #[error("the authorizer failed: {0}")]
    AuthorizerFailed(String),

    /// What authentication needs is unavailable (a JWKS that cannot be fetched): 500.
    #[error("authentication is unavailable: {0}")]
    AuthUnavailable(String),

    /// The identity provider failed a step of the OpenID Connect login (the code exchange
    /// answered with an error or junk): 502.
    #[error("the identity provider failed the login: {0}")]
    IdentityProvider(String),

    /// An `OAUTH2_LOGOUT_BACKEND` was asked to send the client to a `postLogoutUrl` its
    /// `allowedPostLogoutUris` do not list: 400, and the session is left as it was.
    #[error("postLogoutUrl is not one of the allowed post-logout URLs")]
    PostLogoutUrlNotAllowed,
}

impl From<RequestBodyError> for GatewayError {
    fn from(error: RequestBodyError) -> Self {
        match error {
            RequestBodyError::TooLarge { limit } => Self::PayloadTooLarge { limit },
            RequestBodyError::Timeout(after) => Self::ClientTimeout(after),
            RequestBodyError::OverBudget { budget } => Self::BodyBudgetExhausted { budget },
            RequestBodyError::Malformed | RequestBodyError::ClientGone => Self::BodyRead(error),
        }
    }
}

impl From<InvokeError> for GatewayError {
    /// A call that failed because the client's body did (a function reads it as it arrives)
    /// is answered for the body, exactly as if the gateway had read it first.
    fn from(error: InvokeError) -> Self {
        match error {
            InvokeError::RequestBody(body) => body.into(),
            other => Self::Function(other),
        }
    }
}

impl GatewayError {
    /// The HTTP status the client is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadPath(_) | Self::BadTarget | Self::DuplicateHost => StatusCode::BAD_REQUEST,
            Self::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::LimitStoreUnavailable { .. } | Self::BodyBudgetExhausted { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UsagePlanUnauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge { .. } | Self::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::ClientTimeout(_) | Self::HeadTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::RequestValidation { .. } => StatusCode::BAD_REQUEST,
            Self::TransformationFailed => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Function(e) => e.status(),
            Self::HttpBackend(e) => e.status(),
            Self::NoRoutingBackend => StatusCode::NOT_FOUND,
            Self::Unauthenticated { .. } | Self::ClientCertificate { .. } => {
                StatusCode::UNAUTHORIZED
            }
            Self::ScopeNotAllowed => StatusCode::NOT_FOUND,
            Self::AuthorizerFailed(_) | Self::IdentityProvider(_) => StatusCode::BAD_GATEWAY,
            Self::AuthUnavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::PostLogoutUrlNotAllowed => StatusCode::BAD_REQUEST,
        }
    }

    /// OCI's execution-log code for this event.
    pub fn log_code(&self) -> &'static str {
        match self {
            Self::NotFound | Self::MethodNotAllowed { .. } => "request.routeNotFound",
            Self::BadPath(_) | Self::BadTarget | Self::DuplicateHost => "request.badRequest",
            Self::Unsupported { .. } => "request.internalServiceError",
            Self::TooManyRequests { log_code, .. }
            | Self::LimitStoreUnavailable { log_code }
            | Self::UsagePlanUnauthorized { log_code } => log_code,
            Self::ClientCertificate { code } => code,
            Self::PayloadTooLarge { .. } => "request.bodyTooLarge",
            Self::HeadersTooLarge { .. } | Self::TooManyHeaders { .. } => "request.headersTooLarge",
            Self::ClientTimeout(_) | Self::HeadTimeout => "request.clientTimeout",
            Self::TooManyConnections => "request.serviceUnavailable",
            Self::BodyRead(RequestBodyError::ClientGone) => "request.clientEof",
            Self::BodyRead(_) => "request.badRequest",
            Self::BodyBudgetExhausted { .. } => "request.serviceUnavailable",
            Self::RequestValidation { .. } => "requestValidation.validationError",
            Self::TransformationFailed => "queryParameterTransformation.badParameterValue",
            Self::Function(e) => e.log_code(),
            Self::HttpBackend(e) => e.log_code(),
            Self::NoRoutingBackend => "dynamicRouting.backendRejected",
            Self::Unauthenticated { .. } => "authentication.authenticationFailed",
            Self::ScopeNotAllowed => "authorization.scopeNotAllowed",
            Self::AuthorizerFailed(_) => "customAuthentication.failedFunctionInvocation",
            Self::AuthUnavailable(_) => "authentication.internalServiceError",
            Self::IdentityProvider(_) => "authentication.identityProviderError",
            Self::PostLogoutUrlNotAllowed => "logoutBackend.postLogoutUrlNotAllowed",
        }
    }

    /// The `message` of the JSON body: the reason phrase, plus what was wrong for client
    /// errors whose detail helps the caller and reveals nothing about the gateway.
    fn client_message(&self) -> String {
        let reason = self.status().canonical_reason().unwrap_or("Error");
        match self {
            Self::BadPath(e) => format!("{reason}: {e}"),
            Self::BadTarget
            | Self::DuplicateHost
            | Self::PayloadTooLarge { .. }
            | Self::HeadersTooLarge { .. }
            | Self::TooManyHeaders { .. }
            | Self::PostLogoutUrlNotAllowed => {
                format!("{reason}: {self}")
            }
            Self::RequestValidation { reason: what } => format!("{reason}: {what}"),
            _ => reason.to_owned(),
        }
    }

    /// True when the client closed its connection mid-body: nobody reads the answer, and logs
    /// and metrics record the request as the client's, not as a backend failure.
    fn client_left(&self) -> bool {
        matches!(
            self,
            Self::BodyRead(RequestBodyError::ClientGone)
                | Self::HttpBackend(HttpBackendError::ClientBody(RequestBodyError::ClientGone))
        )
    }

    /// The response the client sees.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let mut res = json_error(status, &self.client_message());
        if self.client_left() {
            res.extensions_mut().insert(ClientLeft);
        }
        if let Self::TooManyRequests { retry_after, .. } = &self {
            crate::limit::headers::set_retry_after(res.headers_mut(), *retry_after);
        }
        if let Self::MethodNotAllowed { allowed } = &self {
            if let Ok(v) = HeaderValue::from_str(&allowed.to_string()) {
                res.headers_mut().insert(ALLOW, v);
            }
        }
        if let Self::Unauthenticated {
            challenge: Some(challenge),
            ..
        } = self
        {
            res.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

/// Marks a response answered to a client that had already gone (see
/// `GatewayError::client_left`), so that logs and metrics record 499 rather than its status.
#[derive(Debug, Clone, Copy)]
pub struct ClientLeft;

impl GatewayError {
    /// The response as complete HTTP/1.1 bytes that close the connection: for answers a
    /// listener writes on a raw connection that HTTP serving never gets (a connection over a
    /// limit, a stalled request head). The same status, body and framing as every other
    /// gateway-made response.
    pub fn to_http1_close(&self) -> Vec<u8> {
        let status = self.status();
        let body = json_body(status, &self.client_message());
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            status.as_str(),
            status.canonical_reason().unwrap_or("Error"),
            body.len(),
        )
        .into_bytes()
    }
}

/// OCI's error body: `{"code": N, "message": "…"}`.
fn json_body(status: StatusCode, message: &str) -> String {
    serde_json::json!({ "code": status.as_u16(), "message": message }).to_string()
}

/// OCI's error body for `status` with `message`.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = json_body(status, message);
    let mut res = Response::new(Body::full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(res: Response<Body>) -> serde_json::Value {
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        serde_json::from_slice(&bytes).expect("json body")
    }

    #[test]
    fn raw_answers_are_framed_by_their_body() {
        for error in [GatewayError::TooManyConnections, GatewayError::HeadTimeout] {
            let raw = error.to_http1_close();
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut res = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(head) = res.parse(&raw).expect("parses") else {
                panic!("incomplete head");
            };
            assert_eq!(res.code, Some(error.status().as_u16()));
            let length = res
                .headers
                .iter()
                .find(|h| h.name == "content-length")
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok());
            assert_eq!(length, Some(raw.len() - head));
            let body: serde_json::Value = serde_json::from_slice(&raw[head..]).expect("json");
            assert_eq!(body["code"], error.status().as_u16());
        }
    }

    #[tokio::test]
    async fn not_found_is_ocis_exact_body() {
        let res = GatewayError::NotFound.into_response();
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            body_json(res).await,
            serde_json::json!({"code": 404, "message": "Not Found"})
        );
    }

    #[tokio::test]
    async fn method_not_allowed_lists_the_allowed_methods() {
        let mut allowed = MethodSet::EMPTY;
        allowed.insert(&http::Method::GET);
        allowed.insert(&http::Method::POST);
        let res = GatewayError::MethodNotAllowed { allowed }.into_response();
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()[ALLOW], "GET, POST");
        assert_eq!(body_json(res).await["message"], "Method Not Allowed");
    }

    #[tokio::test]
    async fn unsupported_does_not_name_internals_to_the_client() {
        let res = GatewayError::Unsupported {
            feature: "JWT_AUTHENTICATION",
        }
        .into_response();
        assert_eq!(res.status(), 501);
        assert_eq!(body_json(res).await["message"], "Not Implemented");
    }
}
