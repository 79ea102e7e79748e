//! `ORACLE_FUNCTIONS_BACKEND`: the request becomes a function call, the call's answer becomes
//! the response.
//!
//! The body is not read here: the invoker reads it when it can use it, so that a call its
//! function cannot take (every process busy, the queue full: 503) is refused before a byte of
//! the body is read, and a local process gets the body as it arrives instead of after the
//! gateway has held it whole. Functions take a bounded body (6 MB in OCI): a declared length
//! over it is refused with 413 at once, a streamed body with 413 when it crosses it. The
//! function sees the client's method, its path with the deployment prefix and query, and its
//! headers minus hop-by-hop ones. What goes wrong on the function's side reaches the client
//! only as a status (502, 503, 504) with OCI's generic body; the reason goes to the log.

use std::task::{Context, Poll};
use std::time::Instant;

use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use tower::Service;
use tracing::info;

use crate::body::Body;
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::function::{CallBody, FunctionCall, Intent, InvokeError, RegisteredFunction};
use crate::future::BoxFuture;
use crate::headers::remove_hop_by_hop;
use crate::request_limits::{declared_length, BodyBudget, RequestBodyError, MAX_FUNCTION_BODY};

/// Calls one registered function.
#[derive(Debug, Clone)]
pub struct FunctionBackend {
    function: RegisteredFunction,
    max_body: u64,
    budget: BodyBudget,
}

impl FunctionBackend {
    /// A backend that calls `function`, with OCI's 6 MB body limit and a body budget of its own.
    pub fn new(function: RegisteredFunction) -> Self {
        Self {
            function,
            max_body: MAX_FUNCTION_BODY as u64,
            budget: BodyBudget::default(),
        }
    }

    /// Overrides the request body limit (OCI's is 6 MB).
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// The budget an invoker that holds bodies whole counts them against (by default one of
    /// this backend's own, of the default size).
    pub fn body_budget(mut self, budget: BodyBudget) -> Self {
        self.budget = budget;
        self
    }
}

impl Service<Request<Body>> for FunctionBackend {
    type Response = Response<Body>;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<Response<Body>, GatewayError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        Box::pin(invoke(
            self.function.clone(),
            self.max_body,
            self.budget.clone(),
            req,
        ))
    }
}

async fn invoke(
    function: RegisteredFunction,
    max_body: u64,
    budget: BodyBudget,
    req: Request<Body>,
) -> Result<Response<Body>, GatewayError> {
    let (mut parts, body) = req.into_parts();
    if declared_length(&parts.headers).is_some_and(|len| len > max_body) {
        return Err(RequestBodyError::TooLarge { limit: max_body }.into());
    }
    if let Some(reason) = &function.denied {
        return Err(InvokeError::NotInvocable {
            function: function.id.clone(),
            reason: format!("the gateway may not invoke it: {reason}"),
        }
        .into());
    }
    let body = CallBody::client(body, max_body, budget);

    let context = parts.extensions.remove::<RequestContext>();
    let (call_id, request_url) = match &context {
        Some(ctx) => (
            ctx.request_id().as_str().to_owned(),
            parts
                .uri
                .path_and_query()
                .map_or_else(|| ctx.path().to_owned(), |pq| pq.as_str().to_owned()),
        ),
        None => (
            String::new(),
            parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned(),
        ),
    };
    remove_hop_by_hop(&mut parts.headers);
    let call = FunctionCall {
        function_id: function.id.clone(),
        call_id,
        deadline: Instant::now() + function.timeout,
        intent: Intent::HttpRequest,
        method: parts.method,
        request_url,
        headers: parts.headers,
        body,
    };
    let exchange = parts
        .extensions
        .get::<RequestContext>()
        .and_then(RequestContext::exchange)
        .cloned();
    let started = Instant::now();
    let result = function.invoker.invoke(call).await;
    if let Some(exchange) = &exchange {
        exchange.add_integration(started.elapsed());
        if let Ok(answer) = &result {
            exchange.set_backend_status(answer.status);
        }
    }
    match result {
        Ok(answer) => {
            info!(
                code = "functionBackend.successfulRequest",
                function = %function.name, functionId = %function.id,
                status = answer.status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "function answered"
            );
            let mut res = Response::new(Body::full(answer.body));
            *res.status_mut() = answer.status;
            *res.headers_mut() = answer.headers;
            remove_hop_by_hop(res.headers_mut());
            res.headers_mut().remove(CONTENT_LENGTH);
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}
