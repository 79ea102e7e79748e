//! An OCI API Gateway deployment mounted inside an axum application, next to the
//! application's own routes, served by the gateway's own server.
//!
//! ```sh
//! cargo run -p gateway-bin --example embed_axum
//! curl localhost:8080/health            # the application's route
//! curl localhost:8080/api/hello         # the deployment's stock response
//! curl localhost:8080/api/greet/ann     # the deployment's function, an in-process service
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, Response};

use gateway_auth::Authenticators;
use gateway_core::function::RegisteredFunction;
use gateway_core::gateway::Gateway;
use gateway_core::server::{ConnectionLimits, Server};
use gateway_fn_backend::ServiceFunction;

/// The deployment, as OCI's API Gateway takes it.
const DEPLOYMENT: &str = r#"{ "routes": [
  { "path": "/hello", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hello from the deployment" } },
  { "path": "/greet/{name}", "methods": ["GET"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..greet" } } ] }"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A function is any `tower::Service<Request<Bytes>>`: here it answers with the path it
    // was called for, as an FDK function sees it in `Fn-Http-Request-Url`.
    let greet = tower::service_fn(|req: Request<Bytes>| async move {
        let body = format!("greetings, {}\n", req.uri().path());
        Ok::<_, Infallible>(Response::new(Bytes::from(body)))
    });
    let greet = RegisteredFunction::new(
        "ocid1.fnfunc.oc1..greet",
        "demo/greet",
        Duration::from_secs(30),
        Arc::new(ServiceFunction::new("demo/greet", greet)),
    );

    // The deployment keeps its own prefix: it routes on the whole path, `/api/…`, exactly as
    // in OCI. So it is the application's fallback rather than a `nest_service("/api", …)`,
    // which would strip the prefix before the gateway sees the path.
    let gateway = Gateway::builder()
        .deployment("demo", "/api", DEPLOYMENT)
        .function(greet)
        .authenticators(Arc::new(Authenticators::default()))
        .build()
        .map_err(|report| report.to_string())?;
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .fallback_service(gateway);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Server::builder()
        .limits(ConnectionLimits::default())
        .serve(listener, app, shutdown, Duration::from_secs(10))
        .await?;
    Ok(())
}
