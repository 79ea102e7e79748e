//! The admin listener: `/metrics` (OpenMetrics text), `/health`, `/ready`, and the web console
//! at `/` (see [`crate::console`]).
//!
//! `/metrics` is one prometheus-client [`Registry`], built when the listener starts, of
//! collectors that read the gateway's own atomics when scraped: requests never touch it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use gateway_core::server::{accept, ListenerStats};
use tokio::net::TcpListener;
use tracing::{debug, error};

use gateway_core::function::FunctionMetrics;
use gateway_core::GatewayService;

use crate::access_log::AccessLogWriter;
use crate::console::{self, Console};
use crate::running::CurrentFunctions;

/// What `/metrics` reports on.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub(crate) gateway: GatewayService,
    pub(crate) listener: Arc<ListenerStats>,
    pub(crate) access_log: Option<Arc<AccessLogWriter>>,
    pub(crate) functions: CurrentFunctions,
    /// Set on SIGTERM: `/ready` answers 503 from then on.
    pub(crate) draining: Arc<AtomicBool>,
    pub(crate) console: Console,
}

/// Serves the admin endpoints on `listener` until the process ends. A failing accept (out of
/// file descriptors, say) neither spins nor ends the listener: [`accept`] pauses 10 ms, doubling
/// to 1 s, until it succeeds.
pub(crate) fn spawn(listener: TcpListener, admin: Admin) {
    let metrics = Arc::new(Metrics::new(&admin));
    tokio::spawn(async move {
        loop {
            let (stream, _) = accept(&listener).await;
            let admin = admin.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let admin = admin.clone();
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(admin.answer(req.uri(), &metrics).await) }
                });
                if let Err(e) = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    debug!(error = %e, "admin connection ended with an error");
                }
            });
        }
    });
}

/// What `/metrics` encodes.
#[derive(Debug)]
struct Metrics {
    registry: Registry,
    /// Told which functions run before each scrape.
    functions: Arc<FunctionMetrics>,
}

impl Metrics {
    fn new(admin: &Admin) -> Self {
        let mut registry = Registry::default();
        let identity = &admin.console.identity;
        // `gateway_info{gateway_id, node} 1`, to join other series on.
        registry.register(
            "gateway",
            "the gateway (gatewayId) and this replica of it (node)",
            Info::new([
                ("gateway_id", identity.id.to_string()),
                ("node", identity.node.to_string()),
            ]),
        );
        registry.register_collector(Box::new(admin.gateway.clone()));
        let functions = Arc::new(FunctionMetrics::default());
        registry.register_collector(Box::new(functions.clone()));
        registry.register_collector(Box::new(admin.listener.clone()));
        if let Some(log) = &admin.access_log {
            registry.register(
                "gateway_access_log_dropped",
                "access-log lines dropped because the destination could not keep up",
                log.dropped(),
            );
        }
        Self {
            registry,
            functions,
        }
    }
}

impl Admin {
    async fn answer(&self, uri: &http::Uri, metrics: &Metrics) -> Response<Full<Bytes>> {
        if let Some((content_type, bytes)) = console::asset(uri.path()) {
            return respond(StatusCode::OK, content_type, Bytes::from_static(bytes));
        }
        let (status, content_type, body) = match uri.path() {
            "/console/api/state" => (
                StatusCode::OK,
                "application/json",
                self.console.state().await.to_string(),
            ),
            "/console/api/traffic" => (
                StatusCode::OK,
                "application/json",
                self.console.traffic(uri.query()).to_string(),
            ),
            "/metrics" => (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.metrics(metrics).await,
            ),
            // The process answers: it is alive. It serves a compiled configuration: it is ready,
            // until it is told to stop.
            "/health" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
            "/ready" if self.draining.load(Ordering::Acquire) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "draining\n".to_owned(),
            ),
            "/ready" => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found\n".to_owned(),
            ),
        };
        respond(status, content_type, Bytes::from(body))
    }

    async fn metrics(&self, metrics: &Metrics) -> String {
        metrics
            .functions
            .set(self.functions.lock().await.functions());
        let mut text = String::new();
        // Writing to a String fails only if a collector does; say so rather than serve a
        // truncated page silently.
        if let Err(e) = encode(&mut text, &metrics.registry) {
            error!(error = %e, "encoding /metrics failed");
        }
        text
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    // The console is read-only and for this host's operator: no framing by other pages.
    response.headers_mut().insert(
        http::header::X_FRAME_OPTIONS,
        http::HeaderValue::from_static("DENY"),
    );
    response
}
