//! OCI Functions: calling a function deployed in Oracle Cloud through its signed invoke
//! endpoint, with the same Fn request/response mapping as a local function (fn-protocols §2,
//! §4).
//!
//! - [`signer`]: OCI request signing (draft-cavage, RSA-SHA256), checked byte-for-byte against
//!   vectors made with Oracle's Python SDK.
//! - [`config`]: the OCI config file (`~/.oci/config`), profiles and `[DEFAULT]` inheritance.
//! - [`credentials`]: API keys, session tokens and resource principals as [`Credentials`].
//! - [`client`]: the pooled HTTPS client ([`OciHttpClient`]).
//! - [`invoker`]: [`OciFunction`], the [`gateway_core::function::FunctionInvoker`].
//!
//! Building an invoker from gateway configuration:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use gateway_fn_backend::oci::{Credentials, OciFunction, OciFunctionConfig};
//! let credentials = Credentials::from_config_file(None, Some("DEFAULT"))?;
//! let mut config = OciFunctionConfig::new(
//!     "ocid1.fnfunc.oc1.iad.aaaa",
//!     "app/hello",
//!     "https://abcdefgh123.us-ashburn-1.functions.oci.oraclecloud.com",
//!     credentials,
//! );
//! config.timeout = std::time::Duration::from_secs(30);
//! let function = OciFunction::new(config)?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod config;
pub mod credentials;
pub mod invoker;
pub mod signer;

pub use client::OciHttpClient;
pub use config::{ConfigError, OciConfigFile, OciProfile, DEFAULT_PROFILE};
pub use credentials::{Credentials, CredentialsError, SecretSource};
pub use invoker::{OciFunction, OciFunctionConfig, DEFAULT_API_VERSION};
pub use signer::{KeyError, PrivateKey, RequestSigner, SignError, Signature};

/// Why an [`OciFunction`] or [`OciHttpClient`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The invoke endpoint does not parse as a URL, or is not an `https://` URL with a host and
    /// without user info or a query.
    #[error("function {function}: invalid invoke_endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The function's name, as configured for messages.
        function: String,
        /// The endpoint as configured.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API version has characters other than letters, digits, `.`, `-`, `_` and `~`, which
    /// the URL path would have to encode.
    #[error(
        "function {function}: invalid api_version {api_version:?} (expected letters, digits, \
         `.`, `-`, `_`)"
    )]
    InvalidApiVersion {
        /// The function's name, as configured for messages.
        function: String,
        /// The API version as configured.
        api_version: String,
    },
    /// The function id is empty or has characters other than letters, digits, `.`, `-`, `_`
    /// and `~`, which the URL path would have to encode.
    #[error(
        "function {function}: invalid function id {function_id:?} (expected an OCID: letters, \
         digits, `.`, `-`, `_`)"
    )]
    InvalidFunctionId {
        /// The function's name, as configured for messages.
        function: String,
        /// The function id as configured.
        function_id: String,
    },
    /// rustls refused one of the extra root certificates.
    #[error("extra root certificate #{index} is not usable: {source}")]
    ExtraRoot {
        /// The certificate's position in the extra roots, from 0.
        index: usize,
        /// Why rustls refused it.
        #[source]
        source: rustls::Error,
    },
    /// The TLS client configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// The credentials could not be loaded. The constructors here take credentials already
    /// loaded and never return it: it lets a caller's `?` turn a [`CredentialsError`] into an
    /// `OciError`, so that loading credentials and building a function share one error type.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}
