//! Turning deployment specifications into one `tower::Service`.
//!
//! [`compile`] validates and compiles every deployment off the request path: templates parsed,
//! routes inserted into each deployment's router, one boxed service stack built per route. The
//! result, a [`CompiledGateway`], is immutable; [`GatewayService`] serves it and can swap in a
//! new one atomically ([`GatewayService::replace`]), so in-flight requests finish on the old one.
//!
//! ```
//! use gateway_core::gateway::{Gateway, GatewayService};
//!
//! let spec = r#"{ "routes": [ { "path": "/hello", "methods": ["GET"],
//!     "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } } ] }"#;
//! let service: GatewayService = Gateway::builder()
//!     .deployment("demo", "/demo", spec)
//!     .build()
//!     .expect("a valid specification");
//! # let _ = service;
//! ```
//!
//! The service is a plain `tower::Service<http::Request<B>>` for any body `B` of `Bytes`, so it
//! mounts in hyper directly or in axum as a fallback service:
//!
//! ```no_run
//! # async fn run(service: gateway_core::gateway::GatewayService) -> std::io::Result<()> {
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::server::conn::auto;
//! use hyper_util::service::TowerToHyperService;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     let service = TowerToHyperService::new(service.clone());
//!     tokio::spawn(async move {
//!         let _ = auto::Builder::new(TokioExecutor::new())
//!             .serve_connection(TokioIo::new(stream), service)
//!             .await;
//!     });
//! }
//! # }
//! ```

mod arrival;
mod assemble;
mod compile;
mod metrics;
mod per_thread;
mod service;

pub use compile::{
    compile, CompiledGateway, DeploymentReport, DeploymentSource, Gateway, GatewayBuilder,
    GatewayOptions, LoadReport, MethodMismatch, Resources, UnknownFunctions,
};
pub use service::{DispatchFuture, GatewayService};
