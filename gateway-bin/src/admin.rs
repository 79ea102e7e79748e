//! The admin listener: `/metrics` (Prometheus text), `/health` and `/ready`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tracing::debug;

use gateway_core::GatewayService;

/// Serves the admin endpoints on `listener` until the process ends.
pub(crate) fn spawn(listener: TcpListener, gateway: GatewayService) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let gateway = gateway.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let answer = answer(&gateway, req.uri().path());
                    async move { Ok::<_, Infallible>(answer) }
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

fn answer(gateway: &GatewayService, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => {
            let mut text = String::new();
            gateway.current().render_metrics(&mut text);
            (StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        // The process answers: it is alive. It serves a compiled configuration: it is ready.
        "/health" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/ready" => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}
