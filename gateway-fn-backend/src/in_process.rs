//! In-process functions: any `tower::Service` over `http::Request<Bytes>` as a function, for
//! embedding the gateway in a Rust program and for tests that need a function without
//! processes.
//!
//! The service sees the request the client made, not the Fn envelope: the client's method, the
//! request URL as URI, the client's headers and the body, read whole (and held against the
//! gateway's body budget until the service answers). The call's own data (id, intent,
//! deadline) rides along as a [`FunctionCallInfo`] extension.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use gateway_core::function::{
    FunctionCall, FunctionInvoker, FunctionResponse, Intent, InvokeError,
};
use gateway_core::BoxFuture;
use http::{Request, Response, Uri};
use tower::{Service, ServiceExt};

/// What the service learns about the call besides the request, as a request extension.
#[derive(Debug, Clone)]
pub struct FunctionCallInfo {
    /// The id the function is registered under.
    pub function_id: Arc<str>,
    /// Correlates the call with the request (`Fn-Call-Id`, log lines).
    pub call_id: String,
    /// Why the function is called.
    pub intent: Intent,
    /// When the gateway stops waiting; the service's future is dropped then.
    pub deadline: Instant,
}

/// A `tower::Service` run as a function. The deadline is enforced here: a service still
/// running when it passes is dropped and the call gets [`InvokeError::Timeout`] (504); a service
/// error becomes [`InvokeError::Failed`] (502).
#[derive(Clone)]
pub struct ServiceFunction<S> {
    name: Arc<str>,
    service: S,
}

impl<S> ServiceFunction<S> {
    /// `name` is used in error messages.
    pub fn new(name: impl Into<Arc<str>>, service: S) -> Self {
        ServiceFunction {
            name: name.into(),
            service,
        }
    }
}

impl<S> fmt::Debug for ServiceFunction<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceFunction")
            .field("name", &self.name)
            .field("service", &std::any::type_name::<S>())
            .finish()
    }
}

impl<S> FunctionInvoker for ServiceFunction<S>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: fmt::Display + Send + 'static,
{
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>> {
        let name = self.name.clone();
        let service = self.service.clone();
        Box::pin(async move {
            let mut call = call;
            let (body, _held) = call.body.buffer().await?;
            let budget = call.remaining();
            let deadline = tokio::time::Instant::from_std(call.deadline);
            let request = to_request(call, body).map_err(|reason| InvokeError::Failed {
                function: name.clone(),
                reason,
            })?;
            match tokio::time::timeout_at(deadline, service.oneshot(request)).await {
                Err(_) => Err(InvokeError::Timeout {
                    function: name,
                    timeout: budget,
                }),
                Ok(Err(e)) => Err(InvokeError::Failed {
                    function: name,
                    reason: e.to_string(),
                }),
                Ok(Ok(response)) => {
                    let (parts, body) = response.into_parts();
                    Ok(FunctionResponse {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    })
                }
            }
        })
    }
}

/// The client's request as the service sees it. A direct invocation with no URL gets `/`.
fn to_request(call: FunctionCall, body: Bytes) -> Result<Request<Bytes>, String> {
    let uri = if call.request_url.is_empty() {
        Uri::from_static("/")
    } else {
        call.request_url
            .parse::<Uri>()
            .map_err(|e| format!("request URL {:?}: {e}", call.request_url))?
    };
    let info = FunctionCallInfo {
        function_id: call.function_id,
        call_id: call.call_id,
        intent: call.intent,
        deadline: call.deadline,
    };
    let mut request = Request::new(body);
    *request.method_mut() = call.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = call.headers;
    request.extensions_mut().insert(info);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::Refusal as _;
    use http::{HeaderMap, HeaderValue, Method, StatusCode};
    use std::convert::Infallible;
    use std::time::Duration;

    fn call(deadline_in: Duration) -> FunctionCall {
        let mut headers = HeaderMap::new();
        headers.insert("x-in", HeaderValue::from_static("1"));
        FunctionCall {
            function_id: Arc::from("fn1"),
            call_id: "call-1".into(),
            deadline: Instant::now() + deadline_in,
            intent: Intent::HttpRequest,
            method: Method::PATCH,
            request_url: "/api/items/7?q=1".into(),
            headers,
            body: "payload".into(),
        }
    }

    #[tokio::test]
    async fn the_service_sees_the_client_request() -> Result<(), InvokeError> {
        let svc = tower::service_fn(|req: Request<Bytes>| async move {
            let info = req.extensions().get::<FunctionCallInfo>().cloned();
            let text = format!(
                "{} {} {} {} {}",
                req.method(),
                req.uri(),
                req.headers()
                    .get("x-in")
                    .map_or("-", |v| v.to_str().unwrap_or("?")),
                String::from_utf8_lossy(req.body()),
                info.map_or("-".into(), |i| i.call_id),
            );
            Ok::<_, Infallible>(
                Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .header("x-out", "2")
                    .body(Bytes::from(text))
                    .unwrap_or_default(),
            )
        });
        let function = ServiceFunction::new("app/svc", svc);
        let resp = function.invoke(call(Duration::from_secs(5))).await?;
        assert_eq!(resp.status, StatusCode::ACCEPTED);
        assert_eq!(
            resp.headers.get("x-out").map(|v| v.as_bytes()),
            Some(&b"2"[..])
        );
        assert_eq!(
            resp.body.as_ref(),
            b"PATCH /api/items/7?q=1 1 payload call-1"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_slow_service_times_out_and_errors_fail() {
        let slow = tower::service_fn(|_req: Request<Bytes>| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, Infallible>(Response::new(Bytes::new()))
        });
        let function = ServiceFunction::new("slow", slow);
        let err = function.invoke(call(Duration::from_millis(50))).await.err();
        assert_eq!(err.map(|e| e.status()), Some(StatusCode::GATEWAY_TIMEOUT));

        let failing =
            tower::service_fn(|_req: Request<Bytes>| async { Err::<Response<Bytes>, _>("boom") });
        let function = ServiceFunction::new("failing", failing);
        let err = function.invoke(call(Duration::from_secs(5))).await.err();
        assert!(
            matches!(&err, Some(InvokeError::Failed { reason, .. }) if reason == "boom"),
            "{err:?}"
        );
        assert!(format!("{function:?}").contains("failing"));
    }

    #[tokio::test]
    async fn a_bad_url_fails_without_calling() {
        let svc = tower::service_fn(|_req: Request<Bytes>| async {
            Ok::<_, Infallible>(Response::new(Bytes::new()))
        });
        let mut c = call(Duration::from_secs(5));
        c.request_url = "not a uri".into();
        let err = ServiceFunction::new("svc", svc).invoke(c).await.err();
        assert_eq!(err.map(|e| e.status()), Some(StatusCode::BAD_GATEWAY));
    }
}
