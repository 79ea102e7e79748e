//! The one place where gateway-made failures become HTTP responses.
//!
//! Every response the gateway answers on its own (404, 400, 405, 501, …) comes from a
//! [`GatewayError`]: the status, OCI's JSON body `{"code": N, "message": "…"}`, and the
//! execution-log code OCI uses for the same event, so logs read the same as in the cloud.
//! Server-side failures never put internal detail in the body; client errors say what was
//! wrong with the request.

use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

use crate::body::Body;
use crate::function::InvokeError;
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
    MethodNotAllowed { allowed: MethodSet },

    /// The path is spelled in a way the gateway refuses (see `router::normalize_path`).
    #[error("unsafe request path: {0}")]
    BadPath(#[from] PathError),

    /// The request target is not a path (e.g. `*` or an authority form).
    #[error("the request target is not an absolute path")]
    BadTarget,

    /// The request body is larger than the backend accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },

    /// The request body could not be read (the client went away or broke the framing).
    #[error("the request body could not be read: {0}")]
    BodyRead(String),

    /// A function call failed; the reason is logged, the client sees only the status.
    #[error(transparent)]
    Function(#[from] InvokeError),

    /// The route relies on a policy or backend this build does not enforce; served only with
    /// `--allow-unsupported`, and then refused per request rather than run without it.
    #[error("the route uses {feature}, which this build does not support")]
    Unsupported { feature: &'static str },
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadPath(_) | Self::BadTarget => StatusCode::BAD_REQUEST,
            Self::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::Function(e) => e.status(),
        }
    }

    /// OCI's execution-log code for this event.
    pub fn log_code(&self) -> &'static str {
        match self {
            Self::NotFound | Self::MethodNotAllowed { .. } => "request.routeNotFound",
            Self::BadPath(_) | Self::BadTarget => "request.badRequest",
            Self::Unsupported { .. } => "request.internalServiceError",
            Self::PayloadTooLarge { .. } => "request.bodyTooLarge",
            Self::BodyRead(_) => "request.clientEof",
            Self::Function(e) => e.log_code(),
        }
    }

    /// The `message` of the JSON body: the reason phrase, plus what was wrong for client
    /// errors whose detail helps the caller and reveals nothing about the gateway.
    fn client_message(&self) -> String {
        let reason = self.status().canonical_reason().unwrap_or("Error");
        match self {
            Self::BadPath(e) => format!("{reason}: {e}"),
            Self::BadTarget | Self::PayloadTooLarge { .. } => format!("{reason}: {self}"),
            _ => reason.to_owned(),
        }
    }

    /// The response the client sees.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let mut res = json_error(status, &self.client_message());
        if let Self::MethodNotAllowed { allowed } = &self {
            if let Ok(v) = HeaderValue::from_str(&allowed.to_string()) {
                res.headers_mut().insert(ALLOW, v);
            }
        }
        res
    }
}

/// OCI's error body for `status` with `message`.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "code": status.as_u16(), "message": message }).to_string();
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
