//! Function invokers for the gateway.
//!
//! - [`LocalFunction`]: an unchanged Fn Project / OCI Functions function directory (`func.yaml`
//!   and its source, Python or Node FDK, or any process speaking the http-stream contract)
//!   prepared as `fn build` would, without Docker, and run as a pool of hot local processes.
//! - [`ServiceFunction`]: a Rust `tower::Service` as a function, in the same process.
//! - `OciFunction`: a function deployed in OCI Functions, called through its signed invoke
//!   endpoint with the same Fn mapping (see the `oci` module; with the `oci` feature).
//! - [`protocol`]: the gateway ↔ FDK mapping (`POST /call`, `Fn-Http-*` headers) as pure
//!   functions, for any invoker that speaks it.
//!
//! All implement [`gateway_core::function::FunctionInvoker`].
//!
//! Function output is logged with `tracing` under the target [`LOG_TARGET`] (`function`), each
//! line tagged with the function, the pid, the stream and the call id the FDK announced.
//!
//! # Cargo features
//!
//! * `oci` (default) — the `oci` module: OCI Functions invokers, OCI request signing, the OCI
//!   config file and credentials, and the HTTPS client (aws-lc-rs, rustls, MD5, base64). With
//!   `--no-default-features` the crate builds without them.

#![warn(missing_docs)]

pub mod func_yaml;
pub mod in_process;
pub mod local;
#[cfg(feature = "oci")]
pub mod oci;
pub mod prepare;
pub mod protocol;

pub use func_yaml::{FuncFile, FuncFileError, RuntimeKind};
pub use in_process::{FunctionCallInfo, ServiceFunction};
pub use local::{LocalFunction, LocalFunctionConfig, PoolStats, LOG_TARGET};
#[cfg(feature = "oci")]
pub use oci::{Credentials, OciError, OciFunction, OciFunctionConfig, OciHttpClient};
pub use prepare::{no_progress, print_progress, PrepareError, Prepared, Progress};
