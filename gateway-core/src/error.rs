//! Failures the gateway answers itself, as data: the status, OCI's JSON body
//! `{"code": N, "message": "…"}` and the execution-log code OCI uses for the same event, so logs
//! read the same as in the cloud.
//!
//! Layers and backends return a [`GatewayError`]; one layer, [`crate::ErrorResponseLayer`],
//! turns it into the response and logs its code. Modules with failures of their own (function
//! calls, HTTP backends, request bodies, paths) keep their error types where they live and
//! implement [`Refusal`] to say how each is answered. Server-side failures never put internal
//! detail in the body; client errors say what was wrong with the request.
//!
//! This module depends on nothing else in the crate, so every other module may use it.

use http::header::{ALLOW, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use std::error::Error as StdError;

/// How a failure of one module is answered: implemented by each module's own error type, so
/// that it converts into a [`GatewayError`] without this module knowing it.
pub trait Refusal: StdError + Send + Sync + 'static {
    /// The HTTP status the client is answered with.
    fn status(&self) -> StatusCode;

    /// OCI's execution-log code for the event.
    fn log_code(&self) -> &'static str;

    /// What the client is told after the reason phrase, for client errors whose detail helps
    /// the caller and reveals nothing about the gateway. `None`: the reason phrase alone.
    fn client_detail(&self) -> Option<String> {
        None
    }

    /// True when the client closed its connection mid-body: nobody reads the answer, and logs
    /// and metrics record the request as the client's, not as a backend failure.
    fn client_left(&self) -> bool {
        false
    }

    /// Adds the headers the answer carries besides its body's (`Retry-After` on a 429).
    fn headers(&self, _headers: &mut HeaderMap) {}
}

/// A failure the gateway answers itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// No deployment prefix or no route template matches the path.
    #[error("no route matches the request path")]
    NotFound,

    /// A route matches the path but not the method, and the gateway is configured to say so
    /// with 405 rather than OCI's 404.
    #[error("the route does not accept this method")]
    MethodNotAllowed {
        /// The methods the route does accept, as sent back in `Allow` (`GET, POST`).
        allow: HeaderValue,
    },

    /// The request target is not a path (e.g. `*` or an authority form).
    #[error("the request target is not an absolute path")]
    BadTarget,

    /// More than one `Host` header: which one a backend believes is anybody's guess (RFC 9112
    /// §3.2 says 400).
    #[error("the request has more than one Host header")]
    DuplicateHost,

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

    /// A dynamic routing backend has no branch for the request's value and no default.
    #[error("no routing backend matches the request")]
    NoRoutingBackend,

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
    #[error("the client certificate was refused: {reason}")]
    ClientCertificate {
        /// The `mutualTls.*` execution-log code.
        code: &'static str,
        /// Why, for logs only.
        reason: String,
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

    /// A failure of another module (a function call, an HTTP backend, the request body, the
    /// request path), answered as its [`Refusal`] says.
    #[error("{0}")]
    Refused(Box<dyn Refusal>),
}

impl<E: Refusal> From<E> for GatewayError {
    fn from(error: E) -> Self {
        Self::Refused(Box::new(error))
    }
}

impl GatewayError {
    /// The HTTP status the client is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadTarget | Self::DuplicateHost => StatusCode::BAD_REQUEST,
            Self::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
            Self::LimitStoreUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::UsagePlanUnauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::HeadersTooLarge { .. } | Self::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::HeadTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            Self::RequestValidation { .. } => StatusCode::BAD_REQUEST,
            Self::TransformationFailed => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NoRoutingBackend => StatusCode::NOT_FOUND,
            Self::Unauthenticated { .. } | Self::ClientCertificate { .. } => {
                StatusCode::UNAUTHORIZED
            }
            Self::ScopeNotAllowed => StatusCode::NOT_FOUND,
            Self::AuthorizerFailed(_) | Self::IdentityProvider(_) => StatusCode::BAD_GATEWAY,
            Self::AuthUnavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::PostLogoutUrlNotAllowed => StatusCode::BAD_REQUEST,
            Self::Refused(e) => e.status(),
        }
    }

    /// OCI's execution-log code for this event.
    pub fn log_code(&self) -> &'static str {
        match self {
            Self::NotFound | Self::MethodNotAllowed { .. } => "request.routeNotFound",
            Self::BadTarget | Self::DuplicateHost => "request.badRequest",
            Self::Unsupported { .. } => "request.internalServiceError",
            Self::LimitStoreUnavailable { log_code } | Self::UsagePlanUnauthorized { log_code } => {
                log_code
            }
            Self::ClientCertificate { code, .. } => code,
            Self::HeadersTooLarge { .. } | Self::TooManyHeaders { .. } => "request.headersTooLarge",
            Self::HeadTimeout => "request.clientTimeout",
            Self::TooManyConnections => "request.serviceUnavailable",
            Self::RequestValidation { .. } => "requestValidation.validationError",
            Self::TransformationFailed => "queryParameterTransformation.badParameterValue",
            Self::NoRoutingBackend => "dynamicRouting.backendRejected",
            Self::Unauthenticated { .. } => "authentication.authenticationFailed",
            Self::ScopeNotAllowed => "authorization.scopeNotAllowed",
            Self::AuthorizerFailed(_) => "customAuthentication.failedFunctionInvocation",
            Self::AuthUnavailable(_) => "authentication.internalServiceError",
            Self::IdentityProvider(_) => "authentication.identityProviderError",
            Self::PostLogoutUrlNotAllowed => "logoutBackend.postLogoutUrlNotAllowed",
            Self::Refused(e) => e.log_code(),
        }
    }

    /// The `message` of the JSON body: the reason phrase, plus what was wrong for client
    /// errors whose detail helps the caller and reveals nothing about the gateway.
    pub fn client_message(&self) -> String {
        let reason = self.status().canonical_reason().unwrap_or("Error");
        let detail = match self {
            Self::BadTarget
            | Self::DuplicateHost
            | Self::HeadersTooLarge { .. }
            | Self::TooManyHeaders { .. }
            | Self::PostLogoutUrlNotAllowed => Some(self.to_string()),
            Self::RequestValidation { reason } => Some(reason.clone()),
            Self::Refused(e) => e.client_detail(),
            _ => None,
        };
        match detail {
            Some(detail) => format!("{reason}: {detail}"),
            None => reason.to_owned(),
        }
    }

    /// True when the client closed its connection mid-body (see [`Refusal::client_left`]).
    pub fn client_left(&self) -> bool {
        matches!(self, Self::Refused(e) if e.client_left())
    }

    /// The headers the answer carries besides its body's: `Allow` on 405, the challenge on
    /// 401, and whatever a [`Refusal`] adds.
    pub fn headers(&self, headers: &mut HeaderMap) {
        match self {
            Self::MethodNotAllowed { allow } => {
                headers.insert(ALLOW, allow.clone());
            }
            Self::Unauthenticated {
                challenge: Some(challenge),
                ..
            } => {
                headers.insert(WWW_AUTHENTICATE, challenge.clone());
            }
            Self::Refused(e) => e.headers(headers),
            _ => {}
        }
    }

    /// OCI's error body for this error: `{"code": N, "message": "…"}`.
    pub fn json_body(&self) -> String {
        json_body(self.status(), &self.client_message())
    }

    /// The response as complete HTTP/1.1 bytes that close the connection: for answers a
    /// listener writes on a raw connection that HTTP serving never gets (a connection over a
    /// limit, a stalled request head). The same status, body and framing as every other
    /// gateway-made response.
    pub fn to_http1_close(&self) -> Vec<u8> {
        let status = self.status();
        let body = self.json_body();
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            status.as_str(),
            status.canonical_reason().unwrap_or("Error"),
            body.len(),
        )
        .into_bytes()
    }
}

/// Marks a response answered to a client that had already gone (see
/// [`GatewayError::client_left`]), so that logs and metrics record 499 rather than its status.
#[derive(Debug, Clone, Copy)]
pub struct ClientLeft;

/// OCI's error body: `{"code": N, "message": "…"}`.
pub(crate) fn json_body(status: StatusCode, message: &str) -> String {
    serde_json::json!({ "code": status.as_u16(), "message": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn not_found_is_ocis_exact_body() {
        let body: serde_json::Value =
            serde_json::from_str(&GatewayError::NotFound.json_body()).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"code": 404, "message": "Not Found"})
        );
    }

    #[test]
    fn unsupported_does_not_name_internals_to_the_client() {
        let error = GatewayError::Unsupported {
            feature: "JWT_AUTHENTICATION",
        };
        assert_eq!(error.status(), 501);
        assert_eq!(error.client_message(), "Not Implemented");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the thing broke")]
    struct Broke;

    impl Refusal for Broke {
        fn status(&self) -> StatusCode {
            StatusCode::BAD_GATEWAY
        }
        fn log_code(&self) -> &'static str {
            "thing.broke"
        }
    }

    #[test]
    fn another_modules_failure_is_answered_as_its_refusal_says() {
        let error = GatewayError::from(Broke);
        assert_eq!(error.status(), 502);
        assert_eq!(error.log_code(), "thing.broke");
        assert_eq!(error.client_message(), "Bad Gateway");
        assert_eq!(error.to_string(), "the thing broke");
        assert!(!error.client_left());
    }
}
