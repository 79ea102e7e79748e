//! The admin listener: `/metrics` (Prometheus text), `/health`, `/ready`, and the web console
//! at `/` (see [`crate::console`]).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use gateway_core::server::{accept, ListenerStats};
use tokio::net::TcpListener;
use tracing::debug;

use gateway_core::observe::{render_function_metrics, render_identity};
use gateway_core::GatewayService;

use crate::access_log::AccessLogWriter;
use crate::console::{self, Console};
use crate::reload::CurrentFunctions;

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
    tokio::spawn(async move {
        loop {
            let (stream, _) = accept(&listener).await;
            let admin = admin.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.answer(req.uri()).await) }
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

impl Admin {
    async fn answer(&self, uri: &http::Uri) -> Response<Full<Bytes>> {
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
                "text/plain; version=0.0.4",
                self.metrics().await,
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

    async fn metrics(&self) -> String {
        let mut text = String::new();
        render_identity(&self.console.identity, &mut text);
        self.gateway.observer().metrics.render(&mut text);
        self.gateway.current().render_metrics(&mut text);
        render_function_metrics(self.functions.lock().await.functions(), &mut text);
        self.listener.render(&mut text);
        if let Some(log) = &self.access_log {
            text.push_str(&format!(
                "# HELP gateway_access_log_dropped_total access-log lines dropped because the destination could not keep up\n\
                 # TYPE gateway_access_log_dropped_total counter\n\
                 gateway_access_log_dropped_total {}\n",
                log.dropped()
            ));
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
